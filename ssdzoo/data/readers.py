"""Reading datasets: ``load``, ``detect_format``, ``read_<format>`` and ``check`` of a path.

The built-in annotation formats (Pascal VOC, COCO, YOLO with Ultralytics data.yaml, CSV, VoTT
v1/v2, CVAT for images 1.1 XML and Label Studio JSON, one module each
in :mod:`ssdzoo.data.formats`; the TFRecord shards of :mod:`ssdzoo.data.tfrecord`) are
registered here; ``FORMATS`` lists them. Every reader
returns records whose boxes are pixels of the original image, ``x1 y1 x2 y2`` float32, and
whose labels are 0-based indices into ``class_names``; defective boxes and images are dropped
with one counted ``DataWarning``, or with ``strict=True`` raise a ``ValueError`` (see
:mod:`ssdzoo.data.formats.base`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from . import tfrecord
from .check import CheckReport, DataWarning, check_dataset
from .formats import coco, csvfile, cvat, labelstudio, voc, vott, yolo
from .formats.base import existing, json_file, read
from .formats.registry import get_format, register_format, registered
from .records import Dataset

# The built-in formats, in the order FORMATS lists them and detect_format asks them.
read_voc = register_format("voc", parse=voc.parse, detect=voc.detect)
read_coco = register_format("coco", parse=coco.parse, detect=coco.detect)
read_yolo = register_format("yolo", parse=yolo.parse, detect=yolo.detect)
read_csv = register_format("csv", parse=csvfile.parse, detect=csvfile.detect)
read_vott = register_format("vott", parse=vott.parse, detect=vott.detect)
read_cvat = register_format("cvat", parse=cvat.parse, detect=cvat.detect)
read_labelstudio = register_format("labelstudio", parse=labelstudio.parse, detect=labelstudio.detect)
read_tfrecord = register_format("tfrecord", parse=tfrecord.parse, detect=tfrecord.detect)

FORMATS = tuple(f.name for f in registered())


def detect_format(path: str | Path, split: str | None = None) -> str:
    """Guess the annotation format of a dataset path: the name of a registered format.

    Each format is asked about the path as given, then (for a folder) about its one JSON
    annotation file.

    Raises:
        ValueError: the path does not exist or its format cannot be told.
    """
    candidates = [existing(path)]
    if candidates[0].is_dir():
        try:
            candidates.append(json_file(candidates[0], split))
        except ValueError:
            pass
    for candidate in candidates:
        for fmt in registered():
            if fmt.detect(candidate):
                return fmt.name
    raise ValueError(f"cannot tell the annotation format of {candidates[-1]}; pass format= "
                     f"(one of {', '.join(f.name for f in registered())})")


def load(path: str | Path, format: str | None = None, split: str | None = None,
         class_names: Sequence[str] | None = None, check_images: bool = True,
         strict: bool = False, merge_case: bool = False) -> Dataset:
    """Read and check an annotated dataset.

    Args:
        path: dataset folder or annotation file (see the ``read_*`` functions).
        format: one of ``FORMATS``; None detects it from the path.
        split: split name (VOC ``ImageSets/Main/<split>.txt``, YOLO ``images/<split>``, COCO
            ``annotations/instances_<split>.json``).
        class_names: the classes and their order; boxes of other classes are errors.
        check_images: open every image (missing, truncated, undecodable, size mismatch).
        strict: raise on the first error instead of dropping what is defective.
        merge_case: merge class names that differ only in case or surrounding spaces
            ("RBC", "rbc "); by default they are an error finding (:mod:`ssdzoo.data.classes`).

    Returns:
        ``Dataset`` with boxes in pixels ``x1 y1 x2 y2``; ``skipped`` lists what was dropped
        and ``report`` holds the ``CheckReport``.

    Raises:
        ValueError: the path does not exist, the format is unknown, or (strict) the data has
            an error; the message names the file and the problem.
    """
    fmt = get_format(format or detect_format(path, split))
    return read(fmt.name, fmt.parse, path, split, class_names, check_images, strict, merge_case)


def check(dataset_or_path: Dataset | str | Path, format: str | None = None,
          split: str | None = None, class_names: Sequence[str] | None = None,
          check_images: bool = True, merge_case: bool = False) -> CheckReport:
    """Check annotations and images; nothing is raised or warned, everything is reported.

    Args:
        dataset_or_path: a ``Dataset`` of records, or a dataset path read like ``load`` does
            (``format``, ``split``, ``class_names`` as there).
        check_images: open every image (missing, truncated, undecodable, size mismatch).
        merge_case: as in ``load`` (near-duplicate class names merged, not errors).
    """
    if isinstance(dataset_or_path, Dataset):
        return check_dataset(dataset_or_path, check_images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load(dataset_or_path, format, split, class_names, check_images,
                    merge_case=merge_case).report
