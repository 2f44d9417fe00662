"""Backbones for the SSD graph: build a registry network (random, ImageNet or file weights),
cut it at a layer and find the transposed convolution that aligns its map to the head's."""

from __future__ import annotations

import os
import re
import warnings

import keras

from ssdzoo.models.registry import BackboneSpec


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be loaded (offline, missing or bad file)."""


def alignment(size: int, target: int) -> tuple[int, int] | None:
    """``(kernel, stride)`` of the valid Conv2DTranspose taking a ``size`` map to ``target`` (pixels).

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
    """Rename auto-numbered layers (``conv2d_95``) by position (``conv2d``, ``conv2d_1``, …).

    Names then do not depend on what else was built in the process (needed to reload ``.keras``
    files and to transfer weights between models)."""
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


def weights_unavailable(backbone: str, err: Exception) -> WeightsUnavailableError:
    """The error for ImageNet weights of ``backbone`` that could not be fetched or loaded (``err``)."""
    return WeightsUnavailableError(
        f"could not load ImageNet weights for {backbone!r} ({type(err).__name__}: {err}). "
        f"keras.applications downloads them once and caches them in {keras_cache_dir()}; on a machine "
        f"without internet copy the file there (see `ssdzoo weights path`), pass a local "
        f"weights file (weights='path/to/file.h5'), or train from scratch with weights=None.")


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
            raise weights_unavailable(spec.name, err) from err
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


def build_backbone(spec: BackboneSpec, input_size: int, weights: str | None, cut_layer: str,
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


