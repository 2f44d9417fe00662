"""Mosaic and mixup (ssdzoo/data/mix.py): exact box geometry for a fixed layout, the blend
formula, seeds, and the training pipeline and TrainConfig options that turn them on."""

import argparse
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ssdzoo.cli.train import _add_flags, config_from_args
from ssdzoo.data import load, mix
from ssdzoo.data.augment import MEAN_RGB
from ssdzoo.data.tfdata import pipeline
from ssdzoo.training.config import TrainConfig

BCCD = Path(__file__).resolve().parents[1] / "data" / "BCCD"
SIZE = 100
# A fixed layout on a 100 x 100 canvas: centre (60, 40) px; tile sides 80, 40, 50, 60 px.
CENTRE, SCALES = (0.6, 0.4), (0.8, 0.4, 0.5, 0.6)
# Per tile image (0 top left, 1 top right, 2 bottom left, 3 bottom right): its boxes in its
# own normalised x1y1x2y2, and where each must land on the canvas (None = dropped).
CASES = {
    0: [([0.5, 0.75, 1.0, 1.0], [0.2, 0.2, 0.6, 0.4]),     # inside: the image spans -0.2..0.6 x -0.4..0.4
        ([0.1, 0.5, 0.5, 1.0], [0.0, 0.0, 0.2, 0.4]),      # 62.5 % shows: clipped at the canvas edge
        ([0.0, 0.0, 0.2, 0.2], None)],                     # off the canvas
    1: [([0.25, 0.25, 0.75, 0.75], [0.7, 0.1, 0.9, 0.3]),  # the image fills its quadrant exactly
        ([0.5, 0.5, 0.53, 0.53], None)],                   # inside but 1.2 px wide (< MIN_PIXELS)
    2: [([0.0, 0.0, 1.0, 1.0], [0.1, 0.4, 0.6, 0.9])],    # the whole image, smaller than its quadrant
    3: [([0.5, 0.0, 1.0, 0.5], [0.9, 0.4, 1.0, 0.7]),      # a third shows: clipped at the right edge
        ([0.62, 0.1, 1.0, 0.3], None),                     # 12 % shows (< MIN_VISIBLE), 2.8 px wide
        ([0.8, 0.5, 1.0, 1.0], None)],                     # off the canvas
}


def fixed_batch():
    """4 images (tile k a flat grey 40 + 40 k, image 0 white inside its first box), boxes, labels."""
    width = max(len(c) for c in CASES.values())
    boxes = np.zeros((4, width, 4), np.float32)
    labels = np.full((4, width), -1, np.int32)
    for k, cases in CASES.items():
        boxes[k, : len(cases)] = [b for b, _ in cases]
        labels[k, : len(cases)] = 10 * k + np.arange(len(cases))        # traceable: tile, index
    images = np.tile((40.0 + 40.0 * np.arange(4, dtype=np.float32))[:, None, None, None], (1, SIZE, SIZE, 3))
    images[0, 75:, 50:] = 255.0                                          # image 0's first box
    return images, boxes, labels


def apply_fixed(selected=(True, False, False, False), **kwargs):
    images, boxes, labels = fixed_batch()
    centres = np.tile(np.float32(CENTRE), (4, 1))
    scales = np.tile(np.float32(SCALES), (4, 1))
    partners = np.tile(np.int32([1, 2, 3]), (4, 1))
    out = mix.apply_mosaic(images, boxes, labels, partners, centres, scales, np.array(selected), **kwargs)
    return (images, boxes, labels), [t.numpy() for t in out]


def test_mosaic_keeps_exactly_the_boxes_that_stay_inside_at_their_canvas_coordinates():
    _, (_, boxes, labels) = apply_fixed()
    kept = {int(label): box for box, label in zip(boxes[0], labels[0], strict=True) if label >= 0}
    expected = {10 * k + i: np.float32(where) for k, cases in CASES.items()
                for i, (_, where) in enumerate(cases) if where is not None}
    assert sorted(kept) == sorted(expected) == [0, 1, 10, 20, 30]
    for label, box in expected.items():
        np.testing.assert_allclose(kept[label], box, atol=1e-5, err_msg=f"box {label}")
    assert np.all(boxes[0][labels[0] < 0] == 0)                          # dropped rows are zeroed


