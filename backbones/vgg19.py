"""VGG19 (Simonyan & Zisserman), cut at block3_pool: 37x37x256 at 300 px, as in the original SSD."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("vgg19", cut_layer="block3_pool", preprocessing="caffe", min_input=32)
def vgg19(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """VGG19, ImageNet, conv1-conv3 (the SSD paper's base up to pool3)."""
    return keras.applications.VGG19(include_top=False, weights=weights, input_shape=input_shape)
