"""Times SSD target encoding of one batch against the 8732 SSD300 anchors.

Workload (seeded): 32 images, 5 ground-truth boxes each (normalised x1y1x2y2, 5-60 % of the
image side), 20 classes. ``ssdzoo.encode_targets`` encodes the whole padded batch
at once in a ``tf.function`` (how ``tf.data`` runs it); the baseline is a plain numpy encoder
with a per-image loop, as classic Keras SSD code does, run in the same process. Both must give
the same targets. The table gives wall-clock median and min and the median CPU time of this
process (all threads), which other jobs on the machine disturb much less. Goal: under 10 ms
per batch.

    python benchmarks/bench_encode.py [--repeats 30]

Prints a markdown table and writes it to benchmarks/results/encode.md.
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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors  # noqa: E402
from ssdzoo.core.box_coder import VARIANCES  # noqa: E402
from ssdzoo.core.matching import encode_targets  # noqa: E402

BATCH, BOXES, CLASSES, GOAL_MS = 32, 5, 20, 10.0
SSD300_MAPS = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


def make_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(BATCH, BOXES, 4)`` normalised x1y1x2y2 and labels ``(BATCH, BOXES)`` int32."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform(0.05, 0.6, (BATCH, BOXES, 2))
    xy = rng.uniform(0, 1, (BATCH, BOXES, 2)) * (1 - wh)
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    return boxes, rng.integers(0, CLASSES, (BATCH, BOXES)).astype(np.int32)


def numpy_encode(boxes: np.ndarray, labels: np.ndarray, anchors: np.ndarray,
                 threshold: float = 0.5) -> np.ndarray:
    """Baseline: the same matching rule as ``encode_targets``, one image at a time in numpy."""
    a_wh = anchors[:, 2:] - anchors[:, :2]
    a_c = anchors[:, :2] + a_wh / 2
    out = []
    for b, lab in zip(boxes, labels, strict=True):
        b, lab = b[lab >= 0], lab[lab >= 0]
        lt = np.maximum(b[:, None, :2], anchors[:, :2])
        rb = np.minimum(b[:, None, 2:], anchors[:, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
        area = lambda x: np.prod(x[..., 2:] - x[..., :2], axis=-1)  # noqa: E731
        iou = inter / (area(b)[:, None] + area(anchors) - inter)         # (M, A)
        iou[np.arange(len(b)), iou.argmax(1)] = 2.0                      # every gt gets its best anchor
        best = iou.argmax(0)
        positive = iou.max(0) >= threshold
        m = b[best]
        wh = m[:, 2:] - m[:, :2]
        c = m[:, :2] + wh / 2
        offsets = np.concatenate([(c - a_c) / a_wh / VARIANCES[0], np.log(wh / a_wh) / VARIANCES[1]], 1)
        target = np.zeros((len(anchors), 5), np.float32)
        target[positive, :4] = offsets[positive]
        target[positive, 4] = lab[best[positive]] + 1
        out.append(target)
    return np.stack(out)


def median_ms(fn, repeats: int) -> tuple[float, float, float]:
    """Median and min wall time, and median CPU time of this process (all threads; other jobs
    on the machine disturb it much less), of ``fn()`` in ms, after two warm-up calls."""
    fn(), fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    load_avg = os.getloadavg()[0]
    anchors = generate_anchors(SSD300_MAPS, (300, 300), SSD300_ANCHORS)
    boxes, labels = make_batch()
    graph_encode = tf.function(lambda b, lab: encode_targets(b, lab, anchors))
    tb, tl = tf.constant(boxes), tf.constant(labels)
    ours = graph_encode(tb, tl).numpy()
    ref = numpy_encode(boxes, labels, anchors)
    np.testing.assert_array_equal(ours[..., 4], ref[..., 4])
    np.testing.assert_allclose(ours[..., :4], ref[..., :4], atol=1e-4)

    rows = [("`encode_targets`, batched (tf.function)",
             median_ms(lambda: graph_encode(tb, tl).numpy(), args.repeats)),
            ("numpy, per-image loop", median_ms(lambda: numpy_encode(boxes, labels, anchors), args.repeats))]
    base = rows[1][1][0]
    header = (f"Target encoding: {BATCH} images x {BOXES} boxes vs {len(anchors)} SSD300 anchors, "
              f"{args.repeats} repeats after warm-up (goal < {GOAL_MS:g} ms per batch); "
              f"`python benchmarks/bench_encode.py --repeats {args.repeats}`; Python "
              f"{platform.python_version()}, TensorFlow {tf.__version__}, numpy {np.__version__}, "
              f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load_avg:.1f} at start.")
    lines = [header, "", "| encoder | median (ms) | min (ms) | CPU ms (median) | vs numpy loop "
             "| goal met |", "|---|---:|---:|---:|---:|---|"]
    for name, (med, best, cpu) in rows:
        lines.append(f"| {name} | {med:.2f} | {best:.2f} | {cpu:.2f} | {base / med:.2f}x | "
                     f"{'yes' if med < GOAL_MS else 'no'} |")
    table = "\n".join(lines) + "\n"
    print(table)
    out = pathlib.Path(__file__).resolve().parent / "results" / "encode.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)


if __name__ == "__main__":
    main()
