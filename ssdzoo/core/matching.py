"""Target matching for SSD training: ground truth ↔ anchors, written with ``keras.ops`` (any
backend; inside ``tf.data`` on the TensorFlow backend). Boxes are normalised ``x1 y1 x2 y2``."""

from __future__ import annotations

from keras import ops

from ssdzoo.core.box_coder import DEFAULT_BOX_CODER, EPS, BoxCoder, box_iou, centre_size
from ssdzoo.utils.typing import TensorLike


def encode_targets(boxes: TensorLike, labels: TensorLike, anchors: TensorLike, iou_threshold: float = 0.5,
                   box_coder: BoxCoder | None = None) -> TensorLike:
    """Match ground truth to anchors and encode the SSD training targets.

    Each ground-truth box is given its best anchor (even below the threshold); every other
    anchor whose best IoU is >= ``iou_threshold`` is matched to that box.

    Args:
        boxes: ``(B, M, 4)`` or ``(M, 4)`` normalised x1y1x2y2 ground truth.
        labels: ``(B, M)`` or ``(M,)`` int, 0-based foreground class, ``-1`` = padding.
        anchors: ``(A, 4)`` normalised x1y1x2y2 (``model.anchors``).
        box_coder: the offset encoding (default ``BoxCoder()``).

    Returns:
        ``(B, A, 5)`` (or ``(A, 5)``) float32: 4 offsets (0 on unmatched anchors) then the class
        id as float, ``label + 1`` on matched anchors and 0 (background) elsewhere.
    """
    variances = (box_coder or DEFAULT_BOX_CODER).variances
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    single = len(boxes.shape) == 2
    if single:
        boxes, labels = boxes[None], labels[None]
    # One padding row so that images (or batches) without boxes need no special case.
    boxes = ops.pad(boxes, [[0, 0], [0, 1], [0, 0]])
    labels = ops.pad(labels, [[0, 0], [0, 1]], constant_values=-1)
    anchors = ops.convert_to_tensor(anchors, "float32")
    num_anchors = anchors.shape[0]

    valid = labels >= 0                                            # (B, M)
    boxes = boxes * ops.cast(valid, "float32")[..., None]          # padding: empty boxes, IoU 0
    iou = box_iou(boxes, anchors)                                  # (B, M, A)
    # Each valid ground truth claims its best anchor (one_hot of -1 is all zeros).
    best_anchor = ops.where(valid, ops.argmax(iou, axis=2), -1)    # (B, M)
    iou = ops.maximum(iou, 2.0 * ops.one_hot(best_anchor, num_anchors))
    best_gt = ops.argmax(iou, axis=1)                              # (B, A)
    positive = ops.max(iou, axis=1) >= iou_threshold

    # Per ground truth: centre, log size and class id; per anchor: the matching reference and
    # scale. Gathering the 5 features with a one-hot product (M is small) and one affine map
    # then gives the targets, with no take_along_axis (slow on TF) and no log over all anchors.
    # This is BoxCoder.encode, rearranged: ((c - ac) / aw / v0, (log w - log aw) / v1).
    centre, size = centre_size(boxes)
    features = ops.concatenate([centre, ops.log(ops.maximum(size, EPS)),
                                ops.cast(labels + 1, "float32")[..., None]], axis=-1)   # (B, M, 5)
    a_centre, a_size = centre_size(anchors)
    reference = ops.concatenate([a_centre, ops.log(a_size), ops.zeros_like(a_size[:, :1])], axis=-1)
    scale = ops.concatenate([1.0 / (a_size * variances[0]), ops.ones_like(a_size) / variances[1],
                             ops.ones_like(a_size[:, :1])], axis=-1)                   # (A, 5)
    pick = ops.one_hot(best_gt, ops.shape(boxes)[1])                                  # (B, A, M)
    matched = ops.einsum("bam,bmf->baf", pick, features)                              # (B, A, 5)
    targets = ops.where(positive[..., None], (matched - reference) * scale, 0.0)
    return targets[0] if single else targets


def decode_targets(targets: TensorLike, anchors: TensorLike,
                   box_coder: BoxCoder | None = None) -> tuple[TensorLike, TensorLike]:
    """Inverse of :func:`encode_targets` on matched anchors: ``(..., A, 5)`` → (boxes, labels).

    Returns (boxes ``(..., A, 4)`` normalised x1y1x2y2, labels ``(..., A)`` int32, 0-based, -1 unmatched)."""
    targets = ops.convert_to_tensor(targets, "float32")
    labels = ops.cast(targets[..., 4], "int32") - 1
    return (box_coder or DEFAULT_BOX_CODER).decode(targets[..., :4], anchors), labels
