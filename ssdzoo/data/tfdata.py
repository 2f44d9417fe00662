"""The ``tf.data`` input pipeline: records → batches of (images, SSD targets) for ``model.fit``.

Records come from a :class:`~ssdzoo.data.records.Dataset` held in memory (images read from their
files) or are streamed from TFRecord shards (:class:`~ssdzoo.data.tfrecord.ShardedDataset`); both
get the same decoding (the same pixels), augmentation and target encoding.

Images come out float32 ``(B, H, W, 3)``, RGB, 0-255, at the model's input size; targets
``(B, num_anchors, 5)`` float32 as in docs/CONVENTIONS.md (4 encoded offsets, then the class id
with 0 = background), encoded for the whole batch at once by
:func:`ssdzoo.encode_targets`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from ssdzoo.core.matching import encode_targets
from ssdzoo.utils.images import read_image
from ssdzoo.utils.typing import TensorLike

from . import augment as aug
from . import mix
from .options import check_zoom_out
from .records import Dataset, Record
from .tfrecord import SHUFFLE_BUFFER, ShardedDataset, parse_example

if TYPE_CHECKING:
    import keras

AUTOTUNE = tf.data.AUTOTUNE


def _resolve(model, anchors, input_size) -> tuple[np.ndarray, tuple[int, int]]:
    """Anchors ``(A, 4)`` and input (height, width): explicit arguments win over the model's."""
    if anchors is None and model is not None:
        anchors = model.anchors
    if input_size is None and model is not None:
        input_size = tuple(model.input_shape[1:3])
    if anchors is None or input_size is None:
        raise ValueError("pipeline needs a model, or both anchors= and input_size=")
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    return np.asarray(anchors, np.float32).reshape(-1, 4), (int(input_size[0]), int(input_size[1]))


def _record_tensors(records: Sequence[Record]) -> tuple[np.ndarray, ...]:
    """Paths ``(n,)``, pixel boxes ``(n, M, 4)`` and labels ``(n, M)`` padded with -1."""
    if not records:
        raise ValueError("pipeline: no records")
    width = max(1, max(len(r.labels) for r in records))
    boxes = np.zeros((len(records), width, 4), np.float32)
    labels = np.full((len(records), width), -1, np.int32)
    for i, r in enumerate(records):
        boxes[i, : len(r.labels)] = r.boxes
        labels[i, : len(r.labels)] = r.labels
    return np.asarray([str(r.image_path) for r in records]), boxes, labels


def _read(path: bytes | np.ndarray) -> np.ndarray:
    return read_image(os.fsdecode(np.asarray(path).item()))  # bytes in a graph, a 0-d array eagerly


def load_example(path: TensorLike, boxes: TensorLike,
                 labels: TensorLike) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Read one image file and normalise its padded pixel x1y1x2y2 boxes to [0, 1].

    Decodes with :func:`ssdzoo.utils.images.read_image`, the decoder of the checker and of
    ``detect`` (EXIF orientation applied, TIFF, CMYK, 16-bit... as RGB), and drops padding and
    empty boxes.

    Returns (image ``(H, W, 3)`` uint8, boxes ``(K, 4)`` float32, labels ``(K,)`` int32).
    """
    image = tf.numpy_function(_read, [path], tf.uint8, stateful=False)
    image.set_shape((None, None, 3))
    return _normalise_boxes(image, boxes, labels)


def _normalise_boxes(image: TensorLike, boxes: TensorLike,
                    labels: TensorLike) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Pixel x1y1x2y2 boxes of ``image`` ``(H, W, 3)`` to [0, 1], padding and empty boxes dropped."""
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    boxes = tf.clip_by_value(boxes / tf.stack([hw[1], hw[0], hw[1], hw[0]]), 0.0, 1.0)
    keep = (labels >= 0) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return image, tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def load_serialized(serialized: TensorLike) -> tuple[TensorLike, TensorLike, TensorLike]:
    """One TFRecord example (:mod:`ssdzoo.data.tfrecord`) as :func:`load_example` gives a record."""
    return _normalise_boxes(*parse_example(serialized))


def _map(ds: tf.data.Dataset, fn: Callable) -> tf.data.Dataset:
    """``ds.map(fn)`` in parallel, traced as written: the functions here are plain graph code,
    so AutoGraph's source conversion (about 3 s of every training start) is skipped."""
    return ds.map(tf.autograph.experimental.do_not_convert(fn), num_parallel_calls=AUTOTUNE)


