"""Decoding + NMS and model.detect, including bad input."""

import cv2
import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors
from ssdzoo.core.box_coder import BoxCoder
from ssdzoo.models.decoder import DetectionDecoder
from ssdzoo.models.detector import _infer_fn, decode_predictions, detect

ANCHORS = generate_anchors([(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)], (300, 300), SSD300_ANCHORS)
CLASSES = ["RBC", "WBC", "Platelets"]


def perfect_prediction(boxes_norm, labels, num_classes=3):
    """Model output that an ideal detector would give for these ground truths."""
    targets = np.asarray(ssdzoo.encode_targets(boxes_norm, labels, ANCHORS))
    logits = np.full((len(ANCHORS), num_classes + 1), -10.0, "float32")
    logits[np.arange(len(ANCHORS)), targets[:, 4].astype(int)] = 10.0
    return np.concatenate([targets[:, :4], logits], -1)


class ConstantModel(keras.Model):
    """Stands in for an SSD: returns a fixed prediction whatever the image."""

    def __init__(self, prediction):
        inputs = keras.Input((300, 300, 3))
        const = keras.ops.convert_to_tensor(prediction[None])
        outputs = keras.layers.Lambda(lambda x: keras.ops.repeat(const, keras.ops.shape(x)[0], 0))(inputs)
        super().__init__(inputs, outputs)
        self.anchors = ANCHORS
        self.class_names = CLASSES


def test_decode_of_encoded_ground_truth_gives_back_the_boxes_in_original_pixels():
    width, height = 640, 480
    gt_pixels = np.array([[260, 177, 491, 376], [78, 336, 184, 435], [500, 20, 530, 48]], "float32")
    labels = np.array([1, 0, 2])
    gt_norm = gt_pixels / np.array([width, height, width, height], "float32")
    model = ConstantModel(perfect_prediction(gt_norm, labels))
    image = np.zeros((height, width, 3), np.uint8)
    (dets,) = detect(model, image)
    assert len(dets) == 3
    order = np.argsort(dets.labels)
    np.testing.assert_allclose(dets.boxes[order], gt_pixels[np.argsort(labels)], atol=0.05)
    assert sorted(dets.names) == sorted(CLASSES)
    assert np.all(dets.scores > 0.99)


def test_decode_predictions_batch_counts_and_thresholds():
    gt = np.array([[0.1, 0.1, 0.4, 0.5]], "float32")
    pred = np.stack([perfect_prediction(gt, np.array([0])), perfect_prediction(gt[:0], np.zeros(0, int))])
    boxes, scores, labels, counts = (np.asarray(t) for t in decode_predictions(pred, ANCHORS))
    assert counts.tolist() == [1, 0]
    np.testing.assert_allclose(boxes[0, 0], gt[0], atol=1e-4)
    assert labels[0, 0] == 0


def test_detection_decoder_config_round_trip():
    decoder = DetectionDecoder(ANCHORS, BoxCoder(variances=(0.2, 0.3)), score_threshold=0.3,
                               iou_threshold=0.6, max_detections=7, name="decode")
    config = decoder.get_config()
    assert config["box_coder"]["variances"] == [0.2, 0.3]
    assert (config["score_threshold"], config["iou_threshold"], config["max_detections"]) == (0.3, 0.6, 7)
    np.testing.assert_array_equal(np.asarray(config["anchors"], "float32"), ANCHORS)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(decoder))
    assert isinstance(restored, DetectionDecoder) and restored.box_coder == decoder.box_coder
    assert restored.get_config() == config


def test_detection_decoder_matches_decode_predictions_exactly():
    gt = np.array([[0.1, 0.1, 0.4, 0.5], [0.55, 0.2, 0.95, 0.7], [0.3, 0.6, 0.5, 0.9]], "float32")
    pred = np.stack([perfect_prediction(gt, np.array([0, 2, 1])), perfect_prediction(gt[:1], np.array([1]))])
    expected = [np.asarray(t) for t in decode_predictions(pred, ANCHORS, score_threshold=0.2, max_detections=10)]
    out = DetectionDecoder(ANCHORS, score_threshold=0.2, max_detections=10)(pred)
    for key, want in zip(("boxes", "scores", "classes", "num_detections"), expected, strict=True):
        np.testing.assert_array_equal(np.asarray(out[key]), want)
    assert expected[3].tolist() == [3, 1]
    order = np.argsort(expected[2][0, :3])
    np.testing.assert_allclose(expected[0][0, order], gt[[0, 2, 1]], atol=1e-4)


