"""CVAT: the "CVAT for images 1.1" XML export (``annotations.xml`` and ``images/``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ssdzoo.utils.images import inspect_image

from ..check import KEPT, SKIPPED, Finding
from ..records import Dataset
from .base import Layout, Parsed, RawImage, RawObject
from .output import copy_images, number

_LAYOUT = Layout(("xtl", "ytl", "xbr", "ybr"), "xyxy", "label")
_FILE = "annotations.xml"
_SHAPES = ("polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")


def _xml_file(path: Path) -> Path:
    """The CVAT XML of a dataset path: the file itself or ``annotations.xml`` in the folder."""
    file = path / _FILE if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"{path}: no {_FILE} (not a CVAT for images export)")
    return file


def _difficult(box: ET.Element) -> bool:
    """Whether a ``<box>`` carries ``<attribute name="difficult">true</attribute>``."""
    return any(a.get("name") == "difficult" and (a.text or "").strip().lower() in ("true", "1")
               for a in box.findall("attribute"))


def _image(file: Path, element: ET.Element, position: int) -> RawImage:
    """One ``<image name width height>`` with its ``<box>`` children."""
    name = element.get("name")
    if not name:
        raw = RawImage(str(file), "", _LAYOUT, f"<image> number {position}")
        raw.findings.append(Finding(str(file), "field name is missing", None, raw.name, SKIPPED))
        return raw
    candidates = [file.parent / "images" / name, file.parent / name]
    image_path = next((p for p in candidates if p.is_file()), candidates[0])
    raw = RawImage(str(file), str(image_path), _LAYOUT, name, element.get("width"),
                   element.get("height"))
    for i, box in enumerate(element.findall("box")):
        raw.objects.append(RawObject(i, box.get("label"), [box.get(k) for k in _LAYOUT.fields],
                                     _difficult(box)))
    others = sorted({child.tag for child in element if child.tag in _SHAPES})
    if others:
        raw.findings.append(Finding(str(file), f"shapes other than boxes are ignored: "
                                    f"{', '.join(others)}", None, name, KEPT))
    return raw


def parse(path: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """CVAT for images 1.1 XML (or a folder holding ``annotations.xml`` and ``images/``).

    ``<box xtl ytl xbr ybr label>`` corners are pixels; a box attribute ``difficult`` set to
    true sets the flag; other shapes are ignored with a finding. Classes follow the labels of
    ``<meta>`` (task, job or project). With ``split``, only images whose ``subset`` is it.
    """
    file = _xml_file(path)
    try:
        root = ET.parse(file).getroot()
    except (ET.ParseError, OSError) as error:
        raise ValueError(f"{file}: cannot read XML ({error})") from None
    if root.tag != "annotations":
        raise ValueError(f"{file}: not a CVAT file (root element <{root.tag}>, expected <annotations>)")
    elements = list(enumerate(root.findall("image")))
    if split:
        elements = [(k, e) for k, e in elements if e.get("subset") == split]
        if not elements:
            raise ValueError(f"{file}: no image has subset {split!r}")
    images = [_image(file, element, k) for k, element in elements]
    labels = [str(e.findtext("name")).strip() for e in root.iterfind("meta//labels/label")
              if (e.findtext("name") or "").strip()]
    return Parsed(images, list(dict.fromkeys(labels)) or None)


def detect(path: Path) -> bool:
    """An ``.xml`` file, or a folder's ``annotations.xml``, whose root is ``<annotations>``."""
    file = path / _FILE if path.is_dir() else path
    if file.suffix.lower() != ".xml" or not file.is_file():
        return False
    with open(file, encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
    return "<annotations" in head


def write(dataset: Dataset, out_dir: str | Path, split: str | None = None) -> Path:
    """Write CVAT for images 1.1: ``annotations.xml`` (pixel ``xtl ytl xbr ybr`` boxes) and ``images/``.

    Difficult boxes get the attribute ``difficult`` = true; ``split`` becomes each image's
    ``subset``. Returns the XML path.
    """
    out = Path(out_dir)
    images = copy_images(dataset.records, out / "images")
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    labels = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    for name in dataset.class_names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "rectangle"
    for image_id, (record, image) in enumerate(zip(dataset.records, images)):
        width, height = inspect_image(image, decode=False).size
        element = ET.SubElement(root, "image", id=str(image_id), name=image.name,
                                width=str(width), height=str(height))
        if split:
            element.set("subset", split)
        for box, label, difficult in zip(record.boxes, record.labels, record.difficult):
            corners = {k: number(v) for k, v in zip(_LAYOUT.fields, box)}
            shape = ET.SubElement(element, "box", label=dataset.class_names[label], occluded="0",
                                  source="manual", z_order="0", **corners)
            if difficult:
                ET.SubElement(shape, "attribute", name="difficult").text = "true"
    tree = ET.ElementTree(root)
    ET.indent(tree)
    file = out / _FILE
    tree.write(file, encoding="utf-8", xml_declaration=True)
    return file
