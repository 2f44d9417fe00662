"""``ssdzoo export``: a saved model as a deployable artifact with decoding and NMS inside."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Export, then print the artifact's path, format, precision and size."""
    import os

    from ssdzoo.deploy.export import export

    path = export(args.model, args.out, format=args.format, precision=args.precision,
                  calibration=args.calibration, score_threshold=args.score, iou_threshold=args.iou,
                  max_detections=args.max_detections, calibration_size=args.calibration_size)
    size = (sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
            if os.path.isdir(path) else os.path.getsize(path))
    print(f"{path}: {args.format} {args.precision}, {size / 1e6:.2f} MB")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``export``."""
    from ssdzoo.deploy.export import FORMATS, PRECISIONS

    p = sub.add_parser("export", help="export a .keras model (SavedModel, TFLite, ONNX) with NMS inside")
    p.add_argument("model", help=".keras file")
    p.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--precision", default="fp32", help=f"one of {', '.join(PRECISIONS)} (int8: tflite, onnx)")
    p.add_argument("--calibration", default=None, help="folder of images for int8 calibration")
    p.add_argument("--calibration-size", type=int, default=100, help="calibration images used at most")
    p.add_argument("--out", required=True, help="artifact path (.tflite, .onnx, or a SavedModel directory)")
    p.add_argument("--score", type=float, default=0.01, help="lowest score kept in the artifact")
    p.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-detections", type=int, default=200)
    p.set_defaults(func=run)
