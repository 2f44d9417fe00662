"""Annotation checker: image files, box geometry, classes, and the report that lists them.

Every problem becomes a :class:`Finding` that names the file, the object (0-based index of
the box in its record) and what ``load`` does about it:

* ``box dropped`` / ``image skipped`` (errors): unreadable annotation, missing field,
  coordinate that is not a number, class outside ``class_names``, zero-area, inverted or
  wholly-outside box, duplicate box; missing, unreadable, truncated or undecodable image
  (decided by :func:`ssdzoo.utils.images.read_image`, the decoder of training and inference);
* ``classes kept apart`` (error) / ``classes merged`` (warning): class names that differ only
  in case or surrounding spaces (:mod:`ssdzoo.data.classes`);
* ``box clipped`` (warning): box that extends past the image is clipped to it;
* ``boxes turned`` (warning): the image has an EXIF orientation and the annotation states
  the stored (unturned) size, so its boxes are turned with the image;
* ``kept`` (warning): image size differing from the annotation, image without boxes, EXIF
  orientation with boxes taken as drawn on the turned image.

Boxes are pixels of the image as used (EXIF orientation applied), ``x1 y1 x2 y2``; image
sizes are ``(width, height)``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ssdzoo.utils.images import ImageError, inspect_image, orient_boxes

from .records import Dataset, Record

DROPPED = "box dropped"
SKIPPED = "image skipped"
CLIPPED = "box clipped"
TURNED = "boxes turned"
APART = "classes kept apart"
MERGED = "classes merged"
KEPT = "kept"
_ERRORS = (DROPPED, SKIPPED, APART)
#: How ``summary`` words each action that changes something: verb, what it counts.
_DONE = ((DROPPED, "dropped", "box"), (SKIPPED, "skipped", "image"), (CLIPPED, "clipped", "box"),
         (TURNED, "turned the boxes of", "image"), (APART, "kept apart", "near-duplicate class"),
         (MERGED, "merged", "near-duplicate class"))

_TOLERANCE = 0.01  # pixels a box may pass the image border by (rounding) without a finding


class DataWarning(UserWarning):
    """Issued once per ``load`` when boxes were dropped or clipped or images skipped."""


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
        done = ", ".join(f"{verb} {_plural(counts[action], noun)}" for action, verb, noun in _DONE
                         if counts[action])
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


#: What each EXIF orientation does to the stored image to show it.
_TURNS = {2: "mirrored left-right", 3: "turned 180°", 4: "mirrored top-bottom",
          5: "transposed", 6: "turned 90° clockwise", 7: "transversed",
          8: "turned 90° counter-clockwise"}


def check_image(image_path: str, stated: tuple[int, int] | None, full: bool = True
                ) -> tuple[tuple[int, int] | None, int, list[Finding]]:
    """Check one image file against the size its annotation states, ``(width, height)`` in pixels.

    The image is read by :func:`ssdzoo.utils.images.read_image`, the decoder of the pipeline
    and of ``detect`` (``full=False``: its header only). Returns the size as used (EXIF
    orientation applied; None when the image is missing or unreadable, and then the findings
    hold an ``image skipped`` error), the EXIF orientation the annotation's boxes must be
    turned by (1: none; when the stated size is the stored, unturned one) and the findings.
    """
    try:
        info = inspect_image(image_path, decode=full)
    except ImageError as error:
        return None, 1, [Finding(str(image_path), error.problem, action=SKIPPED)]
    findings, turn, (w, h) = [], 1, info.size
    stated = tuple(stated) if stated else None
    if info.orientation != 1:
        what = f"EXIF orientation {info.orientation}: the image is used {_TURNS[info.orientation]}, {w}x{h}"
        if stated == info.stored_size != info.size:
            turn = info.orientation
            findings.append(Finding(str(image_path), f"{what}; the annotation's size is the stored "
                                    "image's, so its boxes were turned with the image", action=TURNED))
        else:
            done = "the annotation's size matches it" if stated else "the annotation has no size"
            findings.append(Finding(str(image_path), f"{what}; {done}, boxes taken as drawn on the "
                                    "image as shown", action=KEPT))
    if stated and turn == 1 and stated != info.size:
        findings.append(Finding(str(image_path), f"annotation says {stated[0]}x{stated[1]} but "
                                f"the image is {w}x{h}", action=KEPT))
    return info.size, turn, findings


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
            size, turn, image_findings = check_image(record.image_path, stated)
            findings += image_findings
            if size is None:
                continue
            if turn != 1:
                record = dataclasses.replace(record, boxes=orient_boxes(record.boxes, turn, stated),
                                             width=size[0], height=size[1])
        cleaned, box_findings = check_record(record, dataset.class_names, size,
                                             file=str(record.image_path))
        findings += box_findings
        if cleaned is not None:
            records.append(cleaned)
    names = dataset.class_names
    counts = Counter(names[i] if 0 <= i < len(names) else f"label {i}"
                     for r in dataset for i in r.labels.tolist())
    return summarize(records, dataset.class_names, findings, counts, len(dataset))
