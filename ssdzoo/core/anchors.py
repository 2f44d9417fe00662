"""Default (anchor) boxes of SSD, derived from the model's real feature-map sizes.

Formulas from the SSD paper (Liu et al., 2016) and its Caffe configuration: on source map
``k`` (``f_k x f_k`` cells, ``step_k`` pixels apart) each cell centre
``((j + offset) * step_k / W, (i + offset) * step_k / H)`` gets

* a square box of side ``s_k``,
* a square box of side ``sqrt(s_k * s_{k+1})``,
* for each extra aspect ratio ``r``: ``(s_k * sqrt(r), s_k / sqrt(r))`` and its transpose,

in that order, cells in row-major order, maps from largest to smallest. Scales ``s_k`` are
fractions of the input size. Output boxes are normalised ``x1 y1 x2 y2`` (not clipped unless
``clip=True``).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
    """Anchor settings for one SSD model.

    Attributes:
        scales: ``n_sources + 1`` box scales as fractions of the input size (the last one only
            feeds the ``sqrt(s_k * s_{k+1})`` box of the last map).
        aspect_ratios: per source map, the ratios besides 1 (each adds ``r`` and ``1/r``).
        steps: per source map, the distance between cell centres in input pixels; ``None``
            means ``input_size / map_size``.
        offset: cell-centre offset in units of a step.
        clip: clip boxes to ``[0, 1]``.
    """

    scales: tuple[float, ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    steps: tuple[float, ...] | None = None
    offset: float = 0.5
    clip: bool = False

    def __post_init__(self) -> None:
        n = len(self.aspect_ratios)
        if len(self.scales) != n + 1:
            raise ValueError(f"AnchorConfig: {len(self.scales)} scales for {n} maps; need {n + 1}")
        if self.steps is not None and len(self.steps) != n:
            raise ValueError(f"AnchorConfig: {len(self.steps)} steps for {n} maps")
        values = [*self.scales, *(r for ratios in self.aspect_ratios for r in ratios), *(self.steps or ())]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in values):
            raise ValueError("AnchorConfig: scales, aspect ratios and steps must be numbers > 0")

    @property
    def boxes_per_cell(self) -> list[int]:
        """Number of boxes on each cell of each source map (4 or 6 in SSD300)."""
        return [2 + 2 * len(r) for r in self.aspect_ratios]

    def to_dict(self) -> dict:
        """The fields as a JSON-able dict (scales as fractions of the input size, steps in pixels)."""
        return {k: (list(map(list, v)) if k == "aspect_ratios" else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> AnchorConfig:
        """The config of a :meth:`to_dict` dict (lists become tuples)."""
        d = dict(d)
        d["scales"] = tuple(d["scales"])
        d["aspect_ratios"] = tuple(tuple(r) for r in d["aspect_ratios"])
        if d.get("steps") is not None:
            d["steps"] = tuple(d["steps"])
        return cls(**d)

    @classmethod
    def from_file(cls, path: str) -> AnchorConfig:
        """The config in a :meth:`to_dict` JSON file (``ssdzoo anchors --out`` writes one); one-line ``ValueError``."""
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f))
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
            raise ValueError(f"{path}: not an AnchorConfig JSON file ({error})") from None


#: SSD300 (Caffe VOC config): 6 maps, 38-19-10-5-3-1, 8732 boxes.
SSD300_ANCHORS = AnchorConfig(
    scales=(0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05),
    aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    steps=(8, 16, 32, 64, 100, 300),
)

#: SSD512 (Caffe VOC config): 7 maps, 64-32-16-8-4-2-1, 24564 boxes.
SSD512_ANCHORS = AnchorConfig(
    scales=(0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05),
    aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    steps=(8, 16, 32, 64, 128, 256, 512),
)

DEFAULT_ANCHORS = {300: SSD300_ANCHORS, 512: SSD512_ANCHORS}


def cell_shapes(scale: float, next_scale: float, ratios: Sequence[float]) -> np.ndarray:
    """Box ``(w, h)`` shapes, normalised, for one cell, in the SSD order."""
    shapes = [(scale, scale), (np.sqrt(scale * next_scale),) * 2]
    for r in ratios:
        shapes += [(scale * np.sqrt(r), scale / np.sqrt(r)), (scale / np.sqrt(r), scale * np.sqrt(r))]
    return np.asarray(shapes, np.float64)


def generate_anchors(
    feature_map_sizes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
    config: AnchorConfig = SSD300_ANCHORS,
) -> np.ndarray:
    """All default boxes of a model.

    Args:
        feature_map_sizes: ``(height, width)`` of each source map, largest first.
        image_size: model input ``(height, width)`` in pixels.
        config: scales, ratios, steps.

    Returns:
        ``(num_anchors, 4)`` float32, normalised ``x1 y1 x2 y2``.
    """
    if len(feature_map_sizes) != len(config.aspect_ratios):
        raise ValueError(
            f"{len(feature_map_sizes)} source maps but the anchor config describes "
            f"{len(config.aspect_ratios)}"
        )
    img_h, img_w = image_size
    out = []
    for k, (fh, fw) in enumerate(feature_map_sizes):
        step_y, step_x = (
            (config.steps[k], config.steps[k]) if config.steps else (img_h / fh, img_w / fw)
        )
        cy = (np.arange(fh) + config.offset) * step_y / img_h
        cx = (np.arange(fw) + config.offset) * step_x / img_w
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([cx, cy], -1).reshape(-1, 1, 2)          # (cells, 1, 2)
        wh = cell_shapes(config.scales[k], config.scales[k + 1], config.aspect_ratios[k])
        boxes = np.concatenate([centres - wh / 2, centres + wh / 2], -1)  # (cells, k, 4)
        out.append(boxes.reshape(-1, 4))
    anchors = np.concatenate(out).astype(np.float32)
    return np.clip(anchors, 0.0, 1.0) if config.clip else anchors
