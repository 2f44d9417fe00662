"""The :class:`Head` base class: width scaling, the predictor wiring shared by every head."""

from __future__ import annotations

import math

import keras
from keras import ops

#: Extra feature layers after the 19x19 (32x32) source, per input size:
#: (1x1 filters, 3x3 filters, stride, padding, kernel) of ``conv8``, ``conv9``, …
EXTRA_LAYERS = {
    300: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 1, "valid", 3), (128, 256, 1, "valid", 3)),
    512: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 2, "same", 3), (128, 256, 1, "valid", 2)),
}


#: ``head_norm`` values: no normalisation, BatchNormalization, GroupNormalization.
HEAD_NORMS = ("none", "batch", "group")
#: BatchNorm of the heads (torchvision SSDLite's: momentum 0.03 in PyTorch's convention).
BN_OPTIONS = dict(momentum=0.97, epsilon=1e-3)


def prior_bias(num_classes: int, prior_probability: float) -> float:
    """Background logit giving each foreground class probability ``prior_probability`` (π).

    With every foreground logit 0, softmax gives p_c = 1 / (e^b + C) = π, so
    b = log((1 - C·π) / π) and p(background) = 1 - C·π (RetinaNet's sigmoid prior, adapted to
    a softmax over background + C classes); needs 0 < C·π < 1.
    """
    if not 0 < num_classes * prior_probability < 1:
        raise ValueError(f"prior_probability must be in (0, 1/num_classes) = (0, {1 / num_classes:.4g}), "
                         f"got {prior_probability}")
    return math.log((1.0 - num_classes * prior_probability) / prior_probability)


class PriorBias(keras.initializers.Initializer):
    """Class-predictor bias initializer: :func:`prior_bias` on background channels, 0 elsewhere.

    The background channels are every ``num_classes + 1``-th, from 0; the foreground ones get 0.
    """

    def __init__(self, num_classes: int, prior_probability: float):
        self.num_classes = num_classes
        self.prior_probability = prior_probability

    def __call__(self, shape, dtype=None):
        """The bias vector of ``shape`` (a multiple of ``num_classes + 1``)."""
        one = ops.concatenate([ops.full((1,), prior_bias(self.num_classes, self.prior_probability)),
                               ops.zeros((self.num_classes,))])
        return ops.cast(ops.tile(one, [shape[0] // (self.num_classes + 1)]), dtype or "float32")

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {"num_classes": self.num_classes, "prior_probability": self.prior_probability}


class Head:
    """An SSD head: extra layers giving named source maps, and the box and class predictors.

    :meth:`sources` (extra layers → named source maps) and :meth:`predictor` (one box or class
    predictor on a source map). Subclasses implement :meth:`sources` and may override
    :meth:`predictor`; :meth:`predictions` wires them into the model output.

    Args:
        width: multiplier of the head's filter counts (1.0 = the paper's), see :meth:`filters`.
        norm: ``head_norm``: what :meth:`normalize` inserts after the head's convolutions
            (``none``, ``batch``, ``group``).
        prior_probability: ``None`` = Keras' default predictor init; a float π = zero kernels,
            box biases 0 (every box starts at its anchor) and class biases
            :class:`PriorBias` (each foreground class starts at probability π).
    """

    def __init__(self, width: float = 1.0, norm: str = "none", prior_probability: float | None = None):
        if norm not in HEAD_NORMS:
            raise ValueError(f"head_norm must be one of {', '.join(HEAD_NORMS)}, got {norm!r}")
        self.width = width
        self.norm = norm
        self.prior_probability = prior_probability

    def normalize(self, x: keras.KerasTensor, name: str, kind: str | None = None) -> keras.KerasTensor:
        """``x`` through the normalisation ``kind`` (default: the head's).

        BatchNorm ``<name>_bn``, GroupNorm ``<name>_gn`` (gcd(channels, 32) groups) or, for
        ``none``, unchanged.
        """
        kind = kind or self.norm
        if kind == "batch":
            return keras.layers.BatchNormalization(**BN_OPTIONS, name=f"{name}_bn")(x)
        if kind == "group":
            groups = math.gcd(int(x.shape[-1]), 32)
            return keras.layers.GroupNormalization(groups, epsilon=1e-3, name=f"{name}_gn")(x)
        return x

    def _initializers(self, num_classes: int) -> tuple[dict, dict]:
        """Keyword arguments of the box and the class predictor (empty: Keras' defaults)."""
        if self.prior_probability is None:
            return {}, {}
        box = dict(kernel_initializer="zeros", bias_initializer="zeros")
        return box, dict(kernel_initializer="zeros",
                         bias_initializer=PriorBias(num_classes, self.prior_probability))

    def filters(self, n: int) -> int:
        """``n`` filters scaled by the head width (at least 8)."""
        return max(8, int(round(n * self.width)))

    def sources(self, x: keras.KerasTensor, input_size: int) -> list[tuple[str, keras.KerasTensor]]:
        """``(name, map)`` of each source map, largest first, one per anchor map (``input_size`` in pixels).

        The names prefix the predictor layers (``<name>_mbox_loc``, ``<name>_mbox_conf``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sources()")

    def predictor(self, x: keras.KerasTensor, filters: int, name: str, **init: object) -> keras.KerasTensor:
        """A box or class predictor with ``filters`` outputs per cell (the SSD paper's 3x3 convolution).

        The layer whose output channels are the predictions is named ``name`` and takes ``init``
        (``kernel_initializer``, ``bias_initializer``).
        """
        return keras.layers.Conv2D(filters, 3, padding="same", name=name, **init)(x)

    def predictions(self, sources: list[tuple[str, keras.KerasTensor]], boxes_per_cell: list[int],
                    num_classes: int) -> keras.KerasTensor:
        """Per-source box and class predictors, flattened and concatenated → ``(B, A, 4 + num_classes + 1)``."""
        locs, confs = [], []
        box_init, class_init = self._initializers(num_classes)
        for (name, src), k in zip(sources, boxes_per_cell, strict=True):
            loc = self.predictor(src, k * 4, f"{name}_mbox_loc", **box_init)
            conf = self.predictor(src, k * (num_classes + 1), f"{name}_mbox_conf", **class_init)
            locs.append(keras.layers.Reshape((-1, 4), name=f"{name}_mbox_loc_flat")(loc))
            confs.append(keras.layers.Reshape((-1, num_classes + 1), name=f"{name}_mbox_conf_flat")(conf))
        loc = keras.layers.Concatenate(axis=1, name="mbox_loc")(locs)
        conf = keras.layers.Concatenate(axis=1, name="mbox_conf")(confs)
        return keras.layers.Concatenate(axis=-1, name="predictions", dtype="float32")([loc, conf])
