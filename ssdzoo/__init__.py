"""ssdzoo: SSD300/SSD512 object detectors on interchangeable pretrained backbones (Keras 3).

``import ssdzoo`` is light: TensorFlow and Keras load on first use of a name that needs them.
Its serialisable classes (the model, its layers, loss, schedules) are registered with Keras as
soon as Keras is imported, before or after ``import ssdzoo``, so that a plain
``keras.saving.load_model("model.keras")`` works (see :mod:`ssdzoo._registration`).
"""

from __future__ import annotations

import importlib

from ssdzoo import _registration

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    "build": "models.builders", "build_imagenet_or_scratch": "models.builders",
    "load": "models.builders", "save_backbone_weights": "models.builders",
    "SSD": "models.ssd", "ArchConfig": "models.config", "WeightsUnavailableError": "models.backbone",
    "register_head": "models.heads", "get_head": "models.heads", "list_heads": "models.heads",
    "Head": "models.heads",
    "list_backbones": "models.registry", "register_backbone": "models.registry",
    "get_backbone": "models.registry", "BackboneSpec": "models.registry",
    "freeze": "models.freezing", "unfreeze": "models.freezing",
    "MultiBoxLoss": "core.loss",
    "encode_targets": "core.matching", "decode_targets": "core.matching",
    "encode_boxes": "core.box_coder", "decode_boxes": "core.box_coder", "box_iou": "core.box_coder",
    "AnchorConfig": "core.anchors", "generate_anchors": "core.anchors",
    "Preprocess": "models.layers", "L2Normalization": "models.layers",
    "detect": "models.detector", "Detections": "models.detector",
    "decode_predictions": "models.detector", "DetectionDecoder": "models.decoder", "BoxCoder": "core.box_coder",
    "evaluate": "evaluation.evaluator", "EvalResult": "evaluation.evaluator",
    "eval_detection_voc": "metrics", "eval_detection_coco": "metrics",
    "TrainConfig": "training.config", "train": "training.run",
    "WarmupStepDecay": "core.schedules",
    "transfer_weights": "models.transfer", "TransferReport": "models.transfer",
    "StagedUnfreeze": "training.callbacks", "EvaluateMAP": "training.callbacks",
    "recalibrate_batchnorm": "training.batchnorm",
    "expected_imagenet_file": "models.weights", "check_imagenet_file": "models.weights",
    "load_weight_set": "models.weights", "weight_sets": "models.weights",
    "export": "deploy.export", "load_exported": "deploy.runtime",
}
# public submodule name -> where it lives now (the names of ssdzoo 0.1 keep working)
_SUBMODULES = {
    "data": "data", "metrics": "metrics", "core": "core", "models": "models",
    "evaluation": "evaluation", "training": "training", "cli": "cli", "utils": "utils",
    "deploy": "deploy",
    "anchors": "core.anchors", "box_coder": "core.box_coder", "loss": "core.loss",
    "schedules": "core.schedules", "layers": "models.layers", "registry": "models.registry",
    "model": "models.builders", "freezing": "models.freezing", "profile": "models.profile",
    "detection": "models.detector", "weights": "models.weights", "transfer": "models.transfer",
    "bench": "evaluation.bench", "plots": "evaluation.plots", "callbacks": "training.callbacks",
    "report": "training.report",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)

_registration.register_when_keras_is_imported()


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{_SUBMODULES[name]}")
    else:
        raise AttributeError(f"module 'ssdzoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
