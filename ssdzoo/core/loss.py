"""The SSD MultiBox loss, written with ``keras.ops``."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable("ssdzoo")
class MultiBoxLoss(keras.losses.Loss):
    """SSD MultiBox loss (smooth-L1 boxes + hard-negative-mined cross-entropy), per positive.

    Smooth-L1 box loss on positive anchors + softmax cross-entropy on positives and the hardest
    negatives (``neg_pos_ratio`` per positive, per image), summed over the batch and divided by
    the number of positives (0 when there are none).

    ``y_true``: ``(B, A, 5)`` from :func:`ssdzoo.encode_targets`; ``y_pred``: the model output
    ``(B, A, 4 + num_classes + 1)``. Computed in float32 (safe under ``mixed_float16``).
    """

    def __init__(self, neg_pos_ratio: float = 3.0, alpha: float = 1.0,
                 name: str = "multibox_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.neg_pos_ratio = neg_pos_ratio
        self.alpha = alpha

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        classes = ops.cast(y_true[..., 4], "int32")
        positive = classes > 0
        pos_f = ops.cast(positive, "float32")
        num_pos = ops.sum(pos_f, axis=1)                                   # (B,)

        diff = ops.abs(y_pred[..., :4] - y_true[..., :4])
        smooth_l1 = ops.sum(ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5), axis=-1)
        loc_loss = ops.sum(smooth_l1 * pos_f)

        ce = keras.losses.sparse_categorical_crossentropy(classes, y_pred[..., 4:], from_logits=True)
        # Hard negatives: rank the background anchors by their loss, keep the top k per image.
        neg_ce = ops.where(positive, -1.0, ce)
        rank = ops.argsort(ops.argsort(-neg_ce, axis=1), axis=1)
        num_anchors = ops.cast(ops.shape(ce)[1], "float32")
        num_neg = ops.minimum(self.neg_pos_ratio * num_pos, num_anchors - num_pos)
        negative = ops.cast(rank, "float32") < num_neg[:, None]
        conf_loss = ops.sum(ce * ops.cast(ops.logical_or(positive, negative), "float32"))

        # No positives: no anchor is kept (num_neg = 0), so both sums are 0 and so is the loss.
        return (conf_loss + self.alpha * loc_loss) / ops.maximum(ops.sum(num_pos), 1.0)

    def get_config(self):
        return {**super().get_config(), "neg_pos_ratio": self.neg_pos_ratio, "alpha": self.alpha}
