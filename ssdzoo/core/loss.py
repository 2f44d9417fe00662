"""The SSD MultiBox loss, written with ``keras.ops``."""

from __future__ import annotations

import keras
from keras import ops

from ssdzoo.core.box_coder import CLIP_LOG_SIZE, EPS, VARIANCES, box_area
from ssdzoo.utils.typing import TensorLike

#: ``conf_loss`` values: hard-negative mining (SSD) or focal loss over all anchors (RetinaNet).
CONF_LOSSES = ("mining", "focal")
#: ``box_loss`` values: smooth L1 on the encoded offsets (SSD) or 1 - GIoU of the decoded boxes.
BOX_LOSSES = ("smooth_l1", "giou")
#: Weight of the GIoU term against the classification loss (the ATSS / GFL detectors' 2.0): 1 - GIoU
#: is at most 2 per box, about a quarter of the smooth-L1 sum over four offsets at the start.
GIOU_WEIGHT = 2.0


@keras.saving.register_keras_serializable("ssdzoo")
class MultiBoxLoss(keras.losses.Loss):
    """The SSD MultiBox loss: box loss + classification loss, divided by the number of positives.

    A box loss on positive anchors + a classification loss, summed over the batch and
    divided by the number of positives (0 when there are none).

    ``box_loss="smooth_l1"`` (the SSD paper's): smooth L1 on the four encoded offsets.
    ``box_loss="giou"``: ``GIOU_WEIGHT · (1 - GIoU)`` of the predicted and target boxes, both
    decoded from the offsets (``variances`` as in the model's box coder). IoU and GIoU do not
    change under a per-axis scale and shift, so the boxes are decoded against a unit anchor and
    the loss needs no anchors.

    ``conf_loss="mining"`` (the SSD paper's): softmax cross-entropy on positives and the
    hardest negatives (``neg_pos_ratio`` per positive, per image). ``conf_loss="focal"``
    (RetinaNet's, on the softmax): ``-w · (1 - p_t)^gamma · log p_t`` on every anchor, with
    ``p_t`` the probability of the target class and ``w = focal_alpha`` on positives,
    ``1 - focal_alpha`` on background anchors.

    ``y_true``: ``(B, A, 5)`` from :func:`ssdzoo.encode_targets`; ``y_pred``: the model output
    ``(B, A, 4 + num_classes + 1)``. Computed in float32 (safe under ``mixed_float16``).
    """

    def __init__(self, neg_pos_ratio: float = 3.0, alpha: float = 1.0, conf_loss: str = "mining",
                 focal_gamma: float = 2.0, focal_alpha: float = 0.25, box_loss: str = "smooth_l1",
                 variances: tuple[float, float] = VARIANCES, name: str = "multibox_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if conf_loss not in CONF_LOSSES:
            raise ValueError(f"conf_loss must be one of {', '.join(CONF_LOSSES)}, got {conf_loss!r}")
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {', '.join(BOX_LOSSES)}, got {box_loss!r}")
        self.box_loss = box_loss
        self.variances = (float(variances[0]), float(variances[1]))
        self.neg_pos_ratio = neg_pos_ratio
        self.alpha = alpha
        self.conf_loss = conf_loss
        self.focal_gamma = focal_gamma
        self.focal_alpha = focal_alpha

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        classes = ops.cast(y_true[..., 4], "int32")
        positive = classes > 0
        pos_f = ops.cast(positive, "float32")
        num_pos = ops.sum(pos_f, axis=1)                                   # (B,)

        if self.box_loss == "giou":
            per_anchor = GIOU_WEIGHT * (1.0 - offsets_giou(y_pred[..., :4], y_true[..., :4], self.variances))
        else:
            diff = ops.abs(y_pred[..., :4] - y_true[..., :4])
            per_anchor = ops.sum(ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5), axis=-1)
        loc_loss = ops.sum(per_anchor * pos_f)

        ce = keras.losses.sparse_categorical_crossentropy(classes, y_pred[..., 4:], from_logits=True)
        if self.conf_loss == "focal":
            conf_loss = self._focal(ce, pos_f)
        else:
            conf_loss = self._mining(ce, positive, num_pos)
        # No positives: mining keeps no anchor (num_neg = 0), so both sums are 0 and so is the
        # loss; focal's sum is divided by 1.
        return (conf_loss + self.alpha * loc_loss) / self.total_positives(num_pos)

    def total_positives(self, num_pos: TensorLike) -> TensorLike:
        """The divisor of the summed loss: the positive anchors of the batch (at least 1).

        ``num_pos`` ``(B,)``: positives per image. ``ssdzoo train`` replaces it on the instance,
        under ``tf.distribute``, by the count over the global batch (see
        :func:`ssdzoo.training.distribute.train_as_one_device`)."""
        return ops.maximum(ops.sum(num_pos), 1.0)

    def _focal(self, ce, pos_f):
        """Summed softmax focal loss from the per-anchor cross-entropy ``-log p_t``."""
        p_t = ops.exp(-ce)
        weight = self.focal_alpha * pos_f + (1.0 - self.focal_alpha) * (1.0 - pos_f)
        return ops.sum(weight * ops.power(1.0 - p_t, self.focal_gamma) * ce)

    def _mining(self, ce, positive, num_pos):
        """Summed cross-entropy of the positives and the hardest negatives."""
        # Hard negatives: rank the background anchors by their loss, keep the top k per image.
        neg_ce = ops.where(positive, -1.0, ce)
        rank = ops.argsort(ops.argsort(-neg_ce, axis=1), axis=1)
        num_anchors = ops.cast(ops.shape(ce)[1], "float32")
        num_neg = ops.minimum(self.neg_pos_ratio * num_pos, num_anchors - num_pos)
        negative = ops.cast(rank, "float32") < num_neg[:, None]
        return ops.sum(ce * ops.cast(ops.logical_or(positive, negative), "float32"))

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {**super().get_config(), "neg_pos_ratio": self.neg_pos_ratio, "alpha": self.alpha,
                "conf_loss": self.conf_loss, "focal_gamma": self.focal_gamma,
                "focal_alpha": self.focal_alpha, "box_loss": self.box_loss, "variances": self.variances}


