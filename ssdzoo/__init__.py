"""ssdzoo: SSD300/SSD512 object detectors on interchangeable pretrained backbones (Keras 3).

``import ssdzoo`` is light: TensorFlow and Keras load on first use of a name that needs them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "build": "model", "build_imagenet_or_scratch": "model", "load": "model", "SSD": "model", "save_backbone_weights": "model",
    "WeightsUnavailableError": "model",
    "list_backbones": "registry", "register_backbone": "registry", "get_backbone": "registry",
    "BackboneSpec": "registry",
    "freeze": "freezing", "unfreeze": "freezing",
    "MultiBoxLoss": "loss",
    "encode_targets": "box_coder", "decode_targets": "box_coder", "encode_boxes": "box_coder",
    "decode_boxes": "box_coder", "box_iou": "box_coder",
    "AnchorConfig": "anchors", "generate_anchors": "anchors",
    "Preprocess": "layers", "L2Normalization": "layers",
    "detect": "detection", "Detections": "detection", "decode_predictions": "detection",
    "evaluate": "evaluation", "EvalResult": "evaluation",
    "eval_detection_voc": "metrics", "eval_detection_coco": "metrics",
    "TrainConfig": "training", "train": "training",
    "WarmupStepDecay": "schedules",
    "transfer_weights": "transfer", "TransferReport": "transfer",
    "StagedUnfreeze": "callbacks",
    "expected_imagenet_file": "weights", "check_imagenet_file": "weights",
    "load_weight_set": "weights", "weight_sets": "weights",
}
_SUBMODULES = {"data", "metrics", "plots", "callbacks", "anchors", "box_coder", "layers",
               "registry", "model", "loss", "freezing", "bench", "profile", "schedules", "detection",
               "evaluation", "training", "report"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'ssdzoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
