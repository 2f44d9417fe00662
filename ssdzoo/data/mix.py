"""Mosaic (4 images) and mixup of augmented training batches, as TensorFlow graph ops.

Conventions of :mod:`ssdzoo.data.augment`, for a padded batch (what ``padded_batch`` gives):
images ``(B, H, W, 3)`` float32 RGB 0-255, boxes ``(B, M, 4)`` float32 NORMALISED x1 y1 x2 y2,
labels ``(B, M)`` int32 with -1 = padding. Every random choice is a ``tf.random.stateless_*``
draw from ``seed`` (``(2,)`` int), so a fixed seed gives the same batch. The outputs are padded
batches too: a dropped box keeps its row with label -1 and zero coordinates.

Mosaic (YOLOv4; the layout of Ultralytics' ``load_mosaic``): output ``i`` is a canvas of the
batch's size split at a centre drawn uniformly in [0.25, 0.75] of each side (rounded to a pixel
edge) into four quadrants, top left, top right, bottom left, bottom right. Tile 0 (top left) is
image ``i``, tiles 1-3 random images of the same batch (repeats allowed). Each tile is its image
scaled by a factor drawn uniformly in ``scale`` (a fraction of the canvas side, the same for x and
y) with the image corner that faces the centre put on the centre; it is cut at its quadrant's
edges, and what no image covers is :data:`~ssdzoo.data.augment.MEAN_RGB`. A box is kept, clipped
to the part of its tile that shows, when that part is at least ``min_pixels`` wide and high and
holds at least ``min_visible`` of the box's area; else it is dropped with its label. Unlike
Ultralytics there is no random affine of the whole mosaic afterwards: the SSD zoom-out and crop
before it already vary the scale.

Mixup (Zhang et al. 2018, as YOLO uses it for detection): output ``i`` is
``r * image_i + (1 - r) * image_j`` with ``j != i`` a random image of the batch (for ``B > 1``)
and ``r ~ Beta(alpha, alpha)``; the boxes of both are kept, at full weight.
"""

from __future__ import annotations

import tensorflow as tf

from ssdzoo.utils.typing import TensorLike

from .augment import MEAN_RGB, compose_windows, resample_windows

#: A mosaic box is kept when its visible part holds at least this fraction of its area ...
MIN_VISIBLE = 0.2
#: ... and is at least this many output pixels wide and high.
MIN_PIXELS = 2.0
#: Tile side as a fraction of the canvas side, drawn uniformly in this range.
MOSAIC_SCALE = (0.5, 1.0)
#: Mosaic centre, a fraction of each canvas side, drawn uniformly in this range.
MOSAIC_CENTRE = (0.25, 0.75)
#: Mixup ratio ``r ~ Beta(alpha, alpha)``; 32 as YOLOv5 (r = 0.5 +- 0.06).
MIXUP_ALPHA = 32.0
#: Direction of each tile from the centre (x, y): top left, top right, bottom left, bottom right.
_DIRECTIONS = ((-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0))


def _intersect(a, b):
    """Intersection of x1y1x2y2 boxes (may be empty: x1 > x2 or y1 > y2)."""
    return tf.concat([tf.maximum(a[..., :2], b[..., :2]), tf.minimum(a[..., 2:], b[..., 2:])], axis=-1)


def mosaic_geometry(centres: TensorLike, scales: TensorLike) -> tuple[TensorLike, TensorLike]:
    """Where each of the 4 tiles goes, in normalised x1y1x2y2 canvas coordinates.

    ``centres (B, 2)`` normalised (x, y); ``scales (B, 4)`` tile side / canvas side, tiles in the
    order top left, top right, bottom left, bottom right. Returns (placements ``(B, 4, 4)``: the
    whole scaled image, possibly past the canvas; regions ``(B, 4, 4)``: the part of it that shows,
    the placement cut at its quadrant's edges)."""
    centres = tf.convert_to_tensor(centres, tf.float32)[:, None, :]
    directions = tf.constant(_DIRECTIONS)
    far = centres + directions * tf.convert_to_tensor(scales, tf.float32)[..., None]
    placements = tf.concat([tf.minimum(centres, far), tf.maximum(centres, far)], axis=-1)
    edges = (directions + 1.0) / 2.0                                    # the quadrant's canvas corner
    quadrants = tf.concat([tf.minimum(centres, edges), tf.maximum(centres, edges)], axis=-1)
    return placements, _intersect(placements, quadrants)


