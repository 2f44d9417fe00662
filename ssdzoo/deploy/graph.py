"""The serving graph every exported artifact holds: uint8 images → the model (its ``Preprocess``
layer inside) → box decoding → NMS → ``boxes, scores, classes, num_detections``.

Two NMS forms, the same detections up to score ties:

- ``"combined"``: ``tf.image.combined_non_max_suppression``, exactly what ``model.detect`` runs
  (SavedModel; ONNX through tf2onnx's CombinedNonMaxSuppression handler); any batch size.
- ``"offset"``: builtin-only per-class NMS for TFLite: each class's boxes are shifted by
  ``2 * class`` so that boxes of different classes never overlap, and ONE
  ``NonMaxSuppressionV5`` (TFLite builtin ``NON_MAX_SUPPRESSION_V5``) over the ``A * C`` shifted
  boxes keeps the top ``max_detections`` — the greedy per-class survivors in score order, which is
  what combined NMS returns when ``max_output_size_per_class == max_total_size``. One NMS per
  image of a static batch (batch 1 in the exported TFLite files).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

    from ssdzoo.models.ssd import SSD


@dataclasses.dataclass(frozen=True)
class PostProcess:
    """The NMS settings baked into an artifact (``ssdzoo.models.detector.PRESETS["evaluate"]``
    by default, so an exported model can be evaluated; ``detect`` filters further)."""

    score_threshold: float = 0.01
    iou_threshold: float = 0.45
    max_detections: int = 200

    def __post_init__(self):
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if int(self.max_detections) < 1:
            raise ValueError(f"max_detections must be >= 1, got {self.max_detections}")


def metadata(model: SSD, post: PostProcess, fmt: str, precision: str) -> dict:
    """What an artifact records about itself: class names, input size, NMS settings."""
    import ssdzoo
    from ssdzoo.models.decoder import OUTPUT_KEYS

    return {"producer": f"ssdzoo {ssdzoo.__version__}", "format": fmt, "precision": precision,
            "class_names": list(model.class_names), "input_size": int(model.input_size),
            "input": "uint8 RGB (B, S, S, 3)", "outputs": list(OUTPUT_KEYS),
            "boxes": "normalised x1 y1 x2 y2", **dataclasses.asdict(post)}


def _offset_nms_one(raw, anchors, box_coder, post: PostProcess) -> dict:
    """Per-class NMS of one image's ``(A, 4 + C + 1)`` outputs with one builtin NMS (see module)."""
    import tensorflow as tf

    boxes = box_coder.decode(raw[:, :4], anchors)                       # (A, 4)
    scores = tf.nn.softmax(raw[:, 4:], axis=-1)[:, 1:]                  # (A, C)
    num_anchors, num_classes = boxes.shape[0], scores.shape[1]
    k = int(post.max_detections)
    flat_scores = tf.reshape(tf.transpose(scores), [-1])               # class-major (C * A)
    offsets = tf.repeat(tf.range(num_classes, dtype=tf.float32) * 2.0, num_anchors)
    flat_boxes = tf.tile(boxes, [num_classes, 1]) + offsets[:, None]
    idx, nms_scores, valid = tf.raw_ops.NonMaxSuppressionV5(
        boxes=flat_boxes, scores=flat_scores, max_output_size=k,
        iou_threshold=float(post.iou_threshold), score_threshold=float(post.score_threshold),
        soft_nms_sigma=0.0, pad_to_max_output_size=True)
    keep = tf.range(k) < valid
    classes = tf.where(keep, idx // num_anchors, 0)
    out_boxes = tf.clip_by_value(tf.gather(boxes, idx % num_anchors), 0.0, 1.0)
    return {"boxes": tf.where(keep[:, None], out_boxes, 0.0),
            "scores": tf.where(keep, nms_scores, 0.0),
            "classes": tf.cast(classes, tf.int32), "num_detections": tf.reshape(valid, [])}


def serving_function(model: SSD, post: PostProcess, *, nms: str = "combined",
                     batch_size: int | None = None) -> tf.types.experimental.PolymorphicFunction:
    """A ``tf.function`` on ``uint8 (batch_size, S, S, 3)`` images returning the detections dict.

    ``nms="offset"`` needs a static ``batch_size``.
    """
    import tensorflow as tf

    from ssdzoo.models.decoder import OUTPUT_KEYS, decode_detections

    if nms not in ("combined", "offset"):
        raise ValueError(f"unknown NMS form {nms!r}")
    if nms == "offset" and not batch_size:
        raise ValueError("offset NMS needs a static batch size")
    size = int(model.input_size)
    anchors = np.asarray(model.anchors, np.float32)  # numpy: a graph constant, not a captured input
    box_coder = model.box_coder

    @tf.function(input_signature=[tf.TensorSpec((batch_size, size, size, 3), tf.uint8, name="images")], autograph=False)
    def serve(images):
        raw = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        if nms == "combined":
            return decode_detections(raw, anchors, box_coder, post.score_threshold,
                                     post.iou_threshold, post.max_detections)
        per_image = [_offset_nms_one(raw[i], anchors, box_coder, post) for i in range(batch_size)]
        return {key: tf.stack([d[key] for d in per_image]) for key in OUTPUT_KEYS}

    return serve
