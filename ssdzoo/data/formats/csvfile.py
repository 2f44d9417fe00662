"""CSV: one box per row ``path,x1,y1,x2,y2,class`` in pixels."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from .base import Layout, Parsed, RawImage, RawObject, read_text

_LAYOUT = Layout(("x1", "y1", "x2", "y2"), "xyxy", "class")
_HEADER = {"path", "image", "image_path", "filename", "file"}


def parse(file: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """CSV file, one box per row ``path,x1,y1,x2,y2,class`` (pixels), optional header row.

    Image paths are relative to the CSV file; a row ``path,,,,,`` lists an image without
    boxes.
    """
    if not file.is_file():
        raise ValueError(f"{file}: a CSV dataset is one .csv file")
    try:
        rows = list(enumerate(csv.reader(io.StringIO(read_text(file), newline="")), start=1))
    except csv.Error as error:
        raise ValueError(f"{file}: not a CSV file ({error})") from None
    if rows and rows[0][1] and rows[0][1][0].strip().lower() in _HEADER:
        rows = rows[1:]
    images: dict[str, RawImage] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        name = row[0].strip()
        raw = images.setdefault(name, RawImage(str(file), str(file.parent / name), _LAYOUT, name))
        if len(row) == 6 and not any(cell.strip() for cell in row[1:]):
            continue  # "path,,,,," lists an image without boxes
        problem = None if len(row) == 6 else (
            f"line {line}: expected 6 columns path,x1,y1,x2,y2,class, got {len(row)}")
        label = (row[5].strip() or None) if len(row) > 5 else None
        raw.objects.append(RawObject(len(raw.objects), label, row[1:5], problem=problem))
    return Parsed(list(images.values()))


def detect(path: Path) -> bool:
    """A path ending in ``.csv``."""
    return path.suffix.lower() == ".csv"
