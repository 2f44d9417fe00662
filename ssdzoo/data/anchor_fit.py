"""Anchor advice from a dataset's boxes: how well SSD anchors cover them, and better-fitting ones.

Coverage is what the target encoder will find: each ground-truth box's best IoU with any anchor
(position and shape), and the share of boxes whose best IoU is at least 0.5 (a positive match).
Suggestions come from an IoU k-means on box shapes (as darknet's ``calc_anchors``): its cluster
ratios give the aspect ratios (as many per map as the current config has, so the head keeps its
shape), and the linear scale ladder ``s_min .. s_max`` that covers most boxes gives the scales.
Boxes are normalised ``x1 y1 x2 y2`` (fractions of the image, as the model sees it after resizing).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ssdzoo.core.anchors import AnchorConfig, generate_anchors

from .records import Dataset
from .training_boxes import augmented_boxes, record_boxes

POSITIVE_IOU = 0.5
_SAMPLE = 1000  # boxes the scale search scores each candidate ladder on
_LOWS = 12  # s_min candidates (a log grid) per s_max
_CHUNK = 32  # boxes per IoU block (_CHUNK x anchors floats: small blocks stay in cache, 1.7x faster than 256)


def normalised_boxes(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every box of a dataset as fractions of its image, ``(N, 4)`` x1 y1 x2 y2, and its ``(N,)`` labels."""
    boxes = [record_boxes(record) for record in dataset if len(record.labels)]
    labels = [record.labels for record in dataset if len(record.labels)]
    if not boxes:
        raise ValueError("the dataset has no boxes to fit anchors to")
    return np.concatenate(boxes), np.concatenate(labels)


def map_sizes(config: AnchorConfig, input_size: int) -> list[tuple[int, int]]:
    """``(height, width)`` cells of each source map: ``ceil(input_size / step)``."""
    if config.steps is None:
        raise ValueError("anchor advice needs an AnchorConfig with steps (the map sizes follow from them)")
    return [(math.ceil(input_size / s),) * 2 for s in config.steps]


