"""SSD training augmentation (Liu et al., 2016) as TensorFlow graph ops on one image.

Every op takes one image ``(H, W, 3)`` float32 (uint8 also for the resampling ops), RGB,
0-255, and (where geometric) its boxes ``(N, 4)`` float32 NORMALISED ``x1 y1 x2 y2`` in [0, 1]
and labels ``(N,)`` int32. Every random choice comes from ``tf.random.stateless_*`` ops driven
by ``seed`` (``(2,)`` int32/int64), so a fixed seed gives the same output.

Geometric ops are *windows*: a window is ``(x1, y1, x2, y2)`` in the normalised coordinates of
the image it applies to; it may extend past [0, 1] (zoom-out, filled with the mean pixel) and
``x1 > x2`` mirrors the image horizontally. Each public geometric op samples its window and
renders it at its natural size (the flip exactly, by ``tf.reverse``); :func:`ssd_augment`
composes the windows of zoom-out, crop and flip and resamples the source image only once,
straight to the output size.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from ssdzoo.core.box_coder import box_iou
from ssdzoo.utils.typing import TensorLike

#: ImageNet mean pixel, RGB, 0-255: the fill of the zoom-out canvas.
MEAN_RGB = (123.68, 116.78, 103.94)
#: The SSD sampler's options: ``None`` keeps the whole image, a number is the minimum IoU the
#: crop must reach with one kept box (0.0 = any crop that keeps a box centre).
SSD_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9, 0.0)
FULL_WINDOW = (0.0, 0.0, 1.0, 1.0)
#: Crop trials drawn and tested together in one step of the sampler's loop.
TRIALS_PER_STEP = 10


def _uniform(seed, minval=0.0, maxval=1.0, shape=()):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def _coin(seed, prob: float):
    """Stateless Bernoulli draw: True with probability ``prob``."""
    return _uniform(seed) < prob


# --------------------------------------------------------------------------- photometric


def _apply_if(flag, fn, image, seed):
    """``fn(image, seed)`` clipped to 0-255 (as Caffe's uint8 steps are) where ``flag``, else
    ``image`` untouched (not computed)."""
    return tf.cond(flag, lambda: tf.clip_by_value(fn(image, seed), 0.0, 255.0), lambda: image)


def photometric_distort(image: TensorLike, seed: TensorLike, *, brightness_delta: float = 32.0,
                        contrast_range: tuple[float, float] = (0.5, 1.5),
                        saturation_range: tuple[float, float] = (0.5, 1.5),
                        hue_delta: float = 18.0) -> TensorLike:
    """SSD colour distortion of a float32 0-255 RGB image (Caffe SSD order and settings).

    Brightness (add ``[-delta, delta]`` grey levels), then with probability 0.5 either
    contrast, saturation, hue or saturation, hue, contrast; each of the four steps applied
    with probability 0.5. Contrast and saturation are multiplicative factors; hue is shifted by
    ``[-hue_delta, hue_delta]`` degrees. Output is clipped to [0, 255].
    """
    coin_seed, *seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    coins = _uniform(coin_seed, shape=(5,)) < 0.5
    apply, contrast_first = coins[:4], coins[4]

    def brightness(x, s):
        return x + _uniform(s, -brightness_delta, brightness_delta)

    def contrast(x, s):
        return x * _uniform(s, *contrast_range)

    def saturation(x, s):
        return tf.image.adjust_saturation(x, _uniform(s, *saturation_range))

    def hue(x, s):
        return tf.image.adjust_hue(x, _uniform(s, -hue_delta, hue_delta) / 360.0)

    image = _apply_if(apply[0], brightness, image, seeds[0])
    image = _apply_if(apply[1] & contrast_first, contrast, image, seeds[1])
    image = _apply_if(apply[2], saturation, image, seeds[2])
    image = _apply_if(apply[3], hue, image, seeds[3])
    return _apply_if(apply[1] & ~contrast_first, contrast, image, seeds[1])


# --------------------------------------------------------------------------- windows


def window_boxes(boxes: TensorLike, window: TensorLike) -> TensorLike:
    """Express normalised x1y1x2y2 ``boxes (N, 4)`` in the coordinates of ``window (4,)``.

    x1 <= x2 is kept, so a mirrored window mirrors the boxes."""
    window = tf.convert_to_tensor(window, tf.float32)
    origin, size = window[:2], window[2:] - window[:2]
    pts = (tf.reshape(boxes, (-1, 2, 2)) - origin) / size
    return tf.concat([tf.reduce_min(pts, axis=1), tf.reduce_max(pts, axis=1)], axis=-1)


def compose_windows(outer: TensorLike, inner: TensorLike) -> TensorLike:
    """The x1y1x2y2 window(s) ``inner (..., 4)`` (in ``outer``'s coordinates) in ``outer``'s parent's.

    ``outer (..., 4)`` broadcasts against ``inner``."""
    outer = tf.convert_to_tensor(outer, tf.float32)
    inner = tf.convert_to_tensor(inner, tf.float32)
    origin, size = outer[..., :2], outer[..., 2:] - outer[..., :2]
    return tf.concat([origin + inner[..., :2] * size, origin + inner[..., 2:] * size], axis=-1)


def _sample_positions(lo, hi, src: tf.Tensor, out: tf.Tensor):
    """crop_and_resize coordinates for sampling the normalised span [lo, hi] of an axis of
    ``src`` pixels at ``out`` pixel centres (half-pixel convention, as ``tf.image.resize``).

    Samples within half a pixel outside the image (the rim that upsampling reaches) are
    snapped onto the edge pixel so that they are not taken for the fill.
    """
    src, out = tf.cast(src, tf.float32), tf.cast(out, tf.float32)
    step = (hi - lo) * src / out
    first = lo * src - 0.5 + 0.5 * step
    last = first + (out - 1.0) * step

    def snap(p):
        p = tf.where((p >= -0.5) & (p < 0.0), 0.0, p)
        return tf.where((p > src - 1.0) & (p <= src - 0.5), src - 1.0, p)

    denom = tf.maximum(src - 1.0, 1.0)
    return snap(first) / denom, snap(last) / denom


def resample_windows(images: TensorLike, windows: TensorLike, indices: TensorLike,
                     size: TensorLike) -> TensorLike:
    """Bilinear samples ``(K, *size, 3)`` of normalised x1y1x2y2 ``windows (K, 4)`` of ``images[indices]``.

    ``images (B, H, W, 3)`` has values >= 0; ``size`` is (height, width). The samples are float32,
    -1 where a sample falls outside its image."""
    windows = tf.convert_to_tensor(windows, tf.float32)
    shape = tf.shape(images)
    y1, y2 = _sample_positions(windows[:, 1], windows[:, 3], shape[1], size[0])
    x1, x2 = _sample_positions(windows[:, 0], windows[:, 2], shape[2], size[1])
    return tf.image.crop_and_resize(images, tf.stack([y1, x1, y2, x2], axis=1), indices, size,
                                    extrapolation_value=-1.0)


def _resample(image, window, size):
    """:func:`resample_windows` of one ``window`` of one ``image``."""
    window = tf.convert_to_tensor(window, tf.float32)
    return resample_windows(image[None], window[None], tf.zeros((1,), tf.int32), size)[0]


def render_window(image: TensorLike, window: TensorLike, size: TensorLike,
                  fill: Sequence[float] = MEAN_RGB) -> TensorLike:
    """Resample normalised x1y1x2y2 ``window`` of ``image`` to ``size`` = (height, width) pixels.

    ``image`` has any real dtype, values >= 0; the result is bilinear, float32, with the RGB
    ``fill`` outside the image. For the full window this equals ``tf.image.resize`` when downscaling."""
    out = _resample(image, window, size)
    return tf.where(out < 0.0, tf.constant(fill, tf.float32), out)


def _natural_size(image, window):
    """Pixel size (height, width) of ``window`` of ``image`` at the image's resolution."""
    window = tf.convert_to_tensor(window, tf.float32)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    extent = tf.abs(tf.stack([window[3] - window[1], window[2] - window[0]])) * hw
    return tf.maximum(tf.cast(tf.round(extent), tf.int32), 1)


def sample_expand(seed: TensorLike, *, max_ratio: float = 4.0, prob: float = 0.5) -> TensorLike:
    """Zoom-out window ``(4,)`` x1y1x2y2 in image units (the canvas of the expanded image).

    With probability ``prob`` a canvas ``r`` times the image (``r`` uniform in [1, max_ratio]) with
    the image at a uniform random position; else the full window."""
    coin_seed, ratio_seed, pos_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    ratio = _uniform(ratio_seed, 1.0, max_ratio)
    offset = _uniform(pos_seed, 0.0, 1.0, (2,)) * (ratio - 1.0)
    window = tf.concat([-offset, ratio - offset], axis=0)
    return tf.where(_coin(coin_seed, prob), window, tf.constant(FULL_WINDOW))


def _centres_inside(boxes, windows):
    """``(..., N)`` bool: the centre of each x1y1x2y2 box ``(N, 4)`` lies inside each window
    ``(..., 4)`` (edges included)."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    windows = windows[..., None, :]
    return tf.reduce_all((centres >= windows[..., :2]) & (centres <= windows[..., 2:]), axis=-1)


def sample_crop(boxes: TensorLike, seed: TensorLike, *, min_ious: Sequence[float | None] = SSD_MIN_IOUS,
                max_trials: int = 50, scale: tuple[float, float] = (0.3, 1.0),
                aspect_ratio: tuple[float, float] = (0.5, 2.0)) -> TensorLike:
    """The SSD patch sampler: a crop window in [0, 1] for normalised x1y1x2y2 ``boxes``.

    Picks one option of ``min_ious`` uniformly; ``None`` returns the full window. Otherwise up
    to ``max_trials`` patches are drawn (side scale ``s`` uniform in ``scale``, aspect ratio
    ``a`` uniform in ``aspect_ratio`` clamped to ``[s^2, 1/s^2]``, width ``s*sqrt(a)`` and height
    ``s/sqrt(a)`` of the image, uniform position) and the first one that holds a box centre
    whose box has IoU >= the option with the patch is returned; the full window if none does.
    Trials are drawn :data:`TRIALS_PER_STEP` at a time in a bounded ``tf.while_loop``.
    """
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    option_seed, trial_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    options = tf.constant([float("inf") if v is None else v for v in min_ious], tf.float32)
    pick = tf.random.stateless_uniform((), option_seed, 0, len(min_ious), dtype=tf.int32)
    min_iou = options[pick]
    def trials(step):
        """``TRIALS_PER_STEP`` patches ``(T, 4)`` and whether each qualifies ``(T,)``."""
        u = _uniform(tf.random.experimental.stateless_fold_in(trial_seed, step), 0.0, 1.0,
                     (TRIALS_PER_STEP, 4))
        s = scale[0] + u[:, 0] * (scale[1] - scale[0])
        a = aspect_ratio[0] + u[:, 1] * (aspect_ratio[1] - aspect_ratio[0])
        a = tf.clip_by_value(a, s * s, 1.0 / (s * s))
        wh = tf.minimum(tf.stack([s * tf.sqrt(a), s / tf.sqrt(a)], axis=1), 1.0)
        origin = u[:, 2:] * (1.0 - wh)
        windows = tf.concat([origin, origin + wh], axis=1)
        iou = box_iou(windows, boxes)                                             # (T, N)
        index = step * TRIALS_PER_STEP + tf.range(TRIALS_PER_STEP)
        ok = tf.reduce_any(_centres_inside(boxes, windows) & (iou >= min_iou), axis=1)
        return windows, ok & (index < max_trials)

    def cond(step, found, window):
        return ~found & (min_iou <= 1.0)

    def body(step, found, window):
        candidates, ok = trials(step)
        first = tf.argmax(tf.cast(ok, tf.int32))
        found = tf.reduce_any(ok)
        return step + 1, found, tf.where(found, candidates[first], window)

    _, _, window = tf.while_loop(
        cond, body, (tf.constant(0), tf.constant(False), tf.constant(FULL_WINDOW)),
        maximum_iterations=-(-max_trials // TRIALS_PER_STEP))
    return window


def crop_boxes(boxes: TensorLike, labels: TensorLike, window: TensorLike) -> tuple[TensorLike, TensorLike]:
    """Boxes ``(N, 4)`` normalised x1y1x2y2 whose centre is in ``window``, clipped, in its coordinates.

    Returns (boxes ``(K, 4)`` normalised to ``window``, their labels ``(K,)``)."""
    window = tf.convert_to_tensor(window, tf.float32)
    keep = _centres_inside(boxes, window)
    boxes = tf.clip_by_value(window_boxes(tf.boolean_mask(boxes, keep), window), 0.0, 1.0)
    return boxes, tf.boolean_mask(labels, keep)


def sample_flip(seed: TensorLike, prob: float = 0.5) -> TensorLike:
    """Horizontal mirror window ``(1, 0, 0, 1)`` with probability ``prob``, else the full one."""
    return tf.where(_coin(seed, prob), tf.constant((1.0, 0.0, 0.0, 1.0)), tf.constant(FULL_WINDOW))


# --------------------------------------------------------------------------- public ops


def expand(image: TensorLike, boxes: TensorLike, seed: TensorLike, *, max_ratio: float = 4.0, prob: float = 0.5,
           mean: Sequence[float] = MEAN_RGB) -> tuple[TensorLike, TensorLike]:
    """Zoom out (see :func:`sample_expand`) onto a canvas filled with the RGB ``mean``.

    Returns (image on the canvas at the image's resolution, boxes ``(N, 4)`` x1y1x2y2 normalised
    to the canvas)."""
    window = sample_expand(seed, max_ratio=max_ratio, prob=prob)
    return render_window(image, window, _natural_size(image, window), mean), window_boxes(boxes, window)


def random_crop(image: TensorLike, boxes: TensorLike, labels: TensorLike, seed: TensorLike,
                **sampler_kwargs) -> tuple[TensorLike, TensorLike, TensorLike]:
    """SSD random crop of an image and its normalised x1y1x2y2 boxes (sampler: :func:`sample_crop`).

    Returns (cropped image, kept boxes clipped and normalised to the crop, their labels)."""
    window = sample_crop(boxes, seed, **sampler_kwargs)
    boxes, labels = crop_boxes(boxes, labels, window)
    return render_window(image, window, _natural_size(image, window)), boxes, labels


def random_flip(image: TensorLike, boxes: TensorLike, seed: TensorLike,
                prob: float = 0.5) -> tuple[TensorLike, TensorLike]:
    """Horizontal flip with probability ``prob``: boxes become ``x1' = 1 - x2, x2' = 1 - x1``."""
    window = sample_flip(seed, prob)
    image = tf.cond(window[0] > window[2], lambda: tf.reverse(image, axis=[1]), lambda: image)
    return image, window_boxes(boxes, window)


def resize(image: TensorLike, size: TensorLike) -> TensorLike:
    """Bilinear resize to ``size`` = (height, width); normalised boxes are unchanged by it."""
    return tf.image.resize(image, size)


def _split_seed(seed):
    """The seeds of :func:`ssd_augment`'s steps: photometric, zoom-out, crop, flip."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, 4))


def ssd_geometry(boxes: TensorLike, labels: TensorLike, seed: TensorLike,
                 zoom_out: float = 4.0) -> tuple[TensorLike, TensorLike, TensorLike]:
    """The geometric part of :func:`ssd_augment` for the same ``seed``: zoom-out, SSD crop and flip.

    ``zoom_out`` is the largest canvas side / image side of the zoom-out (the paper's 4, drawn
    with probability 0.5); 1 turns it off.

    Needs no pixels, so it can draw the boxes that training sees (e.g. to fit anchors to them).
    Returns (the composed window ``(4,)`` in the source image's normalised coordinates, kept
    boxes ``(K, 4)`` normalised x1y1x2y2 in [0, 1] of the output image, their labels ``(K,)``).
    """
    _, expand_seed, crop_seed, flip_seed = _split_seed(seed)
    window = sample_expand(expand_seed, max_ratio=zoom_out, prob=0.5 if zoom_out > 1 else 0.0)
    boxes = window_boxes(boxes, window)
    crop = sample_crop(boxes, crop_seed)
    boxes, labels = crop_boxes(boxes, labels, crop)
    flip = sample_flip(flip_seed)
    window = compose_windows(compose_windows(window, crop), flip)
    return window, window_boxes(boxes, flip), labels


def ssd_augment(image: TensorLike, boxes: TensorLike, labels: TensorLike, seed: TensorLike,
                out_size: TensorLike, zoom_out: float = 4.0) -> tuple[TensorLike, TensorLike, TensorLike]:
    """The full SSD training augmentation of an RGB image and its normalised x1y1x2y2 boxes.

    Zoom-out (canvas up to ``zoom_out`` times the image, 1 = off), SSD crop, horizontal flip and
    resize to ``out_size`` = (height, width) in a single resampling, then photometric distortion.

    ``image`` may be uint8 or float 0-255. The colour steps are per-pixel, so they are applied
    at the output size (cost independent of the source size) and to the image pixels only:
    the zoom-out fill stays the mean pixel, as when SSD distorts before expanding.

    Returns (image ``(*out_size, 3)`` float32 0-255, boxes ``(K, 4)`` normalised x1y1x2y2 in
    [0, 1], labels ``(K,)``).
    """
    window, boxes, labels = ssd_geometry(boxes, labels, seed, zoom_out)
    image = _resample(image, window, out_size)
    outside = image < 0.0
    image = photometric_distort(tf.maximum(image, 0.0), _split_seed(seed)[0])
    image = tf.where(outside, tf.constant(MEAN_RGB), image)
    image.set_shape((*out_size, 3))
    return image, boxes, labels
