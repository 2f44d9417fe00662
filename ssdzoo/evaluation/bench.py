"""Speed measurements shared by ``ssdzoo bench``, training reports and ``benchmarks/``:
medians over repeated runs after warm-up, on whatever device TensorFlow uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

    from ssdzoo.models.ssd import SSD


def median_seconds(fn: Callable[[], object], repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_seconds(model: SSD, batch_size: int = 1, repeats: int = 10) -> float:
    """Median seconds of ``model.detect`` (forward + decode + NMS) on a batch of random images.

    The images are RGB 0-255 at the model's input size."""
    size = model.input_shape[1:3]
    images = np.random.default_rng(0).integers(0, 255, (batch_size, *size, 3), dtype=np.uint8)
    return median_seconds(lambda: model.detect(images, preset="evaluate", batch_size=batch_size),
                          repeats=repeats)


def train_step_seconds(model: keras.Model, batch_size: int = 8, repeats: int = 5) -> float:
    """Median seconds of one SGD training step with the MultiBox loss on random data."""
    import keras

    from ssdzoo.core.loss import MultiBoxLoss
    from ssdzoo.core.matching import encode_targets

    rng = np.random.default_rng(0)
    size = model.input_shape[1:3]
    images = rng.uniform(0, 255, (batch_size, *size, 3)).astype("float32")
    xy = rng.uniform(0.05, 0.6, (batch_size, 5, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.35, (batch_size, 5, 2))], -1).astype("float32")
    targets = np.asarray(encode_targets(boxes, rng.integers(0, model.num_classes, (batch_size, 5)),
                                        model.anchors))
    model.compile(optimizer=keras.optimizers.SGD(1e-4, momentum=0.9), loss=MultiBoxLoss())
    return median_seconds(lambda: model.train_on_batch(images, targets), repeats=repeats)


def backbone_row(name: str, num_classes: int = 20, repeats: int = 10, train_steps: bool = True,
                 head_width: float = 1.0, head: str = "ssd") -> dict:
    """Size and speed of one backbone's SSD300 with ``head`` (random weights: speed does not need them)."""
    from ssdzoo.models.builders import build
    from ssdzoo.models.profile import summarize

    model = build(name, num_classes=num_classes, weights=None, head=head, head_width=head_width)
    row = summarize(model)
    row["latency_ms_b1"] = inference_seconds(model, 1, repeats) * 1e3
    row["fps_b8"] = 8 / inference_seconds(model, 8, max(3, repeats // 2))
    if train_steps:
        row["train_img_s_b8"] = 8 / train_step_seconds(model, 8, max(3, repeats // 3))
    return row


def bench_table(rows: list[dict], head_width: float = 1.0) -> str:
    """Markdown table of :func:`backbone_row` results, with speed ratios to a reference row.

    The reference is VGG16 with the ``ssd`` head (the original SSD) when it is among the rows,
    else the first row."""
    import os
    import platform

    from ssdzoo.utils.tables import markdown_table

    base = next((r for r in rows if (r["backbone"], r["head"]) == ("vgg16", "ssd")), rows[0])
    train = "train_img_s_b8" in rows[0]
    header = ["backbone", "head", "cut map", "align", "backbone params", "head params", "GFLOPs",
              "ms/img b1", f"speed-up vs {base['backbone']} {base['head']}", "img/s b8 (infer)"]
    header += ["img/s b8 (train)"] if train else []
    table = [[r["backbone"], r["head"], r["cut_map"], r["align"], f"{float(r['backbone_params']) / 1e6:.2f} M",
              f"{float(r['head_params']) / 1e6:.2f} M", f"{float(r['gflops']):.1f}",
              f"{float(r['latency_ms_b1']):.0f}",
              f"{float(base['latency_ms_b1']) / float(r['latency_ms_b1']):.2f}x",
              f"{float(r['fps_b8']):.1f}"]
             + ([f"{float(r['train_img_s_b8']):.2f}"] if train else []) for r in rows]
    return (f"SSD300 (head width {head_width}), 20 classes, random weights, medians after warm-up; "
            f"{platform.machine()}, {os.cpu_count()} CPUs; inference = model.detect() incl. decode "
            f"+ NMS.\n\n" + markdown_table(header, table))


def run_bench(backbones: Sequence[str] | None = None, out: str = "bench",
              results: Sequence[str] | None = None, repeats: int = 10,
              train_steps: bool = True, head_width: float = 1.0,
              heads: tuple[str, ...] = ("ssd",)) -> list[dict]:
    """``ssdzoo bench``: a row per backbone and head, written as ``bench.csv`` and ``bench.md`` in ``out``.

    Rows hold params, GFLOPs, latency at batch 1 and throughput at batch 8 incl. NMS and training
    images/s; with training ``results.json`` files, also ``map_vs_fps.png``."""
    import csv
    import json
    import os

    from ssdzoo.models.registry import list_backbones

    os.makedirs(out, exist_ok=True)
    rows = []
    for name in backbones or list_backbones():
        for head in heads:
            rows.append(backbone_row(name, repeats=repeats, train_steps=train_steps,
                                     head_width=head_width, head=head))
            print(f"{name} {head}: {rows[-1]['latency_ms_b1']:.0f} ms at batch 1", flush=True)
    with open(os.path.join(out, "bench.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = bench_table(rows, head_width)
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    if results:
        from ssdzoo.evaluation.plots import plot_map_vs_fps

        runs = []
        for path in results:
            with open(path) as f:
                runs.append(json.load(f))
        plot_map_vs_fps(runs, os.path.join(out, "map_vs_fps.png"))
    return rows
