"""SSD augmentation ops: geometry of boxes, the crop sampler's IoU rule, exact flips, seeds."""

import numpy as np
import pytest
import tensorflow as tf

from ssdzoo.data import augment as A

OUT = (300, 300)
# Two large boxes and two small ones, normalised x1y1x2y2; labels are their indices so that a
# kept box can be traced back to its original.
BOXES = np.array([[0.10, 0.15, 0.70, 0.80], [0.40, 0.30, 0.95, 0.90],
                  [0.05, 0.70, 0.20, 0.95], [0.75, 0.05, 0.90, 0.20]], np.float32)
LABELS = np.arange(4, dtype=np.int32)


@pytest.fixture(scope="module")
def image():
    return tf.random.stateless_uniform((120, 160, 3), (1, 2), maxval=255.0)


def seed(i):
    return tf.constant([i, 12345], tf.int64)


def iou_np(window, boxes):
    lt = np.maximum(window[:2], boxes[:, :2])
    rb = np.minimum(window[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    return inter / (area(window) + area(boxes) - inter)


def test_full_augmentation_keeps_boxes_inside_the_unit_square(image):
    augment = tf.function(lambda s: A.ssd_augment(tf.cast(image, tf.uint8), BOXES, LABELS, s, OUT))
    counts = []
    for i in range(150):
        img, boxes, labels = (t.numpy() for t in augment(seed(i)))
        assert img.shape == (*OUT, 3) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 255.0
        assert len(boxes) == len(labels) >= 1
        assert boxes.min() >= 0.0 and boxes.max() <= 1.0
        assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
        counts.append(len(boxes))
    assert min(counts) < 4 == max(counts)            # crops drop boxes sometimes, not always


@pytest.mark.parametrize("min_iou", [0.1, 0.3, 0.5, 0.7])
def test_crop_reaches_its_minimum_iou_with_a_kept_box(image, min_iou):
    crop = tf.function(lambda s: A.random_crop(image, BOXES, LABELS, s, min_ious=(min_iou,)))
    cropped = 0
    for i in range(40):
        window = A.sample_crop(BOXES, seed(i), min_ious=(min_iou,)).numpy()
        img, boxes, labels = (t.numpy() for t in crop(seed(i)))
        if np.array_equal(window, A.FULL_WINDOW):
            continue
        cropped += 1
        originals = BOXES[labels]
        centres = (BOXES[:, :2] + BOXES[:, 2:]) / 2
        inside = np.all((centres >= window[:2]) & (centres <= window[2:]), axis=1)
        assert sorted(labels) == list(np.flatnonzero(inside))
        assert iou_np(window, originals).max() >= min_iou
        expected = np.clip((originals - np.tile(window[:2], 2)) / np.tile(window[2:] - window[:2], 2), 0, 1)
        np.testing.assert_allclose(boxes, expected, atol=1e-6)
        size = np.round((window[[3, 2]] - window[[1, 0]]) * image.shape[:2])
        assert img.shape == (*size.astype(int), 3)
    assert cropped >= 20


def test_crop_option_none_keeps_the_whole_image():
    window = A.sample_crop(BOXES, seed(0), min_ious=(None,))
    np.testing.assert_array_equal(window.numpy(), A.FULL_WINDOW)


def test_crop_gives_up_after_max_trials_when_no_patch_can_qualify():
    tiny = np.array([[0.50, 0.50, 0.51, 0.51]], np.float32)   # IoU with any 0.3+ patch < 0.01
    window = A.sample_crop(tiny, seed(3), min_ious=(0.5,), max_trials=50)
    np.testing.assert_array_equal(window.numpy(), A.FULL_WINDOW)


def test_flip_mirrors_boxes_exactly(image):
    flipped = unflipped = 0
    for i in range(10):
        img, boxes = (t.numpy() for t in A.random_flip(image, BOXES, seed(i)))
        if np.array_equal(boxes, BOXES):
            np.testing.assert_array_equal(img, image.numpy())
            unflipped += 1
            continue
        flipped += 1
        np.testing.assert_array_equal(img, image.numpy()[:, ::-1])
        mirrored = np.stack([1 - BOXES[:, 2], BOXES[:, 1], 1 - BOXES[:, 0], BOXES[:, 3]], axis=1)
        np.testing.assert_array_equal(boxes, mirrored)
    assert flipped and unflipped


def test_expand_puts_the_image_on_a_mean_canvas():
    image = tf.fill((60, 80, 3), 250.0)
    for i in range(20):
        canvas, boxes = (t.numpy() for t in A.expand(image, BOXES, seed(i)))
        ratio = canvas.shape[1] / 80
        np.testing.assert_allclose(canvas.shape[0] / 60, ratio, atol=0.02)
        np.testing.assert_allclose((boxes[:, 2:] - boxes[:, :2]) * ratio,
                                   BOXES[:, 2:] - BOXES[:, :2], atol=0.02)
        if ratio > 1.1:
            assert np.isclose(canvas.reshape(-1, 3), A.MEAN_RGB, atol=1e-3).all(1).mean() > 0.1
            assert (canvas == 250.0).all(-1).sum() >= 0.9 * 60 * 80
            return
    pytest.fail("no zoom-out in 20 seeds")


def test_composed_window_maps_boxes_as_the_two_windows_in_turn():
    outer = (-0.5, -0.25, 1.5, 1.25)                   # a zoom-out canvas
    for inner in ((0.1, 0.2, 0.6, 0.9), (1.0, 0.0, 0.0, 1.0)):   # a crop, a mirror
        composed = A.window_boxes(BOXES, A.compose_windows(outer, inner)).numpy()
        in_turn = A.window_boxes(A.window_boxes(BOXES, outer), inner).numpy()
        np.testing.assert_allclose(composed, in_turn, atol=1e-6)
    np.testing.assert_allclose(A.window_boxes(BOXES[:1], outer).numpy(),
                               [[0.3, 0.4 / 1.5, 0.6, 0.7]], atol=1e-6)


def test_render_of_the_full_window_equals_resize(image):
    np.testing.assert_allclose(A.render_window(image, A.FULL_WINDOW, (60, 100)).numpy(),
                               A.resize(image, (60, 100)).numpy(), atol=0.01)


def test_photometric_distortion_stays_in_range_and_follows_its_seed(image):
    outs = [A.photometric_distort(image, seed(i)).numpy() for i in (0, 0, 1, 2, 3)]
    for out in outs:
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 255
    np.testing.assert_array_equal(outs[0], outs[1])
    assert sum(not np.array_equal(outs[0], o) for o in outs[2:]) >= 2


def test_fixed_seed_gives_the_same_augmentation(image):
    a, b, c = (A.ssd_augment(image, BOXES, LABELS, seed(i), OUT) for i in (7, 7, 8))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_the_box_geometry_alone_gives_the_boxes_of_the_full_augmentation(image):
    """Anchor fitting draws boxes with ``ssd_geometry`` (no pixels): they must be training's boxes."""
    changed = 0
    for i in range(6):
        _, boxes, labels = A.ssd_augment(image, BOXES, LABELS, seed(i), OUT)
        window, geometry_boxes, geometry_labels = A.ssd_geometry(BOXES, LABELS, seed(i))
        np.testing.assert_array_equal(geometry_boxes.numpy(), boxes.numpy())
        np.testing.assert_array_equal(geometry_labels.numpy(), labels.numpy())
        changed += not np.array_equal(window.numpy(), A.FULL_WINDOW)
    assert changed >= 3  # the seeds do zoom, crop or flip


@pytest.mark.parametrize("zoom_out", [1.0, 2.0])
def test_zoom_out_bounds_the_canvas(zoom_out):
    """``zoom_out`` caps the canvas at that many image sides; 1 never zooms out (crop and flip only)."""
    canvases = []
    for i in range(40):
        window, _, _ = A.ssd_geometry(BOXES, LABELS, seed(i), zoom_out)
        x1, y1, x2, y2 = window.numpy()
        canvases.append(max(abs(x2 - x1), abs(y2 - y1)))
    assert max(canvases) <= zoom_out + 1e-6
    if zoom_out == 1.0:
        assert min(canvases) < 1.0  # the crop still zooms in
    else:
        assert max(canvases) > 1.2  # some windows do zoom out


def test_pipeline_refuses_a_zoom_out_below_one():
    from ssdzoo.data.tfdata import pipeline

    for bad in (0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=rf"zoom_out is a canvas/image ratio >= 1 \(1 = off\), got {bad}"):
            pipeline([], anchors=np.zeros((1, 4), np.float32), input_size=300, zoom_out=bad)
