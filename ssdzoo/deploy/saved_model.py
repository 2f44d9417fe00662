"""SavedModel export: a ``tf.Module`` holding the model, with two signatures —
``serving_default`` (``images``: uint8 ``(B, S, S, 3)`` at the model's input size → normalised
boxes) and ``detect_encoded`` (``image_bytes``: one encoded JPEG/PNG/BMP of any size → boxes in
that image's pixels). NMS is ``combined_non_max_suppression``, the op ``model.detect`` runs, so the
detections are the Keras model's. Class names and NMS settings: the string variable
``metadata_json`` (``tf.saved_model.load(path).metadata_json.numpy()``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.deploy.graph import PostProcess, serving_function
from ssdzoo.models.decoder import OUTPUT_KEYS, decode_detections

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD

PRECISIONS = ("fp32",)


def _module(model, post: PostProcess, meta: dict):
    import tensorflow as tf

    size = int(model.input_size)
    anchors = np.asarray(model.anchors, np.float32)  # numpy: a graph constant, not a captured input
    box_coder = model.box_coder

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="image_bytes")], autograph=False)
    def detect_encoded(image_bytes):
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        resized = tf.image.resize(tf.cast(image, tf.float32)[None], (size, size), method="bilinear")
        out = decode_detections(model(resized, training=False), anchors, box_coder, post.score_threshold,
                                post.iou_threshold, post.max_detections)
        scale = tf.stack([hw[1], hw[0], hw[1], hw[0]])
        return {**{k: v[0] for k, v in out.items()}, "boxes": out["boxes"][0] * scale}

    module = tf.Module()
    module.model = model
    module.metadata_json = tf.Variable(json.dumps(meta), trainable=False, name="metadata_json")
    module.serve = serving_function(model, post)
    module.detect_encoded = detect_encoded
    return module


def write(model: SSD, path: str, post: PostProcess, precision: str, calibration: np.ndarray | None,
          meta: dict) -> None:
    """Save the serving module as a SavedModel directory at ``path``."""
    import tensorflow as tf

    module = _module(model, post, meta)
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve,
                                                  "detect_encoded": module.detect_encoded})


class Runner:
    """A loaded SavedModel: ``runner(uint8 batch)`` → the detections dict as numpy."""

    batch_size = None

    def __init__(self, path: str):
        import tensorflow as tf

        self._loaded = tf.saved_model.load(path)
        self._fn = self._loaded.signatures["serving_default"]
        self.metadata = json.loads(self._loaded.metadata_json.numpy().decode())

    def __call__(self, images: np.ndarray) -> dict:
        out = self._fn(images=np.asarray(images, np.uint8))
        return {k: np.asarray(out[k]) for k in OUTPUT_KEYS}
