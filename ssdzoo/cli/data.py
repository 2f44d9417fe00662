"""``ssdzoo check-data``, ``convert``, ``anchors`` and ``view``: checker, converter, anchor advice, gallery.

Bad input raises ``ValueError`` with a one-line message (the CLI prints it).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig
from ssdzoo.data.anchor_fit import POSITIVE_IOU, advise_anchors, covered_share, map_sizes, normalised_boxes
from ssdzoo.data.check import DataWarning
from ssdzoo.data.gallery import write_gallery
from ssdzoo.data.options import check_zoom_out
from ssdzoo.data.readers import FORMATS, check, load
from ssdzoo.data.tfrecord import DEFAULT_SHARD_SIZE
from ssdzoo.data.training_boxes import DEFAULT_PASSES
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
                      class_names=_class_names(args.classes), merge_case=args.merge_case,
                      shard_size=args.shard_size)
    boxes = sum(len(r.labels) for r in dataset)
    print(f"wrote {len(dataset)} images and {boxes} boxes as {args.dst_format} to {args.out}")
    if dataset.skipped:
        print(f"left out {len(dataset.skipped)} defective boxes or images "
              f"(see: ssdzoo check-data {args.src})")
    return 0


def _anchor_config(path: str | None, input_size: int) -> AnchorConfig:
    """The anchors to compare against: a JSON ``AnchorConfig`` file, else the SSD paper's."""
    return AnchorConfig.from_file(path) if path else DEFAULT_ANCHORS[input_size]


