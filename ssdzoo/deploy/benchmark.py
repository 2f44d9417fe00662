"""Per-format benchmark (``ssdzoo bench --formats``): a model exported to each format and
precision, each artifact's mAP on a split and its speed next to the Keras model, in one process
so that the ratios are fair.

Speed: ``detect`` on the split's first images resized to the model input (uint8), after warm-up:
median ms at batch 1 and images/s at batch 8, box decoding and NMS included. The batch-1 TFLite
files (one NMS per image) are invoked once per image of a batch of 8; the input is not resized.
With torch installed, the torchvision SSD peers (:mod:`ssdzoo.deploy.peers`) join the table.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.deploy.export import as_ssd, export, get_format
from ssdzoo.deploy.runtime import artifact_input, load_exported
from ssdzoo.evaluation.bench import median_seconds

if TYPE_CHECKING:
    from ssdzoo.data.records import Record
    from ssdzoo.deploy.runtime import ExportedDetector
    from ssdzoo.models.ssd import SSD
    from ssdzoo.utils.typing import ImagesLike

    #: int8 calibration images: a folder, images, or records (see ``ssdzoo.export``).
    Calibration = ImagesLike | Sequence[Record] | None

KERAS = "keras"
BATCH = 8
COLUMNS = ("model", "format", "precision", "runtime", "size_mb", "map_voc07", "coco_ap", "ms_b1", "img_s_b8")


@dataclasses.dataclass
class FormatTable:
    """One model's rows (dicts keyed by :data:`COLUMNS`) and the notes that go under its table."""

    model: str
    rows: list[dict]
    notes: list[str]

    def markdown(self) -> str:
        """The table as markdown, notes as a list under it."""
        from ssdzoo.utils.tables import markdown_table

        header = ["format", "precision", "runtime", "size MB", "mAP VOC07", "COCO AP", "ms b1", "img/s b8",
                  "speed-up b1 vs Keras"]
        keras_ms = next((r["ms_b1"] for r in self.rows if r["format"] == KERAS), None)
        body = [[r["format"], r["precision"], r["runtime"], _fmt(r["size_mb"], ".2f"), _fmt(r["map_voc07"], ".4f"),
                 _fmt(r["coco_ap"], ".4f"), f"{r['ms_b1']:.1f}", f"{r['img_s_b8']:.1f}",
                 f"{keras_ms / r['ms_b1']:.2f}x" if keras_ms else "-"] for r in self.rows]
        notes = "".join(f"\n- {n}" for n in self.notes)
        return f"### {self.model}\n\n{markdown_table(header, body)}\n{notes}\n"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def size_mb(path: str) -> float:
    """Size of a file or a directory tree in MB (10^6 bytes)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6
    return os.path.getsize(path) / 1e6


def bench_images(records: Sequence[Record], size: int, count: int = BATCH) -> np.ndarray:
    """The first ``count`` records' images resized to ``size``: uint8 ``(count, size, size, 3)`` RGB."""
    from ssdzoo.deploy.calibration import calibration_images

    images = calibration_images([r.image_path for r in records], size, limit=count)
    if len(images) < count:  # a tiny split: repeat its images
        images = np.resize(images, (count, *images.shape[1:]))
    return images