def pipeline(dataset: Dataset | ShardedDataset | Sequence[Record], model: keras.Model | None = None, *,
             anchors: TensorLike | None = None,
             input_size: int | tuple[int, int] | None = None, batch_size: int = 16,
             augment: bool = False, shuffle: bool | None = None, seed: int | None = 0,
             cache: bool = False, drop_remainder: bool | None = None,
             repeat: bool = False, mosaic: float = 0.0, mixup: float = 0.0,
             zoom_out: float = 4.0, skip: int = 0) -> tf.data.Dataset:
    """Batches of ``(images, targets)`` for training (``augment=True``) or evaluation.

    Args:
        dataset: an :class:`ssdzoo.data.Dataset` or a list of :class:`Record` (pixel boxes), or
            a :class:`ssdzoo.data.tfrecord.ShardedDataset`, streamed from its shards (shuffled
            shard order, interleaved reads and a buffer of ``SHUFFLE_BUFFER`` records).
        model: an SSD model; its ``anchors`` (``(A, 4)`` normalised x1y1x2y2) and
            ``input_shape[1:3]`` are used unless ``anchors`` / ``input_size`` are given.
        batch_size: images per batch.
        augment: SSD augmentation (:func:`ssdzoo.data.augment.ssd_augment`) instead of a
            plain resize.
        shuffle: shuffle the records every epoch; defaults to ``augment``.
        seed: makes order and augmentation reproducible (``None``: random, and the
            element order may vary for speed). Each pass over the dataset draws new
            augmentations either way.
        cache: keep decoded images in memory (uint8, before augmentation) after the first pass.
        drop_remainder: drop the last incomplete batch; defaults to ``augment`` (under
            tf.distribute every training batch must split evenly across replicas).
        repeat: repeat indefinitely.
        mosaic: probability that a training image becomes a mosaic of 4 images of its batch
            (:func:`ssdzoo.data.mix.mosaic`), after the per-image augmentation.
        mixup: probability that an image is blended with another one of its batch
            (:func:`ssdzoo.data.mix.mixup`), after the mosaic.
        zoom_out: largest zoom-out of the SSD augmentation (canvas side / image side; 1 = off).
        skip: batches of the stream to leave out, so that a resumed run sees the batches it
            would have seen uninterrupted; only paths (and, with ``cache``, decoded images) go
            through the skipped part, not augmentation.

    Returns:
        A dataset of images ``(B, H, W, 3)`` float32 RGB 0-255 and targets
        ``(B, A, 5)`` float32.
    """
    anchors, size = _resolve(model, anchors, input_size)
    zoom_out = check_zoom_out(zoom_out)
    for name, prob in (("mosaic", mosaic), ("mixup", mixup)):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"pipeline: {name} is a probability in [0, 1], got {prob}")
    shuffle = augment if shuffle is None else shuffle
    drop_remainder = augment if drop_remainder is None else drop_remainder

    if isinstance(dataset, ShardedDataset):
        ds, load, buffer = dataset.serialized(shuffle, seed), load_serialized, SHUFFLE_BUFFER
    else:
        records = list(getattr(dataset, "records", dataset))
        ds, load, buffer = tf.data.Dataset.from_tensor_slices(_record_tensors(records)), load_example, len(records)
    if cache:
        ds = _map(ds, load).cache()
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.skip(skip * batch_size)
    if not cache:
        ds = _map(ds, load)

    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).skip(skip * batch_size)
        ds = tf.data.Dataset.zip(ds, seeds)

        def prepare(example, element_seed):
            image, boxes, labels = example
            return aug.ssd_augment(image, boxes, labels, element_seed, size, zoom_out)
    else:
        def prepare(image, boxes, labels):
            image = aug.resize(image, size)
            image.set_shape((*size, 3))
            return image, boxes, labels

    ds = _map(ds, prepare)
    ds = ds.padded_batch(batch_size, padded_shapes=((*size, 3), (None, 4), (None,)),
                         padding_values=(0.0, 0.0, -1), drop_remainder=drop_remainder)
    if mosaic or mixup:  # per batch: tiles and partners come from the same batch
        batch_seeds = tf.data.Dataset.random(seed=None if seed is None else seed + 1,
                                             rerandomize_each_iteration=True).batch(2).skip(skip)
        ds = _map(tf.data.Dataset.zip(ds, batch_seeds),
                  lambda batch, batch_seed: mix.mix_batch(*batch, batch_seed, mosaic_prob=mosaic, mixup_prob=mixup))
    coder = getattr(model, "box_coder", None)  # the model's variances, if it has a coder
    ds = _map(ds, lambda images, boxes, labels: (images, encode_targets(boxes, labels, anchors, box_coder=coder)))
    options = tf.data.Options()
    options.deterministic = seed is not None
    return ds.prefetch(AUTOTUNE).with_options(options)
