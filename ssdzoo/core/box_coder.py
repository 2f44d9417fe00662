"""Box geometry and the SSD box coder, written with ``keras.ops`` (any backend; inside
``tf.data`` on the TensorFlow backend).

All boxes here are normalised ``x1 y1 x2 y2``. Offsets are the SSD centre-size encoding:
``((cx - acx) / aw / v0, (cy - acy) / ah / v0, log(w / aw) / v1, log(h / ah) / v1)``
with variances ``(v0, v1) = (0.1, 0.2)``.
"""

from __future__ import annotations

from keras import ops

VARIANCES = (0.1, 0.2)
_EPS = 1e-8


def box_area(boxes):
    """Area of ``(..., 4)`` x1y1x2y2 boxes (0 for inverted boxes)."""
    return ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def box_iou(boxes1, boxes2):
    """IoU of every box in ``(..., M, 4)`` with every box in ``(N, 4)`` → ``(..., M, N)``."""
    boxes2 = ops.convert_to_tensor(boxes2, "float32")
    # One coordinate at a time: no (..., M, N, 2) temporaries.
    c1 = [ops.expand_dims(boxes1[..., i], -1) for i in range(4)]
    c2 = [boxes2[:, i] for i in range(4)]
    width = ops.maximum(ops.minimum(c1[2], c2[2]) - ops.maximum(c1[0], c2[0]), 0.0)
    height = ops.maximum(ops.minimum(c1[3], c2[3]) - ops.maximum(c1[1], c2[1]), 0.0)
    inter = width * height
    union = ops.expand_dims(box_area(boxes1), -1) + box_area(boxes2) - inter
    return inter / ops.maximum(union, _EPS)


def _centre_size(boxes):
    wh = boxes[..., 2:] - boxes[..., :2]
    return boxes[..., :2] + wh / 2, wh


def encode_boxes(boxes, anchors, variances=VARIANCES):
    """Boxes ``(..., A, 4)`` → offsets ``(..., A, 4)`` relative to ``anchors (A, 4)``."""
    c, wh = _centre_size(boxes)
    ac, awh = _centre_size(ops.convert_to_tensor(anchors, "float32"))
    t_c = (c - ac) / awh / variances[0]
    t_wh = ops.log(ops.maximum(wh, _EPS) / awh) / variances[1]
    return ops.concatenate([t_c, t_wh], axis=-1)


def decode_boxes(offsets, anchors, variances=VARIANCES):
    """Offsets ``(..., A, 4)`` → normalised x1y1x2y2 boxes ``(..., A, 4)`` (inverse of
    :func:`encode_boxes`)."""
    offsets = ops.convert_to_tensor(offsets, "float32")
    ac, awh = _centre_size(ops.convert_to_tensor(anchors, "float32"))
    c = ac + offsets[..., :2] * variances[0] * awh
    wh = awh * ops.exp(offsets[..., 2:] * variances[1])
    return ops.concatenate([c - wh / 2, c + wh / 2], axis=-1)


def encode_targets(boxes, labels, anchors, iou_threshold: float = 0.5, variances=VARIANCES):
    """Match ground truth to anchors and encode the SSD training targets.

    Each ground-truth box is given its best anchor (even below the threshold); every other
    anchor whose best IoU is >= ``iou_threshold`` is matched to that box.

    Args:
        boxes: ``(B, M, 4)`` or ``(M, 4)`` normalised x1y1x2y2 ground truth.
        labels: ``(B, M)`` or ``(M,)`` int, 0-based foreground class, ``-1`` = padding.
        anchors: ``(A, 4)`` normalised x1y1x2y2 (``model.anchors``).

    Returns:
        ``(B, A, 5)`` (or ``(A, 5)``) float32: 4 offsets (0 on unmatched anchors) then the class
        id as float, ``label + 1`` on matched anchors and 0 (background) elsewhere.
    """
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
    centre, size = _centre_size(boxes)
    features = ops.concatenate([centre, ops.log(ops.maximum(size, _EPS)),
                                ops.cast(labels + 1, "float32")[..., None]], axis=-1)   # (B, M, 5)
    a_centre, a_size = _centre_size(anchors)
    reference = ops.concatenate([a_centre, ops.log(a_size), ops.zeros_like(a_size[:, :1])], axis=-1)
    scale = ops.concatenate([1.0 / (a_size * variances[0]), ops.ones_like(a_size) / variances[1],
                             ops.ones_like(a_size[:, :1])], axis=-1)                   # (A, 5)
    pick = ops.one_hot(best_gt, ops.shape(boxes)[1])                                  # (B, A, M)
    matched = ops.einsum("bam,bmf->baf", pick, features)                              # (B, A, 5)
    targets = ops.where(positive[..., None], (matched - reference) * scale, 0.0)
    return targets[0] if single else targets


def decode_targets(targets, anchors, variances=VARIANCES):
    """Inverse of :func:`encode_targets` on matched anchors: ``(..., A, 5)`` →
    (boxes ``(..., A, 4)`` normalised x1y1x2y2, labels ``(..., A)`` int32, 0-based, -1 unmatched)."""
    targets = ops.convert_to_tensor(targets, "float32")
    labels = ops.cast(targets[..., 4], "int32") - 1
    return decode_boxes(targets[..., :4], anchors, variances), labels
