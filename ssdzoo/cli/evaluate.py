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


def left_out(dataset: Dataset) -> list[str]:
    """The images loading skipped (unreadable, or no usable box), one ``file: problem`` line each."""
    from ssdzoo.data.check import SKIPPED

    return [f"{f.file}{f' [{f.record}]' if f.record else ''}: {f.problem}"
            for f in getattr(dataset.report, "findings", []) if f.action == SKIPPED]


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and the images left out; with ``--out`` write eval.md and pr_curves.png.

    Images that cannot be read are left out and listed; 2 (an error line) when none is left.
    """
    from ssdzoo.deploy.runtime import load_detector
    from ssdzoo.evaluation.evaluator import evaluate
    from ssdzoo.evaluation.plots import plot_pr_curves

    dataset = load_records(args.data, args.format, args.split)
    skipped = left_out(dataset)
    if not len(dataset):
        raise ValueError(f"{args.data}: no image could be evaluated ({len(skipped)} left out"
                         + (f", the first: {skipped[0]})" if skipped else ")"))
    model = load_detector(args.model)
    result = evaluate(model, dataset)
    text = result.table()
    if skipped:
        note = f"\n\nLeft out {len(skipped)} of {len(skipped) + len(dataset)} images:\n" + "\n".join(
            f"- {line}" for line in skipped)
        print(note.strip())
        text += note
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        plot_pr_curves(result.voc_area, model.class_names, os.path.join(args.out, "pr_curves.png"))
        with open(os.path.join(args.out, "eval.md"), "w") as f:
            f.write(text + "\n")
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