def place_boxes(boxes: TensorLike, labels: TensorLike, placements: TensorLike, regions: TensorLike,
                size: TensorLike, *, min_visible: float = MIN_VISIBLE,
                min_pixels: float = MIN_PIXELS) -> tuple[TensorLike, TensorLike]:
    """Tile boxes ``(B, 4, M, 4)`` normalised x1y1x2y2 (labels ``(B, 4, M)``) on the mosaic canvas.

    ``placements``, ``regions`` as :func:`mosaic_geometry`; ``size`` the canvas (height, width) in
    pixels. Returns boxes ``(B, 4 M, 4)`` clipped to their region, in canvas coordinates, and labels
    ``(B, 4 M)``; boxes that show less than ``min_visible`` of their area or less than
    ``min_pixels`` in width or height get label -1 and zero coordinates."""
    canvas = compose_windows(placements[:, :, None, :], boxes)
    visible = _intersect(canvas, regions[:, :, None, :])
    wh = visible[..., 2:] - visible[..., :2]
    area = lambda b: tf.reduce_prod(tf.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)  # noqa: E731
    pixels = wh * tf.cast(tf.stack([size[1], size[0]]), tf.float32)
    keep = ((labels >= 0) & tf.reduce_all(pixels >= min_pixels, axis=-1)
            & (area(visible) >= min_visible * area(canvas)))
    visible = tf.where(keep[..., None], visible, 0.0)
    labels = tf.where(keep, labels, -1)
    batch = tf.shape(boxes)[0]
    return tf.reshape(visible, (batch, -1, 4)), tf.reshape(labels, (batch, -1))


def _render_mosaics(images, tiles, placements, centres):
    """The mosaic images ``(K, H, W, 3)`` of ``tiles (K, 4)`` (batch indices) placed as ``placements``."""
    size = tf.shape(images)[1:3]
    origin, extent = placements[..., :2], placements[..., 2:] - placements[..., :2]
    windows = tf.concat([-origin / extent, (1.0 - origin) / extent], axis=-1)  # canvas in image units
    renders = resample_windows(images, tf.reshape(windows, (-1, 4)), tf.reshape(tiles, (-1,)), size)
    renders = tf.reshape(renders, (-1, 4, size[0], size[1], 3))
    hw = tf.cast(size, tf.float32)
    left = tf.cast((tf.range(hw[1]) + 0.5) / hw[1] < centres[:, :1], tf.float32)[:, None, :, None]  # (K, 1, W, 1)
    top = tf.cast((tf.range(hw[0]) + 0.5) / hw[0] < centres[:, 1:], tf.float32)[:, :, None, None]   # (K, H, 1, 1)
    # Each pixel from its quadrant's tile: a sum with 0/1 masks (exact, and much faster on CPU
    # than a broadcasting tf.where), then the fill where that tile has no image.
    out = (renders[:, 0] * (top * left) + renders[:, 1] * (top * (1.0 - left))
           + renders[:, 2] * ((1.0 - top) * left) + renders[:, 3] * ((1.0 - top) * (1.0 - left)))
    return tf.maximum(out, 0.0) + tf.cast(out < 0.0, tf.float32) * tf.constant(MEAN_RGB, tf.float32)


def apply_mosaic(images: TensorLike, boxes: TensorLike, labels: TensorLike, partners: TensorLike,
                 centres: TensorLike, scales: TensorLike, selected: TensorLike, *,
                 min_visible: float = MIN_VISIBLE,
                 min_pixels: float = MIN_PIXELS) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Mosaic of a padded batch for given draws (see the module docstring; no randomness here).

    ``partners (B, 3)`` int: batch indices of tiles 1-3 of each output; ``centres (B, 2)`` normalised
    (x, y), on pixel edges; ``scales (B, 4)``; ``selected (B,)`` bool: outputs that become mosaics,
    the others keep their image and boxes. Returns images ``(B, H, W, 3)``, boxes ``(B, 4 M, 4)``
    normalised x1y1x2y2, labels ``(B, 4 M)`` (-1 = padding or dropped)."""
    images = tf.convert_to_tensor(images, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    labels = tf.convert_to_tensor(labels, tf.int32)
    selected = tf.convert_to_tensor(selected, tf.bool)
    tiles = tf.concat([tf.range(tf.shape(images)[0])[:, None], tf.cast(partners, tf.int32)], axis=1)
    placements, regions = mosaic_geometry(centres, scales)
    mosaic_boxes, mosaic_labels = place_boxes(
        tf.gather(boxes, tiles), tf.gather(labels, tiles), placements, regions, tf.shape(images)[1:3],
        min_visible=min_visible, min_pixels=min_pixels)
    extra = tf.shape(mosaic_labels)[1] - tf.shape(labels)[1]
    own_boxes = tf.pad(boxes, [[0, 0], [0, extra], [0, 0]])
    own_labels = tf.pad(labels, [[0, 0], [0, extra]], constant_values=-1)
    chosen = tf.where(selected)[:, 0]
    mosaics = _render_mosaics(images, tf.gather(tiles, chosen), tf.gather(placements, chosen),
                              tf.gather(tf.convert_to_tensor(centres, tf.float32), chosen))
    return (tf.tensor_scatter_nd_update(images, chosen[:, None], mosaics),
            tf.where(selected[:, None, None], mosaic_boxes, own_boxes),
            tf.where(selected[:, None], mosaic_labels, own_labels))


def mosaic(images: TensorLike, boxes: TensorLike, labels: TensorLike, seed: TensorLike, *,
           prob: float = 1.0, scale: tuple[float, float] = MOSAIC_SCALE,
           centre: tuple[float, float] = MOSAIC_CENTRE, min_visible: float = MIN_VISIBLE,
           min_pixels: float = MIN_PIXELS) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Each image of a padded batch becomes, with probability ``prob``, a mosaic of 4 images of the batch.

    Draws the tiles, centre and scales (module docstring) and applies :func:`apply_mosaic`.
    Returns images ``(B, H, W, 3)`` float32 0-255, boxes ``(B, 4 M, 4)`` normalised x1y1x2y2,
    labels ``(B, 4 M)`` int32 (-1 = padding or dropped)."""
    batch = tf.shape(images)[0]
    hw = tf.cast(tf.shape(images)[1:3], tf.float32)
    coin, pick, middle, zoom = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    selected = tf.random.stateless_uniform((batch,), coin) < prob
    partners = tf.random.stateless_uniform((batch, 3), pick, 0, batch, dtype=tf.int32)
    pixels = tf.stack([hw[1], hw[0]])
    centres = tf.round(tf.random.stateless_uniform((batch, 2), middle, *centre) * pixels) / pixels
    scales = tf.random.stateless_uniform((batch, 4), zoom, *scale)
    return apply_mosaic(images, boxes, labels, partners, centres, scales, selected,
                        min_visible=min_visible, min_pixels=min_pixels)