def speed(detect: Callable[[np.ndarray], object], images: np.ndarray, repeats: int = 15) -> tuple[float, float]:
    """``(median ms at batch 1, images/s at batch BATCH)`` of ``detect(uint8 batch)`` after warm-up."""
    ms = median_seconds(lambda: detect(images[:1]), repeats) * 1e3
    per_batch = median_seconds(lambda: detect(images[:BATCH]), max(3, repeats // 3))
    return ms, BATCH / per_batch


def measure(name: str, fmt: str, precision: str, runtime: str, detector: SSD | ExportedDetector,
            records: Sequence[Record] | None, images: np.ndarray, repeats: int, size: float | None = None) -> dict:
    """One row: ``detector``'s mAP on ``records`` (None: speed only) and its speed on ``images``."""
    from ssdzoo.evaluation.evaluator import evaluate

    result = evaluate(detector, records, verbose=False) if records else None
    ms, img_s = speed(lambda batch: detector.detect(batch, preset="evaluate", batch_size=BATCH), images, repeats)
    print(f"{name} {fmt} {precision}: {ms:.1f} ms b1, {img_s:.1f} img/s b8"
          + (f", mAP {result.map:.4f}" if result else ""), flush=True)
    return {"model": name, "format": fmt, "precision": precision, "runtime": runtime, "size_mb": size,
            "map_voc07": result.map if result else None, "coco_ap": result.coco["map"] if result else None,
            "ms_b1": ms, "img_s_b8": img_s}


class ArtifactInput:
    """The Keras model given exactly what an artifact gets (each image resized and rounded to uint8):
    the reference for the artifacts' mAP, apart from the rounding of the input."""

    def __init__(self, model: SSD):
        self.model, self.class_names = model, model.class_names

    def detect(self, images: ImagesLike, **kwargs) -> list:
        """``model.detect`` on the artifact input of each image, boxes in that image's pixels."""
        from ssdzoo.utils.images import image_items, load_image

        size = int(self.model.input_size)
        loaded = [load_image(x, i) for i, x in enumerate(image_items(images))]
        dets = self.model.detect([artifact_input(im, size) for im in loaded], **kwargs)
        for det, im in zip(dets, loaded, strict=True):
            det.boxes = det.boxes * np.array([im.shape[1], im.shape[0]] * 2, np.float32) / size
        return dets


def _runtime(fmt: str, threads: int) -> str:
    import tensorflow as tf

    if fmt in (KERAS, "saved_model"):
        return f"TF {tf.__version__}"
    if fmt == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}, {threads} threads"
    from importlib.metadata import version

    return f"LiteRT {version('ai-edge-litert')}, {threads} threads"


def bench_model(model: SSD | str, records: Sequence[Record], *, name: str | None = None,
                formats: Sequence[str] = (KERAS, "saved_model", "tflite", "onnx"),
                precisions: Sequence[str] = ("fp32",), calibration: Calibration = None, calibration_size: int = 100,
                repeats: int = 15, threads: int | None = None, with_map: bool = True,
                folder: str | None = None) -> FormatTable:
    """Export ``model`` to each format × precision, measure each (see the module docstring).

    Args:
        records: the split to evaluate on (VOC07 mAP, COCO AP) and take the timing images from.
        calibration: int8 calibration images (a folder, paths or records); default ``records``.
        threads: the TFLite / ONNX runtimes' threads (None: every core); TF uses its own pools.
        with_map: False for a speed-only table (an untrained model's mAP means nothing).
        folder: where the artifacts go (default: a temporary folder, removed afterwards).
    """
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="ssdzoo_bench_") as tmp:
            return bench_model(model, records, name=name, formats=formats, precisions=precisions,
                               calibration=calibration, calibration_size=calibration_size, repeats=repeats,
                               threads=threads, with_map=with_map, folder=tmp)
    threads = threads or os.cpu_count() or 1
    for fmt in formats:
        if fmt != KERAS:
            get_format(fmt)  # an unknown name fails before any work
    label = name or (os.path.basename(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model.name)
    model = as_ssd(model)
    records = list(records)
    images = bench_images(records, int(model.input_size))
    scored = records if with_map else None
    rows, notes = [], []
    for fmt in formats:
        for precision in precisions:
            if fmt == KERAS:
                if precision == "fp32":
                    rows.append(measure(label, KERAS, "fp32", _runtime(KERAS, threads), model, scored, images,
                                        repeats))
                    if scored:  # the artifacts' reference: the same network on their uint8 input
                        rows.append(measure(label, KERAS, "fp32, uint8 input", _runtime(KERAS, threads),
                                            ArtifactInput(model), scored, images, repeats))
                continue
            spec = get_format(fmt)
            if precision not in spec.precisions:
                notes.append(f"{fmt} {precision}: not written by the exporter ({fmt} supports "
                             f"{', '.join(spec.precisions)})")
                continue
            path = os.path.join(folder, f"{label.replace(os.sep, '_')}_{precision}{spec.suffix or '_' + fmt}")
            export(model, path, format=fmt, precision=precision, calibration_size=calibration_size,
                   calibration=(calibration if calibration is not None else records) if precision == "int8" else None)
            detector = load_exported(path, threads=None if fmt == "saved_model" else threads)
            rows.append(measure(label, fmt, precision, _runtime(fmt, threads), detector, scored, images, repeats,
                                size_mb(path)))
    if "tflite" in formats:
        notes.append(f"tflite img/s b8: {BATCH} invocations of the batch-1 interpreter (one NMS per image; "
                     "the input tensor is not resized)")
    if not with_map:
        notes.append("speed only: untrained weights (latency does not depend on the weights; NMS work a little)")
    return FormatTable(label, rows, notes)


def write_tables(tables: Sequence[FormatTable], out: str, header: str) -> str:
    """Write ``bench_formats.md`` (``header`` + one table per model) and ``bench_formats.csv`` into ``out``."""
    import csv

    from ssdzoo.utils.files import atomic_path, write_text_atomic

    os.makedirs(out, exist_ok=True)
    text = header + "\n\n" + "\n".join(t.markdown() for t in tables)
    write_text_atomic(os.path.join(out, "bench_formats.md"), text)
    with atomic_path(os.path.join(out, "bench_formats.csv")) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(r for t in tables for r in t.rows)
    return text


def machine_header(split: str, count: int) -> str:
    """The line over the tables: split size, CPU, load average, how speed is measured."""
    from ssdzoo.utils.machine import cpu_description

    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"mAP on the {split} split ({count} images); speed: detect() on uint8 images at the model input, "
            f"decode + NMS included, medians after warm-up; {cpu_description()}; load average {load} "
            "(1, 5, 15 min)")


