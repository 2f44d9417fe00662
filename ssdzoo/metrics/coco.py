"""COCO detection metrics through pycocotools, built in memory from per-image arrays.

Boxes are ``x1 y1 x2 y2`` in pixels (converted to COCO's ``x y w h``, no +1) and
labels are 0-based class indices (docs/CONVENTIONS.md).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np


def eval_detection_coco(
    pred_bboxes: Sequence[np.ndarray],
    pred_labels: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    gt_bboxes: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    gt_areas: Sequence[np.ndarray] | None = None,
    gt_crowdeds: Sequence[np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
    verbose: bool = False,
) -> dict:
    """COCO box AP (``COCOeval``, iouType ``bbox``, at most 100 detections per image).

    Each argument is a list with one entry per image: boxes ``(R, 4)`` as
    ``x1 y1 x2 y2`` pixels, labels ``(R,)`` 0-based class indices, scores ``(R,)``,
    ``gt_areas`` ``(R,)`` in square pixels (the object's area for the small / medium /
    large split; default: box area) and ``gt_crowdeds`` ``(R,)`` bool (default: none).
    The number of classes is ``len(class_names)`` if given, else the largest label
    plus one. ``verbose`` lets pycocotools print its usual summary.

    Returns a dict with ``map`` (AP@[.5:.95]), ``map50``, ``map75``, ``map_small``,
    ``map_medium``, ``map_large`` (nan where pycocotools reports -1: no such ground
    truth), ``ap`` (per-class AP@[.5:.95], nan for classes without ground truth),
    ``num_gt`` (per-class count of non-crowd ground truths) and ``stats`` (the 12
    numbers of ``COCOeval.stats`` as they are).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    n_img = len(gt_bboxes)
    if not len(pred_bboxes) == len(pred_labels) == len(pred_scores) == len(gt_labels) == n_img:
        raise ValueError("every per-image list needs one entry per image")
    all_labels = np.concatenate(
        [np.asarray(x, np.int64).reshape(-1) for x in (*pred_labels, *gt_labels)] or [np.zeros(0, np.int64)]
    )
    num_classes = len(class_names) if class_names is not None else int(all_labels.max(initial=-1)) + 1
    if all_labels.size and (all_labels.min() < 0 or all_labels.max() >= num_classes):
        raise ValueError(f"labels must be 0-based class indices below {num_classes}")

    gt_anns, dt_anns = [], []
    num_gt = np.zeros(num_classes, np.int64)
    for i in range(n_img):
        boxes = _xywh(gt_bboxes[i])
        labels = np.asarray(gt_labels[i], np.int64).reshape(-1)
        areas = boxes[:, 2] * boxes[:, 3] if gt_areas is None else np.asarray(gt_areas[i], np.float64).reshape(-1)
        crowd = np.zeros(len(labels), bool) if gt_crowdeds is None else np.asarray(gt_crowdeds[i], bool).reshape(-1)
        num_gt += np.bincount(labels[~crowd], minlength=num_classes)
        gt_anns += [
            {"image_id": i + 1, "category_id": int(c) + 1, "bbox": b, "area": float(a), "iscrowd": int(z)}
            for b, c, a, z in zip(boxes.tolist(), labels, areas, crowd, strict=True)
        ]
        boxes = _xywh(pred_bboxes[i])
        labels, scores = np.asarray(pred_labels[i]).reshape(-1), np.asarray(pred_scores[i]).reshape(-1)
        dt_anns += [
            {"image_id": i + 1, "category_id": int(c) + 1, "bbox": b, "score": float(s), "area": b[2] * b[3]}
            for b, c, s in zip(boxes.tolist(), labels, scores, strict=True)
        ]

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        # COCO ids are 1-based: COCOeval treats a matched annotation id of 0 as "unmatched".
        gt = _coco(COCO, gt_anns, n_img, num_classes)
        dt = _coco(COCO, dt_anns, n_img, num_classes)
        coco_eval = COCOeval(gt, dt, iouType="bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()

    stats = np.asarray(coco_eval.stats, np.float64)
    # precision: [iou threshold, recall threshold, class, area range (0 = all), max dets (2 = 100)]
    precision = coco_eval.eval["precision"][:, :, :, 0, 2]
    ap = np.full(num_classes, np.nan)
    for c in range(num_classes):
        p = precision[:, :, c]
        if (p > -1).any():
            ap[c] = p[p > -1].mean()
    summary = np.where(stats[:6] < 0, np.nan, stats[:6])
    keys = ("map", "map50", "map75", "map_small", "map_medium", "map_large")
    return {**dict(zip(keys, summary.tolist())), "ap": ap, "num_gt": num_gt, "stats": stats}


def _xywh(bboxes: np.ndarray) -> np.ndarray:
    """``x1 y1 x2 y2`` pixels to COCO ``x y w h`` (float64)."""
    b = np.asarray(bboxes, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def _coco(coco_cls: type, anns: list[dict], n_img: int, num_classes: int):
    """An in-memory ``pycocotools.coco.COCO`` holding ``anns`` (ids assigned from 1)."""
    for k, ann in enumerate(anns, start=1):
        ann["id"] = k
    coco = coco_cls()
    coco.dataset = {
        "images": [{"id": i + 1} for i in range(n_img)],
        "categories": [{"id": c + 1} for c in range(num_classes)],
        "annotations": anns,
    }
    coco.createIndex()
    return coco
