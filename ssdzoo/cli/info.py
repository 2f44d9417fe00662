"""``ssdzoo info``: the backbone table (cut layer, map, alignment, options, params, GFLOPs),
one row per backbone and head."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Print one row per (backbone, head)."""
    from ssdzoo.models.builders import build
    from ssdzoo.models.heads import get_head
    from ssdzoo.models.profile import summarize
    from ssdzoo.models.registry import get_backbone, list_backbones
    from ssdzoo.utils.tables import markdown_table

    names = args.backbones or list_backbones()
    for head in args.heads:
        get_head(head)  # an unknown head fails before anything is built
    header = ["backbone", "cut layer", "cut map", "align", "options", "head", "backbone params",
              "head params", f"GFLOPs@{args.input_size}", "anchors"]
    rows = []
    for name in names:
        spec = get_backbone(name)
        options = ", ".join(f"{k}={v!r}" for k, v in spec.options.items()) or "-"
        for head in args.heads:
            s = summarize(build(name, num_classes=args.num_classes, weights=None, head=head,
                                head_width=args.head_width, input_size=args.input_size))
            rows.append([s["backbone"], s["cut_layer"], s["cut_map"], s["align"], options, s["head"],
                         f"{s['backbone_params'] / 1e6:.2f} M", f"{s['head_params'] / 1e6:.2f} M",
                         f"{s['gflops']:.1f}", str(s["anchors"])])
    print(markdown_table(header, rows))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``info``."""
    p = sub.add_parser("info", help="print the backbone table")
    p.add_argument("backbones", nargs="*", help="backbones to show (default: all)")
    p.add_argument("--heads", nargs="+", default=["ssd"],
                   help="heads to show for each backbone (ssd, lite, registered ones; default ssd)")
    p.add_argument("--head-width", type=float, default=1.0, help="head width multiplier")
    p.add_argument("--input-size", type=int, default=300, choices=(300, 512))
    p.add_argument("--num-classes", type=int, default=20)
    p.set_defaults(func=run)
