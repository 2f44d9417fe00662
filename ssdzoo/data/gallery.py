"""``ssdzoo view``: a static HTML gallery of a dataset, with each image's boxes and checker findings.

The gallery is a folder: ``index.html`` (self-contained, opens without a server) and
``thumbs/`` (images scaled to at most ``thumb_size`` pixels, made once and reused). Boxes are
drawn per class colour; the page filters by class and by finding and pages through large sets.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from ssdzoo.utils.images import inspect_image, read_image

from .check import Finding
from .gallery_page import page
from .records import Dataset

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
           "#469990", "#800000", "#808000", "#000075", "#bfef45", "#fabed4", "#dcbeff", "#a9a9a9")


def thumbnail(image: Path, target: Path, size: int) -> None:
    """Write ``image`` scaled to at most ``size`` pixels a side as ``target`` (kept if newer).

    The image is decoded by :func:`ssdzoo.utils.images.read_image` (EXIF orientation applied,
    as the boxes are); an unreadable one raises its ``ImageError`` (a ValueError naming it).
    """
    if target.is_file() and target.stat().st_mtime >= image.stat().st_mtime:
        return
    pixels = cv2.cvtColor(read_image(image), cv2.COLOR_RGB2BGR)
    scale = min(1.0, size / max(pixels.shape[:2]))
    if scale < 1.0:
        pixels = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), pixels):
        raise ValueError(f"{target}: cannot write the thumbnail")


def _finding_key(finding: Finding) -> str:
    """The image a finding is about: its record's file name, else its annotation file's stem."""
    return Path(finding.record).stem if finding.record else Path(finding.file).stem


def write_gallery(dataset: Dataset, out_dir: str | Path, title: str = "ssdzoo data",
                  page_size: int = 60, thumb_size: int = 480) -> Path:
    """Write the gallery of ``dataset`` (boxes in pixels ``x1 y1 x2 y2``) into ``out_dir``; returns ``index.html``.

    Findings of ``dataset.report`` are shown under their image (matched by file stem); those
    about images that were not loaded are listed below the grid.
    """
    if page_size < 1 or thumb_size < 16:
        raise ValueError(f"page_size must be >= 1 and thumb_size >= 16, got {page_size} and {thumb_size}")
    out = Path(out_dir)
    findings: dict[str, list[Finding]] = {}
    for finding in getattr(dataset.report, "findings", []):
        findings.setdefault(_finding_key(finding), []).append(finding)
    images, counts = [], [0] * len(dataset.class_names)
    for k, record in enumerate(dataset):
        source = Path(record.image_path)
        thumb = Path("thumbs") / f"{k:06d}_{source.stem}.jpg"
        thumbnail(source, out / thumb, thumb_size)
        width, height = record.width, record.height
        if not (width and height):
            width, height = inspect_image(source, decode=False).size
        for label in record.labels.tolist():
            counts[label] += 1
        images.append({"name": source.name, "thumb": thumb.as_posix(), "width": width, "height": height,
                       "boxes": [[*map(float, box), int(label)]
                                 for box, label in zip(record.boxes.tolist(), record.labels.tolist())],
                       "findings": [{"text": str(f), "action": f.action}
                                    for f in findings.pop(source.stem, [])]})
    unplaced = [str(f) for group in findings.values() for f in group]
    classes = [{"name": name, "color": PALETTE[i % len(PALETTE)], "count": counts[i]}
               for i, name in enumerate(dataset.class_names)]
    file = out / "index.html"
    file.write_text(page(title, {"title": title, "pageSize": page_size, "classes": classes,
                                 "images": images, "unplaced": unplaced}), encoding="utf-8")
    return file