def test_the_thresholds_decide_the_small_and_the_mostly_hidden_boxes():
    _, (_, boxes, labels) = apply_fixed(min_pixels=0.0, min_visible=0.1)
    kept = dict(zip(labels[0].tolist(), boxes[0], strict=True))
    np.testing.assert_allclose(kept[11], [0.8, 0.2, 0.812, 0.212], atol=1e-5)   # 1.2 px, inside
    np.testing.assert_allclose(kept[31], [0.972, 0.46, 1.0, 0.58], atol=1e-5)   # 12 % visible
    assert 2 not in kept and 32 not in kept                                     # still off the canvas


def test_mosaic_pixels_follow_the_layout():
    _, (images, _, _) = apply_fixed()
    canvas = images[0, ..., 0]                                           # (y, x), red channel
    assert np.all(canvas[20:40, 20:60] == 255)                           # box 0 lands at 20..60 x 20..40 px
    assert np.all(canvas[:19, :59] == 40) and np.all(canvas[:40, :19] == 40)
    assert np.all(canvas[:40, 60:] == 80)                                # tile 1 fills its quadrant
    assert np.all(canvas[40:90, 10:60] == 120)                           # tile 2: 50 px from (10, 40)
    assert np.all(canvas[40:, :10] == np.float32(MEAN_RGB[0])) and np.all(canvas[90:, :60] == np.float32(MEAN_RGB[0]))
    assert np.all(canvas[40:, 60:] == 160)                               # tile 3 covers its quadrant


def test_an_unselected_image_keeps_its_pixels_and_boxes():
    (images, boxes, labels), (out_images, out_boxes, out_labels) = apply_fixed()
    np.testing.assert_array_equal(out_images[1:], images[1:])
    width = boxes.shape[1]
    np.testing.assert_array_equal(out_boxes[1:, :width], boxes[1:])
    np.testing.assert_array_equal(out_labels[1:, :width], labels[1:])
    assert np.all(out_labels[1:, width:] == -1)


def test_drawn_mosaics_keep_boxes_on_the_canvas_and_follow_the_seed():
    images, boxes, labels = fixed_batch()
    run = lambda seed: [t.numpy() for t in mix.mosaic(images, boxes, labels, tf.constant([seed, 7]))]  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    for out_boxes, out_labels in ((a[1], a[2]), (c[1], c[2])):
        kept = out_boxes[out_labels >= 0]
        assert len(kept) and kept.min() >= 0 and kept.max() <= 1
        assert np.all(kept[:, 2:] - kept[:, :2] >= mix.MIN_PIXELS / SIZE - 1e-6)


def test_mixup_blends_by_the_ratio_and_keeps_every_box_of_both():
    images, boxes, labels = fixed_batch()
    out, out_boxes, out_labels = (t.numpy() for t in mix.apply_mixup(
        images, boxes, labels, [1, 0, 3, 2], np.float32([0.3, 0.6, 0.5, 0.9]), [True, True, False, True]))
    np.testing.assert_allclose(out[0], 0.3 * images[0] + 0.7 * images[1], rtol=1e-6)
    np.testing.assert_allclose(out[3], 0.9 * images[3] + 0.1 * images[2], rtol=1e-6)
    np.testing.assert_array_equal(out[2], images[2])                     # not selected
    np.testing.assert_array_equal(out_boxes[0], np.concatenate([boxes[0], boxes[1]]))
    np.testing.assert_array_equal(out_labels[0], np.concatenate([labels[0], labels[1]]))
    np.testing.assert_array_equal(out_labels[2], np.concatenate([labels[2], np.full_like(labels[3], -1)]))


