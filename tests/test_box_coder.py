"""Target encoding / decoding against hand-made cases."""

import keras
import numpy as np

from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors
from ssdzoo.core.box_coder import BoxCoder, box_iou, decode_boxes, encode_boxes
from ssdzoo.core.matching import decode_targets, encode_targets

ANCHORS = generate_anchors([(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)], (300, 300), SSD300_ANCHORS)


def test_box_iou_known_values():
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], "float32")
    b = np.array([[1, 1, 2, 2], [0, 0, 2, 2], [5, 5, 6, 6]], "float32")
    np.testing.assert_allclose(np.asarray(box_iou(a, b)),
                               [[0.25, 1.0, 0.0], [0.25, 1 / 7, 0.0]], rtol=1e-6)


def test_ground_truth_equal_to_an_anchor_is_positive_with_zero_offsets():
    k = 1234
    targets = np.asarray(encode_targets(ANCHORS[k:k + 1], np.array([2]), ANCHORS))
    assert targets.shape == (8732, 5)
    assert targets[k, 4] == 3.0                      # label 2 -> class id 3
    np.testing.assert_allclose(targets[k, :4], 0.0, atol=1e-5)


def test_encode_decode_recovers_ground_truth_for_a_padded_batch():
    boxes = np.array([
        [[0.10, 0.12, 0.35, 0.40], [0.50, 0.55, 0.95, 0.90], [0, 0, 0, 0]],
        [[0.30, 0.20, 0.62, 0.81], [0, 0, 0, 0], [0, 0, 0, 0]],
    ], "float32")
    labels = np.array([[0, 1, -1], [2, -1, -1]])
    targets = np.asarray(encode_targets(boxes, labels, ANCHORS))
    assert targets.shape == (2, 8732, 5)
    decoded, dec_labels = decode_targets(targets, ANCHORS)
    decoded, dec_labels = np.asarray(decoded), np.asarray(dec_labels)
    for b in range(2):
        for gt, lab in zip(boxes[b], labels[b], strict=True):
            if lab < 0:
                continue
            rows = dec_labels[b] == lab
            assert rows.sum() >= 1
            np.testing.assert_allclose(decoded[b][rows], np.broadcast_to(gt, (rows.sum(), 4)), atol=1e-4)
    assert (dec_labels[1] == 0).sum() == 0 and (dec_labels[1] == 1).sum() == 0


def test_small_box_with_no_anchor_above_threshold_still_gets_its_best_anchor():
    gt = np.array([[0.500, 0.500, 0.512, 0.540]], "float32")
    iou = np.asarray(box_iou(gt, ANCHORS))[0]
    assert iou.max() < 0.5
    targets = np.asarray(encode_targets(gt, np.array([0]), ANCHORS))
    positives = np.flatnonzero(targets[:, 4] > 0)
    assert positives.tolist() == [int(iou.argmax())]


def test_image_without_boxes_is_all_background():
    targets = np.asarray(encode_targets(np.zeros((0, 4), "float32"), np.zeros((0,), "int32"), ANCHORS))
    assert targets.shape == (8732, 5) and not targets.any()


def test_encode_targets_offsets_equal_the_box_coder_formula():
    gt = np.array([[0.21, 0.33, 0.58, 0.71]], "float32")
    targets = np.asarray(encode_targets(gt, np.array([1]), ANCHORS))
    rows = targets[:, 4] > 0
    expected = np.asarray(encode_boxes(np.broadcast_to(gt, (len(ANCHORS), 4)), ANCHORS))[rows]
    np.testing.assert_allclose(targets[rows, :4], expected, atol=1e-4)
    np.testing.assert_allclose(np.asarray(decode_boxes(expected, ANCHORS[rows])),
                               np.broadcast_to(gt, (rows.sum(), 4)), atol=1e-5)


def random_boxes(n, seed=0):
    """``n`` random normalised x1y1x2y2 boxes, 0.02 to 0.9 wide and high."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform(0.02, 0.9, (n, 2))
    x1y1 = rng.uniform(0, 1 - wh)
    return np.concatenate([x1y1, x1y1 + wh], 1).astype("float32")


def test_extreme_offsets_decode_to_finite_boxes_clamped_at_the_log_size_limit():
    coder = BoxCoder()
    anchors = ANCHORS[:3]
    offsets = np.array([[0, 0, 1e4, 1e4], [0, 0, -1e4, -1e4], [1e4, -1e4, 1e4, -1e4]], "float32")
    boxes = np.asarray(coder.decode(offsets, anchors))
    assert np.isfinite(boxes).all()
    width = boxes[:, 2] - boxes[:, 0]
    anchor_width = anchors[:, 2] - anchors[:, 0]
    np.testing.assert_allclose(width[0], anchor_width[0] * 1000 / 16, rtol=1e-5)   # clamped
    np.testing.assert_allclose(width[1], 0.0, atol=1e-7)                          # exp(-2000) = 0
    assert np.isfinite(np.asarray(decode_boxes(offsets, anchors))).all()


def test_encode_decode_round_trip_on_random_boxes():
    boxes = random_boxes(len(ANCHORS))
    for coder in (BoxCoder(), BoxCoder(variances=(0.2, 0.3))):
        decoded = np.asarray(coder.decode(coder.encode(boxes, ANCHORS), ANCHORS))
        np.testing.assert_allclose(decoded, boxes, atol=1e-5)


def test_box_coder_config_round_trip():
    coder = BoxCoder(variances=(0.2, 0.3))
    config = coder.get_config()
    assert config["variances"] == [0.2, 0.3]
    assert config["clip_log_size"] == BoxCoder().clip_log_size
    again = BoxCoder.from_config(config)
    assert again.variances == (0.2, 0.3) and again == coder
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(coder))
    assert isinstance(restored, BoxCoder) and restored == coder


def test_variances_scale_the_encoding_and_reach_encode_targets():
    boxes = random_boxes(len(ANCHORS), seed=1)
    default = np.asarray(BoxCoder().encode(boxes, ANCHORS))
    other = np.asarray(BoxCoder(variances=(0.2, 0.3)).encode(boxes, ANCHORS))
    np.testing.assert_allclose(other[:, :2], default[:, :2] * 0.1 / 0.2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(other[:, 2:], default[:, 2:] * 0.2 / 0.3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(encode_boxes(boxes, ANCHORS)), default)

    gt = np.array([[0.21, 0.33, 0.58, 0.71]], "float32")
    targets = np.asarray(encode_targets(gt, np.array([1]), ANCHORS))
    scaled = np.asarray(encode_targets(gt, np.array([1]), ANCHORS, box_coder=BoxCoder((0.2, 0.3))))
    np.testing.assert_array_equal(scaled[:, 4], targets[:, 4])
    np.testing.assert_allclose(scaled[:, :2], targets[:, :2] / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled[:, 2:4], targets[:, 2:4] * 2 / 3, rtol=1e-5, atol=1e-6)
    decoded, _ = decode_targets(scaled, ANCHORS, box_coder=BoxCoder((0.2, 0.3)))
    rows = targets[:, 4] > 0
    np.testing.assert_allclose(np.asarray(decoded)[rows], np.broadcast_to(gt, (rows.sum(), 4)), atol=1e-5)
