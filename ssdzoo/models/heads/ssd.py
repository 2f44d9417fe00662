"""The SSD paper's head (Liu et al., 2016): VGG's conv4/conv5 and the convolutional fc6/fc7 on
the aligned map, the conv8..conv11 extra layers, L2Normalization(20) on conv4_3, and 3x3
box/class predictors. Layer names are those of saved ``.keras`` files; keep them."""

from __future__ import annotations

import keras

from ssdzoo.models.heads import register_head
from ssdzoo.models.heads.base import EXTRA_LAYERS, Head
from ssdzoo.models.layers import L2Normalization


@register_head("ssd")
class SSDHead(Head):
    """The paper's head: plain 3x3 convolutions with ReLU (about 23 M parameters at width 1);
    with ``head_norm`` batch or group, each convolution (no bias) is followed by that
    normalisation (``<name>_bn`` / ``<name>_gn``) and then the ReLU (``<name>_relu``), as
    ScratchDet puts BatchNorm into the head to train it from scratch."""

    def _conv(self, x, filters: int, kernel: int, name: str, strides: int = 1, padding: str = "same",
              dilation: int = 1) -> keras.KerasTensor:
        """A convolution + ReLU, with the head's normalisation between them (if any)."""
        plain = self.norm == "none"
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                                activation="relu" if plain else None, use_bias=plain, name=name)(x)
        if plain:  # the paper's layers, named as in saved .keras files
            return x
        return keras.layers.ReLU(name=f"{name}_relu")(self.normalize(x, name))

    def sources(self, x: keras.KerasTensor, input_size: int) -> list[tuple[str, keras.KerasTensor]]:
        """conv4_3 (L2-normalised), fc7, conv8_2 … conv11_2 (conv12_2 at 512)."""
        f, _conv = self.filters, self._conv
        for i in (1, 2, 3):
            x = _conv(x, f(512), 3, f"conv4_{i}")
        sources = [("conv4_3_norm", L2Normalization(20.0, name="conv4_3_norm")(x))]
        x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool4")(x)
        for i in (1, 2, 3):
            x = _conv(x, f(512), 3, f"conv5_{i}")
        x = keras.layers.MaxPooling2D(3, 1, padding="same", name="pool5")(x)
        x = _conv(x, f(1024), 3, "fc6", dilation=6)
        x = _conv(x, f(1024), 1, "fc7")
        sources.append(("fc7", x))
        for i, (f1, f2, stride, padding, kernel) in enumerate(EXTRA_LAYERS[input_size], start=8):
            x = _conv(x, f(f1), 1, f"conv{i}_1")
            x = _conv(x, f(f2), kernel, f"conv{i}_2", strides=stride, padding=padding)
            sources.append((f"conv{i}_2", x))
        return sources
