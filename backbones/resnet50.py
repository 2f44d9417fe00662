"""ResNet50 (He et al.), cut after conv3_block4: 38x38x512 at 300 px, no alignment needed."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("resnet50", cut_layer="conv3_block4_out", preprocessing="caffe", min_input=32)
def resnet50(input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """ResNet50, ImageNet, stages conv1-conv3 (older Keras named the cut add_7)."""
    return keras.applications.ResNet50(include_top=False, weights=weights, input_shape=input_shape)
