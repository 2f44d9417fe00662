"""From raw SSD outputs to detections inside a graph: box decoding, softmax and batched
per-class NMS (TensorFlow's ``combined_non_max_suppression``, the fast path on CPU), as a
plain serialisable Keras layer. TensorFlow backend only: ``keras.ops`` has no NMS."""

from __future__ import annotations

import keras
import numpy as np

from ssdzoo.core.box_coder import BoxCoder
from ssdzoo.utils.typing import TensorLike

#: The keys of a decoded batch, in the order of :func:`decode_detections`' tuple form.
OUTPUT_KEYS = ("boxes", "scores", "classes", "num_detections")


def decode_detections(predictions: TensorLike, anchors: TensorLike, box_coder: BoxCoder, score_threshold: float,
                      iou_threshold: float, max_detections: int) -> dict:
    """Decode ``(B, A, 4 + C + 1)`` outputs to normalised x1y1x2y2 boxes and run per-class NMS.

    Outputs are offsets, logits (class 0 background) against ``anchors (A, 4)`` normalised
    x1y1x2y2; the thresholds may be tensors.

    Returns:
        ``{"boxes": (B, K, 4)`` float32 normalised x1y1x2y2 clipped to [0, 1],
        ``"scores": (B, K)`` float32, ``"classes": (B, K)`` int32 0-based foreground class,
        ``"num_detections": (B,)`` int32 valid rows per image (the rest is zero padding)},
        with ``K = max_detections``.
    """
    import tensorflow as tf

    predictions = tf.cast(tf.convert_to_tensor(predictions), tf.float32)
    boxes = box_coder.decode(predictions[..., :4], anchors)
    scores = tf.nn.softmax(predictions[..., 4:], axis=-1)[..., 1:]
    out = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :], scores, max_output_size_per_class=max_detections,
        max_total_size=max_detections, iou_threshold=tf.cast(iou_threshold, tf.float32),
        score_threshold=tf.cast(score_threshold, tf.float32), clip_boxes=True,
    )
    return {"boxes": out.nmsed_boxes, "scores": out.nmsed_scores,
            "classes": tf.cast(out.nmsed_classes, tf.int32), "num_detections": out.valid_detections}


@keras.saving.register_keras_serializable("ssdzoo")
class DetectionDecoder(keras.layers.Layer):
    """Raw SSD outputs → detections (:func:`decode_detections` with this layer's settings).

    Input: ``(B, A, 4 + C + 1)`` model output. Output: a dict of ``boxes (B, K, 4)`` normalised
    x1y1x2y2 clipped to [0, 1], ``scores (B, K)``, ``classes (B, K)`` int32 0-based and
    ``num_detections (B,)``, ``K = max_detections``. Computed in float32; no weights.

    Args:
        anchors: ``(A, 4)`` normalised x1y1x2y2 (``model.anchors``).
        box_coder: a :class:`BoxCoder` or its config (default ``BoxCoder()``).
        score_threshold: minimum softmax score of a kept detection.
        iou_threshold: NMS IoU above which the lower-scored box of a class is dropped.
        max_detections: detections kept per image (and per class).
    """

    def __init__(self, anchors: TensorLike, box_coder: BoxCoder | dict | None = None, score_threshold: float = 0.01,
                 iou_threshold: float = 0.45, max_detections: int = 200, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, np.float32).reshape(-1, 4)
        if isinstance(box_coder, dict):
            box_coder = BoxCoder.from_config(box_coder)
        self.box_coder = box_coder or BoxCoder()
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)

    def call(self, predictions) -> dict:
        """``(B, A, 4 + C + 1)`` model outputs → the detections dict (see the class docstring)."""
        return decode_detections(predictions, self.anchors, self.box_coder, self.score_threshold,
                                 self.iou_threshold, self.max_detections)

    def get_config(self) -> dict:
        """Layer config plus anchors (nested list), box coder config and the NMS settings."""
        return {**super().get_config(), "anchors": self.anchors.tolist(),
                "box_coder": self.box_coder.get_config(), "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold, "max_detections": self.max_detections}