def _unit_anchor_boxes(offsets: TensorLike, variances: tuple[float, float]) -> TensorLike:
    """Offsets ``(..., 4)`` decoded against the anchor centred at 0 with size 1 → x1y1x2y2 ``(..., 4)``."""
    centre = offsets[..., :2] * variances[0]
    size = ops.exp(ops.minimum(offsets[..., 2:] * variances[1], CLIP_LOG_SIZE))
    return ops.concatenate([centre - size / 2, centre + size / 2], axis=-1)


def offsets_giou(pred: TensorLike, target: TensorLike, variances: tuple[float, float] = VARIANCES) -> TensorLike:
    """Generalised IoU in [-1, 1] of the boxes two centre-size offset tensors ``(..., 4)`` encode → ``(...)``.

    Rezatofighi et al. 2019. Both tensors are encoded against the same anchors, and GIoU does not
    change under a per-axis scale and shift, so each pair is decoded against one unit anchor.
    """
    a, b = _unit_anchor_boxes(pred, variances), _unit_anchor_boxes(target, variances)
    lo, hi = ops.maximum(a[..., :2], b[..., :2]), ops.minimum(a[..., 2:], b[..., 2:])
    inter = ops.prod(ops.maximum(hi - lo, 0.0), axis=-1)
    union = box_area(a) + box_area(b) - inter
    hull = ops.prod(ops.maximum(a[..., 2:], b[..., 2:]) - ops.minimum(a[..., :2], b[..., :2]), axis=-1)
    return inter / ops.maximum(union, EPS) - (hull - union) / ops.maximum(hull, EPS)
