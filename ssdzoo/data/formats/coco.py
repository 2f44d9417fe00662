"""COCO: one JSON file with ``images``, ``annotations`` and ``categories``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..check import Finding
from .base import Layout, Parsed, RawImage, RawObject, json_file, json_has_key, read_json

_LAYOUT = Layout(("bbox[0]", "bbox[1]", "bbox[2]", "bbox[3]"), "xywh", "category_id")


def parse(path: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """COCO JSON file (or a folder holding one): ``bbox`` is ``x, y, w, h`` in pixels.

    Classes follow the categories ordered by id; ``iscrowd`` annotations are flagged
    difficult. Images are looked for beside the JSON, in ``images/`` next to it or one up.
    """
    file = json_file(path, split)
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{file}: not a COCO file (no 'images' list)")
    categories = sorted(data.get("categories") or [], key=lambda c: c["id"])
    name_of = {c["id"]: str(c["name"]) for c in categories}
    roots = [file.parent, file.parent / "images", file.parent.parent / "images"]
    roots += [file.parent.parent / split] if split else []
    image_ids = {image["id"] for image in data["images"]}
    by_image, findings = defaultdict(list), []
    for k, ann in enumerate(data.get("annotations") or []):
        if ann.get("image_id") in image_ids:
            by_image[ann["image_id"]].append(ann)
        else:
            findings.append(Finding(str(file), f"annotation {ann.get('id', k)!r} refers to "
                                    f"unknown image_id {ann.get('image_id')!r}"))
    images = []
    for image in data["images"]:
        file_name = str(image.get("file_name", ""))
        image_path = next((r / file_name for r in roots if (r / file_name).is_file()),
                          roots[0] / file_name)
        raw = RawImage(str(file), str(image_path), _LAYOUT, file_name, image.get("width"),
                       image.get("height"))
        for i, ann in enumerate(by_image[image["id"]]):
            cid, bbox = ann.get("category_id"), ann.get("bbox")
            problem = None
            if cid not in name_of:
                problem = f"field category_id: {cid!r} is not among the categories"
            elif not (isinstance(bbox, list) and len(bbox) == 4):
                problem, bbox = f"field bbox is not a list of 4 numbers: {bbox!r}", ()
            raw.objects.append(RawObject(i, name_of.get(cid, f"category_id {cid}"), bbox,
                                         bool(ann.get("iscrowd")), problem))
        images.append(raw)
    return Parsed(images, list(name_of.values()) or None, findings)


def detect(path: Path) -> bool:
    """A JSON file with an ``images`` key."""
    return json_has_key(path, ("images",))
