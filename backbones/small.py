"""A small VGG-like network with BatchNormalization and average pooling, for training from
scratch: three blocks of two 3x3 convs (32, 64, 128 filters), 37x37x128 at 300 px."""

import keras

from ssdzoo.models.registry import register_backbone


@register_backbone("small", cut_layer="block3_pool", preprocessing="tf", min_input=32,
                   pretrained=False)
def small(input_shape: tuple[int, int, int], weights: str | None, width: int = 32) -> keras.Model:
    """VGG-like, BatchNorm, average pooling; no pretrained weights (train from scratch)."""
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for block, filters in enumerate((width, 2 * width, 4 * width), start=1):
        for i in (1, 2):
            name = f"block{block}_conv{i}"
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.AveragePooling2D(2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name="small")
    if weights is not None:
        model.load_weights(weights)
    return model
