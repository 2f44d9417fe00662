"""``ssdzoo bench``: speed and size table of backbones and heads, and a mAP-vs-FPS chart."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write bench.csv / bench.md (and map_vs_fps.png)."""
    from ssdzoo.evaluation.bench import run_bench

    run_bench(args.backbones, out=args.out, results=args.results, repeats=args.repeats,
              train_steps=not args.no_train, head_width=args.head_width, heads=tuple(args.heads))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``bench``."""
    p = sub.add_parser("bench", help="speed/size table of backbones and heads (+ mAP-vs-FPS chart)")
    p.add_argument("--backbones", nargs="+", default=None)
    p.add_argument("--out", default="bench")
    p.add_argument("--results", nargs="*", default=None,
                   help="results.json files of training runs, for the mAP-vs-FPS chart")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--no-train", action="store_true", help="skip the training-step timing")
    p.add_argument("--heads", nargs="+", default=["ssd"],
                   help="heads to measure on each backbone (ssd, lite, registered ones; default ssd)")
    p.add_argument("--head-width", type=float, default=1.0, help="head width multiplier")
    p.set_defaults(func=run)
