"""The SSD head: extra feature layers on the aligned map, then per-source box/class predictors."""

from __future__ import annotations

import keras

from ssdzoo.models.layers import L2Normalization

#: Extra feature layers after fc7: (1x1 filters, 3x3 filters, stride, padding, kernel).
EXTRA_LAYERS = {
    300: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 1, "valid", 3), (128, 256, 1, "valid", 3)),
    512: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 2, "same", 3), (128, 256, 1, "valid", 2)),
}



def _conv(x, filters, kernel, name, strides=1, padding="same", dilation=1):
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                               dilation_rate=dilation, activation="relu", name=name)(x)


def ssd_head(x, input_size: int, width: float = 1.0) -> list:
    """The shared SSD layers on the aligned map → list of source maps (largest first)."""
    w = lambda f: max(8, int(round(f * width)))  # noqa: E731
    for i in (1, 2, 3):
        x = _conv(x, w(512), 3, f"conv4_{i}")
    sources = [L2Normalization(20.0, name="conv4_3_norm")(x)]
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool4")(x)
    for i in (1, 2, 3):
        x = _conv(x, w(512), 3, f"conv5_{i}")
    x = keras.layers.MaxPooling2D(3, 1, padding="same", name="pool5")(x)
    x = _conv(x, w(1024), 3, "fc6", dilation=6)
    x = _conv(x, w(1024), 1, "fc7")
    sources.append(x)
    for i, (f1, f2, stride, padding, kernel) in enumerate(EXTRA_LAYERS[input_size], start=8):
        x = _conv(x, w(f1), 1, f"conv{i}_1")
        x = _conv(x, w(f2), kernel, f"conv{i}_2", strides=stride, padding=padding)
        sources.append(x)
    return sources


def multibox_heads(sources: list, boxes_per_cell: list[int], num_classes: int):
    """Per-source 3x3 box and class convs, flattened and concatenated →
    ``(B, A, 4 + num_classes + 1)`` float32."""
    locs, confs = [], []
    for src, k in zip(sources, boxes_per_cell):
        name = src._keras_history.operation.name
        loc = keras.layers.Conv2D(k * 4, 3, padding="same", name=f"{name}_mbox_loc")(src)
        conf = keras.layers.Conv2D(k * (num_classes + 1), 3, padding="same",
                                   name=f"{name}_mbox_conf")(src)
        locs.append(keras.layers.Reshape((-1, 4), name=f"{name}_mbox_loc_flat")(loc))
        confs.append(keras.layers.Reshape((-1, num_classes + 1), name=f"{name}_mbox_conf_flat")(conf))
    loc = keras.layers.Concatenate(axis=1, name="mbox_loc")(locs)
    conf = keras.layers.Concatenate(axis=1, name="mbox_conf")(confs)
    return keras.layers.Concatenate(axis=-1, name="predictions", dtype="float32")([loc, conf])


