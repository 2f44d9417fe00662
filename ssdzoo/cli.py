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

    from ssdzoo.data import cli as data_cli

    data_cli.add_parsers(sub)
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
