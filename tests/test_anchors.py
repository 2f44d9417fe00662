"""Anchors against the SSD paper's formulas, computed independently here."""

import math

import numpy as np
import pytest

from ssdzoo.core.anchors import SSD300_ANCHORS, SSD512_ANCHORS, AnchorConfig, generate_anchors

SIZES_300 = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


def _box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_ssd300_has_8732_anchors():
    anchors = generate_anchors(SIZES_300, (300, 300), SSD300_ANCHORS)
    assert anchors.shape == (8732, 4) and anchors.dtype == np.float32
    assert SSD300_ANCHORS.boxes_per_cell == [4, 6, 6, 6, 4, 4]     # the model's head widths
    assert 38 * 38 * 4 + 19 * 19 * 6 + 10 * 10 * 6 + 5 * 5 * 6 + 3 * 3 * 4 + 4 == 8732


def test_first_anchors_of_the_38x38_map():
    anchors = generate_anchors(SIZES_300, (300, 300), SSD300_ANCHORS)
    c = 0.5 * 8 / 300                      # offset 0.5, step 8 px
    s, s_next = 0.1, 0.2
    expected = [
        _box(c, c, s, s),
        _box(c, c, math.sqrt(s * s_next), math.sqrt(s * s_next)),
        _box(c, c, s * math.sqrt(2), s / math.sqrt(2)),
        _box(c, c, s / math.sqrt(2), s * math.sqrt(2)),
    ]
    np.testing.assert_allclose(anchors[:4], expected, atol=1e-6)
    # second cell of the first row moves right by one step
    np.testing.assert_allclose(anchors[4], _box(1.5 * 8 / 300, c, s, s), atol=1e-6)


def test_first_anchor_of_the_19x19_map_has_six_boxes():
    anchors = generate_anchors(SIZES_300, (300, 300), SSD300_ANCHORS)
    first = 38 * 38 * 4
    c = 0.5 * 16 / 300
    s, s_next = 0.2, 0.37
    expected = [_box(c, c, s, s), _box(c, c, math.sqrt(s * s_next), math.sqrt(s * s_next))]
    for r in (2, 3):
        expected += [_box(c, c, s * math.sqrt(r), s / math.sqrt(r)),
                     _box(c, c, s / math.sqrt(r), s * math.sqrt(r))]
    np.testing.assert_allclose(anchors[first:first + 6], expected, atol=1e-6)


def test_boxes_of_the_1x1_map():
    anchors = generate_anchors(SIZES_300, (300, 300), SSD300_ANCHORS)
    s, s_next = 0.88, 1.05
    expected = [
        _box(0.5, 0.5, s, s),
        _box(0.5, 0.5, math.sqrt(s * s_next), math.sqrt(s * s_next)),
        _box(0.5, 0.5, s * math.sqrt(2), s / math.sqrt(2)),
        _box(0.5, 0.5, s / math.sqrt(2), s * math.sqrt(2)),
    ]
    np.testing.assert_allclose(anchors[-4:], expected, atol=1e-6)
    clipped = generate_anchors(SIZES_300, (300, 300), AnchorConfig(**{**SSD300_ANCHORS.__dict__, "clip": True}))
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_ssd512_anchor_count_and_steps_default():
    sizes = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    anchors = generate_anchors(sizes, (512, 512), SSD512_ANCHORS)
    assert len(anchors) == 64 * 64 * 4 + (32 * 32 + 16 * 16 + 8 * 8 + 4 * 4) * 6 + (4 + 1) * 4 == 24564
    no_steps = AnchorConfig(scales=(0.2, 0.5, 0.9), aspect_ratios=((2,), (2, 3)))
    a = generate_anchors([(4, 4), (2, 2)], (100, 100), no_steps)
    np.testing.assert_allclose(a[0], _box(0.125, 0.125, 0.2, 0.2), atol=1e-6)


def test_config_errors_and_dict_roundtrip():
    with pytest.raises(ValueError, match="scales"):
        AnchorConfig(scales=(0.1, 0.2), aspect_ratios=((2,), (2,)))
    with pytest.raises(ValueError, match="source maps"):
        generate_anchors(SIZES_300[:3], (300, 300), SSD300_ANCHORS)
    assert AnchorConfig.from_dict(SSD300_ANCHORS.to_dict()) == SSD300_ANCHORS
