"""``ArchConfig``: everything that fixes an SSD's architecture, in one place.

``SSD(...)``, ``SSD.get_config()``, :func:`ssdzoo.build` and the weight-set loader all take or
give this dataclass, so a new architecture argument is one new field here. Configs saved by
older releases lack the newer keys; :meth:`ArchConfig.from_dict` gives them today's defaults
(``head="ssd"``, the default :class:`~ssdzoo.core.box_coder.BoxCoder`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig
from ssdzoo.core.box_coder import BoxCoder
from ssdzoo.models.heads import get_head
from ssdzoo.models.heads.base import HEAD_NORMS, prior_bias
from ssdzoo.models.registry import get_backbone

#: Side of the first source map for each supported input size (SSD300 / SSD512).
TARGET_MAP = {300: 38, 512: 64}


@dataclasses.dataclass
class ArchConfig:
    """The architecture of one SSD model.

    Attributes:
        backbone: registry name (:func:`ssdzoo.list_backbones`).
        num_classes: number of foreground classes (background is added).
        input_size: 300 (SSD300) or 512 (SSD512).
        cut_layer: backbone layer feeding the head; ``None`` = the registry's.
        anchors: an :class:`AnchorConfig`; ``None`` = the SSD paper's for the input size.
        class_names: the foreground class names; ``None`` = ``class_0``, ``class_1``…
        head: registered head name (:func:`ssdzoo.models.heads.list_heads`: ``ssd``, ``lite``).
        head_width: width multiplier of the head's filters (1.0 = the paper's).
        backbone_options: keyword options of the backbone constructor (MobileNet's ``alpha``).
        box_coder: the :class:`BoxCoder` of the model's box offsets.
        head_norm: normalisation after each head convolution: ``none`` (the paper's ``ssd``
            head), ``batch`` or ``group`` (the ``lite`` head has BatchNorm for none and batch).
        prior_probability: ``None`` = Keras' default predictor init; π = zero-initialised
            predictors whose boxes start at the anchors and whose class biases give each
            foreground class probability π (:func:`~ssdzoo.models.heads.base.prior_bias`).
    """

    backbone: str = "vgg16"
    num_classes: int = 20
    input_size: int = 300
    cut_layer: str | None = None
    anchors: AnchorConfig | None = None
    class_names: list[str] | None = None
    head: str = "ssd"
    head_width: float = 1.0
    backbone_options: dict = dataclasses.field(default_factory=dict)
    box_coder: BoxCoder = dataclasses.field(default_factory=BoxCoder)
    head_norm: str = "none"
    prior_probability: float | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the fields, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict) -> ArchConfig:
        """Config from :meth:`to_dict` output or keywords; missing keys take their defaults.

        ``anchors`` and ``box_coder`` may be dicts."""
        values = dict(values)
        if isinstance(values.get("anchors"), dict):
            values["anchors"] = AnchorConfig.from_dict(values["anchors"])
        if isinstance(values.get("box_coder"), dict):
            values["box_coder"] = BoxCoder.from_config(values["box_coder"])
        if values.get("box_coder") is None:
            values.pop("box_coder", None)
        return cls(**values)

    @classmethod
    def from_build_args(cls, backbone: str, num_classes: int, **kwargs) -> ArchConfig:
        """Config from :func:`ssdzoo.build`-style arguments (fields by name, the rest backbone options).

        Every keyword that is not a field is a backbone option (``alpha=0.5``)."""
        fields = set(cls.field_names())
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in fields}
        kwargs["backbone_options"] = {**(kwargs.get("backbone_options") or {}), **options}
        return cls.from_dict({"backbone": backbone, "num_classes": num_classes, **kwargs})

    def updated(self, **changes) -> ArchConfig:
        """A copy with ``changes`` (fields by name; ``anchors`` and ``box_coder`` may be dicts)."""
        return ArchConfig.from_dict({**{n: getattr(self, n) for n in self.field_names()}, **changes})

    def to_dict(self) -> dict:
        """JSON-serialisable fields (what ``SSD.get_config`` stores)."""
        values = {name: getattr(self, name) for name in self.field_names()}
        values["anchors"] = self.anchors.to_dict() if self.anchors is not None else None
        values["box_coder"] = self.box_coder.get_config()
        values["backbone_options"] = dict(self.backbone_options)
        values["class_names"] = list(self.class_names) if self.class_names is not None else None
        return values

    def non_default(self) -> dict:
        """The fields that differ from their defaults (for messages such as a build call)."""
        default = ArchConfig(self.backbone, self.num_classes).to_dict()
        return {k: v for k, v in self.to_dict().items() if v != default[k]}

    def resolved(self) -> ArchConfig:
        """A copy with every default filled in; ``ValueError`` for a bad setting.

        Fills the canonical backbone name, cut layer, anchors, class names and checked backbone options."""
        num_classes = self.num_classes
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1 (foreground classes), got {num_classes!r}")
        if self.class_names is not None and len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for num_classes={num_classes}")
        spec = get_backbone(self.backbone)
        if self.input_size < spec.min_input:
            raise ValueError(f"input size {self.input_size} is too small for backbone {spec.name!r} "
                             f"(minimum {spec.min_input} px)")
        if self.input_size not in TARGET_MAP:
            raise ValueError(f"input_size must be one of {sorted(TARGET_MAP)} (SSD300 / SSD512), "
                             f"got {self.input_size}")
        get_head(self.head)  # unknown head -> ValueError listing the known ones
        if self.head_norm not in HEAD_NORMS:
            raise ValueError(f"head_norm must be one of {', '.join(HEAD_NORMS)}, got {self.head_norm!r}")
        if self.prior_probability is not None:
            prior_bias(num_classes, self.prior_probability)  # out of (0, 1/C) -> ValueError
        return dataclasses.replace(
            self, backbone=spec.name, num_classes=int(num_classes),
            cut_layer=self.cut_layer or spec.cut_layer,
            anchors=self.anchors or DEFAULT_ANCHORS[self.input_size],
            class_names=list(self.class_names or (f"class_{i}" for i in range(num_classes))),
            backbone_options=spec.check_options(self.backbone_options))
