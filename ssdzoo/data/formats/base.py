"""The parsing machinery every annotation format shares.

A format's ``parse`` turns a dataset path into ``Parsed``: one ``RawImage`` per image, with
its objects as written (class name and four raw coordinate values). ``read`` then turns that
into records while running the checks of :mod:`ssdzoo.data.check`: defective boxes and images
are dropped with one counted ``DataWarning`` (the list goes into ``Dataset.skipped``, the
report into ``Dataset.report``), or with ``strict=True`` a ``ValueError`` names the first
problem's file and field.

Boxes come out in pixels of the original image, ``x1 y1 x2 y2`` float32, labels as 0-based
indices into ``class_names``. Coordinates are taken as written (VOC's 1-based pixel numbers
are not shifted), so a write and a read give back the same numbers.

Class order: ``class_names`` when given (other classes are errors); else the list the data
declares (``Parsed.class_names``); else the sorted unique names found.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ssdzoo.utils.images import orient_boxes

from ..check import KEPT, SKIPPED, Finding, check_image, check_record, finalize, summarize
from ..classes import resolve_classes
from ..records import Dataset, Record

NAMES_FILES = ("classes.txt", "obj.names")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a format writes a box: its four coordinate fields, their meaning, the class field."""

    fields: tuple[str, str, str, str]
    box_format: str  # "xyxy" corners, "xywh" left top width height, "cxcywh" centre and size
    class_field: str


@dataclasses.dataclass
class RawObject:
    """One object as written: class name, four raw coordinate values, or the parse problem."""

    index: int
    name: str | None
    values: Sequence
    difficult: bool = False
    problem: str | None = None


@dataclasses.dataclass
class RawImage:
    """One image as its annotation describes it, before any conversion or check.

    ``frame`` is the size the coordinates refer to when that is not the image's pixels
    (YOLO: ``(1, 1)``; VoTT v1: the region's width and height); they are scaled to the real
    image size. ``name`` is the image cited in findings when ``source`` holds many images.
    """

    source: str
    image_path: str
    layout: Layout
    name: str | None = None
    width: object = None
    height: object = None
    frame: tuple[float, float] | None = None
    objects: list[RawObject] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Parsed:
    """What a format's ``parse`` returns: the images, and what the data says outside them."""

    images: list[RawImage]
    class_names: list[str] | None = None  # as the data declares them
    findings: list[Finding] = dataclasses.field(default_factory=list)  # outside any image


Parse = Callable[[Path, str | None, Sequence[str] | None], Parsed]


class _BadObject(Exception):
    """An object that cannot become a box (message names the field)."""


# --------------------------------------------------------------------------- files


def existing(path: str | Path) -> Path:
    """``path`` as a ``Path``; ValueError when it does not exist."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    return path


def read_text(file: Path) -> str:
    """A UTF-8 text file (a leading byte-order mark dropped); ValueError naming the file otherwise."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    except OSError as error:
        raise ValueError(f"{file}: cannot be read ({error.strerror or error})") from None


def read_json(file: Path) -> object:
    """The parsed JSON file; ValueError naming the file when it is not valid JSON."""
    try:
        return json.loads(read_text(file))
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{file}: not a valid JSON file ({error})") from None


def read_names(file: Path) -> list[str]:
    """The non-blank lines of a text file, stripped (class names, split ids)."""
    return [line.strip() for line in read_text(file).splitlines() if line.strip()]


def names_file(folder: Path) -> Path | None:
    """The class-names file of a folder (``classes.txt`` or ``obj.names``), None if none."""
    return next((folder / n for n in NAMES_FILES if (folder / n).is_file()), None)


def json_file(path: Path, split: str | None) -> Path:
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


