"""Annotation readers: Pascal VOC, COCO, YOLO, CSV and VoTT (v1 and v2) into one ``Dataset``.

Every reader returns records whose boxes are pixels of the original image, ``x1 y1 x2 y2``
float32, and whose labels are 0-based indices into ``class_names``. Coordinates are taken as
written (VOC's 1-based pixel numbers are not shifted), so a write and a read give back the
same numbers.

Each format is parsed into the same intermediate form (``_RawImage``) and one shared routine
turns that into records while running the checks of :mod:`ssdzoo.data.check`: defective
boxes and images are dropped with one counted ``DataWarning`` (the list goes into
``Dataset.skipped``, the report into ``Dataset.report``), or with ``strict=True`` a
``ValueError`` names the first problem's file and field.

Class order: ``class_names`` when given (other classes are errors); else the list the data
declares (COCO categories by id, YOLO ``classes.txt``/``obj.names``, VoTT tags, a VOC
``classes.txt``); else the sorted unique names found (for VOC, in all of ``Annotations/``, so
that every split gets the same order).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .check import KEPT, SKIPPED, Finding, check_image, check_record, finalize, summarize
from .records import Dataset, Record

FORMATS = ("voc", "coco", "yolo", "csv", "vott")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
NAMES_FILES = ("classes.txt", "obj.names")
_CSV_HEADER = {"path", "image", "image_path", "filename", "file"}


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How a format writes a box: its four coordinate fields, their meaning, the class field."""

    fields: tuple[str, str, str, str]
    box_format: str  # "xyxy" corners, "xywh" left top width height, "cxcywh" centre and size
    class_field: str


_VOC = _Layout(("xmin", "ymin", "xmax", "ymax"), "xyxy", "name")
_COCO = _Layout(("bbox[0]", "bbox[1]", "bbox[2]", "bbox[3]"), "xywh", "category_id")
_YOLO = _Layout(("x_center", "y_center", "width", "height"), "cxcywh", "class")
_CSV = _Layout(("x1", "y1", "x2", "y2"), "xyxy", "class")
_VOTT1 = _Layout(("x1", "y1", "x2", "y2"), "xyxy", "tags")
_VOTT2_BOX = ("left", "top", "width", "height")
_VOTT2 = _Layout(tuple(f"boundingBox.{k}" for k in _VOTT2_BOX), "xywh", "tags")


@dataclasses.dataclass
class _RawObject:
    """One object as written: class name, four raw coordinate values, or the parse problem."""

    index: int
    name: str | None
    values: Sequence
    difficult: bool = False
    problem: str | None = None


@dataclasses.dataclass
class _RawImage:
    """One image as its annotation describes it, before any conversion or check.

    ``frame`` is the size the coordinates refer to when that is not the image's pixels
    (YOLO: ``(1, 1)``; VoTT v1: the region's width and height); they are scaled to the real
    image size. ``name`` is the image cited in findings when ``source`` holds many images.
    """

    source: str
    image_path: str
    layout: _Layout
    name: str | None = None
    width: object = None
    height: object = None
    frame: tuple[float, float] | None = None
    objects: list[_RawObject] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Parsed:
    images: list[_RawImage]
    class_names: list[str] | None = None  # as the data declares them
    findings: list[Finding] = dataclasses.field(default_factory=list)  # outside any image


class _BadObject(Exception):
    """An object that cannot become a box (message names the field)."""


# --------------------------------------------------------------------------- shared helpers


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    return path


