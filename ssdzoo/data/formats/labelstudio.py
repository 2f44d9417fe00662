"""Label Studio: the JSON export of tasks with ``rectanglelabels`` results (boxes in percent)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from ssdzoo.utils.images import inspect_image

from ..check import KEPT, SKIPPED, Finding
from ..records import Dataset
from .base import Layout, Parsed, RawImage, RawObject, json_file, json_has_key, read_json
from .output import copy_images

_VALUE = ("x", "y", "width", "height")
_LAYOUT = Layout(tuple(f"value.{k}" for k in _VALUE), "xywh", "value.rectanglelabels")


def _image_path(file: Path, url: str) -> Path:
    """Where the image of ``data.image`` is: as a path relative to the JSON, else by its name.

    Label Studio writes ``/data/upload/<project>/<hash>-<name>`` for uploads and
    ``/data/local-files/?d=<path>`` for local storage; the file is looked for beside the JSON
    and in ``images/`` next to it.
    """
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    path = urllib.parse.unquote(query["d"][0] if "d" in query else url)
    candidates = [file.parent / path.lstrip("/"), Path(path)]
    name = Path(path).name
    candidates += [file.parent / name, file.parent / "images" / name]
    return next((c for c in candidates if c.is_file()), candidates[-1])


def _results(task: dict) -> list:
    """The results of a task's first annotation that was not cancelled."""
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return (annotations[0].get("result") or []) if annotations else []


def _task(file: Path, task: object, position: int) -> RawImage:
    """One task: ``data.image`` and its ``rectanglelabels`` results."""
    name = f"task {task.get('id', position) if isinstance(task, dict) else position}"
    url = task.get("data", {}).get("image") if isinstance(task, dict) else None
    if not isinstance(url, str) or not url:
        raw = RawImage(str(file), "", _LAYOUT, name)
        raw.findings.append(Finding(str(file), "field data.image is missing", None, name, SKIPPED))
        return raw
    raw = RawImage(str(file), str(_image_path(file, url)), _LAYOUT, name, frame=(100.0, 100.0))
    others = set()
    for result in _results(task):
        if result.get("type") != "rectanglelabels":
            others.add(str(result.get("type")))
            continue
        value = result.get("value") or {}
        labels = value.get("rectanglelabels") or []
        problem = "field value.rotation: rotated boxes are not supported" if value.get("rotation") else None
        raw.objects.append(RawObject(len(raw.objects), str(labels[0]) if labels else None,
                                     [value.get(k) for k in _VALUE], problem=problem))
        raw.width = raw.width or result.get("original_width")
        raw.height = raw.height or result.get("original_height")
    if others:
        raw.findings.append(Finding(str(file), f"results other than rectanglelabels are ignored: "
                                    f"{', '.join(sorted(others))}", None, name, KEPT))
    return raw


def parse(path: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """Label Studio JSON export: a list of tasks ``{data: {image}, annotations: [{result}]}``.

    A ``rectanglelabels`` result's ``value`` holds ``x y width height`` in percent of the
    image and its class as the first of ``rectanglelabels``; the first annotation that was
    not cancelled counts. Classes are the sorted names found (the export has no class list).
    """
    file = json_file(path, split)
    data = read_json(file)
    if not isinstance(data, list):
        raise ValueError(f"{file}: not a Label Studio export (expected a JSON list of tasks)")
    return Parsed([_task(file, task, k) for k, task in enumerate(data)])


def detect(path: Path) -> bool:
    """A JSON file with a ``rectanglelabels`` or ``from_name`` key."""
    return json_has_key(path, ("rectanglelabels", "from_name"))


def write(dataset: Dataset, out_dir: str | Path, split: str | None = None) -> Path:
    """Write a Label Studio JSON export: ``<split or all>.json`` and ``images/``.

    Boxes become ``rectanglelabels`` results with ``x y width height`` in percent of the
    image (``data.image`` is relative to the JSON). Returns the JSON path.
    """
    out = Path(out_dir)
    images = copy_images(dataset.records, out / "images")
    tasks = []
    for task_id, (record, image) in enumerate(zip(dataset.records, images), start=1):
        width, height = inspect_image(image, decode=False).size
        results = []
        for k, (box, label) in enumerate(zip(record.boxes.tolist(), record.labels.tolist())):
            x1, y1, x2, y2 = box
            value = {"x": 100 * x1 / width, "y": 100 * y1 / height, "width": 100 * (x2 - x1) / width,
                     "height": 100 * (y2 - y1) / height, "rotation": 0,
                     "rectanglelabels": [dataset.class_names[label]]}
            results.append({"id": f"{task_id}-{k}", "type": "rectanglelabels", "from_name": "label",
                            "to_name": "image", "original_width": width, "original_height": height,
                            "image_rotation": 0, "value": value})
        tasks.append({"id": task_id, "data": {"image": f"images/{image.name}"},
                      "annotations": [{"id": task_id, "result": results}]})
    file = out / f"{split or 'all'}.json"
    file.write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    return file
