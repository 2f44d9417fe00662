"""From model outputs to detections in original-image pixels: :func:`detect` runs the model and
the decoder (:mod:`ssdzoo.models.decoder`) in one cached ``tf.function`` per model."""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ssdzoo.core.box_coder import BoxCoder
from ssdzoo.models.decoder import OUTPUT_KEYS, decode_detections
from ssdzoo.utils.images import image_items, load_image
from ssdzoo.utils.typing import ImagesLike, TensorLike

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD

#: Score threshold and detections kept per image for the two usual purposes.
PRESETS = {
    "evaluate": {"score_threshold": 0.01, "max_detections": 200},
    "visualize": {"score_threshold": 0.5, "max_detections": 100},
}


@dataclasses.dataclass
class Detections:
    """Detections of one image: ``boxes (N, 4)`` float32 pixels ``x1 y1 x2 y2`` of the original
    image, ``scores (N,)``, ``labels (N,)`` 0-based class indices, ``names`` their class names."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.scores)

    def to_dict(self) -> dict:
        """JSON-able dict: ``boxes`` pixel x1 y1 x2 y2 (2 decimals), ``scores``, ``labels``, ``names``."""
        return {"boxes": self.boxes.round(2).tolist(), "scores": self.scores.round(4).tolist(),
                "labels": self.labels.tolist(), "names": self.names}


def decode_predictions(predictions: TensorLike, anchors: TensorLike, *, score_threshold: float = 0.01,
                       iou_threshold: float = 0.45, max_detections: int = 200,
                       box_coder: BoxCoder | None = None) -> tuple[TensorLike, TensorLike, TensorLike, TensorLike]:
    """Decode raw model outputs to normalised x1y1x2y2 boxes and run per-class NMS, in one TF graph.

    The logic of :class:`~ssdzoo.models.decoder.DetectionDecoder`.

    Args:
        predictions: ``(B, A, 4 + C + 1)`` model output (offsets, logits; class 0 background).
        anchors: ``(A, 4)`` normalised x1y1x2y2.
        box_coder: the offset encoding (default ``BoxCoder()``).

    Returns:
        ``boxes (B, K, 4)`` normalised x1y1x2y2 clipped to [0, 1], ``scores (B, K)``,
        ``labels (B, K)`` int32 0-based, ``counts (B,)`` valid detections per image
        (rows past ``counts`` are padding).
    """
    out = decode_detections(predictions, anchors, box_coder or BoxCoder(), score_threshold,
                            iou_threshold, max_detections)
    return tuple(out[key] for key in OUTPUT_KEYS)


#: One inference ``tf.function`` per model (thresholds are tensor arguments, so changing
#: them does not retrace); dropped with the model.
_INFER_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _infer_fn(model):
    """The model's ``tf.function`` running the model and the decoder (``model.predict`` adds
    40-70 ms of fixed overhead per call on CPU): ``(images, score_threshold, iou_threshold,
    max_detections)`` → dict of :func:`~ssdzoo.models.decoder.decode_detections`."""
    import tensorflow as tf

    if model not in _INFER_FNS:
        model_ref = weakref.ref(model)  # the cached function must not keep the model alive

        @tf.function(reduce_retracing=True, autograph=False)  # plain graph code: no AutoGraph pass
        def infer(images, score_threshold, iou_threshold, max_detections: int):
            net = model_ref()
            box_coder = getattr(net, "box_coder", None) or BoxCoder()
            return decode_detections(net(images, training=False), net.anchors, box_coder,
                                     score_threshold, iou_threshold, max_detections)

        _INFER_FNS[model] = infer
    return _INFER_FNS[model]


def detect(model: SSD, images: ImagesLike, *, preset: str = "visualize", score_threshold: float | None = None,
           iou_threshold: float = 0.45, max_detections: int | None = None,
           batch_size: int = 8) -> list[Detections]:
    """Detect objects in images of any size.

    Args:
        model: an :class:`ssdzoo.SSD`.
        images: a path, an ``(H, W, 3)`` array, a ``(B, H, W, 3)`` batch, or a list of paths
            and/or arrays (RGB, 0-255).
        preset: ``"visualize"`` (score >= 0.5, 100 per image) or ``"evaluate"`` (0.01, 200);
            ``score_threshold`` / ``max_detections`` override it.

    Returns:
        One :class:`Detections` per image, boxes in that image's pixels.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    params = {**PRESETS[preset]}
    if score_threshold is not None:
        params["score_threshold"] = score_threshold
    if max_detections is not None:
        params["max_detections"] = max_detections
    infer = _infer_fn(model)
    thresholds = (np.asarray(params["score_threshold"], np.float32), np.asarray(iou_threshold, np.float32))
    size = model.input_shape[1:3]
    items = image_items(images)
    results = []
    for start in range(0, len(items), batch_size):
        chunk = [load_image(x, start + i) for i, x in enumerate(items[start:start + batch_size])]
        batch = np.stack([cv2.resize(np.asarray(im, np.float32), (size[1], size[0]),
                                     interpolation=cv2.INTER_LINEAR) for im in chunk])
        out = infer(batch, *thresholds, int(params["max_detections"]))
        boxes, scores, labels, counts = (np.asarray(out[key]) for key in OUTPUT_KEYS)
        for i, im in enumerate(chunk):
            n = int(counts[i])
            scale = np.array([im.shape[1], im.shape[0]] * 2, np.float32)
            lab = labels[i, :n]
            results.append(Detections(boxes[i, :n] * scale, scores[i, :n], lab,
                                      [model.class_names[j] for j in lab]))
    return results
