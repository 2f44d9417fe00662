"""The SSD model: registry backbone → 38x38 (or 64x64) alignment → shared SSD head.

``SSD`` is a functional Keras model (subclassed the keras-hub way: ``__init__`` wires the
graph, ``get_config`` returns the constructor arguments), so ``model.fit``, ``.keras``
save/load and ``tf.distribute`` work as for any Keras model.
"""

from __future__ import annotations

import os
import re
import warnings

import keras
import numpy as np

from .anchors import DEFAULT_ANCHORS, AnchorConfig, generate_anchors
from .layers import L2Normalization, Preprocess
from .registry import BackboneSpec, get_backbone

#: Side of the first source map for each supported input size.
TARGET_MAP = {300: 38, 512: 64}
#: Extra feature layers after fc7: (1x1 filters, 3x3 filters, stride, padding, kernel).
EXTRA_LAYERS = {
    300: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 1, "valid", 3), (128, 256, 1, "valid", 3)),
    512: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 2, "same", 3), (128, 256, 1, "valid", 2)),
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be loaded (offline, missing or bad file)."""


def alignment(size: int, target: int) -> tuple[int, int] | None:
    """``(kernel, stride)`` of the valid Conv2DTranspose taking a ``size`` map to ``target``;
    ``(0, 0)`` when no alignment is needed, ``None`` when no small transposed conv fits."""
    if size == target:
        return (0, 0)
    if target - 8 <= size < target:
        return (target - size + 1, 1)
    kernel = target - 2 * (size - 1)
    if 2 <= kernel <= 4:
        return (kernel, 2)
    return None


def _snake(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def canonicalize_names(model: keras.Model) -> None:
    """Rename auto-numbered layers (``conv2d_95``) by position (``conv2d``, ``conv2d_1``, …) so
    that names do not depend on what else was built in the process (needed to reload
    ``.keras`` files and to transfer weights between models)."""
    counts: dict[str, int] = {}
    for layer in model.layers:
        base = _snake(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name):
            k = counts.get(base, 0)
            counts[base] = k + 1
            layer.name = base if k == 0 else f"{base}_{k}"


def _map_sizes(model: keras.Model) -> list[tuple[int, str]]:
    """``(side, "name HxWxC")`` of each layer with a 4-D output."""
    out = []
    for layer in model.layers:
        shape = getattr(layer, "output", None) is not None and layer.output.shape
        if shape and len(shape) == 4:
            out.append((shape[1], f"{layer.name} {shape[1]}x{shape[2]}x{shape[3]}"))
    return out


def keras_cache_dir() -> str:
    """Where ``keras.applications`` caches downloaded weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "models")


def _construct(spec: BackboneSpec, shape: tuple, weights, options: dict) -> keras.Model:
    """The full backbone network with ``weights`` loaded (None, "imagenet" or a file)."""
    if weights is None:
        return spec.constructor(shape, None, **options)
    if weights == "imagenet":
        if not spec.pretrained:
            raise ValueError(f"backbone {spec.name!r} has no ImageNet weights: use weights=None")
        try:
            return spec.constructor(shape, "imagenet", **options)
        except Exception as err:  # download failures surface as many exception types
            cache = keras_cache_dir()
            raise WeightsUnavailableError(
                f"could not load ImageNet weights for {spec.name!r} ({type(err).__name__}: {err}). "
                f"keras.applications downloads them once and caches them in {cache}; on a machine "
                f"without internet copy the file there (see `ssdzoo weights path`), pass a local "
                f"weights file (weights='path/to/file.h5'), or train from scratch with weights=None."
            ) from err
    raise TypeError(f"weights must be None, 'imagenet' or a file path, not {weights!r}")