def bench_formats(models: Sequence[SSD | str], data: str, *, split: str = "test", data_format: str | None = None,
                  formats: Sequence[str] = (KERAS, "saved_model", "tflite", "onnx"),
                  precisions: Sequence[str] = ("fp32",), calibration: Calibration = None, repeats: int = 15,
                  threads: int | None = None, peers: bool = True, out: str = "bench") -> list[FormatTable]:
    """``ssdzoo bench --formats``: a table per model on ``data``'s ``split`` (+ torchvision peers), into ``out``.

    One :func:`bench_model` table per model, the peers when torch is installed, written by
    :func:`write_tables`.

    int8 calibration: ``calibration`` (a folder) or else the dataset's ``train`` split, or else ``split``.
    """
    from ssdzoo.data.readers import load

    dataset = load(data, format=data_format, split=split)
    records = list(dataset)
    if calibration is None and "int8" in precisions:
        try:
            calibration = list(load(data, format=data_format, split="train"))
        except (ValueError, FileNotFoundError):
            calibration = records
    tables = [bench_model(m, records, formats=formats, precisions=precisions, calibration=calibration,
                          repeats=repeats, threads=threads) for m in models]
    if peers:
        tables.append(peers_table(records, len(dataset.class_names), repeats, threads or 2))
    print(write_tables(tables, out, machine_header(split, len(records))))
    return tables


def peers_table(records: Sequence[Record], num_classes: int, repeats: int = 15, threads: int = 2) -> FormatTable:
    """The torchvision peers' speed rows on ``records``' images at 300 px (only a note without torch)."""
    from ssdzoo.deploy import peers

    if not peers.available():
        return FormatTable("torchvision peers", [], ["not measured: torch / torchvision not installed "
                                                     "(pip install 'ssdzoo[peers]')"])
    rows = peers.peer_rows(bench_images(records, 300), num_classes, repeats, threads)
    return FormatTable("torchvision peers", rows, [
        f"{', '.join(peers.PEERS)}: {peers.MARK}; {num_classes} classes, {threads} torch threads; images at "
        "300 px, which torchvision's transform resizes to its own input (320 / 300)"])
