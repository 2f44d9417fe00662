"""The layout rules of docs/ARCHITECTURE.md that neither ruff nor lint-imports checks: small
modules, every subpackage in the layer contract, Keras internals in one module; and ruff and
lint-imports themselves, so that the README's test command is what CI runs."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
MAX_LINES = 400
SOURCES = sorted([*(ROOT / "ssdzoo").rglob("*.py"), *(ROOT / "backbones").rglob("*.py")])
FACADE = {"__init__", "_registration"}  # may import anything; in no layer
#: How ssdzoo may reach into Keras' internals: only in ssdzoo/utils/keras_internals.py.
KERAS_INTERNALS = ROOT / "ssdzoo" / "utils" / "keras_internals.py"
PRIVATE_KERAS = re.compile(r"keras\.src\b|\._var_key\b|\._trainable_variables\b|\._keras_history\b"
                           r"|\.update_step\s*=|\bmock\.patch|_KERAS_DIR\b")


def test_sources_are_found():
    assert len(SOURCES) > 20 and KERAS_INTERNALS in SOURCES


def test_no_module_is_over_400_lines():
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in SOURCES}
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (split them, see docs/ARCHITECTURE.md): {big}"


def test_every_subpackage_of_ssdzoo_is_in_the_layers_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    layered = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    children = {p.stem if p.is_file() else p.name for p in (ROOT / "ssdzoo").iterdir()
                if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    missing = sorted(f"ssdzoo.{c}" for c in children - FACADE if f"ssdzoo.{c}" not in layered)
    assert not missing, f"put {missing} in a layer of [tool.importlinter] in pyproject.toml"


def test_keras_internals_are_used_in_keras_internals_only():
    uses = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in SOURCES if p != KERAS_INTERNALS
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if PRIVATE_KERAS.search(line)]
    assert not uses, ("Keras internals outside ssdzoo/utils/keras_internals.py (add a named "
                      f"function there, with a test in tests/test_keras_internals.py): {uses}")


def _tool(*command: str) -> subprocess.CompletedProcess:
    """Run a linter from the repository root (it is a dependency of the ``test`` extra)."""
    exe = shutil.which(command[0])
    assert exe, f"{command[0]} is missing: pip install -e '.[test]'"
    return subprocess.run([exe, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    proc = _tool("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_layer_contracts_hold():
    proc = _tool("lint-imports", "--no-cache")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