def apply_mixup(images: TensorLike, boxes: TensorLike, labels: TensorLike, partners: TensorLike,
                ratios: TensorLike, selected: TensorLike) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Blend ``images (B, H, W, 3)`` with ``images[partners]`` where ``selected (B,)``.

    Image ``i`` becomes ``ratios[i] * image_i + (1 - ratios[i]) * image_partner``, its boxes
    ``(B, M, 4)`` normalised x1y1x2y2 followed by the partner's. Returns images, boxes
    ``(B, 2 M, 4)`` and labels ``(B, 2 M)`` (the partner's are -1 where not selected)."""
    selected = tf.convert_to_tensor(selected, tf.bool)
    ratio = tf.where(selected, tf.cast(ratios, tf.float32), 1.0)[:, None, None, None]
    images = ratio * images + (1.0 - ratio) * tf.gather(images, partners)
    partner_labels = tf.where(selected[:, None], tf.gather(labels, partners), -1)
    return (images, tf.concat([boxes, tf.gather(boxes, partners)], axis=1),
            tf.concat([labels, partner_labels], axis=1))


def mixup(images: TensorLike, boxes: TensorLike, labels: TensorLike, seed: TensorLike, *,
          prob: float = 1.0, alpha: float = MIXUP_ALPHA) -> tuple[TensorLike, TensorLike, TensorLike]:
    """Each image of a padded batch is, with probability ``prob``, blended with another one.

    Ratio ``r ~ Beta(alpha, alpha)`` (from two stateless Gamma draws), partner another image of the
    batch; see :func:`apply_mixup`. Returns images ``(B, H, W, 3)`` float32 0-255, boxes
    ``(B, 2 M, 4)`` normalised x1y1x2y2, labels ``(B, 2 M)`` int32."""
    batch = tf.shape(images)[0]
    coin, pick, first, second = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    selected = tf.random.stateless_uniform((batch,), coin) < prob
    shift = tf.random.stateless_uniform((batch,), pick, 0, tf.maximum(batch - 1, 1), dtype=tf.int32)
    partners = (tf.range(batch) + 1 + shift) % batch
    x, y = (tf.random.stateless_gamma((batch,), s, alpha) for s in (first, second))
    return apply_mixup(images, boxes, labels, partners, x / (x + y), selected)


def compact(boxes: TensorLike, labels: TensorLike) -> tuple[TensorLike, TensorLike]:
    """Kept boxes ``(B, M, 4)`` (labels ``(B, M)`` >= 0) first in each row, padding cut to the longest row.

    Returns boxes ``(B, K, 4)``, labels ``(B, K)``; the kept boxes keep their order."""
    valid = labels >= 0
    order = tf.argsort(tf.cast(~valid, tf.int32), axis=1, stable=True)
    width = tf.reduce_max(tf.reduce_sum(tf.cast(valid, tf.int32), axis=1))
    return (tf.gather(boxes, order, batch_dims=1)[:, :width],
            tf.gather(labels, order, batch_dims=1)[:, :width])


def mix_batch(images: TensorLike, boxes: TensorLike, labels: TensorLike, seed: TensorLike, *,
              mosaic_prob: float = 0.0,
              mixup_prob: float = 0.0) -> tuple[TensorLike, TensorLike, TensorLike]:
    """:func:`mosaic` with ``mosaic_prob``, then :func:`mixup` with ``mixup_prob``, then :func:`compact`.

    A padded batch in (images float32 0-255, boxes normalised x1y1x2y2, labels -1 = padding),
    one out; what the training pipeline runs on each batch before encoding the targets."""
    mosaic_seed, mixup_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if mosaic_prob > 0:
        images, boxes, labels = mosaic(images, boxes, labels, mosaic_seed, prob=mosaic_prob)
    if mixup_prob > 0:
        images, boxes, labels = mixup(images, boxes, labels, mixup_seed, prob=mixup_prob)
    boxes, labels = compact(boxes, labels)
    return images, boxes, labels
