"""Annotation writers (Pascal VOC, COCO, YOLO, CVAT, Label Studio, TFRecord shards) and ``convert``.

Writers take a ``Dataset`` (boxes in pixels ``x1 y1 x2 y2``) and copy every image into the
output layout, so the result stands on its own; image names are made unique by stem.
Normalised coordinates (YOLO, Label Studio) and stated sizes use the size of the copied file
as :func:`ssdzoo.utils.images.inspect_image` reads it from the header (EXIF orientation applied);
the YOLO, CVAT and Label Studio writers live in their format modules, the TFRecord writer (images
kept encoded inside the shards) in :mod:`ssdzoo.data.tfrecord`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ssdzoo.utils.images import inspect_image

from . import tfrecord
from .formats import cvat, labelstudio, yolo
from .formats.output import copy_images, number, write_lines
from .readers import load
from .records import Dataset


def write_voc(dataset: Dataset, out_dir: str | Path, split: str | None = None) -> Path:
    """Write Pascal VOC (pixel x1 y1 x2 y2 boxes) into ``out_dir``; returns ``out_dir``.

    Writes ``Annotations/<stem>.xml``, ``JPEGImages/``, ``classes.txt`` and, with ``split``,
    ``ImageSets/Main/<split>.txt``.
    """
    out = Path(out_dir)
    (out / "Annotations").mkdir(parents=True, exist_ok=True)
    images = copy_images(dataset.records, out / "JPEGImages")
    for record, image in zip(dataset.records, images):
        width, height = inspect_image(image, decode=False).size
        ann = ET.Element("annotation")
        ET.SubElement(ann, "folder").text = "JPEGImages"
        ET.SubElement(ann, "filename").text = image.name
        size = ET.SubElement(ann, "size")
        for key, value in (("width", width), ("height", height), ("depth", 3)):
            ET.SubElement(size, key).text = str(value)
        for box, label, difficult in zip(record.boxes, record.labels, record.difficult):
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = dataset.class_names[label]
            ET.SubElement(obj, "difficult").text = str(int(difficult))
            bndbox = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
                ET.SubElement(bndbox, key).text = number(value)
        tree = ET.ElementTree(ann)
        ET.indent(tree)
        tree.write(out / "Annotations" / f"{image.stem}.xml", encoding="utf-8")
    write_lines(out / "classes.txt", dataset.class_names)
    if split:
        write_lines(out / "ImageSets" / "Main" / f"{split}.txt", [p.stem for p in images])
    return out


def write_coco(dataset: Dataset, out_dir: str | Path, split: str | None = None) -> Path:
    """Write COCO: ``annotations/instances_<split or all>.json`` and ``images/``.

    Category ids are label + 1; ``bbox`` is ``x, y, w, h`` in pixels; difficult boxes are
    written ``iscrowd: 1`` (both mean "ignore in evaluation"). Returns the JSON path.
    """
    out = Path(out_dir)
    images = copy_images(dataset.records, out / "images")
    coco = {"images": [], "annotations": [],
            "categories": [{"id": i + 1, "name": n, "supercategory": ""}
                           for i, n in enumerate(dataset.class_names)]}
    for image_id, (record, image) in enumerate(zip(dataset.records, images), start=1):
        width, height = inspect_image(image, decode=False).size
        coco["images"].append({"id": image_id, "file_name": image.name, "width": width,
                               "height": height})
        for box, label, difficult in zip(record.boxes, record.labels, record.difficult):
            x1, y1, x2, y2 = (round(float(v), 2) for v in box)
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id,
                "category_id": int(label) + 1, "bbox": [x1, y1, w, h],
                "area": round(w * h, 2), "iscrowd": int(difficult)})
    file = out / "annotations" / f"instances_{split or 'all'}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(coco), encoding="utf-8")
    return file


write_yolo = yolo.write
write_cvat = cvat.write
write_labelstudio = labelstudio.write
write_tfrecord = tfrecord.write_tfrecord
_WRITERS = {"voc": write_voc, "coco": write_coco, "yolo": write_yolo, "cvat": write_cvat,
            "labelstudio": write_labelstudio, "tfrecord": write_tfrecord}
WRITE_FORMATS = tuple(_WRITERS)


def _writer(format: str):
    if format not in _WRITERS:
        raise ValueError(f"cannot write format {format!r}; expected one of "
                         f"{', '.join(WRITE_FORMATS)}")
    return _WRITERS[format]


def write(dataset: Dataset, out_dir: str | Path, format: str, split: str | None = None) -> Path:
    """Write ``dataset`` in ``format`` (one of ``WRITE_FORMATS``) under ``out_dir``."""
    return _writer(format)(dataset, out_dir, split)


def convert(src_path: str | Path, src_format: str | None, dst_dir: str | Path, dst_format: str,
            split: str | None = None, class_names: Sequence[str] | None = None,
            check_images: bool = True, strict: bool = False, merge_case: bool = False,
            shard_size: int | None = None) -> Dataset:
    """Load a dataset and write it in ``dst_format`` under ``dst_dir``; returns what was written.

    The dataset is checked like ``load`` (defects dropped with a warning, ``merge_case`` as
    there); the split name is kept. ``shard_size``: records per TFRecord shard (``tfrecord``
    only); a split added to a TFRecord folder takes the class names already there.
    """
    writer = _writer(dst_format)
    options = {}
    if dst_format == "tfrecord":
        options["shard_size"] = tfrecord.DEFAULT_SHARD_SIZE if shard_size is None else shard_size
        class_names = class_names or tfrecord.existing_class_names(dst_dir)
    elif shard_size is not None:
        raise ValueError(f"a shard size applies to --to tfrecord only, not {dst_format}")
    dataset = load(src_path, src_format, split, class_names, check_images, strict, merge_case)
    writer(dataset, dst_dir, split, **options)
    return dataset
