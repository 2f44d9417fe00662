"""Freeze and unfreeze the backbone, whole or in part.

Keras 3 runs a BatchNormalization layer whose ``trainable`` is False in inference mode (moving
statistics, no updates), so a frozen part keeps its BatchNorm statistics. Recompile the model
after changing what is trainable.
"""

from __future__ import annotations

import keras


def _backbone_layers(model: keras.Model) -> tuple[keras.Model, list]:
    backbone = model.get_layer("backbone")
    return backbone, [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]


def _index(layers: list, name: str) -> int:
    names = [layer.name for layer in layers]
    if name not in names:
        raise ValueError(f"the backbone has no layer {name!r}; its layers: {', '.join(names)}")
    return names.index(name)


def freeze(model: keras.Model, up_to: str | None = None) -> keras.Model:
    """Freeze the whole backbone, or its layers up to and including ``up_to``."""
    backbone, layers = _backbone_layers(model)
    if up_to is None:
        backbone.trainable = False
    else:
        stop = _index(layers, up_to)
        backbone.trainable = True
        for layer in layers[: stop + 1]:
            layer.trainable = False
    return model


def unfreeze(model: keras.Model, from_layer: str | None = None,
             train_batchnorm: bool = True) -> keras.Model:
    """Make the backbone trainable, whole or from ``from_layer`` on (earlier layers frozen).

    ``train_batchnorm=False`` keeps BatchNormalization layers frozen (inference mode), the
    usual choice when fine-tuning a pretrained backbone with small batches.
    """
    backbone, layers = _backbone_layers(model)
    start = 0 if from_layer is None else _index(layers, from_layer)
    backbone.trainable = True
    for i, layer in enumerate(layers):
        trainable = i >= start
        if isinstance(layer, keras.layers.BatchNormalization) and not train_batchnorm:
            trainable = False
        layer.trainable = trainable
    return model