def json_has_key(path: Path, keys: Sequence[str]) -> bool:
    """Whether ``path`` is a ``.json`` file whose first MiB names one of ``keys`` as a key."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(1 << 20)
    return re.search(rf'"({"|".join(map(re.escape, keys))})"\s*:', head) is not None


# --------------------------------------------------------------------------- records


def _number(value, field: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadObject(f"missing field {field}")
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise _BadObject(f"field {field} is not a number: {value!r}") from None


def _box(obj: RawObject, layout: Layout) -> list[float]:
    """Corners ``x1 y1 x2 y2`` of an object, in the units its format writes them."""
    if obj.problem:
        raise _BadObject(obj.problem)
    a, b, c, d = (_number(v, f) for v, f in zip(obj.values, layout.fields))
    if layout.box_format == "xywh":
        return [a, b, a + c, b + d]
    if layout.box_format == "cxcywh":
        return [a - c / 2, b - d / 2, a + c / 2, b + d / 2]
    return [a, b, c, d]


def _label(obj: RawObject, layout: Layout, label_of: dict[str, int]) -> int:
    if obj.name is None:
        raise _BadObject(f"missing field {layout.class_field}")
    if obj.name not in label_of:
        raise _BadObject(f"field {layout.class_field}: class {obj.name!r} is not in class_names")
    return label_of[obj.name]


def _stated_size(raw: RawImage) -> tuple[tuple[int, int] | None, list[Finding]]:
    """The (width, height) the annotation states, or None with a finding if it is unusable."""
    if raw.width is None and raw.height is None:
        return None, []
    try:
        size = int(float(raw.width)), int(float(raw.height))
        if min(size) > 0:
            return size, []
    except (TypeError, ValueError, OverflowError):  # OverflowError: infinity
        pass
    return None, [Finding(raw.source, f"image size {raw.width!r} x {raw.height!r} is not a "
                          "positive number; ignored", None, raw.name, KEPT)]


def _build(raw: RawImage, label_of: dict[str, int], class_names: list[str],
          check_images: bool) -> tuple[Record | None, list[Finding]]:
    """One record from a parsed image, checked and cleaned, plus every finding about it."""
    findings = list(raw.findings)
    if any(f.action == SKIPPED for f in findings):
        return None, findings
    stated, size_findings = _stated_size(raw)
    findings += size_findings
    size, turn = stated, 1
    if check_images or raw.frame:
        size, turn, image_findings = check_image(raw.image_path, stated, full=check_images)
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
    if turn != 1:
        boxes, stated = orient_boxes(boxes, turn, stated), size
    width, height = stated or size or (None, None)
    record = Record(raw.image_path, boxes, labels, difficult, width, height)
    record, box_findings = check_record(record, class_names, size, file=raw.source,
                                        name=raw.name, ids=ids, num_objects=len(raw.objects))
    return record, findings + box_findings


def _merge_classes(parsed: Parsed, names: list[str], merge: bool, path: Path
                   ) -> tuple[list[str], list[Finding]]:
    """The class list after near-duplicate spellings are merged (``merge``: objects renamed)."""
    objects = [(raw, o) for raw in parsed.images for o in raw.objects if o.name]
    first_seen: dict[str, str] = {}
    for raw, o in objects:
        first_seen.setdefault(o.name, Path(raw.source).name + (f" [{raw.name}]" if raw.name else ""))
    counts = Counter(o.name for _, o in objects)
    names, renamed, findings = resolve_classes(names, counts, merge, str(path), first_seen)
    for _, o in objects:
        o.name = renamed.get(o.name, o.name)
    return names, findings


def read(fmt: str, parse: Parse, path: str | Path, split: str | None,
         class_names: Sequence[str] | None, check_images: bool, strict: bool,
         merge_case: bool = False) -> Dataset:
    """Parse ``path`` as format ``fmt``, check it and build the ``Dataset`` (warns or raises).

    ``merge_case`` merges class names that differ only in case or surrounding spaces.
    """
    path = existing(path)
    try:
        parsed = parse(path, split, class_names)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: malformed {fmt} annotations ({error!r})") from None
    names = list(class_names or parsed.class_names or
                 sorted({o.name for raw in parsed.images for o in raw.objects if o.name}))
    counts = Counter(o.name or "(no class)" for raw in parsed.images for o in raw.objects)
    names, class_findings = _merge_classes(parsed, names, merge_case, path)
    label_of = {name: i for i, name in enumerate(names)}
    records, findings = [], list(parsed.findings) + class_findings
    for raw in parsed.images:
        record, raw_findings = _build(raw, label_of, names, check_images)
        findings += raw_findings
        if record is not None:
            records.append(record)
    report = summarize(records, names, findings, counts, len(parsed.images))
    where = f"{fmt} {path}" + (f" split {split}" if split else "")
    return finalize(records, names, report, strict, where)