def _load_exact(model: keras.Model, path: str) -> None:
    """Load ``path`` into ``model``. Keras only warns when a weights file covers part of a
    model, so such warnings are raised here (as ``UserWarning``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.load_weights(path)


def _try_load(model: keras.Model, path: str) -> bool:
    """Load ``path`` into ``model`` if it fits exactly (see :func:`_load_exact`)."""
    try:
        _load_exact(model, path)
        return True
    except (ValueError, KeyError, UserWarning):
        return False


def build_backbone(spec: BackboneSpec, input_size: int, weights, cut_layer: str,
                   target: int, options: dict) -> keras.Model:
    """The registry network cut at ``cut_layer``, as a ``keras.Model`` named ``backbone``."""
    shape = (input_size, input_size, 3)
    path = None
    if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"backbone weights file {path!r} does not exist")
        full = spec.constructor(shape, None, **options)
        loaded_full = _try_load(full, path)
    else:
        full = _construct(spec, shape, weights, options)
    try:
        cut = full.get_layer(cut_layer)
    except ValueError:
        raise ValueError(
            f"backbone {spec.name!r} has no layer {cut_layer!r}. Layers and their output maps "
            f"at {input_size} px:\n  " + "\n  ".join(line for _, line in _map_sizes(full))
        ) from None
    size = cut.output.shape[1]
    if alignment(size, target) is None:
        fits = [line for side, line in _map_sizes(full) if alignment(side, target)]
        raise ValueError(
            f"cut layer {cut_layer!r} of {spec.name!r} gives a {size}x{size} map; the SSD head "
            f"needs {target}x{target} (reachable from {target - 8}..{target} with a stride-1 or "
            f"about {target // 2} with a stride-2 transposed conv). Layers that would work:\n  "
            + "\n  ".join(fits or ["(none)"])
        )
    backbone = keras.Model(full.input, cut.output, name="backbone")
    canonicalize_names(backbone)
    if path and not loaded_full and not _try_load(backbone, path):
        raise ValueError(f"{path}: the weights match neither the full {spec.name} network nor "
                         f"its cut at {cut_layer!r} ({len(backbone.weights)} tensors)")
    return backbone


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
        backbone_options = dict(backbone_options or {})
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
        from .detection import detect

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


def build(backbone: str = "vgg16", num_classes: int = 20, *, input_size: int = 300,
          weights="imagenet", cut_layer: str | None = None, anchors: AnchorConfig | None = None,
          class_names: list[str] | None = None, head_width: float = 1.0,
          **backbone_options) -> SSD:
    """Build an SSD detector.

    Args:
        backbone: registry name (:func:`ssdzoo.list_backbones`).
        num_classes: number of foreground classes (background is added).
        input_size: 300 (SSD300, 8732 anchors) or 512 (SSD512, 24564 anchors).
        weights: ``"imagenet"`` (keras.applications, cached in ``~/.keras/models``), ``None``
            (random init), a path to a backbone weights file (a full keras.applications
            ``include_top=False`` file, or one saved by :func:`save_backbone_weights`), or the
            name of a trained weight set of ``weights/manifest.json`` (e.g. ``"bccd"``: the
            whole detector; see :func:`ssdzoo.weights.load_weight_set`).
        cut_layer: overrides the registry's cut layer.
        anchors: an :class:`AnchorConfig`; defaults to the SSD paper's for the input size.
        class_names: names of the foreground classes.
        head_width: width multiplier of the SSD head's filters (1.0 = the paper's).
        **backbone_options: passed to the backbone constructor (e.g. ``alpha`` for MobileNet).
    """
    from .weights import is_weight_set_name, load_weight_set

    if is_weight_set_name(weights):
        return load_weight_set(weights, backbone=backbone, num_classes=num_classes,
                               input_size=input_size, cut_layer=cut_layer, anchors=anchors,
                               class_names=class_names, head_width=head_width, **backbone_options)
    return SSD(backbone, num_classes, input_size, weights=weights, cut_layer=cut_layer,
               anchors=anchors, class_names=class_names, head_width=head_width,
               backbone_options=backbone_options)


def build_imagenet_or_scratch(backbone: str, num_classes: int, **kwargs) -> tuple[SSD, str]:
    """:func:`build` with ImageNet weights where they can be had, else with random ones: the
    backbone has none (``small``) or they are unreachable (offline; this prints a warning).
    ``kwargs`` go to :func:`build`. Returns ``(model, note)``; the note says which, for reports."""
    if not get_backbone(backbone).pretrained:
        return (build(backbone, num_classes, weights=None, **kwargs),
                f"none: {backbone} has no ImageNet weights, trained from scratch")
    try:
        return build(backbone, num_classes, weights="imagenet", **kwargs), "imagenet"
    except WeightsUnavailableError as err:
        print(f"WARNING: {err}\nWARNING: training {backbone} FROM SCRATCH (weights=None).")
        reason = str(err).split("(")[0].strip()
        return (build(backbone, num_classes, weights=None, **kwargs),
                f"ImageNet weights unavailable, trained from scratch ({reason})")


def save_backbone_weights(model: SSD, path: str) -> None:
    """Save the cut backbone's weights (``*.weights.h5``) for ``build(..., weights=path)``."""
    model.get_layer("backbone").save_weights(path)


def load(path: str, compile: bool = True) -> SSD:
    """Load a ``.keras`` model saved by ``model.save`` (same as ``keras.models.load_model``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    from . import loss, schedules  # noqa: F401  (register what compiled models refer to)

    return keras.models.load_model(path, compile=compile)
