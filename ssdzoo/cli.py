"""The ``ssdzoo`` command line: ``ssdzoo <command> --help`` for each command."""

from __future__ import annotations

import argparse
import os
import sys


def _info(args) -> int:
    import ssdzoo
    from ssdzoo.profile import summarize

    names = args.backbones or ssdzoo.list_backbones()
    header = ["backbone", "cut layer", "cut map", "align", "backbone params", "head params",
              f"GFLOPs@{args.input_size}", "anchors"]
    rows = []
    for name in names:
        s = summarize(ssdzoo.build(name, num_classes=args.num_classes, weights=None,
                                   input_size=args.input_size))
        rows.append([s["backbone"], s["cut_layer"], s["cut_map"], s["align"],
                     f"{s['backbone_params'] / 1e6:.2f} M", f"{s['head_params'] / 1e6:.2f} M",
                     f"{s['gflops']:.1f}", str(s["anchors"])])
    print(markdown_table(header, rows))
    return 0


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field (``--batch-size``…); unset flags stay None."""
    import dataclasses
    import typing

    from ssdzoo.training import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if kind is bool:
            p.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=None,
                           metavar="BOOL", help=f"default {field.default}")
        elif field.name == "lr_decay_at":
            p.add_argument(flag, type=float, nargs="*", default=None, help=f"default {field.default}")
        else:
            base = next((t for t in (int, float, str) if t == kind or t in typing.get_args(kind)), str)
            p.add_argument(flag, type=base, default=None, help=f"default {field.default}")
    p.add_argument("--config", help="TOML file with TrainConfig keys (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")


def _train(args) -> int:
    import dataclasses

    from ssdzoo.training import TrainConfig, train

    values = TrainConfig.from_toml(args.config).__dict__ if args.config else {}
    for field in dataclasses.fields(TrainConfig):
        if getattr(args, field.name) is not None:
            values[field.name] = getattr(args, field.name)
    config = TrainConfig.from_dict(values)
    try:
        train(config, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    return 0


def _load_records(path: str, fmt: str | None, split: str | None):
    from ssdzoo import data

    if not os.path.exists(path):
        raise FileNotFoundError(f"data {path!r} does not exist")
    return data.load(path, format=fmt, split=split)


def _eval(args) -> int:
    import ssdzoo
    from ssdzoo.evaluation import evaluate
    from ssdzoo.plots import plot_pr_curves

    model = ssdzoo.load(args.model, compile=False)
    result = evaluate(model, _load_records(args.data, args.format, args.split))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        plot_pr_curves(result.voc_area, model.class_names, os.path.join(args.out, "pr_curves.png"))
        with open(os.path.join(args.out, "eval.md"), "w") as f:
            f.write(result.table() + "\n")
    return 0


def _predict(args) -> int:
    import json

    import ssdzoo
    from ssdzoo.detection import read_image
    from ssdzoo.plots import draw_detections

    if not os.path.exists(args.images):
        raise FileNotFoundError(f"{args.images!r} does not exist")
    paths = ([os.path.join(args.images, n) for n in sorted(os.listdir(args.images))
              if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))]
             if os.path.isdir(args.images) else [args.images])
    model = ssdzoo.load(args.model, compile=False)
    os.makedirs(args.out, exist_ok=True)
    found = {}
    for path, det in zip(paths, model.detect(paths, score_threshold=args.score), strict=True):
        found[path] = det.to_dict()
        name = os.path.splitext(os.path.basename(path))[0] + ".png"
        draw_detections(read_image(path), det.boxes, det.labels, det.scores, model.class_names,
                        os.path.join(args.out, name))
        print(f"{path}: {len(det)} detections")
    with open(os.path.join(args.out, "detections.json"), "w") as f:
        json.dump(found, f, indent=1)
    return 0


def _bench(args) -> int:
    from ssdzoo.bench import run_bench

    run_bench(args.backbones, out=args.out, results=args.results, repeats=args.repeats,
              train_steps=not args.no_train, head_width=args.head_width)
    return 0


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssdzoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="print the backbone table")
    p.add_argument("backbones", nargs="*", help="backbones to show (default: all)")
    p.add_argument("--input-size", type=int, default=300, choices=(300, 512))
    p.add_argument("--num-classes", type=int, default=20)
    p.set_defaults(func=_info)

    p = sub.add_parser("train", help="train a detector (writes checkpoints, logs, report.md)")
    _add_train_flags(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a .keras model on annotated data")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--format", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="folder for eval.md and pr_curves.png")
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="detect objects in an image or a folder of images")
    p.add_argument("model")
    p.add_argument("images")
    p.add_argument("--out", default="predictions")
    p.add_argument("--score", type=float, default=0.5)
    p.set_defaults(func=_predict)

    p = sub.add_parser("bench", help="speed/size table of backbones (+ mAP-vs-FPS chart)")
    p.add_argument("--backbones", nargs="+", default=None)
    p.add_argument("--out", default="bench")
    p.add_argument("--results", nargs="*", default=None,
                   help="results.json files of training runs, for the mAP-vs-FPS chart")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--no-train", action="store_true", help="skip the training-step timing")
    p.add_argument("--head-width", type=float, default=1.0, help="SSD head width multiplier")
    p.set_defaults(func=_bench)

    from ssdzoo.data import cli as data_cli

    data_cli.add_parsers(sub)
    from ssdzoo import weights as weights_cli

    weights_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"ssdzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
