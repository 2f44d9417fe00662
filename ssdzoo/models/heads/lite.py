"""SSDLite (MobileNetV2 paper, Sandler et al. 2018, §6.2; torchvision ``ssdlite``): the SSD
head with every 3x3 convolution, in the extra layers and in the box/class predictors, replaced
by a depthwise-separable one (3x3 DepthwiseConv2D + BatchNorm + ReLU6, then a 1x1 pointwise
convolution). Same layer names, strides and source-map sizes as the ``ssd`` head, so the
anchors are the same; no L2Normalization (the batch norms keep conv4_3 in range) and no pool5
(a 3x3 stride-1 max pool that changes no size)."""

from __future__ import annotations

import keras

from ssdzoo.models.heads import register_head
from ssdzoo.models.heads.base import EXTRA_LAYERS, Head


@register_head("lite")
class LiteHead(Head):
    """SSDLite: depthwise-separable extra layers and predictors (about a fifth of the ``ssd``
    head's parameters and a third (width 0.25) to a sixth (width 1) of its FLOPs). Its
    normalisation is BatchNorm for ``head_norm`` none or batch (the same model), GroupNorm
    for group."""

    def _norm_relu6(self, x, name: str) -> keras.KerasTensor:
        """The head's normalisation (BatchNorm unless ``group``) + ReLU6."""
        x = self.normalize(x, name, "group" if self.norm == "group" else "batch")
        return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)

    def _depthwise(self, x, name: str, kernel: int = 3, strides: int = 1, padding: str = "same",
                   dilation: int = 1) -> keras.KerasTensor:
        """3x3 depthwise convolution + norm + ReLU6, layers ``<name>_dw…``."""
        x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding,
                                         dilation_rate=dilation, use_bias=False, name=f"{name}_dw")(x)
        return self._norm_relu6(x, f"{name}_dw")

    def _pointwise(self, x, filters: int, name: str) -> keras.KerasTensor:
        """1x1 convolution + norm + ReLU6; the convolution is named ``name``."""
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
        return self._norm_relu6(x, name)

    def _separable(self, x, filters: int, name: str, **depthwise) -> keras.KerasTensor:
        """Depthwise then pointwise, both named after ``name``."""
        return self._pointwise(self._depthwise(x, name, **depthwise), filters, name)

    def sources(self, x: keras.KerasTensor, input_size: int) -> list[tuple[str, keras.KerasTensor]]:
        """conv4_3, fc7, conv8_2 … conv11_2 (conv12_2 at 512), as in the ``ssd`` head."""
        f, _separable, _pointwise = self.filters, self._separable, self._pointwise
        for i in (1, 2, 3):
            x = _separable(x, f(512), f"conv4_{i}")
        sources = [("conv4_3", x)]
        x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool4")(x)
        for i in (1, 2, 3):
            x = _separable(x, f(512), f"conv5_{i}")
        x = _separable(x, f(1024), "fc6", dilation=6)
        x = _pointwise(x, f(1024), "fc7")
        sources.append(("fc7", x))
        for i, (f1, f2, stride, padding, kernel) in enumerate(EXTRA_LAYERS[input_size], start=8):
            x = _pointwise(x, f(f1), f"conv{i}_1")
            x = _separable(x, f(f2), f"conv{i}_2", kernel=kernel, strides=stride, padding=padding)
            sources.append((f"conv{i}_2", x))
        return sources

    def predictor(self, x: keras.KerasTensor, filters: int, name: str, **init: object) -> keras.KerasTensor:
        """Depthwise 3x3 + norm + ReLU6, then a 1x1 convolution (with bias) named ``name``.

        The 1x1 convolution is initialised by ``init``.
        """
        return keras.layers.Conv2D(filters, 1, name=name, **init)(self._depthwise(x, name))
