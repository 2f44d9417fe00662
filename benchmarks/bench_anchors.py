"""Anchor coverage of the boxes as annotated and of the boxes training sees after SSD augmentation.

For each data set (training split) the boxes as annotated, normalised to the image, and the
boxes of ``--passes`` passes of the training augmentation (zoom-out, SSD crop, flip:
``ssdzoo.data.augment.ssd_geometry``, the geometry that ``ssd_augment`` applies in the training
pipeline) drawn with seed 1, held out from the fit's sample (seed 0, ``DEFAULT_PASSES``). For
each anchor set: the share of boxes with an anchor at IoU >= 0.5 (coverage) and the mean count
of such anchors per box (positives; the encoder also gives each box its best anchor below 0.5,
not counted). Anchor sets: the SSD paper's, the ones ``--anchors auto`` fitted before (annotated
boxes, coverage-only ladder search; recorded from commit b3fa722), and the ones
``advise_anchors`` fits now (positives floor) to the annotated and to the augmented boxes (the
latter is ``--anchors auto``). A second table splits the augmented boxes by side ``sqrt(w h)``.

    python benchmarks/bench_anchors.py [--passes 8] [--data data/BCCD data/Composite]

Prints markdown tables and writes them to benchmarks/results/anchors_augmented.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from ssdzoo import data  # noqa: E402
from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig, generate_anchors  # noqa: E402
from ssdzoo.data.anchor_fit import advise_anchors, map_sizes, match_stats, normalised_boxes  # noqa: E402
from ssdzoo.data.training_boxes import DEFAULT_PASSES, augmented_boxes  # noqa: E402
from ssdzoo.utils.machine import cpu_description  # noqa: E402

INPUT = 300
DEFAULT = DEFAULT_ANCHORS[INPUT]
#: ``--anchors auto`` before the augmented fit (commit b3fa722), per data set folder name.
BEFORE = {
    "Composite": AnchorConfig((0.0385, 0.1415, 0.2445, 0.3476, 0.4506, 0.5536, 0.6566),
                              ((1.25,), (1.25, 2.0), (1.25, 2.0), (1.25, 2.0), (1.25,), (1.25,)), DEFAULT.steps),
    "BCCD": AnchorConfig((0.0756, 0.226, 0.3764, 0.5268, 0.6772, 0.8276, 0.978),
                         ((1.25,), (1.25, 1.5), (1.25, 1.5), (1.25, 1.5), (1.25,), (1.25,)), DEFAULT.steps),
}
SIDE_BINS = (0.0, 0.05, 0.1, 0.2, 0.4, np.inf)


def _describe(config: AnchorConfig) -> str:
    return f"scales {list(config.scales)}, ratios {[list(r) for r in config.aspect_ratios]}"


def _side(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))


def measure(path: str, passes: int) -> tuple[list[str], list[str], list[str]]:
    """Rows of the main table, of the by-size table and the anchor sets' descriptions for one data set."""
    name = pathlib.Path(path).name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = data.load(path, split="train", check_images=False)
    raw, _ = normalised_boxes(train)
    aug, _ = augmented_boxes(train, passes, seed=1)
    start = time.perf_counter()
    fitted_raw = advise_anchors(train, DEFAULT, INPUT).suggested
    fit_raw_s = time.perf_counter() - start
    start = time.perf_counter()
    fitted_aug = advise_anchors(train, DEFAULT, INPUT, augment_passes=DEFAULT_PASSES).suggested
    fit_aug_s = time.perf_counter() - start
    configs = {"default (SSD paper)": DEFAULT, "auto before (annotated, coverage only)": BEFORE.get(name),
               f"fitted now to annotated ({fit_raw_s:.0f} s)": fitted_raw,
               f"fitted now to augmented, new auto ({fit_aug_s:.0f} s)": fitted_aug}
    sizes = map_sizes(DEFAULT, INPUT)
    bins = np.digitize(_side(aug), SIDE_BINS) - 1
    main, by_size, notes = [], [], []
    for label, config in configs.items():
        if config is None:
            continue
        anchors = generate_anchors(sizes, (INPUT,) * 2, config)
        (best_raw, pos_raw), (best_aug, pos_aug) = match_stats(raw, anchors), match_stats(aug, anchors)
        main.append(f"| {name} | {label} | {len(raw)} | {(best_raw >= 0.5).mean():.1%} | {pos_raw.mean():.2f} | "
                    f"{len(aug)} | {(best_aug >= 0.5).mean():.1%} | {pos_aug.mean():.2f} |")
        cells = [f"{(best_aug[bins == k] >= 0.5).mean():.0%} / {pos_aug[bins == k].mean():.1f}"
                 if (bins == k).any() else "-" for k in range(len(SIDE_BINS) - 1)]
        by_size.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
        notes.append(f"- {name}, {label}: {_describe(config)}")
    shares = [f"{(bins == k).mean():.0%}" for k in range(len(SIDE_BINS) - 1)]
    by_size.insert(0, f"| {name} | share of augmented boxes | " + " | ".join(shares) + " |")
    return main, by_size, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=8, help="augmented passes over each training split")
    parser.add_argument("--data", nargs="+", default=["data/BCCD", "data/Composite"])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "anchors_augmented.md"))
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]
    rows, size_rows, notes = [], [], []
    for path in args.data:
        a, b, c = measure(path, args.passes)
        rows, size_rows, notes = rows + a, size_rows + b, notes + c
    bins = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">= {lo:g}" for lo, hi in zip(SIDE_BINS, SIDE_BINS[1:])]
    text = "\n".join([
        f"Anchor coverage, SSD{INPUT}, training splits: boxes as annotated and {args.passes} augmented passes "
        f"(seed 1); covered = an anchor at IoU >= 0.5, positives = anchors at IoU >= 0.5 per box (mean). "
        f"`python benchmarks/bench_anchors.py --passes {args.passes} --data {' '.join(args.data)}`; "
        f"{cpu_description()}, load average {load_avg:.1f} at start (shared machine; fit times in the row "
        "names are wall clock of one run).",
        "",
        "| data | anchors | boxes | covered | positives | augmented boxes | covered | positives |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Augmented boxes by side sqrt(w h) (fraction of the image): covered / positives per box.",
        "",
        "| data | anchors | " + " | ".join(bins) + " |",
        "|---|---|" + "---:|" * len(bins),
        *size_rows,
        "",
        "Anchor sets:",
        "",
        *notes,
        "",
    ])
    print(text)
    pathlib.Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
