"""The boxes a training run sees: a dataset's boxes drawn through the SSD augmentation, seeded.

Training matches anchors to boxes after zoom-out, crop and flip (:func:`ssdzoo.data.augment.ssd_geometry`,
the geometry of the pipeline's :func:`~ssdzoo.data.augment.ssd_augment`), whose sizes spread far
wider than the annotated ones. The geometry needs no pixels, so no image is read. Boxes are
normalised ``x1 y1 x2 y2`` of the augmented image (as the model sees it after resizing).
"""

from __future__ import annotations

import functools

import numpy as np

from ssdzoo.utils.images import inspect_image

from .records import Dataset, Record

#: Passes over the records that :func:`augmented_boxes` draws by default.
DEFAULT_PASSES = 4


def record_boxes(record: Record) -> np.ndarray:
    """A record's pixel ``x1 y1 x2 y2`` boxes as fractions of its image, ``(N, 4)`` float64."""
    width, height = record.width, record.height
    if not (width and height):
        width, height = inspect_image(record.image_path, decode=False).size
    return record.boxes.astype(np.float64) / [width, height, width, height]


def _normalised(dataset: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per record its boxes clipped to [0, 1], empty ones dropped (as the pipeline loads them), and labels."""
    out = []
    for record in dataset:
        boxes = np.clip(record_boxes(record), 0.0, 1.0).astype(np.float32) if len(record.labels) else np.zeros((0, 4))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        out.append((boxes[keep], np.asarray(record.labels, np.int32)[keep]))
    return out


@functools.cache
def _geometry(zoom_out: float):
    """:func:`~ssdzoo.data.augment.ssd_geometry` as one traced graph for every record (once per zoom-out)."""
    import tensorflow as tf

    from .augment import ssd_geometry

    return tf.function(functools.partial(ssd_geometry, zoom_out=zoom_out), autograph=False, input_signature=[
        tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None,), tf.int32), tf.TensorSpec((2,), tf.int64)])


def augmented_boxes(dataset: Dataset, passes: int = DEFAULT_PASSES, seed: int = 0,
                    zoom_out: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """The boxes ``passes`` augmented passes over ``dataset`` give: ``(N, 4)`` normalised x1y1x2y2 and ``(N,)`` labels.

    Each record is augmented ``passes`` times with seeds drawn from ``seed`` (the same boxes for
    the same arguments) and training's ``zoom_out``; records without boxes are left out, as the
    crop sampler needs one.
    """
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    records = [(boxes, labels) for boxes, labels in _normalised(dataset) if len(labels)]
    if not records:
        raise ValueError("the dataset has no boxes to fit anchors to")
    seeds = np.random.default_rng(seed).integers(-2**63, 2**63 - 1, (passes, len(records), 2), dtype=np.int64)
    geometry = _geometry(float(zoom_out))
    drawn = [geometry(boxes, labels, seeds[p, k])[1:] for p in range(passes)
             for k, (boxes, labels) in enumerate(records)]
    return (np.concatenate([b.numpy() for b, _ in drawn]).astype(np.float64),
            np.concatenate([lab.numpy() for _, lab in drawn]))
