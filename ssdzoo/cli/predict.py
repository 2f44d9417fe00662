"""``ssdzoo predict``: detections of a saved model on an image or a folder of images."""

from __future__ import annotations

import argparse
import os

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def run(args: argparse.Namespace) -> int:
    """Write one PNG per image and detections.json; print a line per image."""
    import json

    from ssdzoo.deploy.runtime import load_detector
    from ssdzoo.evaluation.plots import draw_detections
    from ssdzoo.utils.images import read_image

    if not os.path.exists(args.images):
        raise FileNotFoundError(f"{args.images!r} does not exist")
    paths = ([os.path.join(args.images, n) for n in sorted(os.listdir(args.images))
              if n.lower().endswith(IMAGE_SUFFIXES)]
             if os.path.isdir(args.images) else [args.images])
    model = load_detector(args.model)
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``predict``."""
    p = sub.add_parser("predict", help="detect objects in an image or a folder of images")
    p.add_argument("model", help=".keras file, SavedModel directory, .tflite or .onnx")
    p.add_argument("images")
    p.add_argument("--out", default="predictions")
    p.add_argument("--score", type=float, default=0.5)
    p.set_defaults(func=run)
