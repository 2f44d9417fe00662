"""The ``SSD`` model: registry backbone → 38x38 (or 64x64) alignment → registered head.

``SSD`` is a functional Keras model (subclassed the keras-hub way: ``__init__`` wires the
graph, ``get_config`` returns the constructor arguments), so ``model.fit``, ``.keras``
save/load and ``tf.distribute`` work as for any Keras model. Its architecture is one
:class:`~ssdzoo.models.config.ArchConfig` (``model.arch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from ssdzoo.core.anchors import AnchorConfig, generate_anchors
from ssdzoo.core.box_coder import BoxCoder
from ssdzoo.models.backbone import alignment, build_backbone
from ssdzoo.models.config import TARGET_MAP, ArchConfig
from ssdzoo.models.heads import get_head
from ssdzoo.models.layers import Preprocess
from ssdzoo.models.registry import get_backbone
from ssdzoo.utils.typing import ImagesLike

if TYPE_CHECKING:
    from ssdzoo.models.detector import Detections


@keras.saving.register_keras_serializable("ssdzoo")
class SSD(keras.Model):
    """SSD detector: a registry backbone, an anchor generator and a registered head.

    ``SSD(ArchConfig(...))`` or ``SSD(backbone="mobilenet", num_classes=3, head="lite", ...)``
    with :class:`ArchConfig` fields as keywords (they override ``config``'s); ``weights`` is
    the backbone's (``None``, ``"imagenet"`` or a file); other keywords go to ``keras.Model``.

    Input: ``(B, input_size, input_size, 3)`` RGB 0-255. Output:
    ``(B, num_anchors, 4 + num_classes + 1)``: box offsets (see :attr:`box_coder`) then
    class logits, class 0 = background.

    Attributes:
        arch: the resolved :class:`ArchConfig` (every default filled in).
        anchors: ``(num_anchors, 4)`` float32 numpy, normalised ``x1 y1 x2 y2``, in the order of
            the output rows.
        feature_map_sizes: ``(h, w)`` of each source map.
    """

    def __init__(self, config: ArchConfig | None = None, weights: str | None = None, **kwargs):
        if config is not None and not isinstance(config, ArchConfig):
            raise TypeError(f"SSD takes an ArchConfig or keyword arguments (SSD(backbone=...)), "
                            f"not {type(config).__name__}")
        fields = {k: kwargs.pop(k) for k in ArchConfig.field_names() if k in kwargs}
        arch = (config or ArchConfig()).updated(**fields).resolved()
        spec = get_backbone(arch.backbone)
        target = TARGET_MAP[arch.input_size]

        feature = build_backbone(spec, arch.input_size, weights, arch.cut_layer, target,
                                 arch.backbone_options)
        inputs = keras.Input((arch.input_size, arch.input_size, 3), name="image")
        x = feature(Preprocess(spec.preprocessing, name="preprocess")(inputs))
        kernel, stride = alignment(x.shape[1], target)
        if kernel:
            x = keras.layers.Conv2DTranspose(x.shape[-1], kernel, strides=stride, padding="valid",
                                             activation="relu", name="align")(x)
        head = get_head(arch.head)(arch.head_width, norm=arch.head_norm,
                                   prior_probability=arch.prior_probability)
        sources = head.sources(x, arch.input_size)
        if len(sources) != len(arch.anchors.aspect_ratios):
            raise ValueError(f"the {arch.head!r} head has {len(sources)} source maps, the anchor "
                             f"config {len(arch.anchors.aspect_ratios)}")
        outputs = head.predictions(sources, arch.anchors.boxes_per_cell, arch.num_classes)
        kwargs.setdefault("name", f"ssd{arch.input_size}_{spec.name}")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.arch = arch
        self.feature_map_sizes = [tuple(s.shape[1:3]) for _, s in sources]
        self.anchors = generate_anchors(self.feature_map_sizes, (arch.input_size,) * 2, arch.anchors)
        if len(self.anchors) != outputs.shape[1]:
            raise AssertionError("anchor count differs from the model's output rows")

    @property
    def backbone_name(self) -> str:
        """Registry name of the backbone."""
        return self.arch.backbone

    @property
    def head_name(self) -> str:
        """Registry name of the head (``ssd``, ``lite``, …)."""
        return self.arch.head

    @property
    def num_classes(self) -> int:
        """Number of foreground classes."""
        return self.arch.num_classes

    @property
    def input_size(self) -> int:
        """Input side in pixels (300 or 512)."""
        return self.arch.input_size

    @property
    def cut_layer(self) -> str:
        """Backbone layer feeding the head."""
        return self.arch.cut_layer

    @property
    def head_width(self) -> float:
        """Width multiplier of the head."""
        return self.arch.head_width

    @property
    def backbone_options(self) -> dict:
        """Options of the backbone constructor (MobileNet's ``alpha``)."""
        return self.arch.backbone_options

    @property
    def anchor_config(self) -> AnchorConfig:
        """Scales, ratios and steps of the anchors."""
        return self.arch.anchors

    @property
    def class_names(self) -> list[str]:
        """The ``num_classes`` foreground names (``class_0``… if not given)."""
        return self.arch.class_names

    @property
    def box_coder(self) -> BoxCoder:
        """The coder between boxes and the model's offsets."""
        return self.arch.box_coder

    def detect(self, images: ImagesLike, **kwargs) -> list[Detections]:
        """Detections for images of any size, boxes in original pixels (see :func:`ssdzoo.detection.detect`)."""
        from ssdzoo.models.detector import detect

        return detect(self, images, **kwargs)

    def get_config(self) -> dict:
        """The :class:`ArchConfig` fields and the model name."""
        return {**self.arch.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SSD:
        """Inverse of :meth:`get_config`; keys that older releases did not save take their
        defaults (``head="ssd"``, the default box coder)."""
        return cls(**{k: v for k, v in config.items() if k not in ("trainable", "dtype")})
