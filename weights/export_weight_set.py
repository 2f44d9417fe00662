"""Turn a trained ``.keras`` model into a shipped weight set: save its weights next to the
manifest, evaluate it on a test split and record file, sha256, mAP and command in
``weights/manifest.json``. The figures written are the ones this script measures.

    python weights/export_weight_set.py runs/bccd_small_long/best.keras --name bccd \
        --dataset "BCCD (train split; val for checkpoint choice)" --command "ssdzoo train ..."
"""

from __future__ import annotations

import argparse
import json
import os

import ssdzoo
from ssdzoo.models.weights import _file_hash

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--command", required=True, help="the command that trained the model")
    parser.add_argument("--data", default="data/BCCD")
    parser.add_argument("--format", default="voc")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    model = ssdzoo.load(args.model, compile=False)
    file = f"{args.name}_{model.backbone_name}.weights.h5"
    weights_path = os.path.join(HERE, file)
    model.save_weights(weights_path)
    test = ssdzoo.data.load(args.data, format=args.format, split=args.split)
    result = ssdzoo.evaluate(model, test, coco=False)
    # every architecture field that is not the default (head, head_norm, anchors...): the
    # manifest entry must rebuild exactly this model
    arch = {k: v for k, v in model.arch.non_default().items() if k not in ("num_classes", "class_names")}
    entry = {
        "name": args.name,
        "backbone": model.backbone_name,
        "backbone_options": model.backbone_options,
        "dataset": args.dataset,
        "classes": model.class_names,
        "input_size": model.input_size,
        "head_width": model.head_width,
        **{k: v for k, v in arch.items() if k not in ("backbone", "backbone_options")},
        "file": file,
        "sha256": _file_hash(weights_path, "sha256"),
        "map": {"value": round(result.map, 4), "metric": "VOC07 11-point mAP@0.5",
                "split": f"{args.data} {args.split} ({len(test)} images)"},
        "command": args.command,
    }
    path = os.path.join(HERE, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    manifest["weight_sets"] = [e for e in manifest["weight_sets"] if e["name"] != args.name] + [entry]
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"{file}: {os.path.getsize(weights_path) / 1e6:.1f} MB, test mAP {result.map:.4f}")


if __name__ == "__main__":
    main()
