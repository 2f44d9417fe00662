"""The ``SSD`` model: registry backbone → 38x38 (or 64x64) alignment → shared SSD head.

``SSD`` is a functional Keras model (subclassed the keras-hub way: ``__init__`` wires the
graph, ``get_config`` returns the constructor arguments), so ``model.fit``, ``.keras``
save/load and ``tf.distribute`` work as for any Keras model.
"""

from __future__ import annotations

import keras
import numpy as np

from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig, generate_anchors
from ssdzoo.models.backbone import alignment, build_backbone
from ssdzoo.models.heads import multibox_heads, ssd_head
from ssdzoo.models.layers import Preprocess
from ssdzoo.models.registry import get_backbone

#: Side of the first source map for each supported input size.
TARGET_MAP = {300: 38, 512: 64}

@keras.saving.register_keras_serializable("ssdzoo")
class SSD(keras.Model):
    """SSD detector on a registry backbone.

    Input: ``(B, input_size, input_size, 3)`` RGB 0-255. Output:
    ``(B, num_anchors, 4 + num_classes + 1)``: box offsets (see :mod:`ssdzoo.box_coder`) then
    class logits, class 0 = background.

    Attributes:
        anchors: ``(num_anchors, 4)`` float32 numpy, normalised ``x1 y1 x2 y2``, in the order of
            the output rows.
        class_names: the ``num_classes`` foreground names (``class_0``… if not given).
        feature_map_sizes: ``(h, w)`` of each source map.
    """

    def __init__(self, backbone: str = "vgg16", num_classes: int = 20, input_size: int = 300,
                 weights=None, cut_layer: str | None = None, anchors=None,
                 class_names: list[str] | None = None, head_width: float = 1.0,
                 backbone_options: dict | None = None, **kwargs):
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1 (foreground classes), got {num_classes!r}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for num_classes={num_classes}")
        spec = get_backbone(backbone)
        if input_size < spec.min_input:
            raise ValueError(f"input size {input_size} is too small for backbone {spec.name!r} "
                             f"(minimum {spec.min_input} px)")
        if input_size not in TARGET_MAP:
            raise ValueError(f"input_size must be one of {sorted(TARGET_MAP)} (SSD300 / SSD512), got {input_size}")
        anchor_config = anchors or DEFAULT_ANCHORS[input_size]
        if isinstance(anchor_config, dict):
            anchor_config = AnchorConfig.from_dict(anchor_config)
        cut_layer = cut_layer or spec.cut_layer
        backbone_options = spec.check_options(backbone_options)
        target = TARGET_MAP[input_size]

        feature = build_backbone(spec, input_size, weights, cut_layer, target, backbone_options)
        inputs = keras.Input((input_size, input_size, 3), name="image")
        x = feature(Preprocess(spec.preprocessing, name="preprocess")(inputs))
        kernel, stride = alignment(x.shape[1], target)
        if kernel:
            x = keras.layers.Conv2DTranspose(x.shape[-1], kernel, strides=stride, padding="valid",
                                             activation="relu", name="align")(x)
        sources = ssd_head(x, input_size, head_width)
        if len(sources) != len(anchor_config.aspect_ratios):
            raise ValueError(f"the head has {len(sources)} source maps, the anchor config "
                             f"{len(anchor_config.aspect_ratios)}")
        outputs = multibox_heads(sources, anchor_config.boxes_per_cell, int(num_classes))
        kwargs.setdefault("name", f"ssd{input_size}_{spec.name}")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.backbone_name = spec.name
        self.num_classes = int(num_classes)
        self.input_size = input_size
        self.cut_layer = cut_layer
        self.head_width = head_width
        self.backbone_options = backbone_options
        self.anchor_config = anchor_config
        self.class_names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
        self.feature_map_sizes = [tuple(s.shape[1:3]) for s in sources]
        self.anchors = generate_anchors(self.feature_map_sizes, (input_size, input_size), anchor_config)
        if len(self.anchors) != outputs.shape[1]:
            raise AssertionError("anchor count differs from the model's output rows")

    def detect(self, images, **kwargs) -> list:
        """Detections for images of any size, boxes in original pixels (see :func:`ssdzoo.detection.detect`)."""
        from ssdzoo.models.detector import detect

        return detect(self, images, **kwargs)

    def get_config(self) -> dict:
        return {
            "backbone": self.backbone_name,
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "cut_layer": self.cut_layer,
            "anchors": self.anchor_config.to_dict(),
            "class_names": self.class_names,
            "head_width": self.head_width,
            "backbone_options": self.backbone_options,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> SSD:
        config = {k: v for k, v in config.items() if k not in ("trainable", "dtype")}
        return cls(**config)


