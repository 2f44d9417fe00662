"""An exported artifact as a detector: ``load_exported(path).detect(images)`` with the interface
of ``SSD.detect`` and its ``class_names``, so ``evaluate`` and the CLI take either."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.deploy.export import format_of_path
from ssdzoo.models.detector import PRESETS, Detections
from ssdzoo.utils.images import image_items, load_image

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD
    from ssdzoo.utils.typing import ImagesLike


class ExportedDetector:
    """A loaded SavedModel / TFLite / ONNX artifact written by :func:`ssdzoo.export`.

    Attributes:
        path, format: where it was loaded from and its format name.
        metadata: what the artifact records (class names, input size, baked NMS settings).
    """

    def __init__(self, path: str, threads: int | None = None):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"exported model {self.path!r} does not exist")
        fmt = format_of_path(self.path)
        self.format = fmt.name
        if threads is None:
            self.runner = fmt.module.Runner(self.path)
        elif fmt.name == "saved_model":
            raise ValueError("a SavedModel runs on TensorFlow's process-wide threads "
                             "(tf.config.threading), not on threads= of load_exported")
        else:
            self.runner = fmt.module.Runner(self.path, threads=int(threads))
        self.metadata: dict = self.runner.metadata

    @property
    def class_names(self) -> list[str]:
        """The foreground class names recorded in the artifact."""
        return list(self.metadata["class_names"])

    @property
    def input_size(self) -> int:
        """The square input side the artifact takes."""
        return int(self.metadata["input_size"])

    def infer(self, batch: np.ndarray) -> dict:
        """The artifact's outputs for a uint8 ``(B, S, S, 3)`` batch (a batch-1 runtime: B calls)."""
        if self.runner.batch_size is None:
            return self.runner(batch)
        outs = [self.runner(batch[i:i + 1]) for i in range(len(batch))]
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}

    def detect(self, images: ImagesLike, *, preset: str = "visualize", score_threshold: float | None = None,
               iou_threshold: float | None = None, max_detections: int | None = None,
               batch_size: int = 8) -> list[Detections]:
        """Detections per image, boxes in that image's pixels, as ``SSD.detect``.

        The NMS IoU and the lowest score are fixed at export: lower ``score_threshold`` / higher
        ``max_detections`` than baked in give what was baked in; a different ``iou_threshold`` is
        a ``ValueError``.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        baked_iou = float(self.metadata["iou_threshold"])
        if iou_threshold is not None and abs(float(iou_threshold) - baked_iou) > 1e-6:
            raise ValueError(f"this artifact's NMS IoU is {baked_iou} (fixed at export), not {iou_threshold}")
        score = PRESETS[preset]["score_threshold"] if score_threshold is None else score_threshold
        keep_max = PRESETS[preset]["max_detections"] if max_detections is None else max_detections
        size = self.input_size
        items = image_items(images)
        results = []
        for start in range(0, len(items), batch_size):
            chunk = [load_image(x, start + i) for i, x in enumerate(items[start:start + batch_size])]
            out = self.infer(np.stack([artifact_input(im, size) for im in chunk]))
            for i, im in enumerate(chunk):
                n = int(out["num_detections"][i])
                scores = out["scores"][i, :n]
                keep = np.flatnonzero(scores >= score)[:int(keep_max)]
                scale = np.array([im.shape[1], im.shape[0]] * 2, np.float32)
                labels = out["classes"][i, :n][keep].astype(np.int32)
                results.append(Detections(out["boxes"][i, :n][keep].astype(np.float32) * scale,
                                          scores[keep].astype(np.float32), labels,
                                          [self.class_names[j] for j in labels]))
        return results


def artifact_input(image: np.ndarray, size: int) -> np.ndarray:
    """What an artifact takes for one RGB image: resized to ``size`` x ``size`` (bilinear), rounded to uint8."""
    import cv2

    resized = cv2.resize(np.asarray(image, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def load_exported(path: str | os.PathLike, threads: int | None = None) -> ExportedDetector:
    """Load an artifact written by :func:`ssdzoo.export` (format from its suffix / directory).

    ``threads``: the TFLite / ONNX runtime's threads (None: its default — LiteRT one, onnxruntime
    one per core); a SavedModel runs on TensorFlow's process-wide thread pools.
    """
    return ExportedDetector(os.fspath(path), threads)


def load_detector(path: str | os.PathLike) -> SSD | ExportedDetector:
    """A ``.keras`` model (:func:`ssdzoo.load`) or an exported artifact (:func:`load_exported`) from its path.

    Both have ``detect`` and ``class_names``.
    """
    path = os.fspath(path)
    if path.lower().endswith((".keras", ".h5")):
        from ssdzoo.models.builders import load

        return load(path, compile=False)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model {path!r} does not exist")
    return load_exported(path)
