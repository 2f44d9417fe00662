"""Tests for ssdzoo.metrics: VOC AP against real ChainerCV numbers and hand-computed cases, COCO AP."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib

import numpy as np
import pytest

from ssdzoo.metrics import eval_detection_coco, eval_detection_voc, format_table

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def _split(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(counts)[:-1])


@pytest.fixture(scope="module")
def reference():
    """Seeded random data and ChainerCV 0.13.1's results (see fixtures/make_voc_reference.py)."""
    z = np.load(FIXTURES / "voc_reference.npz")
    data = {k: _split(z[k], z["pred_counts"]) for k in ("pred_bboxes", "pred_labels", "pred_scores")}
    data |= {k: _split(z[k], z["gt_counts"]) for k in ("gt_bboxes", "gt_labels", "gt_difficults")}
    curves = {k: z[k] for k in z.files if k.startswith(("prec_", "rec_"))}
    return data, curves, json.loads((FIXTURES / "voc_reference.json").read_text())


@pytest.mark.parametrize("case", range(4))
def test_voc_matches_chainercv(reference, case):
    data, curves, ref = reference
    expected = ref["cases"][case]
    result = eval_detection_voc(**data, iou_thresh=expected["iou_thresh"], use_07_metric=expected["use_07_metric"])

    ref_ap = np.array([np.nan if a is None else a for a in expected["ap"]])
    np.testing.assert_allclose(result["ap"], ref_ap, rtol=0, atol=1e-6)  # nan where nan
    assert result["map"] == pytest.approx(expected["map"], abs=1e-6)
    # The fixture covers: class 3 only difficult, 4 never detected, 5 never in gt.
    assert np.isnan(result["ap"][[3, 5]]).all() and result["ap"][4] == 0.0
    for c in np.flatnonzero(~np.isnan(ref_ap)):
        np.testing.assert_allclose(result["precision"][c], curves[f"prec_{case}_{c}"], atol=1e-12)
        np.testing.assert_allclose(result["recall"][c], curves[f"rec_{case}_{c}"], atol=1e-12)


def _one_image(gt_boxes, gt_labels, boxes, labels, scores, difficult=None):
    """Wraps one image's arrays in the per-image lists the metrics take."""
    args = [np.array(boxes, np.float32).reshape(-1, 4), np.array(labels), np.array(scores, np.float32),
            np.array(gt_boxes, np.float32).reshape(-1, 4), np.array(gt_labels)]
    out = {k: [v] for k, v in zip(("pred_bboxes", "pred_labels", "pred_scores", "gt_bboxes", "gt_labels"), args)}
    if difficult is not None:
        out["gt_difficults"] = [np.array(difficult, bool)]
    return out


GT_A, GT_B, FAR = [0, 0, 9, 9], [20, 20, 29, 29], [50, 50, 59, 59]


def test_voc_hand_computed_two_gts_three_detections():
    # Ranked: 0.9 hits A (TP), 0.8 hits nothing (FP), 0.7 hits B (TP).
    # precision = 1/1, 1/2, 2/3; recall = 1/2, 1/2, 2/2.
    data = _one_image([GT_A, GT_B], [0, 0], [FAR, GT_B, GT_A], [0, 0, 0], [0.8, 0.7, 0.9])
    r07 = eval_detection_voc(**data, use_07_metric=True)
    np.testing.assert_allclose(r07["precision"][0], [1, 1 / 2, 2 / 3])
    np.testing.assert_allclose(r07["recall"][0], [1 / 2, 1 / 2, 1])
    # 11-point: t = 0 .. 0.5 (6 points) -> max precision at recall >= t is 1;
    # t = 0.6 .. 1.0 (5 points) -> only recall 1 qualifies, precision 2/3.
    # AP = (6 * 1 + 5 * 2/3) / 11 = 28/33.
    assert r07["ap"][0] == pytest.approx(28 / 33, abs=1e-12)
    # Area: interpolated precision is 1 on recall (0, 0.5] and 2/3 on (0.5, 1].
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    r10 = eval_detection_voc(**data, use_07_metric=False)
    assert r10["ap"][0] == pytest.approx(5 / 6, abs=1e-12)
    assert r10["map"] == pytest.approx(5 / 6, abs=1e-12)
    assert r10["num_gt"].tolist() == [2]


