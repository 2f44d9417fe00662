"""Datasets: one record type, readers, writers, annotation checker and converters.

Boxes are pixels of the original image, ``x1 y1 x2 y2`` float32; labels are 0-based indices
into ``class_names``. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .check import CheckReport, DataWarning, Finding
from .readers import (
    FORMATS,
    check,
    detect_format,
    load,
    read_coco,
    read_csv,
    read_cvat,
    read_labelstudio,
    read_voc,
    read_vott,
    read_yolo,
)
from .records import Dataset, Record
from .writers import (
    WRITE_FORMATS,
    convert,
    write,
    write_coco,
    write_cvat,
    write_labelstudio,
    write_voc,
    write_yolo,
)

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "Record", "Dataset", "load", "convert", "check", "CheckReport", "Finding", "DataWarning",
    "FORMATS", "WRITE_FORMATS", "detect_format", "read_voc", "read_coco", "read_yolo",
    "read_csv", "read_vott", "read_cvat", "read_labelstudio", "write", "write_voc", "write_coco",
    "write_yolo", "write_cvat", "write_labelstudio", "pipeline",
]


# --- tf.data input pipeline: TensorFlow is imported on first call only -------------------
def pipeline(*args, **kwargs) -> tf.data.Dataset:
    """:func:`ssdzoo.data.tfdata.pipeline` (imports TensorFlow when called)."""
    from .tfdata import pipeline as _pipeline

    return _pipeline(*args, **kwargs)
