"""Times decoding + per-class NMS of one SSD300 batch against a classic numpy decoder.

Workloads (seeded): 8 images x 8732 SSD300 anchors x 21 classes (20 + background). Most anchors
are confidently background: background logit ~ N(9, 1) ("trained": about 120 noise scores per
image pass 0.01) or ~ N(7, 1) ("early in training": about 6000 do), class logits ~ N(0, 1).
8 objects per image of random class and size; every anchor
with IoU > 0.4 with an object (about 240 per image) predicts that object's box (with noise)
and its class at a logit ~ U(-2, 6) against a background logit ~ N(0, 1) (score ~0.1 to ~0.99),
three look-alike classes at ~ N(-1.5, 1) and the rest at ~ N(-4, 1) (about 1100 anchor-class
scores per image above 0.01). Both decoders softmax the logits, decode the centre-size offsets
(variances 0.1/0.2), keep scores > 0.01, run greedy per-class NMS at IoU 0.45 and keep the
top 200 per image:

- ``ssdzoo.decode_predictions`` (TensorFlow's ``combined_non_max_suppression``), called as a
  user would (eager), and the same inside a ``tf.function`` (how ``model.detect`` runs it);
- a straightforward numpy decoder in the classic Keras SSD style (per image, per class:
  threshold, sort, greedy IoU suppression), run in the same process.

The speed-up depends on how many scores pass the threshold: the numpy loop pays per candidate
and per kept box, TensorFlow mostly a fixed ~8 ms (softmax and box decoding of 1.5 M logits,
then the NMS kernel). Medians over repeats after warm-up. The two must agree on the number of boxes per class of
each image within a tolerance of 1 box (float round-off at the IoU threshold).

    python benchmarks/bench_decode.py [--repeats 21]

Prints a markdown table and writes it to benchmarks/results/decode.md.
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
import ssdzoo  # noqa: E402
from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors  # noqa: E402
from ssdzoo.core.box_coder import VARIANCES, encode_boxes  # noqa: E402

BATCH, CLASSES, OBJECTS = 8, 20, 8
SCORE, IOU, TOP_K = 0.01, 0.45, 200
GOAL = 10.0  # x faster than numpy
SSD300_MAPS = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
ANCHORS = generate_anchors(SSD300_MAPS, (300, 300), SSD300_ANCHORS)


def iou_np(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` x1y1x2y2 boxes with one box."""
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + np.prod(box[2:] - box[:2]) - inter, 1e-12)


def make_predictions(seed: int = 0, background: float = 9.0) -> tuple[np.ndarray, int]:
    """Model output ``(BATCH, A, 4 + CLASSES + 1)`` float32; number of object anchors.
    ``background``: mean background logit of the anchors away from objects."""
    rng = np.random.default_rng(seed)
    a = len(ANCHORS)
    offsets = rng.normal(0, 0.5, (BATCH, a, 4))
    logits = rng.normal(0, 1, (BATCH, a, CLASSES + 1))
    logits[..., 0] = rng.normal(background, 1, (BATCH, a))
    object_anchors = 0
    for b in range(BATCH):
        for _ in range(OBJECTS):
            size = rng.uniform(0.08, 0.6, 2)
            x1y1 = rng.uniform(0, 1 - size)
            box = np.concatenate([x1y1, x1y1 + size])
            near = np.flatnonzero(iou_np(ANCHORS, box) > 0.4)
            object_anchors += len(near)
            cls, *similar = 1 + rng.choice(CLASSES, 4, replace=False)
            offsets[b, near] = np.asarray(encode_boxes(box.astype(np.float32), ANCHORS[near])) \
                + rng.normal(0, 0.3, (len(near), 4))
            logits[b, near, 0] = rng.normal(0, 1, len(near))
            logits[b, near, 1:] = rng.normal(-4, 1, (len(near), CLASSES))   # unlike classes
            logits[b, near[:, None], np.array(similar)] = rng.normal(-1.5, 1, (len(near), 3))  # alike
            logits[b, near, cls] = rng.uniform(-2, 6, len(near))  # score ~0.1 .. ~0.99
    return np.concatenate([offsets, logits], -1).astype(np.float32), object_anchors


