"""``cache = "auto"``: keep decoded images in memory only while they fit a memory budget."""

from __future__ import annotations

import os
from collections.abc import Sequence

#: The share of the machine's RAM that decoded images may take.
CACHE_SHARE = 0.25
#: Decoded bytes per encoded byte, for records whose annotation states no image size (JPEG ~ 10:1).
DECODED_PER_FILE_BYTE = 10


def total_memory() -> int | None:
    """The machine's RAM in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def decoded_bytes(records: Sequence) -> int:
    """Bytes the decoded RGB uint8 images of ``records`` take.

    From the annotated sizes, else estimated from the file size."""
    total = 0
    for r in records:
        if r.width and r.height:
            total += int(r.width) * int(r.height) * 3
        else:
            try:
                total += os.path.getsize(r.image_path) * DECODED_PER_FILE_BYTE
            except OSError:
                pass
    return total


def resolve_cache(cache: bool | str, records: Sequence) -> tuple[bool, str]:
    """Whether to cache decoded images, and a log line saying why: ``(cache, note)``.

    ``cache`` itself if a bool, else (``"auto"``) whether ``records`` fit in :data:`CACHE_SHARE`
    of the RAM."""
    if isinstance(cache, bool):
        return cache, f"cache: {'on' if cache else 'off'} (as configured)"
    need, ram = decoded_bytes(records), total_memory()
    if ram is None:
        return False, "cache auto: off, the machine's memory is unknown"
    budget = CACHE_SHARE * ram
    fits = need <= budget
    return fits, (f"cache auto: {'on' if fits else 'off'}, decoded images {need / 2**20:.0f} MiB "
                  f"({len(records)} images) {'within' if fits else 'over'} the budget {budget / 2**30:.1f} GiB "
                  f"({CACHE_SHARE:.0%} of {ram / 2**30:.1f} GiB RAM)")
