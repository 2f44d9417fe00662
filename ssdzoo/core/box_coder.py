"""Box geometry and the SSD box coder, written with ``keras.ops`` (any backend; inside
``tf.data`` on the TensorFlow backend).

All boxes here are normalised ``x1 y1 x2 y2``. Offsets are the SSD centre-size encoding:
``((cx - acx) / aw / v0, (cy - acy) / ah / v0, log(w / aw) / v1, log(h / ah) / v1)``
with variances ``(v0, v1) = (0.1, 0.2)`` by default (:class:`BoxCoder`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

from ssdzoo.utils.typing import TensorLike

VARIANCES = (0.1, 0.2)
#: torchvision's ``BoxCoder`` clamp on the decoded log-size: boxes at most 1000/16 anchors wide.
CLIP_LOG_SIZE = math.log(1000.0 / 16)
#: Floor on sizes and IoU unions (normalised units) before ``log`` / division.
EPS = 1e-8


def box_area(boxes: TensorLike) -> TensorLike:
    """Area of ``(..., 4)`` x1y1x2y2 boxes (0 for inverted boxes)."""
    return ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def box_iou(boxes1: TensorLike, boxes2: TensorLike) -> TensorLike:
    """IoU of every x1y1x2y2 box in ``(..., M, 4)`` with every box in ``(N, 4)`` (same units) → ``(..., M, N)``."""
    boxes2 = ops.convert_to_tensor(boxes2, "float32")
    # One coordinate at a time: no (..., M, N, 2) temporaries.
    c1 = [ops.expand_dims(boxes1[..., i], -1) for i in range(4)]
    c2 = [boxes2[:, i] for i in range(4)]
    width = ops.maximum(ops.minimum(c1[2], c2[2]) - ops.maximum(c1[0], c2[0]), 0.0)
    height = ops.maximum(ops.minimum(c1[3], c2[3]) - ops.maximum(c1[1], c2[1]), 0.0)
    inter = width * height
    union = ops.expand_dims(box_area(boxes1), -1) + box_area(boxes2) - inter
    return inter / ops.maximum(union, EPS)


def centre_size(boxes: TensorLike) -> tuple[TensorLike, TensorLike]:
    """x1y1x2y2 boxes ``(..., 4)`` → (centres ``(..., 2)``, sizes ``(..., 2)``), same units."""
    wh = boxes[..., 2:] - boxes[..., :2]
    return boxes[..., :2] + wh / 2, wh


@keras.saving.register_keras_serializable("ssdzoo")
class BoxCoder:
    """The SSD centre-size box coder: normalised x1y1x2y2 boxes ↔ offsets relative to anchors.

    Args:
        variances: ``(v0, v1)``, the scale of the centre and of the log-size offsets.
        clip_log_size: upper bound on the decoded ``log(w / aw)`` (and ``h``), applied before
            ``exp`` so that any offsets decode to finite boxes.
    """

    def __init__(self, variances: Sequence[float] = VARIANCES, clip_log_size: float = CLIP_LOG_SIZE):
        self.variances = (float(variances[0]), float(variances[1]))
        self.clip_log_size = float(clip_log_size)

    def encode(self, boxes: TensorLike, anchors: TensorLike) -> TensorLike:
        """Normalised x1y1x2y2 boxes ``(..., A, 4)`` → offsets ``(..., A, 4)`` to ``anchors (A, 4)``."""
        c, wh = centre_size(boxes)
        ac, awh = centre_size(ops.convert_to_tensor(anchors, "float32"))
        t_c = (c - ac) / awh / self.variances[0]
        t_wh = ops.log(ops.maximum(wh, EPS) / awh) / self.variances[1]
        return ops.concatenate([t_c, t_wh], axis=-1)

    def decode(self, offsets: TensorLike, anchors: TensorLike) -> TensorLike:
        """Offsets ``(..., A, 4)`` → normalised x1y1x2y2 boxes ``(..., A, 4)`` (inverse of :meth:`encode`).

        Log-sizes are clamped at ``clip_log_size``."""
        offsets = ops.convert_to_tensor(offsets, "float32")
        ac, awh = centre_size(ops.convert_to_tensor(anchors, "float32"))
        c = ac + offsets[..., :2] * self.variances[0] * awh
        wh = awh * ops.exp(ops.minimum(offsets[..., 2:] * self.variances[1], self.clip_log_size))
        return ops.concatenate([c - wh / 2, c + wh / 2], axis=-1)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-serialisable."""
        return {"variances": list(self.variances), "clip_log_size": self.clip_log_size}

    @classmethod
    def from_config(cls, config: dict) -> BoxCoder:
        """Inverse of :meth:`get_config`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"BoxCoder(variances={self.variances}, clip_log_size={self.clip_log_size:.4g})"

    def __eq__(self, other) -> bool:
        return isinstance(other, BoxCoder) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((self.variances, self.clip_log_size))


#: The coder used when none is given.
DEFAULT_BOX_CODER = BoxCoder()


def _coder(variances: Sequence[float] | None) -> BoxCoder:
    return DEFAULT_BOX_CODER if variances is None else BoxCoder(variances)


def encode_boxes(boxes: TensorLike, anchors: TensorLike, variances: Sequence[float] | None = None) -> TensorLike:
    """Normalised x1y1x2y2 boxes ``(..., A, 4)`` → offsets ``(..., A, 4)`` to ``anchors (A, 4)``.

    :meth:`BoxCoder.encode` with the default coder unless ``variances`` is given."""
    return _coder(variances).encode(boxes, anchors)


def decode_boxes(offsets: TensorLike, anchors: TensorLike, variances: Sequence[float] | None = None) -> TensorLike:
    """Offsets ``(..., A, 4)`` to ``anchors (A, 4)`` → normalised x1y1x2y2 boxes ``(..., A, 4)``.

    :meth:`BoxCoder.decode` with the default coder unless ``variances`` is given."""
    return _coder(variances).decode(offsets, anchors)