def numpy_decoder(predictions: np.ndarray, anchors: np.ndarray, score_threshold=SCORE,
                  iou_threshold=IOU, top_k=TOP_K) -> list[np.ndarray]:
    """Classic Keras SSD decoding: per image ``(K, 6)`` rows ``label score x1 y1 x2 y2``."""
    a_c, a_wh = (anchors[:, :2] + anchors[:, 2:]) / 2, anchors[:, 2:] - anchors[:, :2]
    results = []
    for pred in predictions:
        c = a_c + pred[:, :2] * VARIANCES[0] * a_wh
        wh = a_wh * np.exp(pred[:, 2:4] * VARIANCES[1])
        boxes = np.concatenate([c - wh / 2, c + wh / 2], 1)
        logits = pred[:, 4:] - pred[:, 4:].max(1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(1, keepdims=True)
        kept = []
        for cls in range(1, probs.shape[1]):
            scores = probs[:, cls]
            mask = scores > score_threshold
            s, bx = scores[mask], boxes[mask]
            order = np.argsort(-s, kind="stable")
            s, bx = s[order], bx[order]
            while len(s):  # greedy NMS: take the best, drop what overlaps it
                kept.append(np.concatenate([[cls - 1, s[0]], bx[0]]))
                keep = iou_np(bx[1:], bx[0]) <= iou_threshold
                s, bx = s[1:][keep], bx[1:][keep]
        dets = np.array(kept).reshape(-1, 6)
        dets = dets[np.argsort(-dets[:, 1], kind="stable")[:top_k]]
        dets[:, 2:] = np.clip(dets[:, 2:], 0, 1)
        results.append(dets)
    return results


def timed(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Wall-clock and CPU seconds (this process, all threads) of each call after warm-up; the
    functions take turns, so that a change of load on the machine hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out = {name: ([], []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            out[name][0].append(time.perf_counter() - start)
            out[name][1].append(time.process_time() - start_cpu)
    return out


WORKLOADS = (("trained: background logit ~ N(9, 1)", 9.0, 1),
             ("early in training: background logit ~ N(7, 1)", 7.0, 4))


def run_workload(background: float, repeats: int) -> dict:
    """Times the three decoders on one workload and checks that they agree."""
    predictions, object_anchors = make_predictions(background=background)
    kwargs = dict(score_threshold=SCORE, iou_threshold=IOU, max_detections=TOP_K)

    def eager():
        return [t.numpy() for t in ssdzoo.decode_predictions(predictions, ANCHORS, **kwargs)]

    graph_fn = tf.function(lambda p: ssdzoo.decode_predictions(p, ANCHORS, **kwargs))
    graph_input = tf.constant(predictions)

    def graph():
        return [t.numpy() for t in graph_fn(graph_input)]

    runs = timed({"eager": eager, "graph": graph,
                  "numpy": lambda: numpy_decoder(predictions, ANCHORS)}, repeats)

    # agreement: boxes per class of every image, and the kept scores
    _, scores, labels, counts = eager()
    reference = numpy_decoder(predictions, ANCHORS)
    logits = predictions[..., 4:] - predictions[..., 4:].max(-1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    per_class_tf = [np.bincount(labels[i, :counts[i]], minlength=CLASSES) for i in range(BATCH)]
    per_class_np = [np.bincount(d[:, 0].astype(int), minlength=CLASSES) for d in reference]
    return {
        "object_anchors": object_anchors,
        "candidates": int((probs[..., 1:] > SCORE).sum()),
        "median": {k: statistics.median(wall) for k, (wall, _) in runs.items()},
        "min": {k: min(wall) for k, (wall, _) in runs.items()},
        "cpu": {k: statistics.median(c) for k, (_, c) in runs.items()},
        "kept": {"tf": int(counts.sum()), "numpy": sum(len(d) for d in reference)},
        "image0": [(c, int(per_class_tf[0][c]), int(per_class_np[0][c]))
                   for c in np.flatnonzero(per_class_np[0] + per_class_tf[0])],
        "worst": max(int(np.abs(t - n).max()) for t, n in zip(per_class_tf, per_class_np, strict=True)),
        "score_diff": max(float(np.abs(np.sort(scores[i, :counts[i]]) - np.sort(d[:, 1])).max())
                          for i, d in enumerate(reference) if len(d) == counts[i]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21,
                        help="timed calls per decoder (a quarter of it for the second workload)")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "decode.md"))
    args = parser.parse_args()

    results = [(name, run_workload(bg, max(3, args.repeats // div))) for name, bg, div in WORKLOADS]
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
               f"{os.getloadavg()[0]:.1f} at the end; Python "
               f"{platform.python_version()}, numpy {np.__version__}, TensorFlow {tf.__version__}")
    first = results[0][1]
    lines = [
        f"Decode + per-class NMS: {BATCH} images x {len(ANCHORS)} anchors x {CLASSES + 1} classes, "
        f"score > {SCORE}, IoU {IOU}, top {TOP_K} per image; {OBJECTS} objects per image "
        f"({first['object_anchors'] / BATCH:.0f} object anchors per image); seeded workloads "
        f"(see the docstring of benchmarks/bench_decode.py).",
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python benchmarks/bench_decode.py --repeats {args.repeats}` (medians of interleaved "
        f"calls after 2 warm-up calls each: {args.repeats} for the first workload, "
        f"{max(3, args.repeats // WORKLOADS[1][2])} for the second).",
        "",
        "| workload | scores > 0.01 per image | decoder | median (ms) | min (ms) | CPU median (ms) "
        "| boxes kept | speed-up vs numpy (median) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"eager": "`ssdzoo.decode_predictions`, eager (TF combined NMS)",
              "graph": "same inside `tf.function` (as `model.detect`)",
              "numpy": "numpy per-class greedy NMS (classic Keras SSD)"}
    for name, r in results:
        for k, label in labels.items():
            ratio = r["median"]["numpy"] / r["median"][k]
            ratio = f"**{ratio:.1f}x**" if k == "eager" else f"{ratio:.1f}x"
            kept = r["kept"]["numpy" if k == "numpy" else "tf"]
            lines.append(f"| {name if k == 'eager' else ''} | {r['candidates'] / BATCH:.0f} | {label} | "
                         f"{r['median'][k] * 1e3:.1f} | {r['min'][k] * 1e3:.1f} | "
                         f"{r['cpu'][k] * 1e3:.1f} | {kept} | {ratio} |")
    lines.append("")
    for name, r in results:
        lines.append(
            f"Agreement ({name}): boxes per class in image 0, TF vs numpy: "
            + ", ".join(f"{c}: {a} vs {b}" for c, a, b in r["image0"])
            + f". Largest per-class difference over all {BATCH} images: {r['worst']} box(es) "
            f"(tolerance 1); largest difference of the kept scores: {r['score_diff']:.1e}.")
        lines.append("")
    verdicts = [f"{name}: {r['median']['numpy'] / r['median']['eager']:.1f}x "
                f"({'met' if r['median']['numpy'] / r['median']['eager'] >= GOAL else 'NOT met'})"
                for name, r in results]
    lines.append(f"Goal >= {GOAL:.0f}x faster than numpy (eager call, median): " + "; ".join(verdicts) + ".")
    text = "\n".join(lines)
    print(text)
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text + "\n")
    return 0 if all(r["worst"] <= 1 for _, r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
