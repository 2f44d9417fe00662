"""InceptionV3 (Szegedy et al.), cut at mixed2: 35x35x288 at 300 px, aligned with a 4x4
transposed convolution."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("inceptionv3", cut_layer="mixed2", preprocessing="tf", min_input=75)
def inceptionv3(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """InceptionV3, ImageNet, stem + mixed0-mixed2."""
    return keras.applications.InceptionV3(include_top=False, weights=weights, input_shape=input_shape)
