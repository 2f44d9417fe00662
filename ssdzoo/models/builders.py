"""Building, loading and saving SSD detectors: :func:`build` is the entry point."""

from __future__ import annotations

import os

import keras

from ssdzoo.models.backbone import WeightsUnavailableError
from ssdzoo.models.config import ArchConfig
from ssdzoo.models.registry import get_backbone
from ssdzoo.models.ssd import SSD
from ssdzoo.models.weights import fetch_imagenet_file, is_weight_set_name, load_weight_set


def build(backbone: str = "vgg16", num_classes: int = 20, *, weights: str | None = "imagenet",
          **kwargs) -> SSD:
    """Build an SSD detector: ``build("mobilenet", 3, head="lite", head_width=0.5, alpha=0.5)``.

    Args:
        backbone: registry name (:func:`ssdzoo.list_backbones`).
        num_classes: number of foreground classes (background is added).
        weights: ``"imagenet"`` (keras.applications, cached in ``~/.keras/models``), ``None``
            (random init), a path to a backbone weights file (a full keras.applications
            ``include_top=False`` file, or one saved by :func:`save_backbone_weights`), or the
            name of a trained weight set of ``weights/manifest.json`` (e.g. ``"bccd"``: the
            whole detector; see :func:`ssdzoo.weights.load_weight_set`).
        **kwargs: the other :class:`~ssdzoo.models.config.ArchConfig` fields: ``input_size``
            (300: SSD300, 8732 anchors; 512: SSD512, 24564 anchors), ``head`` (``"ssd"``,
            ``"lite"`` or a registered head), ``head_width`` (filter multiplier of the head,
            1.0 = the paper's), ``cut_layer`` (overrides the registry's), ``anchors`` (an
            :class:`AnchorConfig`; default the paper's for the input size), ``class_names``,
            ``box_coder``; every other keyword is a backbone option (``alpha`` for MobileNet).
    """
    arch = ArchConfig.from_build_args(backbone, num_classes, **kwargs)
    if is_weight_set_name(weights):
        return load_weight_set(weights, arch)
    return SSD(arch, weights=weights)


def build_imagenet_or_scratch(backbone: str, num_classes: int, scratch: dict | None = None,
                              **kwargs) -> tuple[SSD, str]:
    """:func:`build` with ImageNet weights where they can be had, else random ones: ``(model, note)``.

    The choice is :func:`imagenet_or_scratch`'s (random when the backbone has none, ``small``,
    or they are unreachable offline; this prints a warning). ``kwargs`` go to :func:`build`,
    ``scratch`` (e.g. ``{"head_norm": "batch"}``) overrides them for a model built from
    scratch; the note says which, for reports."""
    arch = ArchConfig.from_build_args(backbone, num_classes, **kwargs)
    weights, note = imagenet_or_scratch(backbone, arch.input_size, **arch.backbone_options)
    if weights is None:
        kwargs = {**kwargs, **(scratch or {})}
    return build(backbone, num_classes, weights=weights, **kwargs), note


def imagenet_or_scratch(backbone: str, input_size: int = 300, **options) -> tuple[str | None, str]:
    """``("imagenet", "imagenet")`` when the backbone's ImageNet file can be had, else ``(None, note)``.

    The one place that decides whether a run asking for ImageNet weights starts from scratch,
    before anything is built: the file is fetched into the Keras cache (as ``keras.applications``
    would, :func:`~ssdzoo.models.weights.fetch_imagenet_file`); a backbone without ImageNet
    weights (``small``) or a file that cannot be had (offline; this prints a warning) gives
    ``None`` (random weights) and the note for reports."""
    if not get_backbone(backbone).pretrained:
        return None, _no_imagenet_note(backbone)
    try:
        fetch_imagenet_file(backbone, input_size, **options)
    except WeightsUnavailableError as err:
        return None, _fallback_note(backbone, err)
    return "imagenet", "imagenet"


def _no_imagenet_note(backbone: str) -> str:
    """The weights note of a backbone that has no ImageNet weights (``small``)."""
    return f"none: {backbone} has no ImageNet weights, trained from scratch"


def _fallback_note(backbone: str, err: WeightsUnavailableError) -> str:
    """Warn that ``backbone`` trains from scratch because of ``err``; returns the note for reports."""
    print(f"WARNING: {err}\nWARNING: training {backbone} FROM SCRATCH (weights=None).")
    reason = str(err).split("(")[0].strip()
    return f"ImageNet weights unavailable, trained from scratch ({reason})"


def save_backbone_weights(model: SSD, path: str) -> None:
    """Save the cut backbone's weights (``*.weights.h5``) for ``build(..., weights=path)``."""
    model.get_layer("backbone").save_weights(path)


def load(path: str, compile: bool = True) -> SSD:
    """Load a ``.keras`` model saved by ``model.save`` (same as ``keras.models.load_model``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    from ssdzoo.core import loss, schedules  # noqa: F401  (register what compiled models refer to)

    return keras.models.load_model(path, compile=compile)
