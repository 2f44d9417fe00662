"""``ssdzoo predict``: detections of a saved model on an image or a folder of images.

An image that cannot be read (empty, truncated, not an image…) is skipped with its reason;
the skipped files are listed at the end and in ``skipped.txt``. The exit status is 0 when at
least one image was read, 2 (one error line) when none could be.
"""

from __future__ import annotations

import argparse
import os

_BATCH = 8  # images read and detected at a time (memory stays bounded on large folders)


def _write_skipped(skipped: dict[str, str], out: str) -> None:
    """Print the unreadable files and write them to ``out/skipped.txt``, one ``path: reason`` a line."""
    if not skipped:
        return
    lines = [f"{path}: {reason}" for path, reason in skipped.items()]
    print(f"skipped {len(skipped)} unreadable image{'s' if len(skipped) > 1 else ''} "
          f"(listed in {os.path.join(out, 'skipped.txt')}):\n  " + "\n  ".join(lines))
    with open(os.path.join(out, "skipped.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> int:
    """Write one PNG per readable image, detections.json and skipped.txt; print a line per image."""
    import json

    from ssdzoo.deploy.runtime import load_detector
    from ssdzoo.evaluation.plots import draw_detections
    from ssdzoo.utils.images import ImageError, image_files, read_image

    if not os.path.exists(args.images):
        raise FileNotFoundError(f"{args.images!r} does not exist")
    paths = image_files(args.images) if os.path.isdir(args.images) else [args.images]
    if not paths:
        raise ValueError(f"{args.images}: no image files in the folder")
    model = load_detector(args.model)
    os.makedirs(args.out, exist_ok=True)
    found, skipped = {}, {}
    for start in range(0, len(paths), _BATCH):
        images = {}
        for path in paths[start:start + _BATCH]:
            try:
                images[path] = read_image(path)
            except (ImageError, OSError) as error:
                skipped[path] = getattr(error, "problem", str(error))
                print(f"{path}: skipped, {skipped[path]}")
        if not images:
            continue
        for (path, image), det in zip(images.items(), model.detect(list(images.values()),
                                                                  score_threshold=args.score), strict=True):
            found[path] = det.to_dict()
            name = os.path.splitext(os.path.basename(path))[0] + ".png"
            draw_detections(image, det.boxes, det.labels, det.scores, model.class_names,
                            os.path.join(args.out, name))
            print(f"{path}: {len(det)} detections")
    with open(os.path.join(args.out, "detections.json"), "w") as f:
        json.dump(found, f, indent=1)
    _write_skipped(skipped, args.out)
    if not found:
        raise ValueError(f"none of the {len(paths)} images could be read (see {args.out}/skipped.txt)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``predict``."""
    p = sub.add_parser("predict", help="detect objects in an image or a folder of images "
                       "(unreadable images are skipped and listed)")
    p.add_argument("model", help=".keras file, SavedModel directory, .tflite or .onnx")
    p.add_argument("images")
    p.add_argument("--out", default="predictions")
    p.add_argument("--score", type=float, default=0.5)
    p.set_defaults(func=run)
