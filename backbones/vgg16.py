"""VGG16 (Simonyan & Zisserman), cut at block3_pool: 37x37x256 at 300 px, as in the original SSD."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("vgg16", cut_layer="block3_pool", preprocessing="caffe", min_input=32)
def vgg16(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """VGG16, ImageNet, conv1-conv3 (the SSD paper's base up to pool3)."""
    return keras.applications.VGG16(include_top=False, weights=weights, input_shape=input_shape)
