"""Throughput of the tf.data input pipeline on BCCD trainval (640x480 JPEGs) at 300x300.

Each row iterates ``ssdzoo.data.pipeline(..., repeat=True)`` with batches of 32: a warm-up of
3 batches, then ``--repeats`` timed runs of ``--batches`` batches each. The table gives the
median (and best) images/s over the runs, and the median CPU time per image of this process
(all threads), which other jobs on the machine disturb much less than wall time. Rows with the
8732 SSD300 anchors include target encoding (``ssdzoo.encode_targets``); rows with a
single anchor make encoding free, so they show decoding plus augmentation alone. The full SSD
augmentation includes the zoom-out (up to 4x, half of the images); the mosaic and mixup rows add
``pipeline(mosaic=1.0)`` / ``pipeline(mixup=1.0)`` to it (every image), their worst case.
Goal: >= 150 images/s with full augmentation.

    python benchmarks/bench_pipeline.py [--batches 10] [--repeats 5]

Prints a markdown table and writes it to benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors  # noqa: E402
from ssdzoo.data import load, pipeline  # noqa: E402

BATCH, SIZE, GOAL = 32, 300, 150.0
SSD300_MAPS = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


def measure(dataset: tf.data.Dataset, batches: int, repeats: int) -> tuple[list[float], list[float]]:
    """For each of ``repeats`` runs of ``batches`` batches (after 3 warm-up batches): images/s
    (wall clock) and CPU ms per image (this process, all threads; insensitive to other load)."""
    it = iter(dataset)
    for _ in range(3):
        next(it)
    rates, cpu_ms = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        n = sum(len(next(it)[0]) for _ in range(batches))
        rates.append(n / (time.perf_counter() - t))
        cpu_ms.append((time.process_time() - c) * 1e3 / n)
    return rates, cpu_ms


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (as ``lscpu`` prints it), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    data = load(ROOT / "data" / "BCCD", format="voc", split="trainval")
    ssd300 = generate_anchors(SSD300_MAPS, (SIZE, SIZE), SSD300_ANCHORS)
    one = np.array([[0.25, 0.25, 0.75, 0.75]], np.float32)
    full, mosaic, mixup = "full SSD augmentation", {"mosaic": 1.0}, {"mixup": 1.0}
    rows = [(full, True, ssd300, {}), (full, True, one, {}),
            (full + " + mosaic 1.0", True, ssd300, mosaic), (full + " + mosaic 1.0", True, one, mosaic),
            (full + " + mixup 1.0", True, ssd300, mixup), (full + " + mixup 1.0", True, one, mixup),
            (full + " + mosaic 1.0 + mixup 1.0", True, ssd300, {**mosaic, **mixup}),
            ("none (decode + resize)", False, ssd300, {}), ("none (decode + resize)", False, one, {})]
    load_avg = os.getloadavg()[0]
    lines = []
    for name, augment, anchors, mixing in rows:
        ds = pipeline(data, anchors=anchors, input_size=SIZE, batch_size=BATCH, augment=augment,
                      repeat=True, **mixing)
        rates, cpu_ms = measure(ds, args.batches, args.repeats)
        med = statistics.median(rates)
        goal = ("yes" if med >= GOAL else "no") if augment and len(anchors) > 1 else ""
        lines.append(f"| {name} | {len(anchors)} | {med:.0f} | {max(rates):.0f} | "
                     f"{statistics.median(cpu_ms):.2f} | {goal} |")
        print(lines[-1], flush=True)
    header = (f"`pipeline` on BCCD trainval ({len(data)} images, 640x480 JPEG) -> {SIZE}x{SIZE}, "
              f"batch {BATCH}, {args.repeats} runs of {args.batches * BATCH} images after a "
              f"3-batch warm-up (goal >= {GOAL:g} images/s with full augmentation); "
              f"`python benchmarks/bench_pipeline.py --batches {args.batches} --repeats "
              f"{args.repeats}`; Python {platform.python_version()}, TensorFlow {tf.__version__}, "
              f"{os.cpu_count()} CPUs ({cpu_model()}, {platform.machine()}), load average {load_avg:.1f} at start.")
    columns = ("| augmentation | anchors encoded | median images/s | best images/s "
               "| CPU ms per image | goal met |\n|---|---:|---:|---:|---:|---|")
    table = "\n".join([header, "", columns, *lines]) + "\n"
    print(table)
    out = ROOT / "benchmarks" / "results" / "pipeline.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)


if __name__ == "__main__":
    main()
