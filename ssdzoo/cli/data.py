"""``ssdzoo check-data`` and ``ssdzoo convert``: the annotation checker and format converter.

Bad input raises ``ValueError`` with a one-line message (the CLI prints it).
"""

from __future__ import annotations

import argparse

from ssdzoo.data.readers import FORMATS, check
from ssdzoo.data.writers import WRITE_FORMATS, convert


def _class_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def check_data(args: argparse.Namespace) -> int:
    """Print the check report; 1 when ``--strict`` and there are errors, else 0."""
    report = check(args.path, args.format, args.split, _class_names(args.classes),
                   merge_case=args.merge_case)
    print(report)
    return 1 if args.strict and report.errors else 0


def convert_data(args: argparse.Namespace) -> int:
    """Convert a dataset and print what was written; 0 on success."""
    dataset = convert(args.src, args.src_format, args.out, args.dst_format, split=args.split,
                      class_names=_class_names(args.classes), merge_case=args.merge_case)
    boxes = sum(len(r.labels) for r in dataset)
    print(f"wrote {len(dataset)} images and {boxes} boxes as {args.dst_format} to {args.out}")
    if dataset.skipped:
        print(f"left out {len(dataset.skipped)} defective boxes or images "
              f"(see: ssdzoo check-data {args.src})")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check-data`` and ``convert`` sub-commands (each sets ``func``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--split", help="split name, e.g. trainval (default: all data)")
    common.add_argument("--classes", help="comma-separated class names and their order "
                        "(default: from the data)")
    common.add_argument("--merge-case", action="store_true", help="merge class names that differ "
                        "only in case or surrounding spaces (default: report them as errors)")

    p = subparsers.add_parser("check-data", parents=[common],
                              help="check annotations and images, print a report")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help=f"{', '.join(FORMATS)} (default: detected)")
    p.add_argument("--strict", action="store_true", help="exit with 1 when there are errors")
    p.set_defaults(func=check_data)

    p = subparsers.add_parser("convert", parents=[common],
                              help="convert annotations between formats (images are copied)")
    p.add_argument("src", help="source dataset folder or annotation file")
    p.add_argument("out", help="output folder")
    p.add_argument("--from", dest="src_format", help=f"{', '.join(FORMATS)} (default: detected)")
    p.add_argument("--to", dest="dst_format", required=True, help=", ".join(WRITE_FORMATS))
    p.set_defaults(func=convert_data)
