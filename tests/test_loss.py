"""MultiBoxLoss values on hand-built cases."""

import numpy as np

from ssdzoo.core.loss import MultiBoxLoss


def _logits(num_anchors, num_classes, good_for):
    """Logits that put 10 on class ``good_for[a]`` of anchor a."""
    logits = np.zeros((1, num_anchors, num_classes + 1), "float32")
    logits[0, np.arange(num_anchors), good_for] = 10.0
    return logits


def test_perfect_prediction_has_near_zero_loss_and_no_positives_gives_zero():
    y_true = np.zeros((1, 8, 5), "float32")
    y_true[0, 2, 4] = 1.0
    y_true[0, 2, :4] = [0.1, -0.2, 0.3, 0.0]
    y_pred = np.concatenate([y_true[..., :4], _logits(8, 1, y_true[0, :, 4].astype(int))], -1)
    assert float(MultiBoxLoss()(y_true, y_pred)) < 1e-3
    empty = np.zeros((1, 8, 5), "float32")
    assert float(MultiBoxLoss()(empty, y_pred)) == 0.0


def test_hard_negative_mining_keeps_three_negatives_per_positive():
    num_anchors = 10
    y_true = np.zeros((1, num_anchors, 5), "float32")
    y_true[0, 0, 4] = 1.0                               # one positive
    y_pred = np.zeros((1, num_anchors, 4 + 2), "float32")
    y_pred[0, :, 4] = 10.0                               # everything predicted background...
    y_pred[0, 0, 5] = 10.0                               # ...except the positive, right
    y_pred[0, 0, 4] = 0.0
    # Make 5 negatives wrong with growing confidence; mining keeps the 3 worst.
    wrong = [2.0, 4.0, 6.0, 8.0, 12.0]
    for a, v in zip(range(1, 6), wrong):
        y_pred[0, a, 5] = v
    ce = lambda fg, bg: np.log1p(np.exp(fg - bg))       # -log softmax(background)  # noqa: E731
    expected = ce(0.0, 10.0) + sum(ce(v, 10.0) for v in sorted(wrong)[-3:])
    np.testing.assert_allclose(float(MultiBoxLoss()(y_true, y_pred)), expected, rtol=1e-4)


def test_smooth_l1_and_alpha():
    y_true = np.zeros((1, 4, 5), "float32")
    y_true[0, 0, 4] = 1.0
    y_pred = np.zeros((1, 4, 6), "float32")
    y_pred[0, 0, :4] = [0.5, 2.0, 0.0, 0.0]           # 0.5*0.25 + (2 - 0.5) = 1.625
    y_pred[0, :, 4] = 20.0
    y_pred[0, 0, 4], y_pred[0, 0, 5] = 0.0, 20.0
    np.testing.assert_allclose(float(MultiBoxLoss(alpha=2.0)(y_true, y_pred)), 2 * 1.625, rtol=1e-4)
    assert MultiBoxLoss.from_config(MultiBoxLoss(alpha=2.0).get_config()).alpha == 2.0


def _giou_numpy(a, b):
    """GIoU of two x1y1x2y2 boxes, straight from the paper's definition."""
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (hull - union) / hull


def test_giou_of_offsets_equals_the_giou_of_the_boxes_they_encode():
    from ssdzoo.core.box_coder import BoxCoder
    from ssdzoo.core.loss import offsets_giou

    coder = BoxCoder()
    anchors = np.array([[0.1, 0.2, 0.3, 0.6], [0.5, 0.5, 0.9, 0.7], [0.0, 0.0, 0.2, 0.2]], "float32")
    pred = np.array([[0.12, 0.25, 0.33, 0.5], [0.55, 0.45, 0.8, 0.72], [0.5, 0.5, 0.6, 0.6]], "float32")
    target = np.array([[0.1, 0.2, 0.3, 0.6], [0.6, 0.5, 0.95, 0.7], [0.0, 0.0, 0.1, 0.1]], "float32")
    got = np.asarray(offsets_giou(coder.encode(pred, anchors), coder.encode(target, anchors)))
    expected = [_giou_numpy(p, t) for p, t in zip(pred, target)]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert expected[2] < 0  # disjoint boxes: GIoU below zero, where IoU would be a flat 0


def test_giou_box_loss_is_twice_one_minus_giou_per_positive():
    y_true = np.zeros((1, 3, 5), "float32")
    y_true[0, :2, 4] = 1.0
    y_true[0, :2, :4] = [[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.5, 0.0]]
    y_pred = np.concatenate([np.zeros((1, 3, 4), "float32"), _logits(3, 1, [1, 1, 0])], -1)
    y_pred[0, 1, :4] = [0.0, 0.0, 0.0, 0.0]
    loss = MultiBoxLoss(box_loss="giou", neg_pos_ratio=0)
    # anchor 0 exact (GIoU 1), anchor 1: the unit box vs the box its offsets encode
    v0, v1 = 0.1, 0.2
    w = np.exp(0.5 * v1)
    shifted = [v0 - w / 2, -v0 - 0.5, v0 + w / 2, -v0 + 0.5]
    expected_box = 2.0 * (1.0 - _giou_numpy([-0.5, -0.5, 0.5, 0.5], shifted)) / 2
    ce = np.log1p(np.exp(-10.0)) * 2 / 2
    np.testing.assert_allclose(float(loss(y_true, y_pred)), expected_box + ce, rtol=1e-4)
    config = MultiBoxLoss.from_config(loss.get_config()).get_config()
    assert config["box_loss"] == "giou" and config["variances"] == (0.1, 0.2)
