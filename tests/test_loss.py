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
