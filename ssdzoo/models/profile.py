"""Model size and cost: parameters of backbone and head, multiply-add FLOPs."""

from __future__ import annotations

import math

import keras


def _layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def layer_flops(layer: keras.layers.Layer) -> int:
    """FLOPs (2 per multiply-add) of one forward pass at batch 1 of a conv or dense layer.

    Convolutions may be plain, depthwise or transposed; other layers count 0."""
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                              keras.layers.Conv2DTranspose, keras.layers.Dense)):
        return 0
    kernel = layer.kernel.shape
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(layer.output.shape[1:-1] or (1,)) * kernel[0] * kernel[1]
    if isinstance(layer, keras.layers.Conv2DTranspose):
        spatial = layer.input.shape[1] * layer.input.shape[2]
    else:
        spatial = layer.output.shape[1] * layer.output.shape[2]
    return 2 * spatial * math.prod(kernel)  # kh*kw*cin/groups*cout, or kh*kw*cin*mult


def summarize(model: keras.Model) -> dict:
    """Backbone/head parameter counts, GFLOPs and the cut/alignment facts of an SSD model.

    Head parameters are everything after the backbone, alignment included."""
    backbone = model.get_layer("backbone")
    align = next((layer for layer in model.layers if layer.name == "align"), None)
    cut = backbone.output.shape
    return {
        "backbone": model.backbone_name,
        "head": model.head_name,
        "head_width": model.head_width,
        "cut_layer": model.cut_layer,
        "cut_map": f"{cut[1]}x{cut[2]}x{cut[3]}",
        "align": ("none" if align is None else
                  f"{align.kernel_size[0]}x{align.kernel_size[1]} s{align.strides[0]}"),
        "backbone_params": backbone.count_params(),
        "head_params": model.count_params() - backbone.count_params(),
        "gflops": sum(layer_flops(layer) for layer in _layers(model)) / 1e9,
        "anchors": len(model.anchors),
    }