def anchors(args: argparse.Namespace) -> int:
    """Print anchor coverage now and with the suggested anchors; write them with ``--out``; 0."""
    current = _anchor_config(args.anchors, args.input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # check-data reports what loading drops
        dataset = load(args.path, args.format, args.split, _class_names(args.classes), check_images=False)
    if args.augment_passes < 0:
        raise ValueError(f"--augment-passes must be >= 0, got {args.augment_passes}")
    advice = advise_anchors(dataset, current, args.input_size, args.clusters, args.augment_passes,
                            check_zoom_out(args.zoom_out))
    print(f"{sum(len(r.labels) for r in dataset)} boxes in {len(dataset)} images, input {args.input_size} px; "
          f"a box is covered when its best anchor IoU >= {POSITIVE_IOU}")
    print(f"fitted to {advice.fitted_to}: {len(advice.labels)} boxes" + (
        " (--augment-passes 0 fits the boxes as annotated)" if args.augment_passes else ""))
    print(f"{'group':<24} {'boxes':>6}  {'IoU now':>8} {'covered':>8}  {'IoU new':>8} {'covered':>8}")
    for name, n, iou_now, share_now, iou_new, share_new in advice.table(dataset.class_names):
        if n:
            print(f"{name:<24} {n:>6}  {iou_now:>8.3f} {share_now:>8.1%}  {iou_new:>8.3f} {share_new:>8.1%}")
    print(f"anchors at IoU >= {POSITIVE_IOU} per box (mean): {advice.positives():.2f} now, "
          f"{advice.positives(suggested=True):.2f} suggested")
    if args.augment_passes:
        boxes, _ = normalised_boxes(dataset)
        sizes = map_sizes(current, args.input_size)
        now, new = (covered_share(boxes, c, sizes, args.input_size) for c in (current, advice.suggested))
        print(f"the annotated boxes (what evaluation sees): {now:.1%} covered now, {new:.1%} suggested")
    print("box-shape clusters (IoU k-means, w x h as fractions of the image, boxes): " + ", ".join(
        f"{w:.3f}x{h:.3f} ({n})" for (w, h), n in zip(advice.clusters, advice.cluster_counts)))
    print(f"suggested: scales {list(advice.suggested.scales)}, "
          f"aspect ratios {[list(r) for r in advice.suggested.aspect_ratios]}")
    if args.out:
        Path(args.out).write_text(json.dumps(advice.suggested.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}: ssdzoo.build(..., anchors=AnchorConfig.from_dict(json.load(open(...))))")
    return 0


def view(args: argparse.Namespace) -> int:
    """Write the HTML gallery of a dataset and print where it is; 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the gallery shows every finding
        dataset = load(args.path, args.format, args.split, _class_names(args.classes))
    title = f"{Path(args.path).name}" + (f" ({args.split})" if args.split else "")
    detections = None
    if not (0 <= args.score < 1 and 0 < args.iou <= 1):
        raise ValueError(f"--score must be in [0, 1) and --iou in (0, 1], got {args.score} and {args.iou}")
    if args.model:
        from ssdzoo.models.builders import load as load_model

        detections = load_model(args.model, compile=False).detect([r.image_path for r in dataset],
                                                                   score_threshold=args.score)
    file = write_gallery(dataset, args.out, title, args.page_size, args.thumb_size, detections, args.iou)
    print(f"wrote {file}: {len(dataset)} images, {len(dataset.report.findings)} findings"
          + (f", {sum(map(len, detections))} detections of {args.model}" if detections is not None else "")
          + "; open it in a browser")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check-data``, ``convert``, ``anchors`` and ``view`` sub-commands (each sets ``func``)."""
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
                              help="convert annotations between formats (images are copied), or write "
                                   "sharded TFRecords (--to tfrecord) for data larger than memory")
    p.add_argument("src", help="source dataset folder or annotation file")
    p.add_argument("out", help="output folder")
    p.add_argument("--from", dest="src_format", help=f"{', '.join(FORMATS)} (default: detected)")
    p.add_argument("--to", dest="dst_format", required=True, help=", ".join(WRITE_FORMATS))
    p.add_argument("--shard-size", type=int, help=f"records per TFRecord shard (default "
                   f"{DEFAULT_SHARD_SIZE}); shards <split>-00000-of-000NN.tfrecord, one split per run")
    p.set_defaults(func=convert_data)

    p = subparsers.add_parser("anchors", parents=[common],
                              help="how well the anchors cover the boxes; suggest better-fitting ones")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help=f"{', '.join(FORMATS)} (default: detected)")
    p.add_argument("--input-size", type=int, default=300, choices=sorted(DEFAULT_ANCHORS))
    p.add_argument("--anchors", help="AnchorConfig JSON to compare against (default: the SSD paper's)")
    p.add_argument("--clusters", type=int, default=6, help="k of the IoU k-means on box shapes")
    p.add_argument("--augment-passes", type=int, default=DEFAULT_PASSES,
                   help=f"fit the boxes that this many passes of the training augmentation give (zoom-out, "
                        f"crop, flip; seed 0), as `train --anchors auto` does (default {DEFAULT_PASSES}); "
                        f"0: the boxes as annotated")
    p.add_argument("--zoom-out", type=float, default=4.0,
                   help="the training run's --zoom-out (largest zoom-out canvas; 1 = off; default 4, the "
                        "pretrained recipe's; a run from scratch uses 1)")
    p.add_argument("--out", help="write the suggested AnchorConfig as JSON here")
    p.set_defaults(func=anchors)

    p = subparsers.add_parser("view", parents=[common],
                              help="write an HTML gallery of the images, boxes and checker findings")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help=f"{', '.join(FORMATS)} (default: detected)")
    p.add_argument("--out", required=True, help="gallery folder (index.html and thumbs/)")
    p.add_argument("--page-size", type=int, default=60, help="images per page")
    p.add_argument("--thumb-size", type=int, default=480, help="longest thumbnail side in pixels")
    p.add_argument("--model", help="a .keras model: show its detections as true / false positives and "
                   "the missed boxes")
    p.add_argument("--score", type=float, default=0.5, help="lowest detection score shown (with --model)")
    p.add_argument("--iou", type=float, default=0.5, help="IoU a true positive needs (with --model)")
    p.set_defaults(func=view)
