"""The learning-recipe ablation: each change alone and together, on BCCD and Composite, per seed.

Every run is ``ssdzoo train --config examples/bccd_demo.toml --data DATA --seed S`` plus the
variant's flags: the same 1250-step budget (50 epochs x 25 steps x batch 8), from scratch, best
validation checkpoint scored on the test split. Finished runs (their ``results.json``) are kept
and skipped, so the script can be stopped and run again; the table marks runs not done yet.

    python benchmarks/ablation.py                        # all variants, both data sets, seeds 0 1
    python benchmarks/ablation.py --variants recipe previous --seeds 0 --data data/Composite
    python benchmarks/ablation.py --table-only           # just rewrite the table from finished runs

Writes ``benchmarks/results/ablation.md`` (test mAP@0.5 VOC07, COCO AP, training minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ssdzoo.utils.machine import cpu_description  # noqa: E402

#: The paper's zoom-out (canvas up to 4x the image, half the images): every recipe before the ablation had it.
ZOOM4 = ["--zoom-out", "4"]
#: Weight EMA off: every run before EMA joined the recipe (the rows "without EMA").
NO_EMA = ["--ema", "false"]
#: The recipe before the learning issue: paper head, zero class bias, 300 warm-up steps, stored BN statistics.
PREVIOUS = ["--head-norm", "none", "--prior-probability", "none", "--warmup-steps", "300", "--precise-bn", "0",
            *ZOOM4, *NO_EMA]
VARIANTS = {
    "previous": PREVIOUS,
    "previous + BN head": [*PREVIOUS, "--head-norm", "batch"],
    "previous + prior 0.01": [*PREVIOUS, "--prior-probability", "0.01"],
    "previous + warm-up 50": [*PREVIOUS, "--warmup-steps", "50"],
    "previous + precise BN": [*PREVIOUS, "--precise-bn", "10"],
    "recipe without EMA, zoom-out 4": [*ZOOM4, *NO_EMA],  # all four above together
    "recipe, zoom-out 4 + cosine": [*ZOOM4, "--schedule", "cosine"],
    "recipe without EMA, zoom-out 4 + GIoU": [*ZOOM4, *NO_EMA, "--box-loss", "giou"],
    # anchors fitted to the augmented training boxes
    "recipe without EMA, zoom-out 4 + anchors auto": [*ZOOM4, *NO_EMA, "--anchors", "auto"],
    "recipe without EMA": NO_EMA,  # the above without the zoom-out (crop and flip only)
    "recipe": [],  # examples/bccd_demo.toml as committed: the above with weight EMA
    "recipe + cosine": ["--schedule", "cosine"],
    "recipe + mosaic 0.5": ["--mosaic", "0.5"],
    "recipe + GIoU": ["--box-loss", "giou"],
    "recipe + focal": ["--loss", "focal"],
    "recipe + anchors auto": ["--anchors", "auto"],
    "recipe + lr 2e-3": ["--lr", "2e-3"],  # BatchNorm everywhere allows a larger step (ScratchDet)
    "recipe, MobileNet alpha 1.0": ["--backbone-option", "alpha=1.0"],  # the full-width backbone
    "recipe without EMA, lite head": [*NO_EMA, "--head", "lite"],  # SSDLite's separable head (the export issue's)
    "recipe, lite head": ["--head", "lite"],
}
DATA = ["data/BCCD", "data/Composite"]


def run_dir(runs: str, variant: str, data: str, seed: int) -> str:
    """Output folder of one run: ``RUNS/<variant slug>/<data set>-s<seed>``."""
    slug = variant.replace(" + ", "+").replace(" ", "_")
    return os.path.join(runs, slug, f"{os.path.basename(data.rstrip('/'))}-s{seed}")


def train(variant: str, data: str, seed: int, runs: str) -> None:
    """One ``ssdzoo train`` subprocess (its log next to its outputs); skipped if already finished."""
    out = run_dir(runs, variant, data, seed)
    if os.path.isfile(os.path.join(out, "results.json")):
        return
    os.makedirs(out, exist_ok=True)
    args = [sys.executable, "-m", "ssdzoo", "train", "--config", os.path.join(ROOT, "examples", "bccd_demo.toml"),
            "--data", data, "--seed", str(seed), "--time-budget", "none", "--out", out, *VARIANTS[variant]]
    print(f"{time.strftime('%H:%M:%S')} {variant} on {data}, seed {seed} -> {out}", flush=True)
    with open(os.path.join(out, "train.log"), "w") as log:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        code = subprocess.call(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code:
        print(f"  exit {code}; see {out}/train.log", flush=True)


def row(variant: str, data: str, seeds: list[int], runs: str) -> list[str]:
    """One table row: per-seed test mAP@0.5, mean, mean COCO AP and mean training minutes."""
    results = []
    for seed in seeds:
        path = os.path.join(run_dir(runs, variant, data, seed), "results.json")
        results.append(json.load(open(path)) if os.path.isfile(path) else None)
    done = [r for r in results if r]
    per_seed = " / ".join(f"{r['map_voc07']:.3f}" if r else "not run" for r in results)
    if not done:
        return [variant, os.path.basename(data), per_seed, "", "", ""]
    mean = lambda key: sum(r[key] for r in done) / len(done)  # noqa: E731
    return [variant, os.path.basename(data), per_seed, f"**{mean('map_voc07'):.3f}**", f"{mean('coco_ap'):.3f}",
            f"{mean('train_seconds') / 60:.1f}"]


def table(variants: list[str], data: list[str], seeds: list[int], runs: str) -> str:
    """The markdown table of every variant x data set, with the machine it ran on."""
    header = ["variant", "data", f"test mAP@0.5, seed {' / '.join(map(str, seeds))}", "mean", "COCO AP",
              "train min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row(v, d, seeds, runs)) + " |" for d in data for v in variants]
    return (f"Machine: {cpu_description()}, {platform.machine()}. Command: `python benchmarks/ablation.py` "
            f"(runs in `{os.path.relpath(runs, ROOT)}`); train min is the wall clock of fit incl. "
            "validation, on a machine that may have been shared (compare mAP, not minutes).\n\n"
            + "\n".join(lines) + "\n")


def main() -> None:
    """Run the missing runs, then print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--data", nargs="+", default=DATA)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs", "ablation"))
    parser.add_argument("--table-only", action="store_true", help="only rewrite the table from finished runs")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "ablation.md"))
    args = parser.parse_args()
    if not args.table_only:
        for seed in args.seeds:  # seed-major: one seed of everything first
            for data in args.data:
                for variant in args.variants:
                    train(variant, data, seed, args.runs)
    text = table(list(VARIANTS), DATA, sorted(set(args.seeds) | {0, 1}), args.runs)
    print(text)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
