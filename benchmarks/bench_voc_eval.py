"""Times ``eval_detection_voc`` on a VOC-sized workload against a per-image reference loop.

Workload (seeded): 500 images, ~10 ground truths and 50 detections per image
(25k detections), 20 classes. Detections are jittered copies of ground truths
(several per object, so duplicates occur) plus false positives anywhere; 10 % of the
ground truths are difficult. The reference is a straightforward port of ChainerCV's
``calc_detection_voc_prec_rec`` per-image loop (chainercv 0.13.1), run in the same
process; both must give the same AP.

    python benchmarks/bench_voc_eval.py [--repeats 15]

Prints a markdown table and writes it to benchmarks/results/voc_eval.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from ssdzoo.metrics.voc import eval_detection_voc  # noqa: E402

NUM_IMAGES, NUM_CLASSES, DETS_PER_IMAGE = 500, 20, 50


def make_workload(seed: int = 0) -> tuple[list, ...]:
    """Per-image lists: pred boxes/labels/scores, gt boxes/labels/difficults (x1 y1 x2 y2 px)."""
    rng = np.random.default_rng(seed)
    out: tuple[list, ...] = ([], [], [], [], [], [])
    for _ in range(NUM_IMAGES):
        n_gt = int(rng.integers(5, 16))
        xy = rng.integers(0, 400, (n_gt, 2))
        wh = rng.integers(10, 200, (n_gt, 2))
        gt = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        gt_label = rng.integers(0, NUM_CLASSES, n_gt)
        src = rng.integers(0, n_gt, DETS_PER_IMAGE)
        pred = gt[src] + rng.normal(0, 0.1, (DETS_PER_IMAGE, 4)) * np.tile(wh[src], 2)
        label = gt_label[src].copy()
        score = rng.beta(4, 2, DETS_PER_IMAGE)
        fp = rng.random(DETS_PER_IMAGE) < 0.4
        fp_xy = rng.uniform(0, 450, (fp.sum(), 2))
        pred[fp] = np.concatenate([fp_xy, fp_xy + rng.uniform(10, 150, (fp.sum(), 2))], 1)
        label[fp] = rng.integers(0, NUM_CLASSES, fp.sum())
        score[fp] = rng.beta(2, 4, fp.sum())
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        for lst, arr in zip(out, (pred.astype(np.float32), label, score.astype(np.float32),
                                  gt, gt_label, rng.random(n_gt) < 0.1)):
            lst.append(arr)
    return out


def reference_voc(pred_bboxes, pred_labels, pred_scores, gt_bboxes, gt_labels, gt_difficults,
                  iou_thresh: float = 0.5, use_07_metric: bool = True) -> np.ndarray:
    """Port of ChainerCV 0.13.1's per-image, per-class loop (the baseline); returns per-class AP."""
    n_pos, score, match = defaultdict(int), defaultdict(list), defaultdict(list)
    for pb, pl, ps, gb, gl, gd in zip(pred_bboxes, pred_labels, pred_scores, gt_bboxes, gt_labels, gt_difficults):
        for c in np.unique(np.concatenate((pl, gl)).astype(int)):
            m = pl == c
            order = ps[m].argsort()[::-1]
            pb_c, ps_c = pb[m][order], ps[m][order]
            gb_c, gd_c = gb[gl == c], gd[gl == c]
            n_pos[c] += np.logical_not(gd_c).sum()
            score[c].extend(ps_c)
            if len(pb_c) == 0:
                continue
            if len(gb_c) == 0:
                match[c].extend((0,) * len(pb_c))
                continue
            pb_c, gb_c = pb_c.copy(), gb_c.copy()
            pb_c[:, 2:] += 1
            gb_c[:, 2:] += 1
            tl = np.maximum(pb_c[:, None, :2], gb_c[:, :2])
            br = np.minimum(pb_c[:, None, 2:], gb_c[:, 2:])
            inter = np.prod(br - tl, axis=2) * (tl < br).all(axis=2)
            area_p, area_g = np.prod(pb_c[:, 2:] - pb_c[:, :2], 1), np.prod(gb_c[:, 2:] - gb_c[:, :2], 1)
            iou = inter / (area_p[:, None] + area_g - inter)
            gt_index = iou.argmax(axis=1)
            gt_index[iou.max(axis=1) < iou_thresh] = -1
            selec = np.zeros(len(gb_c), bool)
            for g in gt_index:
                if g < 0:
                    match[c].append(0)
                elif gd_c[g]:
                    match[c].append(-1)
                else:
                    match[c].append(0 if selec[g] else 1)
                    selec[g] = True
    ap = np.full(max(n_pos) + 1, np.nan)
    for c in n_pos:
        if n_pos[c] == 0:
            continue
        m = np.array(match[c], np.int8)[np.array(score[c]).argsort()[::-1]]
        tp, fp = np.cumsum(m == 1), np.cumsum(m == 0)
        with np.errstate(invalid="ignore"):  # 0/0 while only ignored detections -> nan -> 0
            prec, rec = np.nan_to_num(tp / (fp + tp)), tp / n_pos[c]
        if use_07_metric:
            ap[c] = sum(np.max(prec[rec >= t]) if (rec >= t).any() else 0 for t in np.arange(0, 1.1, 0.1)) / 11
        else:
            mpre = np.maximum.accumulate(np.concatenate(([0], prec, [0]))[::-1])[::-1]
            mrec = np.concatenate(([0], rec, [1]))
            i = np.flatnonzero(mrec[1:] != mrec[:-1])
            ap[c] = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return ap


def time_it(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "voc_eval.md"))
    args = parser.parse_args()

    data = make_workload()
    n_det, n_gt = sum(len(x) for x in data[1]), sum(len(x) for x in data[4])
    rows = []
    for use_07 in (True, False):
        ours = eval_detection_voc(*data, use_07_metric=use_07)
        ref = reference_voc(*data, use_07_metric=use_07)
        np.testing.assert_allclose(ours["ap"], ref, atol=1e-12)  # same numbers, or no timing
        t_ours = time_it(lambda u=use_07: eval_detection_voc(*data, use_07_metric=u), args.repeats)
        t_ref = time_it(lambda u=use_07: reference_voc(*data, use_07_metric=u), max(3, args.repeats // 5))
        rows.append((
            "VOC07 11-point" if use_07 else "area (VOC2010+)", ours["map"],
            statistics.median(t_ours), min(t_ours), statistics.median(t_ref),
        ))

    lines = [
        f"`eval_detection_voc`: {NUM_IMAGES} images, {n_det} detections, {n_gt} gt boxes, {NUM_CLASSES} classes, "
        f"IoU 0.5; {args.repeats} repeats after a warm-up; Python {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs.",
        "",
        "| rule | mAP | median (s) | min (s) | per-image reference loop, median (s) | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {m:.4f} | {med:.4f} | {mn:.4f} | {ref:.3f} | {ref / med:.0f}x |"
              for name, m, med, mn, ref in rows]
    table = "\n".join(lines) + "\n"
    print(table)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)


if __name__ == "__main__":
    main()