def _read_json(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: not a valid JSON file ({error})") from None


def _read_names(file: Path) -> list[str]:
    return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def _names_file(folder: Path) -> Path | None:
    return next((folder / n for n in NAMES_FILES if (folder / n).is_file()), None)


def _json_file(path: Path, split: str | None) -> Path:
    """The annotation JSON for ``path`` (a file, or a folder plus optional split)."""
    if path.is_file():
        return path
    if split:
        candidates = [path / "annotations" / f"instances_{split}.json", path / f"{split}.json",
                      path / split / "_annotations.coco.json"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise ValueError(f"{path}: no annotation file for split {split!r} "
                             f"(looked for {', '.join(str(c) for c in candidates)})")
        return found[0]
    found = sorted(path.glob("*.json")) + sorted(path.glob("annotations/*.json"))
    if len(found) != 1:
        raise ValueError(f"{path}: {'several' if found else 'no'} JSON annotation files; "
                         "pass the file or split=")
    return found[0]


def _number(value, field: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadObject(f"missing field {field}")
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise _BadObject(f"field {field} is not a number: {value!r}") from None


def _box(obj: _RawObject, layout: _Layout) -> list[float]:
    """Corners ``x1 y1 x2 y2`` of an object, in the units its format writes them."""
    if obj.problem:
        raise _BadObject(obj.problem)
    a, b, c, d = (_number(v, f) for v, f in zip(obj.values, layout.fields))
    if layout.box_format == "xywh":
        return [a, b, a + c, b + d]
    if layout.box_format == "cxcywh":
        return [a - c / 2, b - d / 2, a + c / 2, b + d / 2]
    return [a, b, c, d]


def _label(obj: _RawObject, layout: _Layout, label_of: dict[str, int]) -> int:
    if obj.name is None:
        raise _BadObject(f"missing field {layout.class_field}")
    if obj.name not in label_of:
        raise _BadObject(f"field {layout.class_field}: class {obj.name!r} is not in class_names")
    return label_of[obj.name]


def _stated_size(raw: _RawImage) -> tuple[tuple[int, int] | None, list[Finding]]:
    """The (width, height) the annotation states, or None with a finding if it is unusable."""
    if raw.width is None and raw.height is None:
        return None, []
    try:
        size = int(float(raw.width)), int(float(raw.height))
        if min(size) > 0:
            return size, []
    except (TypeError, ValueError):
        pass
    return None, [Finding(raw.source, f"image size {raw.width!r} x {raw.height!r} is not a "
                          "positive number; ignored", None, raw.name, KEPT)]


def _build(raw: _RawImage, label_of: dict[str, int], class_names: list[str],
           check_images: bool) -> tuple[Record | None, list[Finding]]:
    """One record from a parsed image, checked and cleaned, plus every finding about it."""
    findings = list(raw.findings)
    if any(f.action == SKIPPED for f in findings):
        return None, findings
    stated, size_findings = _stated_size(raw)
    findings += size_findings
    size = stated
    if check_images or raw.frame:
        size, image_findings = check_image(raw.image_path, stated, full=check_images)
        findings += image_findings
        if size is None:
            return None, findings
    boxes, labels, difficult, ids = [], [], [], []
    for obj in raw.objects:
        try:
            box, label = _box(obj, raw.layout), _label(obj, raw.layout, label_of)
        except _BadObject as error:
            findings.append(Finding(raw.source, str(error), obj.index, raw.name))
            continue
        boxes.append(box)
        labels.append(label)
        difficult.append(obj.difficult)
        ids.append(obj.index)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if raw.frame:
        boxes *= [size[0] / raw.frame[0], size[1] / raw.frame[1]] * 2
    width, height = stated or size or (None, None)
    record = Record(raw.image_path, boxes, labels, difficult, width, height)
    record, box_findings = check_record(record, class_names, size, file=raw.source,
                                        name=raw.name, ids=ids, num_objects=len(raw.objects))
    return record, findings + box_findings


def _read(fmt: str, path: str | Path, split: str | None, class_names: Sequence[str] | None,
          check_images: bool, strict: bool) -> Dataset:
    if fmt not in _PARSERS:
        raise ValueError(f"unknown annotation format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = _existing(path)
    try:
        parsed = _PARSERS[fmt](path, split, class_names)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: malformed {fmt} annotations ({error!r})") from None
    names = list(class_names or parsed.class_names or
                 sorted({o.name for raw in parsed.images for o in raw.objects if o.name}))
    label_of = {name: i for i, name in enumerate(names)}
    records, findings = [], list(parsed.findings)
    for raw in parsed.images:
        record, raw_findings = _build(raw, label_of, names, check_images)
        findings += raw_findings
        if record is not None:
            records.append(record)
    counts = Counter(o.name or "(no class)" for raw in parsed.images for o in raw.objects)
    report = summarize(records, names, findings, counts, len(parsed.images))
    where = f"{fmt} {path}" + (f" split {split}" if split else "")
    return finalize(records, names, report, strict, where)


# --------------------------------------------------------------------------- Pascal VOC


def _voc_image(xml: Path, root: Path) -> _RawImage:
    raw = _RawImage(str(xml), "", _VOC)
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
            raw.objects.append(_RawObject(i, name, (), difficult, "missing field bndbox"))
        else:
            values = [box.findtext(k) for k in _VOC.fields]
            raw.objects.append(_RawObject(i, name, values, difficult))
    return raw


def _parse_voc(root: Path, split: str | None, class_names) -> _Parsed:
    ann_dir = root / "Annotations"
    if not ann_dir.is_dir():
        raise ValueError(f"{root}: no Annotations folder (not a Pascal VOC dataset)")
    parsed = {xml.stem: _voc_image(xml, root) for xml in sorted(ann_dir.glob("*.xml"))}
    ids = list(parsed)
    if split:
        split_file = root / "ImageSets" / "Main" / f"{split}.txt"
        if not split_file.is_file():
            raise ValueError(f"split file {split_file} does not exist")
        ids = list(dict.fromkeys(line.split()[0] for line in _read_names(split_file)))
    images = []
    for image_id in ids:
        if image_id not in parsed:
            xml = ann_dir / f"{image_id}.xml"
            parsed[image_id] = _RawImage(str(xml), "", _VOC, findings=[Finding(
                str(xml), f"annotation file missing (listed in {split}.txt)", action=SKIPPED)])
        images.append(parsed[image_id])
    names_file = _names_file(root)
    declared = (_read_names(names_file) if names_file else
                sorted({o.name for raw in parsed.values() for o in raw.objects if o.name}))
    return _Parsed(images, declared)


# --------------------------------------------------------------------------- COCO


def _parse_coco(path: Path, split: str | None, class_names) -> _Parsed:
    file = _json_file(path, split)
    data = _read_json(file)
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
        raw = _RawImage(str(file), str(image_path), _COCO, file_name, image.get("width"),
                        image.get("height"))
        for i, ann in enumerate(by_image[image["id"]]):
            cid, bbox = ann.get("category_id"), ann.get("bbox")
            problem = None
            if cid not in name_of:
                problem = f"field category_id: {cid!r} is not among the categories"
            elif not (isinstance(bbox, list) and len(bbox) == 4):
                problem, bbox = f"field bbox is not a list of 4 numbers: {bbox!r}", ()
            raw.objects.append(_RawObject(i, name_of.get(cid, f"category_id {cid}"), bbox,
                                          bool(ann.get("iscrowd")), problem))
        images.append(raw)
    return _Parsed(images, list(name_of.values()) or None, findings)


# --------------------------------------------------------------------------- YOLO


def _parse_yolo(root: Path, split: str | None, class_names) -> _Parsed:
    if not root.is_dir():
        raise ValueError(f"{root}: a YOLO dataset is a folder")
    names_file = _names_file(root)
    id_names = _read_names(names_file) if names_file else list(class_names or [])
    if not id_names:
        raise ValueError(f"{root}: no {' or '.join(NAMES_FILES)}; pass class_names=")
    names_source = names_file.name if names_file else "class_names"
    image_dir = root / "images" if (root / "images").is_dir() else root
    label_dir = root / "labels" if (root / "labels").is_dir() else image_dir
    if split:
        image_dir, label_dir = image_dir / split, label_dir / split
        if not image_dir.is_dir():
            raise ValueError(f"split folder {image_dir} does not exist")
    images = []
    for image in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        txt = label_dir / f"{image.stem}.txt"
        raw = _RawImage(str(txt), str(image), _YOLO, frame=(1.0, 1.0))
        lines = txt.read_text(errors="replace").splitlines() if txt.is_file() else []
        for i, tokens in enumerate(line.split() for line in lines if line.strip()):
            name, problem = tokens[0], None
            if len(tokens) != 5:
                problem = (f"expected 5 values 'class x_center y_center width height', "
                           f"got {len(tokens)}")
            elif tokens[0].isdigit() and int(tokens[0]) < len(id_names):
                name = id_names[int(tokens[0])]
            else:
                problem = (f"field class: {tokens[0]!r} is not a class id of {names_source} "
                           f"({len(id_names)} classes)")
            raw.objects.append(_RawObject(i, name, tokens[1:5], problem=problem))
        images.append(raw)
    return _Parsed(images, id_names)


# --------------------------------------------------------------------------- CSV


def _parse_csv(file: Path, split: str | None, class_names) -> _Parsed:
    if not file.is_file():
        raise ValueError(f"{file}: a CSV dataset is one .csv file")
    with open(file, newline="", encoding="utf-8") as f:
        rows = list(enumerate(csv.reader(f), start=1))
    if rows and rows[0][1] and rows[0][1][0].strip().lower() in _CSV_HEADER:
        rows = rows[1:]
    images: dict[str, _RawImage] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        name = row[0].strip()
        raw = images.setdefault(name, _RawImage(str(file), str(file.parent / name), _CSV, name))
        if len(row) == 6 and not any(cell.strip() for cell in row[1:]):
            continue  # "path,,,,," lists an image without boxes
        problem = None if len(row) == 6 else (
            f"line {line}: expected 6 columns path,x1,y1,x2,y2,class, got {len(row)}")
        label = (row[5].strip() or None) if len(row) > 5 else None
        raw.objects.append(_RawObject(len(raw.objects), label, row[1:5], problem=problem))
    return _Parsed(list(images.values()))


# --------------------------------------------------------------------------- VoTT


def _tagged(raw: _RawImage, index: int, tags, values: list) -> _RawObject:
    """A VoTT region; the first tag is its class (a finding notes any further tags)."""
    tags = [str(t) for t in tags] if isinstance(tags, list) else []
    if len(tags) > 1:
        raw.findings.append(Finding(raw.source, f"region has several tags {tags}; the first, "
                                    f"{tags[0]!r}, is used", index, raw.name, KEPT))
    return _RawObject(index, tags[0] if tags else None, values)


def _vott_v1(file: Path, data: dict) -> _Parsed:
    """VoTT 1.x: ``{"frames": {image: [{x1, y1, x2, y2, width, height, tags}]}, "inputTags"}``.

    Images sit in the folder named like the JSON file (``imgs.json`` next to ``imgs/``) or
    beside it; coordinates refer to the region's ``width`` x ``height`` and are scaled to
    the real image.
    """
    folder = file.with_suffix("")
    image_dir = folder if folder.is_dir() else file.parent
    images = []
    for name, regions in data["frames"].items():
        raw = _RawImage(str(file), str(image_dir / name), _VOTT1, str(name))
        for i, region in enumerate(regions):
            values = [region.get(k) for k in _VOTT1.fields]
            raw.objects.append(_tagged(raw, i, region.get("tags"), values))
            try:
                frame = float(region["width"]), float(region["height"])
                raw.frame = raw.frame or (frame if min(frame) > 0 else None)
            except (KeyError, TypeError, ValueError):
                pass
        images.append(raw)
    tags = [t.strip() for t in str(data.get("inputTags") or "").split(",") if t.strip()]
    return _Parsed(images, tags or None)


def _vott_v2(file: Path, data: dict) -> _Parsed:
    """VoTT 2.x export: ``{"assets": {id: {"asset": {name, path, size}, "regions": [...]}},
    "tags": [{"name"}]}`` with ``boundingBox`` ``left top width height`` in pixels.

    Images are looked for beside the JSON (export with images), then at ``asset.path``.
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
        raw = _RawImage(str(file), str(image_path), _VOTT2, name, size.get("width"),
                        size.get("height"))
        for i, region in enumerate(entry.get("regions") or []):
            box = region.get("boundingBox") or {}
            values = [box.get(k) for k in _VOTT2_BOX]
            raw.objects.append(_tagged(raw, i, region.get("tags"), values))
        images.append(raw)
    return _Parsed(images, [str(t["name"]) for t in data.get("tags") or []] or None)


def _parse_vott(path: Path, split: str | None, class_names) -> _Parsed:
    file = _json_file(path, split)
    data = _read_json(file)
    if isinstance(data, dict) and isinstance(data.get("frames"), dict):
        return _vott_v1(file, data)
    if isinstance(data, dict) and isinstance(data.get("assets"), dict):
        return _vott_v2(file, data)
    raise ValueError(f"{file}: not a VoTT file (no 'frames' or 'assets')")


_PARSERS = {"voc": _parse_voc, "coco": _parse_coco, "yolo": _parse_yolo, "csv": _parse_csv,
            "vott": _parse_vott}


# --------------------------------------------------------------------------- public API


def detect_format(path: str | Path, split: str | None = None) -> str:
    """Guess the annotation format of a dataset path: one of ``FORMATS``.

    Raises:
        ValueError: the path does not exist or its format cannot be told.
    """
    path = _existing(path)
    if path.is_dir():
        if (path / "Annotations").is_dir():
            return "voc"
        if (path / "labels").is_dir() or _names_file(path):
            return "yolo"
        try:
            path = _json_file(path, split)
        except ValueError:
            pass
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() == ".json":
        with open(path, encoding="utf-8", errors="replace") as f:
            key = re.search(r'"(frames|assets|images)"\s*:', f.read(1 << 20))
        if key:
            return "coco" if key.group(1) == "images" else "vott"
    raise ValueError(f"cannot tell the annotation format of {path}; pass format= "
                     f"(one of {', '.join(FORMATS)})")


def load(path: str | Path, format: str | None = None, split: str | None = None,
         class_names: Sequence[str] | None = None, check_images: bool = True,
         strict: bool = False) -> Dataset:
    """Read and check an annotated dataset.

    Args:
        path: dataset folder or annotation file (see the ``read_*`` functions).
        format: one of ``FORMATS``; None detects it from the path.
        split: split name (VOC ``ImageSets/Main/<split>.txt``, YOLO ``images/<split>``, COCO
            ``annotations/instances_<split>.json``).
        class_names: the classes and their order; boxes of other classes are errors.
        check_images: open every image (missing, truncated, undecodable, size mismatch).
        strict: raise on the first error instead of dropping what is defective.

    Returns:
        ``Dataset`` with boxes in pixels ``x1 y1 x2 y2``; ``skipped`` lists what was dropped
        and ``report`` holds the ``CheckReport``.

    Raises:
        ValueError: the path does not exist, the format is unknown, or (strict) the data has
            an error; the message names the file and the problem.
    """
    return _read(format or detect_format(path, split), path, split, class_names, check_images,
                 strict)


def read_voc(path: str | Path, split: str | None = None,
             class_names: Sequence[str] | None = None, check_images: bool = True,
             strict: bool = False) -> Dataset:
    """Pascal VOC folder: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

    ``<bndbox>`` corners are pixels as written; ``<difficult>1</difficult>`` sets the flag.
    """
    return _read("voc", path, split, class_names, check_images, strict)


def read_coco(path: str | Path, split: str | None = None,
              class_names: Sequence[str] | None = None, check_images: bool = True,
              strict: bool = False) -> Dataset:
    """COCO JSON file (or a folder holding one): ``bbox`` is ``x, y, w, h`` in pixels.

    Classes follow the categories ordered by id; ``iscrowd`` annotations are flagged
    difficult. Images are looked for beside the JSON, in ``images/`` next to it or one up.
    """
    return _read("coco", path, split, class_names, check_images, strict)


def read_yolo(path: str | Path, split: str | None = None,
              class_names: Sequence[str] | None = None, check_images: bool = True,
              strict: bool = False) -> Dataset:
    """YOLO folder: ``images/[split/]`` and ``labels/[split/]`` (or both in one folder).

    Each ``.txt`` line is ``class x_center y_center width height``, normalised to the image
    size read from the image header; class ids index ``classes.txt`` or ``obj.names``.
    """
    return _read("yolo", path, split, class_names, check_images, strict)


def read_csv(path: str | Path, split: str | None = None,
             class_names: Sequence[str] | None = None, check_images: bool = True,
             strict: bool = False) -> Dataset:
    """CSV file, one box per row ``path,x1,y1,x2,y2,class`` (pixels), optional header row.

    Image paths are relative to the CSV file; a row ``path,,,,,`` lists an image without
    boxes.
    """
    return _read("csv", path, split, class_names, check_images, strict)


def read_vott(path: str | Path, split: str | None = None,
              class_names: Sequence[str] | None = None, check_images: bool = True,
              strict: bool = False) -> Dataset:
    """VoTT JSON: a v1 ``<folder>.json`` (``frames``) or a v2 export (``assets``).

    A region's first tag is its class; classes follow ``inputTags`` (v1) or ``tags`` (v2).
    """
    return _read("vott", path, split, class_names, check_images, strict)
