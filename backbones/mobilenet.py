"""MobileNet v1 (Howard et al.), depthwise separable, cut at conv_pw_5_relu:
37x37x(256*alpha) at 300 px."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("mobilenet", cut_layer="conv_pw_5_relu", preprocessing="tf", min_input=32)
def mobilenet(input_shape: tuple[int, int, int], weights: str | None, alpha: float = 1.0) -> keras.Model:
    """MobileNet v1, ImageNet, blocks 1-5; ``alpha`` is the width multiplier (0.25-1.0)."""
    return keras.applications.MobileNet(
        include_top=False, weights=weights, input_shape=input_shape, alpha=alpha
    )
