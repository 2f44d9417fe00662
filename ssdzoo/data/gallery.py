"""``ssdzoo view``: a static HTML gallery of a dataset, with each image's boxes and checker findings.

The gallery is a folder: ``index.html`` (self-contained, opens without a server) and
``thumbs/`` (images scaled to at most ``thumb_size`` pixels, made once and reused). Boxes are
drawn per class colour; the page filters by class and by finding and pages through large sets.
With a model's detections, each is a true positive (green) or a false positive (red) at an IoU
threshold, missed ground truth is marked, and the page filters and sorts by these errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ssdzoo.utils.images import inspect_image, read_image

from .check import Finding
from .gallery_page import page
from .records import Dataset

if TYPE_CHECKING:
    from ssdzoo.models.detector import Detections

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


def match_detections(gt_boxes: np.ndarray, gt_labels: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                     scores: np.ndarray, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(true_positive (D,) bool, missed (G,) bool)`` of one image's detections against its ground truth.

    Boxes in pixels ``x1 y1 x2 y2``. In descending score order each detection takes the untaken
    same-class ground-truth box it overlaps most; it is a true positive when that IoU is >= ``iou``.
    """
    gt_boxes, boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4), np.asarray(boxes, np.float64).reshape(-1, 4)
    lo, hi = np.maximum(boxes[:, None, :2], gt_boxes[:, :2]), np.minimum(boxes[:, None, 2:], gt_boxes[:, 2:])
    inter = np.clip(hi - lo, 0, None).prod(2)
    area, gt_area = ((b[:, 2:] - b[:, :2]).prod(1) for b in (boxes, gt_boxes))
    overlap = inter / np.maximum(area[:, None] + gt_area - inter, 1e-12)
    overlap[np.asarray(labels)[:, None] != np.asarray(gt_labels)] = -1.0
    true_positive, missed = np.zeros(len(boxes), bool), np.ones(len(gt_boxes), bool)
    for d in np.argsort(-np.asarray(scores), kind="stable"):
        candidates = np.where(missed, overlap[d], -1.0)
        if len(gt_boxes) and candidates.max() >= iou:
            true_positive[d], missed[candidates.argmax()] = True, False
    return true_positive, missed


def _predictions(record, detection, class_index: dict[str, int], iou: float) -> dict:
    """One image's ``dets`` (``[x1, y1, x2, y2, label, score, tp]``) and ``missed`` (ground-truth indices)."""
    unknown = sorted(set(detection.names) - set(class_index))
    if unknown:
        raise ValueError(f"{record.image_path}: detected class(es) {', '.join(unknown)} are not among the "
                         f"data's classes {', '.join(class_index)}")
    labels = np.array([class_index[name] for name in detection.names], np.int64)
    true_positive, missed = match_detections(record.boxes, record.labels, detection.boxes, labels,
                                             detection.scores, iou)
    return {"dets": [[*map(float, box), int(label), round(float(score), 3), bool(tp)] for box, label, score, tp
                     in zip(np.asarray(detection.boxes).tolist(), labels, detection.scores, true_positive)],
            "missed": np.flatnonzero(missed).tolist()}


def _finding_key(finding: Finding) -> str:
    """The image a finding is about: its record's file name, else its annotation file's stem."""
    return Path(finding.record).stem if finding.record else Path(finding.file).stem


def write_gallery(dataset: Dataset, out_dir: str | Path, title: str = "ssdzoo data",
                  page_size: int = 60, thumb_size: int = 480,
                  detections: Sequence[Detections] | None = None, iou: float = 0.5) -> Path:
    """Write the gallery of ``dataset`` (boxes in pixels ``x1 y1 x2 y2``) into ``out_dir``; returns ``index.html``.

    Findings of ``dataset.report`` are shown under their image (matched by file stem); those
    about images that were not loaded are listed below the grid. ``detections`` (one per record,
    pixel boxes, class names from the dataset's) are shown as true / false positives at ``iou``.
    """
    if page_size < 1 or thumb_size < 16:
        raise ValueError(f"page_size must be >= 1 and thumb_size >= 16, got {page_size} and {thumb_size}")
    if detections is not None and len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection lists for {len(dataset)} images")
    class_index = {name: i for i, name in enumerate(dataset.class_names)}
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
        if detections is not None:
            images[-1].update(_predictions(record, detections[k], class_index, iou))
    unplaced = [str(f) for group in findings.values() for f in group]
    classes = [{"name": name, "color": PALETTE[i % len(PALETTE)], "count": counts[i]}
               for i, name in enumerate(dataset.class_names)]
    file = out / "index.html"
    file.write_text(page(title, {"title": title, "pageSize": page_size, "classes": classes,
                                 "images": images, "unplaced": unplaced, "predictions": detections is not None,
                                 "iou": iou}), encoding="utf-8")
    return file
