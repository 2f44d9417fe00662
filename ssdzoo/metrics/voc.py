"""PASCAL VOC detection metrics (devkit rules, as ChainerCV's ``eval_detection_voc``).

Boxes are ``x1 y1 x2 y2`` in pixels of the original image and labels are 0-based
class indices (docs/CONVENTIONS.md). The work is vectorised over all images and
detections at once; the only Python loop runs over classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The recall thresholds of the VOC2007 11-point rule, built exactly as the devkit
#: ports do (``np.arange`` gives e.g. 0.30000000000000004, which matters when a
#: recall equals 0.3).
_VOC07_RECALLS = np.arange(0.0, 1.1, 0.1)


def eval_detection_voc(
    pred_bboxes: Sequence[np.ndarray],
    pred_labels: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    gt_bboxes: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    gt_difficults: Sequence[np.ndarray] | None = None,
    iou_thresh: float = 0.5,
    use_07_metric: bool = True,
    num_classes: int | None = None,
) -> dict:
    """Average precision per class and mAP under the PASCAL VOC rules.

    Each argument is a list with one entry per image: boxes ``(R, 4)`` as
    ``x1 y1 x2 y2`` pixels, labels ``(R,)`` 0-based class indices, scores ``(R,)``,
    difficult flags ``(R,)`` bool (default: none difficult).

    Rules (VOC devkit, ChainerCV): IoU on integer pixels (``x2``/``y2`` inclusive,
    +1 in widths and heights); each detection takes the same-class ground truth of
    its image with the highest IoU (first one on ties) and is a true positive when
    that IoU is ``>= iou_thresh`` and the ground truth is not already taken by a
    higher-scoring detection (later duplicates are false positives). A detection
    whose best ground truth is difficult is ignored; difficult boxes do not count
    towards recall. Detections are ranked by score, ties in input order.
    ``use_07_metric`` selects the 11-point rule (VOC2007) instead of the area under
    the interpolated PR curve (VOC2010+).

    ``num_classes`` fixes the length of the per-class outputs; by default it is the
    largest label seen plus one.

    Returns a dict with ``ap`` (per-class float array, nan for classes without a
    non-difficult ground truth), ``map`` (mean of the non-nan ``ap``), ``num_gt``
    (per-class count of non-difficult ground truths), and ``precision``/``recall``
    (per-class lists of arrays along the score-ranked detections; ``None`` where
    ``ap`` is nan).
    """
    if gt_difficults is None:
        gt_difficults = [np.zeros(len(g), bool) for g in gt_labels]
    p_img = _image_index(pred_bboxes, pred_labels, pred_scores)
    g_img = _image_index(gt_bboxes, gt_labels, gt_difficults)
    n_img = len(gt_labels)
    if len(pred_labels) != n_img:
        raise ValueError("every per-image list needs one entry per image")
    pb, pl, ps = _flat(pred_bboxes, np.float64, 4), _flat(pred_labels, np.int64), _flat(pred_scores, np.float64)
    gb, gl, gd = _flat(gt_bboxes, np.float64, 4), _flat(gt_labels, np.int64), _flat(gt_difficults, bool)

    all_labels = np.concatenate([pl, gl])
    if num_classes is None:
        num_classes = int(all_labels.max(initial=-1)) + 1
    if all_labels.size and (all_labels.min() < 0 or all_labels.max() >= num_classes):
        raise ValueError(f"labels must be 0-based class indices below num_classes={num_classes}")
    num_gt = np.bincount(gl[~gd], minlength=num_classes)

    # Rank detections by class, then by descending score (stable: ties keep input order).
    order = np.lexsort((-ps, pl))
    pb, pl, p_img = pb[order], pl[order], p_img[order]

    match = _match_detections(pb, pl, p_img, gb, gl, g_img, gd, n_img, num_classes, iou_thresh)

    ap = np.full(num_classes, np.nan)
    precision: list[np.ndarray | None] = [None] * num_classes
    recall: list[np.ndarray | None] = [None] * num_classes
    bounds = np.searchsorted(pl, np.arange(num_classes + 1))
    for c in np.flatnonzero(num_gt):
        m = match[bounds[c] : bounds[c + 1]]
        tp = np.cumsum(m == 1)
        fp = np.cumsum(m == 0)
        prec = tp / np.maximum(tp + fp, 1)  # 0/0 (only ignored detections so far) -> 0
        rec = tp / num_gt[c]
        precision[c], recall[c] = prec, rec
        ap[c] = _voc_ap(prec, rec, use_07_metric)

    valid = ~np.isnan(ap)
    return {
        "ap": ap,
        "map": float(ap[valid].mean()) if valid.any() else float("nan"),
        "num_gt": num_gt,
        "precision": precision,
        "recall": recall,
    }


def _image_index(*per_image: Sequence[np.ndarray]) -> np.ndarray:
    """Image id of every row of the flattened per-image arrays, which must agree in length."""
    if len({len(arrays) for arrays in per_image}) > 1:
        raise ValueError("every per-image list needs one entry per image")
    counts = np.array([[len(a) for a in arrays] for arrays in per_image], dtype=np.int64)
    if (counts != counts[0]).any():
        raise ValueError("boxes, labels, scores and flags need the same number of rows in every image")
    return np.repeat(np.arange(counts.shape[1]), counts[0])


def _flat(arrays: Sequence[np.ndarray], dtype: type, width: int | None = None) -> np.ndarray:
    """Concatenates per-image arrays into one of ``dtype`` (rows of ``width`` columns if given)."""
    shape = (-1,) if width is None else (-1, width)
    empty = np.zeros((0, *shape[1:]), dtype)
    return np.concatenate([np.asarray(a, dtype).reshape(shape) for a in arrays] or [empty])


def _match_detections(
    pb: np.ndarray,
    pl: np.ndarray,
    p_img: np.ndarray,
    gb: np.ndarray,
    gl: np.ndarray,
    g_img: np.ndarray,
    gd: np.ndarray,
    n_img: int,
    num_classes: int,
    iou_thresh: float,
) -> np.ndarray:
    """Labels score-ranked detections 1 (true positive), 0 (false positive) or -1 (ignored).

    Detections must be sorted by descending score within each class.
    """
    # Group ground truths by (image, class); each detection meets only its own group.
    g_key = g_img * num_classes + gl
    g_order = np.argsort(g_key, kind="stable")  # keeps the input order inside a group
    group_size = np.bincount(g_key, minlength=n_img * num_classes)
    p_key = p_img * num_classes + pl
    count = group_size[p_key]
    start = (np.cumsum(group_size) - group_size)[p_key]

    # Every (detection, ground truth) pair of a group, laid out detection by detection.
    pair_det = np.repeat(np.arange(len(pl)), count)
    seg_start = np.cumsum(count) - count
    pair_gt = g_order[np.repeat(start - seg_start, count) + np.arange(len(pair_det))]
    iou = _pixel_iou(pb[pair_det], gb[pair_gt])

    match = np.zeros(len(pl), np.int8)
    has_gt = count > 0
    if not has_gt.any():
        return match
    best_iou = np.zeros(len(pl))
    best_iou[has_gt] = np.maximum.reduceat(iou, seg_start[has_gt])
    # The first pair of each detection that reaches its best IoU is the argmax.
    at_best = np.flatnonzero(iou == best_iou[pair_det])
    first = np.ones(len(at_best), bool)
    first[1:] = pair_det[at_best[1:]] != pair_det[at_best[:-1]]
    at_best = at_best[first]
    det, gt = pair_det[at_best], pair_gt[at_best]

    hit = iou[at_best] >= iou_thresh
    det, gt = det[hit], gt[hit]
    difficult = gd[gt]
    match[det[difficult]] = -1
    det, gt = det[~difficult], gt[~difficult]
    # A ground truth goes to its highest-ranked detection; det is ascending, so the
    # first occurrence of each gt (np.unique uses a stable sort here) is that one.
    _, first_det = np.unique(gt, return_index=True)
    match[det[first_det]] = 1
    return match


def _pixel_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``x1 y1 x2 y2`` boxes on integer pixels (``x2``/``y2`` inclusive)."""
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]) + 1, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a + area_b - inter)


def _voc_ap(prec: np.ndarray, rec: np.ndarray, use_07_metric: bool) -> float:
    """AP of one class from its precision/recall along the ranked detections."""
    # Interpolated precision: the best precision at this recall or any higher one.
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    if use_07_metric:
        idx = np.searchsorted(rec, _VOC07_RECALLS, side="left")  # first rank with rec >= t
        reached = idx < len(rec)
        return float(envelope[idx[reached]].sum() / 11.0)
    mrec = np.concatenate(([0.0], rec))
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * envelope[steps]))
