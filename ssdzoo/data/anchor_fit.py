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
from ssdzoo.utils.images import inspect_image

from .records import Dataset

POSITIVE_IOU = 0.5
_SAMPLE = 1000  # boxes the scale search scores each candidate ladder on
_CHUNK = 256  # boxes per IoU block (a block is _CHUNK x anchors floats)


def normalised_boxes(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every box of a dataset as fractions of its image, ``(N, 4)`` x1 y1 x2 y2, and its ``(N,)`` labels."""
    boxes, labels = [], []
    for record in dataset:
        if not len(record.labels):
            continue
        width, height = record.width, record.height
        if not (width and height):
            width, height = inspect_image(record.image_path, decode=False).size
        boxes.append(record.boxes.astype(np.float64) / [width, height, width, height])
        labels.append(record.labels)
    if not boxes:
        raise ValueError("the dataset has no boxes to fit anchors to")
    return np.concatenate(boxes), np.concatenate(labels)


def map_sizes(config: AnchorConfig, input_size: int) -> list[tuple[int, int]]:
    """``(height, width)`` cells of each source map: ``ceil(input_size / step)``."""
    if config.steps is None:
        raise ValueError("anchor advice needs an AnchorConfig with steps (the map sizes follow from them)")
    return [(math.ceil(input_size / s),) * 2 for s in config.steps]


def best_iou(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Each box's best IoU with any anchor; both normalised ``x1 y1 x2 y2``, ``(N, 4)`` and ``(A, 4)``."""
    boxes, anchors = boxes.astype(np.float32), anchors.astype(np.float32)
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    best = np.zeros(len(boxes))
    for start in range(0, len(boxes), _CHUNK):
        b = boxes[start:start + _CHUNK, None, :]
        w = np.clip(np.minimum(b[..., 2], anchors[:, 2]) - np.maximum(b[..., 0], anchors[:, 0]), 0, None)
        h = np.clip(np.minimum(b[..., 3], anchors[:, 3]) - np.maximum(b[..., 1], anchors[:, 1]), 0, None)
        inter = w * h
        area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        best[start:start + _CHUNK] = (inter / np.maximum(area_b + area_a - inter, 1e-12)).max(1)
    return best


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
    normalised ``w, h`` with their box counts.
    """

    current: AnchorConfig
    suggested: AnchorConfig
    clusters: np.ndarray
    cluster_counts: np.ndarray
    best_current: np.ndarray
    best_suggested: np.ndarray
    labels: np.ndarray
    box_map: np.ndarray

    def coverage(self, suggested: bool = False) -> float:
        """Share of all boxes with a positive anchor (0..1)."""
        best = self.best_suggested if suggested else self.best_current
        return float((best >= POSITIVE_IOU).mean())

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


def advise_anchors(dataset: Dataset, current: AnchorConfig, input_size: int = 300,
                   clusters: int = 6) -> AnchorAdvice:
    """Coverage of ``current`` anchors on the dataset's boxes and a better-fitting ``AnchorConfig``.

    Args:
        dataset: records with boxes in pixels ``x1 y1 x2 y2`` of their images.
        current: the anchors to compare against (with steps, e.g. ``SSD300_ANCHORS``).
        input_size: model input side in pixels (anchors are laid on the resized image).
        clusters: k of the IoU k-means on box shapes.
    """
    if clusters < 1:
        raise ValueError(f"clusters must be >= 1, got {clusters}")
    boxes, labels = normalised_boxes(dataset)
    sizes = map_sizes(current, input_size)
    shapes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    shapes = np.clip(shapes, 1e-6, None)
    centres, counts = iou_kmeans(shapes, min(clusters, len(shapes)))
    ratios = _ratios(centres, counts, current)
    sample = boxes[np.random.default_rng(0).permutation(len(boxes))[:_SAMPLE]]
    side = np.sqrt(shapes.prod(1))
    lows = np.quantile(side, [0.01, 0.05, 0.1, 0.25])
    highs = np.concatenate([np.quantile(side, [0.75, 0.9, 0.99]) * f for f in (1, 2)])
    best_config, best_share = None, -1.0
    for s_min in lows:
        for s_max in highs[highs > s_min]:
            config = dataclasses.replace(current, scales=_ladder(s_min, s_max, len(sizes)),
                                         aspect_ratios=ratios)
            share = covered_share(sample, config, sizes, input_size)
            if share > best_share:
                best_config, best_share = config, share
    anchors_now = generate_anchors(sizes, (input_size,) * 2, current)
    anchors_new = generate_anchors(sizes, (input_size,) * 2, best_config)
    map_scales = np.log(np.asarray(current.scales[:-1]))
    box_map = np.abs(np.log(np.sqrt(shapes.prod(1)))[:, None] - map_scales).argmin(1)
    return AnchorAdvice(current, best_config, centres, counts, best_iou(boxes, anchors_now),
                        best_iou(boxes, anchors_new), labels, box_map)
