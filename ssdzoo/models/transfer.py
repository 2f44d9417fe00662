"""Copy weights between SSD models that differ in classes, backbone or head: :func:`transfer_weights`.

How layers are matched. Weights are read per top-level layer (``conv4_1``, ``backbone``, …) and,
inside it, per variable path (``block1_conv1/kernel``): the layout of Keras' legacy ``.h5``
files, which store both names. Auto-numbered names (``conv2d_95``, which depend on what was
built earlier in the process) are matched by their rank among names of the same base, i.e. by
creation order, which equal architectures share. When both sides declare their backbone and the
two differ, the backbone is skipped as a whole: position-matched layers of another network would
be wrong even where shapes agree.

Sources: an SSD (any ``keras.Model``), a ``.keras`` file (loaded with its class names), a
legacy ``.h5`` file (read with h5py; full-model files also give the class names), or a
``.weights.h5`` file. The last stores no layer names nor class count (Keras 3 saves it by
position), so it is loaded into an architecture first: ``src_model`` if given, otherwise the
destination's own architecture with ``len(src_class_names)`` classes (or the destination's
class count).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from collections import defaultdict

import h5py
import keras
import numpy as np

from ssdzoo.models.backbone import _load_exact, _snake
from ssdzoo.models.ssd import SSD

_STATUS_TEXT = {"copied": "copied", "partial": "partially copied", "skipped": "skipped"}


@dataclasses.dataclass
class TransferReport:
    """What :func:`transfer_weights` did, per destination layer (backbone layers as
    ``backbone/<name>``).

    ``layers[name]`` is ``{"status": "copied"}``, ``{"status": "skipped", "reason": …}`` or, for a
    class head, ``{"status": "partial", "classes": [kept destination classes]}`` (background
    included); ``str(report)`` is a printable table.
    """

    layers: dict[str, dict]

    def names(self, status: str) -> list[str]:
        """Destination layers with ``status`` (``copied``, ``partial`` or ``skipped``)."""
        return [name for name, entry in self.layers.items() if entry["status"] == status]

    def __str__(self) -> str:
        width = max(len(name) for name in self.layers)
        lines = [f"{'layer':<{width}}  {'status':<16}  detail"]
        for name, entry in self.layers.items():
            detail = entry.get("reason") or ", ".join(entry.get("classes", []))
            lines.append(f"{name:<{width}}  {_STATUS_TEXT[entry['status']]:<16}  {detail}".rstrip())
        counts = ", ".join(f"{_STATUS_TEXT[s]} {len(self.names(s))}" for s in _STATUS_TEXT)
        return "\n".join(lines + [f"{counts} (of {len(self.layers)} layers)"])


@dataclasses.dataclass
class _Source:
    groups: dict[str, dict[str, np.ndarray]]  # top-level layer -> {variable path: value}
    class_names: list[str] | None = None
    backbone: str | None = None
    input_size: int | None = None


def transfer_weights(src: keras.Model | str | os.PathLike, dst: keras.Model, class_map: dict[str, str] | None = None,
                     src_class_names: list[str] | None = None,
                     src_model: keras.Model | None = None) -> TransferReport:
    """Copy into ``dst`` every weight of ``src`` that fits; report the rest.

    Args:
        src: an SSD model or a ``.keras``, ``.weights.h5`` or legacy ``.h5`` file.
        dst: the model to update. All-or-nothing: on any error ``dst`` is left unchanged.
        class_map: ``{"source class": "destination class"}`` for classes whose names differ;
            classes with the same name are matched without it.
        src_class_names: the source's foreground class names, when ``src`` does not carry them
            (weights files) or carries the placeholders ``class_0``….
        src_model: for a ``.weights.h5`` source, the architecture it was saved from (built with
            ``weights=None``; the file is loaded into it).

    Class heads (``*_mbox_conf``): with class names known on both sides, the output channels of
    background and of the shared classes are copied for each box of the cell; the other
    channels keep ``dst``'s values. Without names, they are copied only when shapes agree.
    """
    source = _read_source(src, dst, src_class_names, src_model)
    if src_class_names is not None:
        source.class_names = list(src_class_names)
    _check_compatible(source, dst)
    pairs = _class_pairs(_known(source.class_names), _known(getattr(dst, "class_names", None)),
                         class_map)
    dst_backbone = getattr(dst, "backbone_name", None)
    other_backbone = source.backbone and dst_backbone and source.backbone != dst_backbone
    bases = re.compile(rf"({'|'.join(sorted(_class_bases(dst)))})(?:_(\d+))?")
    found = {g: {key: values[path] for path, key in _match_keys(values, bases).items()}
             for g, values in source.groups.items()}
    dst_keys = {layer.name: _match_keys([v.path for v in layer.weights], bases) for layer in dst.layers}
    plan, layers = [], {}
    for name, group, variables in _units(dst):
        if other_backbone and group == "backbone":
            layers[name] = {"status": "skipped",
                            "reason": f"backbone differs ({source.backbone} vs {dst_backbone})"}
            continue
        values = [found.get(group, {}).get(dst_keys[group][v.path]) for v in variables]
        if any(value is None for value in values):
            layers[name] = {"status": "skipped", "reason": "missing in source"}
            continue
        if name.endswith("_mbox_conf") and pairs is not None:
            entry, new = _remap_head(values, variables, pairs, len(source.class_names),
                                     dst.class_names)
        else:
            entry, new = _same_shapes(values, variables)
        layers[name] = entry
        if new is not None:
            plan += [(v, np.asarray(value, dtype=v.dtype)) for v, value in zip(variables, new)]
    if not plan:
        raise ValueError("no layer of the source fits the destination (nothing to transfer)")
    _apply(plan)
    return TransferReport(layers)


def _read_source(src, dst, src_class_names, src_model) -> _Source:
    if isinstance(src, keras.Model):
        return _from_model(src)
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"src must be a keras.Model or a file path, not {type(src).__name__}")
    path = os.fspath(src)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"source weights file {path!r} does not exist")
    if path.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is not a .keras file (not a zip archive)")
        return _from_model(keras.models.load_model(path, compile=False))
    if not path.endswith((".h5", ".hdf5")):
        raise ValueError(f"{path}: expected a .keras, .weights.h5 or legacy .h5/.hdf5 file")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from None
    if path.endswith(".weights.h5"):
        return _from_model(_load_into_architecture(path, dst, src_class_names, src_model))
    return _from_legacy_h5(path)


def _from_model(model: keras.Model) -> _Source:
    groups = {layer.name: {v.path: v.numpy() for v in layer.weights} for layer in model.layers if layer.weights}
    return _Source(groups, getattr(model, "class_names", None),
                   getattr(model, "backbone_name", None), getattr(model, "input_size", None))


def _load_into_architecture(path, dst, src_class_names, src_model) -> keras.Model:
    if src_model is None:
        if not isinstance(dst, SSD):
            raise ValueError(f"{path}: a .weights.h5 file stores no architecture; pass src_model=")
        config = dst.get_config()
        if src_class_names is not None:
            config.update(num_classes=len(src_class_names), class_names=list(src_class_names))
        src_model = SSD.from_config(config)
    try:
        _load_exact(src_model, path)
    except (ValueError, UserWarning) as err:
        raise ValueError(
            f"{path} does not fit the source architecture {src_model.name} "
            f"({getattr(src_model, 'num_classes', '?')} classes). A .weights.h5 file stores "
            f"weights by position only: pass src_class_names= (the file's classes) or "
            f"src_model=ssdzoo.build(<the source's settings>, weights=None). Keras: {err}"
        ) from None
    return src_model


def _h5_names(group: h5py.Group, name: str) -> list[str] | None:
    """A list-of-names attribute of a legacy Keras ``.h5`` group, or None if there is none.

    Keras splits a list too long for one HDF5 attribute (64 kB) into ``name0``, ``name1``, ….
    """
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            return None
    return [n.decode("utf8") if hasattr(n, "decode") else str(n) for chunk in chunks for n in chunk]


def _from_legacy_h5(path: str) -> _Source:
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = _h5_names(root, "layer_names")
        if names is None:
            raise ValueError(f"{path} is HDF5 but not a Keras weights file (no layer_names)")
        groups = {}
        for name in names:
            weight_names = _h5_names(root[name], "weight_names")
            if weight_names:
                groups[name] = {w: np.asarray(root[name][w]) for w in weight_names}
        config = json.loads(f.attrs["model_config"])["config"] if "model_config" in f.attrs else {}
    return _Source(groups, config.get("class_names"), config.get("backbone"),
                   config.get("input_size"))


def _check_compatible(source: _Source, dst: keras.Model) -> None:
    size = getattr(dst, "input_size", None)
    if source.input_size and size and source.input_size != size:
        raise ValueError(f"the source is an SSD{source.input_size}, the destination an "
                         f"SSD{size}: their anchors and head layers differ")
    src_heads = {g for g in source.groups if g.endswith("_mbox_conf")}
    dst_heads = {layer.name for layer in dst.layers if layer.name.endswith("_mbox_conf")}
    if src_heads and src_heads != dst_heads:
        raise ValueError(f"the source's class heads {sorted(src_heads)} differ from the "
                         f"destination's {sorted(dst_heads)}: other source maps (input size?)")


def _known(names) -> list[str] | None:
    """Class names, or None for none / the placeholders ``class_0``…"""
    if not names or list(names) == [f"class_{i}" for i in range(len(names))]:
        return None
    return list(names)


def _class_pairs(src_names, dst_names, class_map) -> list[tuple[int, int]] | None:
    """``(source channel, destination channel)`` per kept class (0 = background), or None
    when the class names of either side are unknown."""
    if src_names is None or dst_names is None:
        if class_map:
            raise ValueError("class_map needs class names on both sides: pass src_class_names= "
                             "and build the destination with class_names=")
        return None
    class_map = dict(class_map or {})
    unknown = sorted(set(class_map) - set(src_names))
    if unknown:
        raise ValueError(f"class_map keys {unknown} are not source classes {src_names}")
    bad = sorted(set(class_map.values()) - set(dst_names))
    if bad:
        raise ValueError(f"class_map values {bad} are not destination classes {dst_names}")
    pairs, taken = [(0, 0)], {}
    for i, name in enumerate(src_names):
        target = class_map.get(name, name)
        if target in dst_names:
            if target in taken:
                raise ValueError(f"source classes {taken[target]!r} and {name!r} both map to {target!r}")
            taken[target] = name
            pairs.append((i + 1, dst_names.index(target) + 1))
    return pairs


def _class_bases(model: keras.Model) -> set[str]:
    """snake_case class names of every layer: the bases of Keras' automatic layer names."""
    bases = set()
    for layer in model.layers:
        bases.add(_snake(type(layer).__name__))
        if isinstance(layer, keras.Model):
            bases |= _class_bases(layer)
    return bases