def test_drawn_mixup_ratio_is_a_beta_draw_and_follows_the_seed():
    images = tf.random.stateless_uniform((2, 8, 8, 3), (3, 4), maxval=255.0)
    boxes = tf.constant([[[0.1, 0.1, 0.4, 0.4]], [[0.5, 0.5, 0.9, 0.9]]])
    labels = tf.constant([[0], [1]])
    out, out_boxes, out_labels = (t.numpy() for t in mix.mixup(images, boxes, labels, tf.constant([5, 6])))
    a, b = images.numpy()
    ratio = (out[0] - b) / (a - b)                                        # partner of 0 is 1 (B = 2)
    assert 0.3 < np.median(ratio) < 0.7
    np.testing.assert_allclose(out[0], np.median(ratio) * a + (1 - np.median(ratio)) * b, atol=1e-3)
    np.testing.assert_array_equal(out_labels, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(out_boxes[1], boxes.numpy()[[1, 0], 0])
    again = mix.mixup(images, boxes, labels, tf.constant([5, 6]))[0].numpy()
    np.testing.assert_array_equal(out, again)


def test_compact_moves_kept_boxes_first_and_cuts_the_padding():
    boxes = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    out_boxes, out_labels = (t.numpy() for t in mix.compact(boxes, np.int32([[-1, 3, -1, 5], [-1, -1, 7, -1]])))
    np.testing.assert_array_equal(out_labels, [[3, 5], [7, -1]])
    np.testing.assert_array_equal(out_boxes[0], boxes[0, [1, 3]])


@pytest.fixture(scope="module")
def records():
    return load(BCCD, format="voc", split="test").records[:8]


def test_pipeline_with_mosaic_and_mixup_gives_model_shaped_finite_batches(records):
    anchors = np.float32([[x, y, x + 0.3, y + 0.3] for x in np.linspace(0, 0.7, 8) for y in np.linspace(0, 0.7, 8)])
    make = lambda: pipeline(records, anchors=anchors, input_size=96, batch_size=4, augment=True,  # noqa: E731
                            mosaic=1.0, mixup=0.5, seed=3)
    batches = list(make())
    assert len(batches) == 2
    for images, targets in batches:
        assert images.shape == (4, 96, 96, 3) and targets.shape == (4, len(anchors), 5)
        assert np.isfinite(targets.numpy()).all() and np.all((targets.numpy()[..., 4] > 0).sum(axis=1) >= 1)
        assert 0 <= images.numpy().min() and images.numpy().max() <= 255
    again = next(iter(make()))
    np.testing.assert_array_equal(again[0].numpy(), batches[0][0].numpy())
    with pytest.raises(ValueError, match="mosaic is a probability"):
        pipeline(records, anchors=anchors, input_size=96, mosaic=2.0)


def test_train_config_takes_the_probabilities_from_flags_and_rejects_bad_ones(tmp_path):
    parser = argparse.ArgumentParser()
    _add_flags(parser)
    config = config_from_args(parser.parse_args(["--mosaic", "0.5", "--mixup", "0.25"]))
    assert (config.mosaic, config.mixup) == (0.5, 0.25)
    for key, value in (("mosaic", 1.5), ("mixup", -0.1), ("mosaic", float("nan")), ("mixup", True)):
        with pytest.raises(ValueError, match=rf"{key} is a probability in \[0, 1\]"):
            TrainConfig(backbone="small", data=str(tmp_path), **{key: value}).validate()


def test_no_selected_image_and_a_batch_of_one_work_in_the_graph():
    images, boxes, labels = fixed_batch()
    run = tf.function(lambda i, b, lab, p: mix.mix_batch(i, b, lab, tf.constant([1, 2]), mosaic_prob=p, mixup_prob=p))
    out = run(images, boxes, labels, 0.0 + 1e-9)                          # nothing drawn below 1e-9
    np.testing.assert_array_equal(out[0].numpy(), images)
    np.testing.assert_array_equal(out[2].numpy()[:, : labels.shape[1]], labels)
    one, one_boxes, one_labels = run(images[:1], boxes[:1], labels[:1], 1.0)   # its own tiles and partner
    assert one.shape == (1, SIZE, SIZE, 3) and (one_labels.numpy() >= 0).sum() >= 2