def test_voc_duplicate_detection_is_false_positive():
    # 0.9 and 0.8 both hit A: the second is a duplicate (FP); 0.7 hits B.
    # Same ranks as the hand-computed case -> the same curve and AP 5/6.
    shifted_a = [1, 0, 10, 9]  # IoU with A = 90 / 110 = 0.818
    data = _one_image([GT_A, GT_B], [0, 0], [GT_A, shifted_a, GT_B], [0, 0, 0], [0.9, 0.8, 0.7])
    result = eval_detection_voc(**data, use_07_metric=False)
    np.testing.assert_allclose(result["precision"][0], [1, 1 / 2, 2 / 3])
    assert result["ap"][0] == pytest.approx(5 / 6, abs=1e-12)


def test_voc_greedy_by_score_not_by_iou():
    # The higher-scored, worse-fitting box takes A; the perfect box scored lower is the duplicate.
    loose_a = [0, 0, 9, 6]  # IoU with A = 70 / 100 = 0.7
    data = _one_image([GT_A], [0], [GT_A, loose_a], [0, 0], [0.5, 0.9])
    result = eval_detection_voc(**data, use_07_metric=False)
    np.testing.assert_allclose(result["precision"][0], [1, 1 / 2])
    np.testing.assert_allclose(result["recall"][0], [1, 1])


def test_voc_matched_difficult_is_neither_tp_nor_fp():
    # A is normal, B difficult. The top detection hits B: ignored, so the detection on A
    # still has precision 1 (it would be 1/2 if B's hit were an FP) and B is not missed.
    data = _one_image([GT_A, GT_B], [0, 0], [GT_B, GT_A], [0, 0], [0.9, 0.8], difficult=[False, True])
    for use_07 in (True, False):
        result = eval_detection_voc(**data, use_07_metric=use_07)
        assert result["num_gt"].tolist() == [1]
        assert result["ap"][0] == pytest.approx(1.0)
        np.testing.assert_allclose(result["recall"][0], [0, 1])
        np.testing.assert_allclose(result["precision"][0], [0, 1])  # 0/0 before any TP/FP -> 0


def test_voc_integer_pixel_iou_and_inclusive_threshold():
    # Integer pixels: A is 10x10 = 100 px, [0,0,9,4] is 10x5 = 50 px -> IoU exactly 0.5, a hit
    # (continuous boxes would give 36/81 = 0.44). [0,0,9,3] is 40 px -> IoU 0.4, a miss.
    hit = eval_detection_voc(**_one_image([GT_A], [0], [[0, 0, 9, 4]], [0], [0.9]))
    miss = eval_detection_voc(**_one_image([GT_A], [0], [[0, 0, 9, 3]], [0], [0.9]))
    assert hit["ap"][0] == 1.0 and miss["ap"][0] == 0.0
    assert eval_detection_voc(**_one_image([GT_A], [0], [[0, 0, 9, 4]], [0], [0.9]), iou_thresh=0.51)["ap"][0] == 0.0


def test_voc_classes_without_gt_leave_the_mean():
    # Class 0: perfect (AP 1). Class 1: only a false positive, no gt -> nan, not in the mean.
    # Class 2: one gt, never detected -> AP 0, in the mean. Class 3: absent -> nan (num_classes=4).
    data = _one_image([GT_A, GT_B], [0, 2], [GT_A, FAR], [0, 1], [0.9, 0.95])
    result = eval_detection_voc(**data, num_classes=4)
    np.testing.assert_array_equal(result["ap"], [1.0, np.nan, 0.0, np.nan])
    assert result["map"] == pytest.approx(0.5)
    assert result["num_gt"].tolist() == [1, 0, 1, 0]
    assert result["precision"][1] is None and result["recall"][3] is None


