"""The Chromium that the gallery test drives: ``$SSDZOO_CHROMIUM``, the system's, or Playwright's own.

``python tests/browser.py`` prints the one found and its version, and exits 1 when there is none
or it does not start (``.ci/run`` then installs one).
"""

import os
import shutil
import subprocess
import sys

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None: ``$SSDZOO_CHROMIUM``, then the system's, then Playwright's."""
    if os.environ.get("SSDZOO_CHROMIUM"):
        path = os.environ["SSDZOO_CHROMIUM"]
        return path if os.access(path, os.X_OK) else None
    system = next((shutil.which(n) for n in SYSTEM_NAMES if shutil.which(n)), None)
    if system:
        return system
    try:  # `python -m playwright install chromium` puts one under ~/.cache/ms-playwright
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if os.path.isfile(path) else None


def main() -> int:
    """Print the Chromium found and its version; 1 when none is found or it does not run."""
    path = find_chromium()
    if path is None:
        print("no Chromium found (system chromium / chromium-browser / google-chrome, "
              "$SSDZOO_CHROMIUM, or Playwright's)")
        return 1
    try:
        version = subprocess.run([path, "--headless", "--no-sandbox", "--version"], capture_output=True,
                                 text=True, timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        print(f"{path} does not run: {error}")
        return 1
    print(f"browser for the gallery test: {path} ({version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
