"""Pascal VOC: one XML file per image under ``Annotations/``, images in ``JPEGImages/``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ..check import SKIPPED, Finding
from .base import Layout, Parsed, RawImage, RawObject, names_file, read_names

_LAYOUT = Layout(("xmin", "ymin", "xmax", "ymax"), "xyxy", "name")


def _image(xml: Path, root: Path) -> RawImage:
    raw = RawImage(str(xml), "", _LAYOUT)
    try:
        ann = ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as error:
        raw.findings.append(Finding(str(xml), f"cannot read XML ({error})", action=SKIPPED))
        return raw
    filename = Path((ann.findtext("filename") or "").strip()).name
    candidates = [root / "JPEGImages" / n for n in (filename, f"{xml.stem}.jpg") if n]
    raw.image_path = str(next((p for p in candidates if p.is_file()), candidates[0]))
    raw.width, raw.height = ann.findtext("size/width"), ann.findtext("size/height")
    for i, obj in enumerate(ann.findall("object")):
        name = (obj.findtext("name") or "").strip() or None
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        box = obj.find("bndbox")
        if box is None:
            raw.objects.append(RawObject(i, name, (), difficult, "missing field bndbox"))
        else:
            values = [box.findtext(k) for k in _LAYOUT.fields]
            raw.objects.append(RawObject(i, name, values, difficult))
    return raw


def parse(root: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """Pascal VOC folder: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

    ``<bndbox>`` corners are pixels as written; ``<difficult>1</difficult>`` sets the flag.
    Classes follow ``classes.txt`` when there is one, else the sorted names found in all of
    ``Annotations/`` (so that every split gets the same order).
    """
    ann_dir = root / "Annotations"
    if not ann_dir.is_dir():
        raise ValueError(f"{root}: no Annotations folder (not a Pascal VOC dataset)")
    parsed = {xml.stem: _image(xml, root) for xml in sorted(ann_dir.glob("*.xml"))}
    ids = list(parsed)
    if split:
        split_file = root / "ImageSets" / "Main" / f"{split}.txt"
        if not split_file.is_file():
            raise ValueError(f"split file {split_file} does not exist")
        ids = list(dict.fromkeys(line.split()[0] for line in read_names(split_file)))
    images = []
    for image_id in ids:
        if image_id not in parsed:
            xml = ann_dir / f"{image_id}.xml"
            parsed[image_id] = RawImage(str(xml), "", _LAYOUT, findings=[Finding(
                str(xml), f"annotation file missing (listed in {split}.txt)", action=SKIPPED)])
        images.append(parsed[image_id])
    declared_file = names_file(root)
    declared = (read_names(declared_file) if declared_file else
                sorted({o.name for raw in parsed.values() for o in raw.objects if o.name}))
    return Parsed(images, declared)


def detect(path: Path) -> bool:
    """A folder with an ``Annotations/`` folder."""
    return path.is_dir() and (path / "Annotations").is_dir()