def _match_keys(paths, bases: re.Pattern) -> dict[str, str]:
    """Variable path → matching key: ``conv2d_95/kernel`` → ``conv2d#3/kernel`` (rank among the
    auto-numbered ``conv2d`` layers of the group); other paths are their own key."""
    numbered = defaultdict(list)
    for prefix in {p.rpartition("/")[0] for p in paths}:
        m = bases.fullmatch(prefix)
        if m:
            numbered[m[1]].append((int(m[2] or 0), prefix))
    rank = {prefix: f"{base}#{i}" for base, items in numbered.items()
            for i, (_, prefix) in enumerate(sorted(items))}
    out = {}
    for path in paths:
        prefix, _, leaf = path.rpartition("/")
        out[path] = f"{rank[prefix]}/{leaf}" if prefix in rank else path
    return out


def _units(model: keras.Model):
    """``(report name, top-level layer, variables)`` per layer with weights, one level into
    nested models (the backbone)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for sub in layer.layers:
                if sub.weights:
                    yield f"{layer.name}/{sub.name}", layer.name, sub.weights
        elif layer.weights:
            yield layer.name, layer.name, layer.weights


def _same_shapes(values, variables):
    for value, v in zip(values, variables):
        if tuple(value.shape) != tuple(v.shape):
            return {"status": "skipped", "reason": f"shape {tuple(value.shape)} vs {tuple(v.shape)}"}, None
    return {"status": "copied"}, values


def _remap_head(values, variables, pairs, n_src: int, dst_names: list[str]):
    """Class head kernel and bias: copy background and shared-class channels for each box."""
    n_dst = len(dst_names)
    boxes = variables[0].shape[-1] // (n_dst + 1)
    for value, v in zip(values, variables):
        if value.shape[:-1] != tuple(v.shape[:-1]) or value.shape[-1] != boxes * (n_src + 1):
            return {"status": "skipped", "reason": f"shape {tuple(value.shape)} vs {tuple(v.shape)} "
                    f"({boxes} boxes x {n_src + 1} classes expected)"}, None
    src_ch = [b * (n_src + 1) + s for b in range(boxes) for s, _ in pairs]
    dst_ch = [b * (n_dst + 1) + d for b in range(boxes) for _, d in pairs]
    new = []
    for value, v in zip(values, variables):
        out = v.numpy().copy()
        out[..., dst_ch] = value[..., src_ch]
        new.append(out)
    if len(pairs) == n_dst + 1:
        return {"status": "copied"}, new
    kept = ["background"] + [dst_names[d - 1] for d in sorted(d for _, d in pairs[1:])]
    return {"status": "partial", "classes": kept}, new


def _apply(plan: list) -> None:
    """Assign every ``(variable, value)``; on any failure restore what was assigned."""
    old = [v.numpy() for v, _ in plan]
    done = 0
    try:
        for v, value in plan:
            v.assign(value)
            done += 1
    except BaseException:
        for (v, _), value in zip(plan[:done], old):
            v.assign(value)
        raise
