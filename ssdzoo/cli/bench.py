"""``ssdzoo bench``: speed and size table of backbones and heads, and a mAP-vs-FPS chart; with
``--formats``, mAP and speed of a trained model per export format and precision."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Run the backbone benchmark (bench.csv / bench.md) or, with ``--formats``, the per-format one."""
    if args.formats:
        from ssdzoo.deploy.benchmark import bench_formats

        if not args.model or not args.data:
            raise ValueError("--formats needs --model (a .keras file) and --data (an annotated dataset)")
        bench_formats(args.model, args.data, split=args.split, data_format=args.data_format, formats=args.formats,
                      precisions=args.precisions, calibration=args.calibration, repeats=args.repeats,
                      threads=args.threads, peers=not args.no_peers, out=args.out)
        return 0
    from ssdzoo.evaluation.bench import run_bench

    run_bench(args.backbones, out=args.out, results=args.results, repeats=args.repeats,
              train_steps=not args.no_train, head_width=args.head_width, heads=tuple(args.heads))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``bench``."""
    p = sub.add_parser("bench", help="speed/size table of backbones and heads (+ mAP-vs-FPS chart), "
                                     "or with --formats of a model per export format")
    p.add_argument("--backbones", nargs="+", default=None)
    p.add_argument("--out", default="bench")
    p.add_argument("--results", nargs="*", default=None,
                   help="results.json files of training runs, for the mAP-vs-FPS chart")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--no-train", action="store_true", help="skip the training-step timing")
    p.add_argument("--heads", nargs="+", default=["ssd"],
                   help="heads to measure on each backbone (ssd, lite, registered ones; default ssd)")
    p.add_argument("--head-width", type=float, default=1.0, help="head width multiplier")
    g = p.add_argument_group("per export format (--formats)")
    g.add_argument("--formats", nargs="+", default=None,
                   help="keras and export formats to measure, e.g. keras saved_model tflite onnx")
    g.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32 fp16 int8 (where a format has them)")
    g.add_argument("--model", nargs="+", default=None, help=".keras file(s); one table each")
    g.add_argument("--data", default=None, help="annotated dataset to evaluate on")
    g.add_argument("--data-format", default=None, help="dataset format (default: detected)")
    g.add_argument("--split", default="test")
    g.add_argument("--calibration", default=None, help="int8 calibration images (default: the train split)")
    g.add_argument("--threads", type=int, default=None, help="TFLite / ONNX runtime threads (default: all cores)")
    g.add_argument("--no-peers", action="store_true", help="skip the torchvision peers")
    p.set_defaults(func=run)
