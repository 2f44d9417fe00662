"""``ssdzoo eval``: the per-class AP table of a saved model on annotated data."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssdzoo.data.records import Dataset


def load_records(path: str, fmt: str | None, split: str | None) -> Dataset:
    """The records of a dataset folder or file; ``FileNotFoundError`` when it is not there."""
    from ssdzoo.data.readers import load

    if not os.path.exists(path):
        raise FileNotFoundError(f"data {path!r} does not exist")
    return load(path, format=fmt, split=split)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, and with ``--out`` write eval.md and pr_curves.png."""
    from ssdzoo.deploy.runtime import load_detector
    from ssdzoo.evaluation.evaluator import evaluate
    from ssdzoo.evaluation.plots import plot_pr_curves

    model = load_detector(args.model)
    result = evaluate(model, load_records(args.data, args.format, args.split))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        plot_pr_curves(result.voc_area, model.class_names, os.path.join(args.out, "pr_curves.png"))
        with open(os.path.join(args.out, "eval.md"), "w") as f:
            f.write(result.table() + "\n")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``eval``."""
    p = sub.add_parser("eval", help="evaluate a .keras model or an exported one (ssdzoo export) on annotated data")
    p.add_argument("model", help=".keras file, SavedModel directory, .tflite or .onnx")
    p.add_argument("data")
    p.add_argument("--format", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="folder for eval.md and pr_curves.png")
    p.set_defaults(func=run)
