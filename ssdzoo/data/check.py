"""Annotation checker: image files, box geometry, classes, and the report that lists them.

Every problem becomes a :class:`Finding` that names the file, the object (0-based index of
the box in its record) and what ``load`` does about it:

* ``box dropped`` / ``image skipped`` (errors): unreadable annotation, missing field,
  coordinate that is not a number, class outside ``class_names``, zero-area, inverted or
  wholly-outside box, duplicate box; missing, truncated or undecodable image;
* ``box clipped`` (warning): box that extends past the image is clipped to it;
* ``kept`` (warning): image size differing from the annotation, image without boxes.

Boxes are pixels of the original image, ``x1 y1 x2 y2``; image sizes are ``(width, height)``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .records import Dataset, Record

cv2.setNumThreads(0)  # OpenCV's own threads deadlocked multi-process loaders

DROPPED = "box dropped"
SKIPPED = "image skipped"
CLIPPED = "box clipped"
KEPT = "kept"
_ERRORS = (DROPPED, SKIPPED)

_TOLERANCE = 0.01  # pixels a box may pass the image border by (rounding) without a finding
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"


class DataWarning(UserWarning):
    """Issued once per ``load`` when boxes were dropped or clipped or images skipped."""


class ImageError(ValueError):
    """An image file is missing, truncated or cannot be decoded (``problem`` says which)."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem in the data.

    Attributes:
        file: annotation file (or the image file for image problems).
        problem: what is wrong, naming the field or the box coordinates.
        index: 0-based object index in the record, ``None`` when about the whole record.
        record: the image the finding is about when ``file`` holds many (COCO, CSV, VoTT).
        action: what ``load`` does: ``box dropped``, ``image skipped``, ``box clipped``
            or ``kept``.
    """

    file: str
    problem: str
    index: int | None = None
    record: str | None = None
    action: str = DROPPED

    @property
    def is_error(self) -> bool:
        """Whether ``load`` drops something for it (a box dropped or an image skipped)."""
        return self.action in _ERRORS

    def __str__(self) -> str:
        where = self.file
        if self.record:
            where += f" [{self.record}]"
        if self.index is not None:
            where += f" object {self.index}"
        return f"{where}: {self.problem} ({self.action})"


@dataclasses.dataclass
class CheckReport:
    """What the checker found.

    Attributes:
        findings: every problem, in data order.
        class_counts: objects per class name as annotated, before anything is dropped.
        box_sizes: per class, ``{"width": (min, median, max), "height": (...)}`` in pixels,
            over the boxes that load keeps.
        num_images: images annotated; ``num_records`` / ``num_boxes``: what load keeps.
    """

    findings: list[Finding]
    class_counts: dict[str, int]
    box_sizes: dict[str, dict[str, tuple[float, float, float]]]
    num_images: int
    num_records: int
    num_boxes: int

    @property
    def errors(self) -> list[Finding]:
        """The findings for which something was dropped or skipped."""
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        """The findings for which the data was kept (possibly clipped)."""
        return [f for f in self.findings if not f.is_error]

    def __str__(self) -> str:
        errors, warns = self.errors, self.warnings
        lines = [
            "Annotation check",
            f"  images: {self.num_images} annotated, {self.num_records} kept",
            f"  objects: {sum(self.class_counts.values())} annotated, {self.num_boxes} kept",
            f"  errors: {len(errors)} (dropped or skipped on load), warnings: {len(warns)}",
            "",
            "Objects per class (as annotated, before dropping):",
        ]
        width = max([len(n) for n in self.class_counts] + [5])
        lines += [f"  {n:<{width}}  {c:>7}" for n, c in self.class_counts.items()]
        lines += ["", "Box sizes of kept boxes, pixels (min / median / max):",
                  f"  {'class':<{width}}  {'width':>21}  {'height':>21}"]
        for name, size in self.box_sizes.items():
            w, h = (" / ".join(f"{v:5.1f}" for v in size[k]) for k in ("width", "height"))
            lines.append(f"  {name:<{width}}  {w:>21}  {h:>21}")
        for title, items in (("Errors", errors), ("Warnings", warns)):
            lines += ["", f"{title}:"] + _listing(items)
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: how many boxes were dropped or clipped and images skipped, and where."""
        changed = [f for f in self.findings if f.action != KEPT]
        if not changed:
            return "nothing dropped, skipped or clipped"
        counts = Counter(f.action for f in changed)
        done = ", ".join(f"{verb} {_plural(counts[action], noun)}" for verb, action, noun in (
            ("dropped", DROPPED, "box"), ("skipped", SKIPPED, "image"),
            ("clipped", CLIPPED, "box")) if counts[action])
        files = list(dict.fromkeys(Path(f.file).name for f in changed))
        shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
        return (f"{done} in {_plural(len(files), 'file')} ({shown}); "
                "details in Dataset.skipped and Dataset.report")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 'es' if noun.endswith('x') else 's'}"


