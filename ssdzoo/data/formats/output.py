"""What every annotation writer shares: copying images under unique names, text and numbers."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..records import Record


def copy_images(records: Sequence[Record], image_dir: Path) -> list[Path]:
    """Copy the records' images into ``image_dir`` under unique stems; returns the new paths."""
    image_dir.mkdir(parents=True, exist_ok=True)
    used, paths = set(), []
    for record in records:
        source = Path(record.image_path)
        if not source.is_file():
            raise ValueError(f"{source}: image file missing")
        stem, k = source.stem, 1
        while stem.lower() in used:
            stem, k = f"{source.stem}_{k}", k + 1
        used.add(stem.lower())
        target = image_dir / f"{stem}{source.suffix}"
        if not (target.exists() and target.samefile(source)):
            shutil.copyfile(source, target)
        paths.append(target)
    return paths


def write_lines(file: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` to ``file`` (UTF-8, one per line), creating its folder."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def number(value: float) -> str:
    """A pixel coordinate as text: at most two decimals, no trailing zeros."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
