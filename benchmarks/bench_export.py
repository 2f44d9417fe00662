"""The per-format table of BENCHMARKS.md: mAP and speed of each export format and precision for
the shipped ``bccd`` model (``small``), MobileNet (alpha 0.5, head width 0.25) with the ``ssd`` and
the ``lite`` head, VGG16 (SSD300, the paper's head) and the torchvision SSD peers, in ONE process
(the ratios are fair) with ``ssdzoo.deploy.benchmark`` — what ``ssdzoo bench --formats`` runs.

mAP on the BCCD test split (72 images; int8 calibrated on up to ``--calibration-size`` BCCD train
images) for the trained models: ``bccd`` and, with ``--mobilenet best.keras``, a trained MobileNet
(ssd head); the others are untrained (speed only).

    python benchmarks/bench_export.py [--mobilenet runs/x/best.keras] [--repeats 15] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

FORMATS = ("keras", "saved_model", "onnx", "tflite")
PRECISIONS = ("fp32", "fp16", "int8")


def main() -> None:
    """Build / load the models, measure every format of each, the peers, and write the tables."""
    import ssdzoo
    from ssdzoo.deploy.benchmark import bench_model, machine_header, peers_table, write_tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mobilenet", default=None, help="a trained MobileNet (ssd head) .keras for its mAP")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--threads", type=int, default=2, help="TFLite / ONNX / torch threads")
    parser.add_argument("--calibration-size", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=None, help="model labels to run (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    bccd = str(ROOT / "data" / "BCCD")
    test = list(ssdzoo.data.load(bccd, format="voc", split="test"))
    train = list(ssdzoo.data.load(bccd, format="voc", split="train"))
    mobilenet = dict(weights=None, alpha=0.5, head_width=0.25, class_names=["Platelets", "RBC", "WBC"])
    models = {  # label -> (model factory, evaluate mAP)
        "small (bccd)": (lambda: ssdzoo.build("small", 3, weights="bccd", head_width=0.25), True),
        "mobilenet ssd": ((lambda: ssdzoo.load(args.mobilenet, compile=False)) if args.mobilenet
                          else (lambda: ssdzoo.build("mobilenet", 3, head="ssd", **mobilenet)), bool(args.mobilenet)),
        "mobilenet lite": (lambda: ssdzoo.build("mobilenet", 3, head="lite", **mobilenet), False),
        "vgg16": (lambda: ssdzoo.build("vgg16", 3, weights=None, class_names=mobilenet["class_names"]), False),
    }
    tables = []
    for label, (factory, with_map) in models.items():
        if args.only is None or label in args.only:
            tables.append(bench_model(factory(), test, name=label, formats=FORMATS, precisions=args.precisions,
                                      calibration=train, calibration_size=args.calibration_size,
                                      repeats=args.repeats, threads=args.threads, with_map=with_map))
    tables.append(peers_table(test, 3, args.repeats, args.threads))
    write_tables(tables, args.out, machine_header("BCCD test", len(test)))


if __name__ == "__main__":
    main()