def match_stats(boxes: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per box its best IoU with any anchor and its count of anchors at IoU >= ``POSITIVE_IOU``, ``(N,)`` each.

    Both normalised ``x1 y1 x2 y2``, ``(N, 4)`` boxes and ``(A, 4)`` anchors.
    """
    boxes, anchors = boxes.astype(np.float32), anchors.astype(np.float32)
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    best, positives = np.zeros(len(boxes)), np.zeros(len(boxes), np.int64)
    for start in range(0, len(boxes), _CHUNK):
        b = boxes[start:start + _CHUNK, None, :]
        w = np.clip(np.minimum(b[..., 2], anchors[:, 2]) - np.maximum(b[..., 0], anchors[:, 0]), 0, None)
        h = np.clip(np.minimum(b[..., 3], anchors[:, 3]) - np.maximum(b[..., 1], anchors[:, 1]), 0, None)
        inter = w * h
        area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / np.maximum(area_b + area_a - inter, 1e-12)
        best[start:start + _CHUNK] = iou.max(1)
        positives[start:start + _CHUNK] = (iou >= POSITIVE_IOU).sum(1)
    return best, positives


def best_iou(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Each box's best IoU with any anchor; both normalised ``x1 y1 x2 y2``, ``(N, 4)`` and ``(A, 4)``."""
    return match_stats(boxes, anchors)[0]


def covered_share(boxes: np.ndarray, config: AnchorConfig, sizes: list[tuple[int, int]],
                  input_size: int) -> float:
    """Share (0..1) of normalised ``x1 y1 x2 y2`` boxes with an anchor of ``config`` on maps ``sizes`` at IoU >= 0.5."""
    return float((best_iou(boxes, generate_anchors(sizes, (input_size,) * 2, config)) >= POSITIVE_IOU).mean())


def shape_iou(shapes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 2)`` box shapes ``w, h`` with ``(K, 2)`` shapes, both centred: ``(N, K)``."""
    inter = np.minimum(shapes[:, None, 0], centres[:, 0]) * np.minimum(shapes[:, None, 1], centres[:, 1])
    return inter / (shapes.prod(1)[:, None] + centres.prod(1) - inter)


def iou_kmeans(shapes: np.ndarray, k: int, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """IoU k-means on ``(N, 2)`` shapes ``w, h``: ``(k, 2)`` centres by area and each centre's box count.

    Distance is ``1 - IoU`` of centred shapes; centres start at area quantiles (deterministic)
    and are the median shape of their members.
    """
    if len(shapes) < k:
        raise ValueError(f"{len(shapes)} boxes are too few for {k} clusters")
    order = np.argsort(shapes.prod(1))
    centres = shapes[order[((np.arange(k) + 0.5) * len(shapes) / k).astype(int)]]
    for _ in range(iterations):
        member = shape_iou(shapes, centres).argmax(1)
        new = np.array([np.median(shapes[member == j], 0) if (member == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    member = shape_iou(shapes, centres).argmax(1)
    by_area = np.argsort(centres.prod(1))
    return centres[by_area], np.bincount(member, minlength=k)[by_area]


def _ratios(centres: np.ndarray, counts: np.ndarray, current: AnchorConfig) -> tuple[tuple[float, ...], ...]:
    """Per map as many ratios as ``current`` has: the clusters' folded ratios by box count, then current's."""
    folded = np.maximum(centres[:, 0] / centres[:, 1], centres[:, 1] / centres[:, 0])
    ranked = []
    for j in np.argsort(-counts, kind="stable"):
        r = round(float(folded[j]) * 4) / 4  # quarter steps; ratio 1 is the square box already there
        if r >= 1.25 and r not in ranked:
            ranked.append(r)
    per_map = []
    for ratios in current.aspect_ratios:
        pool = ranked + [float(r) for r in ratios if float(r) not in ranked]
        per_map.append(tuple(pool[:len(ratios)]))
    return tuple(per_map)


def _ladder(s_min: float, s_max: float, n: int) -> tuple[float, ...]:
    """SSD's linear scales ``s_min .. s_max`` over ``n`` maps plus the extra last one."""
    step = (s_max - s_min) / max(n - 1, 1)
    return tuple(round(float(s_min + step * k), 4) for k in range(n + 1))


@dataclasses.dataclass
class AnchorAdvice:
    """Coverage of the current and the suggested anchors, and the k-means clusters behind it.

    Shares are fractions of boxes whose best-anchor IoU is at least ``POSITIVE_IOU``; per map,
    a box counts for the map whose scale is nearest its size ``sqrt(w h)``. Clusters are
    normalised ``w, h`` with their box counts. Every per-box array is over the boxes the advice
    was fitted to, which ``fitted_to`` names (the annotated ones or an augmented sample).
    """

    current: AnchorConfig
    suggested: AnchorConfig
    clusters: np.ndarray
    cluster_counts: np.ndarray
    best_current: np.ndarray
    best_suggested: np.ndarray
    labels: np.ndarray
    box_map: np.ndarray
    positives_current: np.ndarray
    positives_suggested: np.ndarray
    fitted_to: str = "the annotated boxes"

    def coverage(self, suggested: bool = False) -> float:
        """Share of all boxes with a positive anchor (0..1)."""
        best = self.best_suggested if suggested else self.best_current
        return float((best >= POSITIVE_IOU).mean())

    def positives(self, suggested: bool = False) -> float:
        """Mean count of anchors at IoU >= ``POSITIVE_IOU`` per box (the encoder's positives, forced ones aside)."""
        return float((self.positives_suggested if suggested else self.positives_current).mean())

    def table(self, class_names: list[str]) -> list[tuple[str, int, float, float, float, float]]:
        """Rows ``(group, boxes, mean best IoU now, share now, mean best IoU suggested, share suggested)``."""
        groups = [("all", np.ones(len(self.labels), bool))]
        groups += [(f"class {name}", self.labels == i) for i, name in enumerate(class_names)]
        groups += [(f"map {k} (scale {s:g})", self.box_map == k)
                   for k, s in enumerate(self.current.scales[:-1])]
        return [(name, int(mask.sum()), *(float(f(best[mask])) if mask.any() else float("nan")
                                          for best in (self.best_current, self.best_suggested)
                                          for f in (np.mean, lambda b: (b >= POSITIVE_IOU).mean())))
                for name, mask in groups]


def _fit_scales(sample: np.ndarray, side: np.ndarray, ratios: tuple[tuple[float, ...], ...],
                current: AnchorConfig, sizes: list[tuple[int, int]], input_size: int) -> AnchorConfig:
    """The ladder (with ``ratios``) covering most ``sample`` boxes with no fewer positives per box than ``current``.

    The floor on positives keeps the search from buying coverage of the smallest boxes with a
    ladder that starts too small: every map then holds larger boxes on coarser cells, with fewer
    positive anchors each (``--anchors auto`` on data/Composite halved them before the floor).
    Candidates: ``s_min`` on a log grid from the 0.01 quantile of the box sides ``side`` to their
    median (or current's ``s_min`` if larger), ``s_max`` the 0.99 quantile, twice the 0.9 quantile
    or current's. Where no ladder reaches the floor, the one with the most positives wins.
    """
    floor = match_stats(sample, generate_anchors(sizes, (input_size,) * 2, current))[1].mean()

    def score(s_min: float, s_max: float) -> tuple[tuple[bool, float], AnchorConfig]:
        """((reaches the floor, coverage if it does else positives per box), the ladder's config)."""
        config = dataclasses.replace(current, scales=_ladder(s_min, s_max, len(sizes)), aspect_ratios=ratios)
        best, positives = match_stats(sample, generate_anchors(sizes, (input_size,) * 2, config))
        enough = positives.mean() >= floor
        return (enough, float((best >= POSITIVE_IOU).mean() if enough else positives.mean())), config

    q01, q50, q90, q99 = np.quantile(side, [0.01, 0.5, 0.9, 0.99])
    lows = np.geomspace(q01, max(q50, current.scales[0]), _LOWS)
    found = [score(s_min, s_max) for s_max in (q99, 2 * q90, current.scales[len(sizes) - 1])
             for s_min in lows[lows < s_max]]
    return max(found, key=lambda pair: pair[0])[1]


def advise_anchors(dataset: Dataset, current: AnchorConfig, input_size: int = 300,
                   clusters: int = 6, augment_passes: int = 0, zoom_out: float = 4.0) -> AnchorAdvice:
    """Coverage of ``current`` anchors on the dataset's boxes and a better-fitting ``AnchorConfig``.

    Args:
        dataset: records with boxes in pixels ``x1 y1 x2 y2`` of their images.
        current: the anchors to compare against (with steps, e.g. ``SSD300_ANCHORS``).
        input_size: model input side in pixels (anchors are laid on the resized image).
        clusters: k of the IoU k-means on box shapes.
        augment_passes: 0 fits the boxes as annotated; ``n`` fits the boxes that ``n`` passes
            of the training augmentation give (:func:`~ssdzoo.data.training_boxes.augmented_boxes`,
            seed 0), which are the boxes the encoder matches anchors to in training.
        zoom_out: the training augmentation's largest zoom-out (``TrainConfig.zoom_out``).
    """
    if clusters < 1:
        raise ValueError(f"clusters must be >= 1, got {clusters}")
    if augment_passes:
        boxes, labels = augmented_boxes(dataset, augment_passes, seed=0, zoom_out=zoom_out)
        fitted_to = f"the augmented boxes ({augment_passes} x each record, seed 0, zoom-out up to {zoom_out:g}x)"
    else:
        boxes, labels = normalised_boxes(dataset)
        fitted_to = "the annotated boxes"
    sizes = map_sizes(current, input_size)
    shapes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    shapes = np.clip(shapes, 1e-6, None)
    centres, counts = iou_kmeans(shapes, min(clusters, len(shapes)))
    ratios = _ratios(centres, counts, current)
    sample = boxes[np.random.default_rng(0).permutation(len(boxes))[:_SAMPLE]]
    suggested = _fit_scales(sample, np.sqrt(shapes.prod(1)), ratios, current, sizes, input_size)
    now = match_stats(boxes, generate_anchors(sizes, (input_size,) * 2, current))
    new = match_stats(boxes, generate_anchors(sizes, (input_size,) * 2, suggested))
    map_scales = np.log(np.asarray(current.scales[:-1]))
    box_map = np.abs(np.log(np.sqrt(shapes.prod(1)))[:, None] - map_scales).argmin(1)
    return AnchorAdvice(current, suggested, centres, counts, now[0], new[0], labels, box_map, now[1], new[1],
                        fitted_to)