def test_detection_decoder_inside_a_functional_model():
    pred = perfect_prediction(np.array([[0.2, 0.3, 0.6, 0.9]], "float32"), np.array([2]))
    inputs = keras.Input(pred.shape)
    model = keras.Model(inputs, DetectionDecoder(ANCHORS, max_detections=5)(inputs))
    out = model(pred[None])
    assert out["boxes"].shape == (1, 5, 4) and int(out["num_detections"][0]) == 1
    assert int(out["classes"][0, 0]) == 2
    np.testing.assert_allclose(np.asarray(out["boxes"][0, 0]), [0.2, 0.3, 0.6, 0.9], atol=1e-4)


def test_detect_does_not_retrace_for_new_thresholds_and_honours_them():
    pred = perfect_prediction(np.array([[0.1, 0.1, 0.4, 0.5]], "float32"), np.array([0]))
    positive = pred[:, 5] > 0
    pred[:, 4:] = 0.0
    pred[positive, 5] = 2.0                      # score e^2 / (e^2 + 3) = 0.711
    model = ConstantModel(pred)
    image = np.zeros((60, 80, 3), np.uint8)
    (dets,) = detect(model, image, score_threshold=0.5)
    np.testing.assert_allclose(dets.scores, [np.e ** 2 / (np.e ** 2 + 3)], rtol=1e-5)
    assert len(detect(model, image, score_threshold=0.75)[0]) == 0
    assert len(detect(model, image, score_threshold=0.7, iou_threshold=0.3)[0]) == 1
    assert _infer_fn(model).experimental_get_tracing_count() == 1


def test_detect_uses_the_model_box_coder():
    gt = np.array([[0.1, 0.1, 0.4, 0.5]], "float32")
    coder = BoxCoder(variances=(0.2, 0.3))
    targets = np.asarray(ssdzoo.encode_targets(gt, np.array([0]), ANCHORS, box_coder=coder))
    pred = perfect_prediction(gt, np.array([0]))
    pred[:, :4] = targets[:, :4]
    model = ConstantModel(pred)
    model.box_coder = coder
    (dets,) = detect(model, np.zeros((100, 100, 3), np.uint8))
    np.testing.assert_allclose(dets.boxes, gt * 100, atol=0.01)


def test_detect_accepts_paths_arrays_batches_and_handles_bad_input(tmp_path):
    model = ssdzoo.build("small", 3, weights=None, head_width=0.125, class_names=CLASSES)
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.full((50, 80, 3), 128, np.uint8))
    gray = np.zeros((30, 40), np.uint8)
    rgba = np.zeros((30, 40, 4), np.uint8)
    tiny = np.zeros((1, 1, 3), np.uint8)
    dets = model.detect([path, gray, rgba, tiny], preset="evaluate")
    assert len(dets) == 4
    for d, (w, h) in zip(dets, [(80, 50), (40, 30), (40, 30), (1, 1)], strict=True):
        assert d.boxes.shape == (len(d), 4)
        if len(d):
            assert d.boxes[:, [0, 2]].max() <= w and d.boxes[:, [1, 3]].max() <= h
    assert len(model.detect(np.zeros((2, 60, 70, 3), np.uint8))) == 2
    assert model.detect([]) == []
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        model.detect(str(tmp_path / "missing.jpg"))
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        model.detect([str(bad)])
    with pytest.raises(ValueError, match=r"image 0: expected an \(H, W, 3\) image"):
        model.detect([np.zeros((5, 5, 7))])
    with pytest.raises(ValueError, match="unknown preset"):
        model.detect(path, preset="fast")
