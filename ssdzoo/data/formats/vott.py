"""VoTT (Visual Object Tagging Tool): v1 ``<folder>.json`` files and v2 JSON exports."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from ..check import KEPT, Finding
from .base import Layout, Parsed, RawImage, RawObject, json_file, json_has_key, read_json

#: The files VoTT 1.x counts when it keys frames by index (its own listing, kept as main had it;
#: ssdzoo's image rule for folders is :func:`ssdzoo.utils.images.image_files`).
_VOTT1_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_V1 = Layout(("x1", "y1", "x2", "y2"), "xyxy", "tags")
_V2_BOX = ("left", "top", "width", "height")
_V2 = Layout(tuple(f"boundingBox.{k}" for k in _V2_BOX), "xywh", "tags")


def _tagged(raw: RawImage, index: int, tags, values: list) -> RawObject:
    """A VoTT region; the first tag is its class (a finding notes any further tags)."""
    tags = [str(t) for t in tags] if isinstance(tags, list) else []
    if len(tags) > 1:
        raw.findings.append(Finding(raw.source, f"region has several tags {tags}; the first, "
                                    f"{tags[0]!r}, is used", index, raw.name, KEPT))
    return RawObject(index, tags[0] if tags else None, values)


def vott1_order(names: Sequence[str]) -> list[str]:
    """File names in VoTT 1.x's order: case-insensitive, symbols such as ``_`` after letters."""
    return sorted(names, key=lambda name: (name.upper(), name))


def _v1_names(file: Path, image_dir: Path, keys: list[str]) -> list[str]:
    """The image file of each frame key: the name itself, or (index keys) VoTT's n-th file.

    VoTT 1.x keys the frames of an image folder by index into its own file order; a key
    beyond the folder's images is an error naming both counts.
    """
    if not keys or not all(k.isdigit() for k in keys):
        return keys
    files = vott1_order([p.name for p in image_dir.iterdir()
                         if p.suffix.lower() in _VOTT1_SUFFIXES and p.is_file()])
    largest = max(int(k) for k in keys)
    if largest >= len(files):
        raise ValueError(f"{file}: frames are keyed by index up to {largest} ({len(keys)} frames) "
                         f"but {image_dir} holds {len(files)} images")
    return [files[int(k)] for k in keys]


def _v1(file: Path, data: dict) -> Parsed:
    """VoTT 1.x: ``{"frames": {image: [{x1, y1, x2, y2, width, height, tags}]}, "inputTags"}``.

    Images sit in the folder named like the JSON file (``imgs.json`` next to ``imgs/``) or
    beside it; frames are keyed by file name or by index into VoTT's file order (see
    ``vott1_order``). Coordinates refer to the region's ``width`` x ``height`` and are scaled
    to the real image.
    """
    folder = file.with_suffix("")
    image_dir = folder if folder.is_dir() else file.parent
    keys = [str(k) for k in data["frames"]]
    images = []
    for name, regions in zip(_v1_names(file, image_dir, keys), data["frames"].values()):
        raw = RawImage(str(file), str(image_dir / name), _V1, name)
        for i, region in enumerate(regions):
            values = [region.get(k) for k in _V1.fields]
            raw.objects.append(_tagged(raw, i, region.get("tags"), values))
            try:
                frame = float(region["width"]), float(region["height"])
                raw.frame = raw.frame or (frame if min(frame) > 0 else None)
            except (KeyError, TypeError, ValueError):
                pass
        images.append(raw)
    tags = [t.strip() for t in str(data.get("inputTags") or "").split(",") if t.strip()]
    return Parsed(images, tags or None)


def _v2(file: Path, data: dict) -> Parsed:
    """VoTT 2.x export: ``{"assets": {id: {"asset", "regions"}}, "tags": [{"name"}]}``.

    An asset is ``{name, path, size}``; a region's ``boundingBox`` is ``left top width
    height`` in pixels. Images are looked for beside the JSON (export with images), then at
    ``asset.path``.
    """
    images = []
    for asset_id, entry in data["assets"].items():
        asset = entry.get("asset") or {}
        name = str(asset.get("name") or asset_id)
        image_path = file.parent / name
        if not image_path.is_file():
            source = urllib.parse.unquote(re.sub(r"^file:(//)?", "", str(asset.get("path", ""))))
            image_path = Path(source) if source and Path(source).is_file() else image_path
        size = asset.get("size") or {}
        raw = RawImage(str(file), str(image_path), _V2, name, size.get("width"),
                       size.get("height"))
        for i, region in enumerate(entry.get("regions") or []):
            box = region.get("boundingBox") or {}
            values = [box.get(k) for k in _V2_BOX]
            raw.objects.append(_tagged(raw, i, region.get("tags"), values))
        images.append(raw)
    return Parsed(images, [str(t["name"]) for t in data.get("tags") or []] or None)


def parse(path: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """VoTT JSON: a v1 ``<folder>.json`` (``frames``) or a v2 export (``assets``).

    A region's first tag is its class; classes follow ``inputTags`` (v1) or ``tags`` (v2).
    """
    file = json_file(path, split)
    data = read_json(file)
    if isinstance(data, dict) and isinstance(data.get("frames"), dict):
        return _v1(file, data)
    if isinstance(data, dict) and isinstance(data.get("assets"), dict):
        return _v2(file, data)
    raise ValueError(f"{file}: not a VoTT file (no 'frames' or 'assets')")


def detect(path: Path) -> bool:
    """A JSON file with a ``frames`` (v1) or ``assets`` (v2) key."""
    return json_has_key(path, ("frames", "assets"))