def test_voc_ranks_across_images_and_checks_lengths():
    # Image 0's hit (score 0.6) ranks below image 1's false positive (0.7), so the single
    # object is found at precision 1/2: AP (area) = 1/2.
    data = {
        "pred_bboxes": [np.array([GT_A], float), np.array([FAR], float)],
        "pred_labels": [np.array([0]), np.array([0])],
        "pred_scores": [np.array([0.6]), np.array([0.7])],
        "gt_bboxes": [np.array([GT_A], float), np.zeros((0, 4))],
        "gt_labels": [np.array([0]), np.zeros(0, int)],
    }
    result = eval_detection_voc(**data, use_07_metric=False)
    np.testing.assert_allclose(result["precision"][0], [0, 1 / 2])
    assert result["ap"][0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        eval_detection_voc(**{**data, "pred_scores": [np.array([0.6])]})
    with pytest.raises(ValueError):
        eval_detection_voc(**{**data, "pred_scores": [np.array([0.6, 0.1]), np.array([0.7])]})
    with pytest.raises(ValueError):
        eval_detection_voc(**data, num_classes=0)


def test_format_table_lists_classes_and_mean():
    data = _one_image([GT_A, GT_B, GT_B], [0, 2, 2], [GT_A, FAR], [0, 1], [0.9, 0.95])
    result = eval_detection_voc(**data, num_classes=3)
    lines = format_table(result, ["cat", "dog", "horse", "zebra"], sort=True).splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:4]] == ["class", "gt boxes", "AP"]
    body = [[cell.strip() for cell in line.split("|")[1:4]] for line in lines[2:]]
    assert body == [["horse", "2", "0.0000"], ["cat", "1", "1.0000"], ["dog", "0", "n/a"],
                    ["zebra", "0", "n/a"], ["**mAP**", "3", "0.5000"]]
    with pytest.raises(ValueError):
        format_table(result, ["cat"])


# ---------------------------------------------------------------- COCO


def _pycocotools_reference(data: dict, cat_ids: list[int] | None = None) -> np.ndarray:
    """COCOeval.stats built independently, through pycocotools' own loadRes path."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns, dets = [], []
    for i, (gb, gl) in enumerate(zip(data["gt_bboxes"], data["gt_labels"])):
        for b, c in zip(gb.tolist(), gl.tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": c + 1,
                         "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, c, s in zip(data["pred_bboxes"][i].tolist(), data["pred_labels"][i].tolist(), data["pred_scores"][i]):
            dets.append([i + 1, b[0], b[1], b[2] - b[0], b[3] - b[1], s, c + 1])
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(len(data["gt_bboxes"]))],
                      "categories": [{"id": c + 1} for c in range(6)], "annotations": anns}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(np.array(dets)), iouType="bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def test_coco_equals_pycocotools_stats(reference, capsys):
    data = {k: v for k, v in reference[0].items() if k != "gt_difficults"}
    result = eval_detection_coco(**data, class_names=[f"c{i}" for i in range(6)])
    assert capsys.readouterr().out == ""  # quiet by default
    np.testing.assert_allclose(result["stats"], _pycocotools_reference(data), atol=1e-12)
    assert [result[k] for k in ("map", "map50", "map75")] == pytest.approx(result["stats"][:3].tolist())
    assert 0.05 < result["map"] < result["map50"] < 1
    # Per-class AP is COCOeval restricted to that class; classes without gt are nan.
    for c in (0, 2):
        assert result["ap"][c] == pytest.approx(_pycocotools_reference(data, [c + 1])[0], abs=1e-12)
    assert np.isnan(result["ap"][5]) and result["num_gt"][5] == 0
    assert result["map"] == pytest.approx(np.nanmean(result["ap"]), abs=1e-12)


def test_coco_perfect_predictions_crowd_and_areas():
    gt = [np.array([GT_A, [100, 100, 300, 250]], float), np.array([[5, 5, 40, 60], FAR], float)]
    labels = [np.array([0, 1]), np.array([1, 0])]
    scores = [np.array([0.9, 0.8]), np.array([0.7, 0.6])]
    result = eval_detection_coco(gt, labels, scores, gt, labels)
    assert [result[k] for k in ("map", "map50", "map75")] == pytest.approx([1.0, 1.0, 1.0])
    np.testing.assert_allclose(result["ap"], [1.0, 1.0])
    # A crowd region is not counted, and a detection on it is not a false positive.
    crowd = [np.array([False, False]), np.array([False, True])]
    result = eval_detection_coco(gt, labels, scores, gt, labels, gt_crowdeds=crowd)
    assert result["map"] == pytest.approx(1.0) and result["num_gt"].tolist() == [1, 2]
    # Areas decide the small/medium/large split: all "small" -> no large objects -> nan.
    areas = [np.full(2, 100.0), np.full(2, 100.0)]
    result = eval_detection_coco(gt, labels, scores, gt, labels, gt_areas=areas)
    assert result["map_small"] == pytest.approx(1.0) and np.isnan(result["map_large"])