def _listing(findings: Sequence[Finding], limit: int = 50) -> list[str]:
    lines = [f"  {f}" for f in findings[:limit]] or ["  none"]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more")
    return lines


# --------------------------------------------------------------------------- images


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF segment of a JPEG, None if there is none."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in _JPEG_SOF:
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def probe_image(path: str | Path, full: bool = True) -> tuple[int, int]:
    """Size ``(width, height)`` in pixels of an image file, from its header when possible.

    With ``full=True`` the file must also be complete (a JPEG ends with the EOI marker
    ``FFD9``, a PNG with its ``IEND`` chunk) and decode with OpenCV.

    Raises:
        ImageError: the file is missing, empty, truncated or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "image file missing")
    data = path.read_bytes()
    if not data:
        raise ImageError(path, "image file is empty")
    size = None
    if data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
        if full and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise ImageError(path, "truncated JPEG (does not end with the EOI marker FFD9)")
    elif data[:8] == _PNG_SIGNATURE and len(data) >= 24:
        size = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if full and not data.endswith(_PNG_IEND):
            raise ImageError(path, "truncated PNG (no IEND chunk at the end)")
    if full or size is None:
        # a reduced grayscale decode still reads every byte of the compressed data
        flag = cv2.IMREAD_REDUCED_GRAYSCALE_8 if size else cv2.IMREAD_UNCHANGED
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if image is None:
            raise ImageError(path, "image cannot be decoded")
        size = size or (image.shape[1], image.shape[0])
    return size


def check_image(image_path: str, stated: tuple[int, int] | None, full: bool = True
                ) -> tuple[tuple[int, int] | None, list[Finding]]:
    """Check one image file against the size its annotation states, ``(width, height)`` in pixels.

    Returns the real size (None when the image is missing or unreadable, and then the
    findings hold an ``image skipped`` error) and the findings.
    """
    try:
        size = probe_image(image_path, full)
    except ImageError as error:
        return None, [Finding(str(image_path), error.problem, action=SKIPPED)]
    if stated and tuple(stated) != size:
        return size, [Finding(str(image_path), f"annotation says {stated[0]}x{stated[1]} but "
                              f"the image is {size[0]}x{size[1]}", action=KEPT)]
    return size, []


# --------------------------------------------------------------------------- boxes


def check_record(record: Record, class_names: Sequence[str], image_size: tuple[int, int] | None,
                 *, file: str, name: str | None = None, ids: Sequence[int] | None = None,
                 num_objects: int | None = None) -> tuple[Record | None, list[Finding]]:
    """Check the boxes of one record and return it cleaned, with the findings.

    Zero-area, inverted, wholly-outside and duplicate boxes are dropped; boxes that extend
    past ``image_size`` (width, height, pixels) are clipped to it. The record is skipped
    (None) when it had objects and none is left.

    Args:
        file, name: annotation file and image name the findings cite.
        ids: object index of each box in its annotation (default: position in the record).
        num_objects: objects the annotation had (default: boxes in the record).
    """
    ids = list(range(len(record.labels))) if ids is None else list(ids)
    num_objects = len(record.labels) if num_objects is None else num_objects
    boxes = record.boxes.copy()
    keep = np.ones(len(boxes), bool)
    findings = []
    seen: dict[tuple, int] = {}

    def finding(pos, problem, action):
        findings.append(Finding(file, problem, ids[pos], name, action))

    for pos, (box, label) in enumerate(zip(record.boxes, record.labels)):
        x1, y1, x2, y2 = (float(v) for v in box)
        known = 0 <= label < len(class_names)
        what = (f"{class_names[label] if known else 'unlabelled'} box "
                f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]")
        key = (int(label), x1, y1, x2, y2)
        if not known:
            finding(pos, f"label {label} is not an index into the {len(class_names)} class names",
                    DROPPED)
        elif not np.isfinite(box).all():
            finding(pos, f"{what} has a non-finite coordinate", DROPPED)
        elif x2 < x1 or y2 < y1:
            finding(pos, f"{what} is inverted (x2 < x1 or y2 < y1)", DROPPED)
        elif x2 == x1 or y2 == y1:
            finding(pos, f"{what} has zero area", DROPPED)
        elif image_size and (x2 <= 0 or y2 <= 0 or x1 >= image_size[0] or y1 >= image_size[1]):
            finding(pos, f"{what} lies outside the {image_size[0]}x{image_size[1]} image", DROPPED)
        elif key in seen:
            finding(pos, f"{what} duplicates object {ids[seen[key]]}", DROPPED)
        else:
            seen[key] = pos
            if image_size:
                limits = [image_size[0], image_size[1]] * 2
                boxes[pos] = np.clip(box, 0, limits)
                if np.abs(boxes[pos] - box).max() > _TOLERANCE:
                    finding(pos, f"{what} extends past the {image_size[0]}x{image_size[1]} "
                                 "image; clipped", CLIPPED)
            continue
        keep[pos] = False
    if num_objects == 0:
        findings.append(Finding(file, "no boxes", None, name, KEPT))
    elif not keep.any():
        findings.append(Finding(file, f"no box left of {_plural(num_objects, 'object')}", None,
                                name, SKIPPED))
        return None, findings
    cleaned = dataclasses.replace(record, boxes=boxes[keep], labels=record.labels[keep],
                                  difficult=record.difficult[keep])
    return cleaned, findings


# --------------------------------------------------------------------------- report


def summarize(records: Sequence[Record], class_names: Sequence[str], findings: list[Finding],
              class_counts: Counter, num_images: int) -> CheckReport:
    """Build the report from the kept records, the findings and the per-class counts."""
    counts = {n: class_counts[n] for n in class_names}
    counts.update((n, c) for n, c in class_counts.items() if n not in counts)
    boxes = np.concatenate([r.boxes for r in records] + [np.zeros((0, 4), np.float32)])
    labels = np.concatenate([r.labels for r in records] + [np.zeros(0, np.int32)])
    sizes = {}
    for label, name in enumerate(class_names):
        b = boxes[labels == label]
        if len(b):
            extents = {"width": b[:, 2] - b[:, 0], "height": b[:, 3] - b[:, 1]}
            sizes[name] = {k: (float(v.min()), float(np.median(v)), float(v.max()))
                           for k, v in extents.items()}
    return CheckReport(findings, counts, sizes, num_images, len(records), len(labels))


def finalize(records: list[Record], class_names: list[str], report: CheckReport,
             strict: bool, what: str) -> Dataset:
    """The loaded dataset; raise (strict) or warn once about what was dropped or changed.

    Raises:
        ValueError: ``strict`` and there are errors; the message names the first one.
    """
    errors = report.errors
    if strict and errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise ValueError(f"{errors[0]}{more}")
    if any(f.action != KEPT for f in report.findings):
        warnings.warn(f"{what}: {report.summary()}", DataWarning, stacklevel=4)
    return Dataset(records, list(class_names), [str(f) for f in errors], report)


def check_dataset(dataset: Dataset, check_images: bool = True) -> CheckReport:
    """Check the records of a ``Dataset``: images (with ``check_images``), boxes and labels."""
    records, findings = [], []
    for record in dataset:
        stated = (record.width, record.height) if record.width and record.height else None
        size = stated
        if check_images:
            size, image_findings = check_image(record.image_path, stated)
            findings += image_findings
            if size is None:
                continue
        cleaned, box_findings = check_record(record, dataset.class_names, size,
                                             file=str(record.image_path))
        findings += box_findings
        if cleaned is not None:
            records.append(cleaned)
    names = dataset.class_names
    counts = Counter(names[i] if 0 <= i < len(names) else f"label {i}"
                     for r in dataset for i in r.labels.tolist())
    return summarize(records, dataset.class_names, findings, counts, len(dataset))
