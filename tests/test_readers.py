"""Readers, writers and converters on small fixtures written here and on the bundled BCCD."""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ssdzoo.cli.data import add_parser
from ssdzoo.data import (
    Dataset,
    DataWarning,
    Record,
    check,
    convert,
    detect_format,
    load,
    read_coco,
    read_csv,
    read_voc,
    read_vott,
    read_yolo,
    write_coco,
)

# --------------------------------------------------------------------------- BCCD


def test_bccd_splits_load_with_one_counted_warning(bccd):
    with pytest.warns(DataWarning) as caught:
        trainval = load(bccd, "voc", split="trainval")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        test = load(bccd, split="test")  # format detected; no defects in this split
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "dropped 2 boxes in 2 files" in message
    assert "BloodImage_00338.xml" in message and "BloodImage_00343.xml" in message

    assert (len(trainval), len(test)) == (292, 72)
    assert trainval.class_names == test.class_names == ["Platelets", "RBC", "WBC"]
    assert len(trainval.skipped) == 2 and test.skipped == []
    names = {Path(r.image_path).name for r in trainval} | {Path(r.image_path).name for r in test}
    assert len(names) == 364
    assert sum(len(r.labels) for r in trainval) + sum(len(r.labels) for r in test) == 4888 - 2

    first = next(r for r in trainval if r.image_path.endswith("BloodImage_00000.jpg"))
    assert (first.width, first.height) == (640, 480)
    assert len(first.labels) == 20 and first.boxes.dtype == np.float32
    np.testing.assert_array_equal(first.boxes[0], [260, 177, 491, 376])
    assert trainval.class_names[first.labels[0]] == "WBC"
    assert not first.difficult.any()


def test_bccd_given_class_names_set_the_label_order(bccd):
    with pytest.warns(DataWarning):
        ds = read_voc(bccd, class_names=["RBC", "WBC", "Platelets"])
    assert len(ds) == 364 and ds.class_names == ["RBC", "WBC", "Platelets"]
    counts = np.bincount(np.concatenate([r.labels for r in ds]), minlength=3)
    assert counts.tolist() == [4155 - 2, 372, 361]


# --------------------------------------------------------------------------- fixtures


def _coco(tmp_path, make_image):
    make_image(tmp_path / "images" / "a.jpg", 100, 50)
    make_image(tmp_path / "images" / "b.png", 40, 30)
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 50},
                   {"id": 9, "file_name": "b.png", "width": 40, "height": 30}],
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 20, 30, 15], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0.5, 1.5, 2, 3], "iscrowd": 1},
            {"id": 3, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]},
        ],
    }
    file = tmp_path / "annotations" / "instances_val.json"
    file.parent.mkdir()
    file.write_text(json.dumps(data))
    return file


def test_read_coco(tmp_path, make_image):
    file = _coco(tmp_path, make_image)
    with pytest.warns(DataWarning, match="dropped 1 box in 1 file"):
        ds = read_coco(tmp_path, split="val")
    assert ds.class_names == ["cat", "dog"]  # categories ordered by id
    a, b = ds.records
    assert a.image_path == str(tmp_path / "images" / "a.jpg")
    np.testing.assert_allclose(a.boxes, [[10, 20, 40, 35], [0.5, 1.5, 2.5, 4.5]])
    assert a.labels.tolist() == [1, 0] and a.difficult.tolist() == [False, True]
    assert (b.width, b.height, len(b.labels)) == (40, 30, 0)
    problems = [str(f) for f in ds.report.findings]
    assert any("unknown image_id 99" in p and str(file) in p for p in problems)
    assert any("b.png" in p and "no boxes" in p for p in problems)
    assert detect_format(file) == "coco"


def test_read_yolo_denormalises_with_the_image_header_size(tmp_path, make_image):
    make_image(tmp_path / "images" / "train" / "x.jpg", 100, 50)
    make_image(tmp_path / "images" / "train" / "y.png", 20, 10)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "x.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.1 0.2 0.2 0.2\n")
    (tmp_path / "obj.names").write_text("cat\ndog\n")
    ds = read_yolo(tmp_path, split="train")
    assert ds.class_names == ["cat", "dog"]
    x, y = ds.records
    np.testing.assert_allclose(x.boxes, [[40, 15, 60, 35], [0, 5, 20, 15]], atol=1e-4)
    assert x.labels.tolist() == [1, 0] and (x.width, x.height) == (100, 50)
    assert len(y.labels) == 0  # no label file: an image without boxes
    assert (y.width, y.height) == (20, 10)  # from the image header
    assert detect_format(tmp_path) == "yolo"


def test_a_yolo_label_file_without_its_image_is_a_skipped_image_and_other_text_files_are_not(tmp_path, make_image):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n")  # its image b.jpg is not there
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    (tmp_path / "train.txt").write_text("a.jpg\n")  # a list of images
    (tmp_path / "README.txt").write_text("Exported from a labelling tool.\n")
    (tmp_path / "notes.txt").mkdir()
    report = check(tmp_path, "yolo")
    assert [str(f) for f in report.findings] == [
        f"{tmp_path / 'b.txt'}: image file missing (no image named 'b' for this label file) (image skipped)"]
    assert (report.num_images, report.num_records, report.class_counts) == (2, 1, {"cat": 2, "dog": 1})


def test_read_csv_with_and_without_header(tmp_path, make_image):
    make_image(tmp_path / "img" / "a.jpg", 64, 48)
    make_image(tmp_path / "img" / "b.jpg", 64, 48)
    rows = "img/a.jpg,1,2,30,40,cat\nimg/a.jpg,5.5,6,20,21,dog\nimg/b.jpg,,,,,\n"
    (tmp_path / "plain.csv").write_text(rows)
    (tmp_path / "header.csv").write_text("path,x1,y1,x2,y2,class\n" + rows)
    for name in ("plain.csv", "header.csv"):
        ds = read_csv(tmp_path / name)
        assert ds.class_names == ["cat", "dog"] and len(ds) == 2
        np.testing.assert_allclose(ds[0].boxes, [[1, 2, 30, 40], [5.5, 6, 20, 21]])
        assert ds[0].labels.tolist() == [0, 1] and (ds[0].width, ds[0].height) == (64, 48)
        assert len(ds[1].labels) == 0
        assert detect_format(tmp_path / name) == "csv"


def _vott_v1(tmp_path, make_image):
    make_image(tmp_path / "imgs" / "a.jpg", 100, 50)
    make_image(tmp_path / "imgs" / "b.jpg", 100, 50)
    region = {"x1": 10, "y1": 10, "x2": 30, "y2": 20, "width": 50, "height": 25, "id": 0,
              "type": "Rectangle", "tags": ["dog"], "name": 1}
    data = {"frames": {"a.jpg": [region, {**region, "x1": 0, "x2": 5, "tags": ["cat", "dog"]}],
                       "b.jpg": []},
            "framerate": "1", "inputTags": "dog,cat", "suggestiontype": "track", "scd": False,
            "visitedFrames": ["a.jpg", "b.jpg"], "tag_colors": ["#ff0000", "#00ff00"]}
    file = tmp_path / "imgs.json"
    file.write_text(json.dumps(data))
    return file


def test_read_vott_v1_scales_regions_to_the_image(tmp_path, make_image):
    file = _vott_v1(tmp_path, make_image)
    ds = read_vott(file)
    assert ds.class_names == ["dog", "cat"]  # inputTags order
    a, b = ds.records
    # regions were drawn on a 50x25 view of the 100x50 image
    np.testing.assert_allclose(a.boxes, [[20, 20, 60, 40], [0, 20, 10, 40]])
    assert a.labels.tolist() == [0, 1] and len(b.labels) == 0
    several = [f for f in ds.report.findings if "several tags" in f.problem]
    assert len(several) == 1 and several[0].index == 1 and several[0].record == "a.jpg"
    assert detect_format(file) == "vott"


def _vott_v2(tmp_path, make_image):
    out = tmp_path / "vott-json-export"
    make_image(out / "p.jpg", 80, 60)
    region = {"id": "r1", "type": "RECTANGLE", "tags": ["cat"],
              "boundingBox": {"height": 20.5, "width": 30, "left": 5, "top": 10},
              "points": [{"x": 5, "y": 10}, {"x": 35, "y": 10}, {"x": 35, "y": 30.5},
                         {"x": 5, "y": 30.5}]}
    data = {"name": "demo", "version": "2.1.0",
            "tags": [{"name": "person", "color": "#5db300"}, {"name": "cat", "color": "#e81123"}],
            "assets": {"abc123": {"asset": {"format": "jpg", "id": "abc123", "name": "p.jpg",
                                            "path": "file:/nowhere/p.jpg",
                                            "size": {"width": 80, "height": 60}, "state": 2,
                                            "type": 1},
                                  "regions": [region], "version": "2.1.0"}}}
    file = out / "demo-export.json"
    file.write_text(json.dumps(data))
    return out


def test_read_vott_v2_export(tmp_path, make_image):
    folder = _vott_v2(tmp_path, make_image)
    ds = load(folder, "vott")
    assert ds.class_names == ["person", "cat"] and len(ds) == 1
    np.testing.assert_allclose(ds[0].boxes, [[5, 10, 35, 30.5]])
    assert ds[0].labels.tolist() == [1] and (ds[0].width, ds[0].height) == (80, 60)
    assert ds[0].image_path == str(folder / "p.jpg")
    assert detect_format(folder) == "vott"


def test_bad_paths_and_formats_raise_one_line_value_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown annotation format 'pascal'"):
        load(tmp_path, "pascal")
    with pytest.raises(ValueError, match="cannot tell the annotation format"):
        load(tmp_path)
    with pytest.raises(ValueError, match="no Annotations folder"):
        read_voc(tmp_path)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="x.json: not a valid JSON file"):
        read_coco(tmp_path / "x.json")


# --------------------------------------------------------------------------- writers


def test_round_trip_voc_coco_yolo_voc_keeps_boxes_and_classes(tmp_path, bccd_three):
    src = bccd_three

    with pytest.warns(DataWarning, match="dropped 1 box "):  # the zero-area box of 00338
        original = load(src, "voc", split="trainval")
        convert(src, "voc", tmp_path / "coco", "coco", split="trainval")
    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_trainval.json").read_text())
    assert coco["annotations"][0]["bbox"] == [260, 177, 231, 199]  # x, y, w, h
    assert [c["name"] for c in coco["categories"]] == ["RBC", "WBC"]  # no Platelets here
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing else to drop or clip
        convert(tmp_path / "coco", "coco", tmp_path / "yolo", "yolo", split="trainval")
        assert (tmp_path / "yolo" / "labels" / "trainval" / "BloodImage_00000.txt").is_file()
        convert(tmp_path / "yolo", "yolo", tmp_path / "back", "voc", split="trainval")
        final = load(tmp_path / "back", split="trainval")

    assert final.class_names == original.class_names
    assert [Path(r.image_path).name for r in final] == [f"BloodImage_{n}.jpg" for n in ("00000", "00001", "00338")]
    assert sum(len(r.labels) for r in original) == 20 + 19 + 13
    for before, after in zip(original, final):
        np.testing.assert_allclose(after.boxes, before.boxes, atol=0.5)
        assert after.labels.tolist() == before.labels.tolist()
        assert (after.width, after.height) == (640, 480)


def test_writer_keeps_unique_names_and_difficult_flags(tmp_path, make_image):
    a = make_image(tmp_path / "one" / "same.jpg")
    b = make_image(tmp_path / "two" / "same.jpg")
    ds = Dataset([Record(str(a), [[1, 2, 10, 20]], [0], [True]),
                  Record(str(b), [[3, 4, 30, 40]], [1])], ["cat", "dog"])
    file = write_coco(ds, tmp_path / "out")
    back = read_coco(file)
    assert [Path(r.image_path).name for r in back] == ["same.jpg", "same_1.jpg"]
    assert back[0].difficult.tolist() == [True] and back[1].difficult.tolist() == [False]
    np.testing.assert_allclose(back[1].boxes, [[3, 4, 30, 40]])
    np.testing.assert_allclose(back[0].boxes, [[1, 2, 10, 20]])
    assert back.class_names == ["cat", "dog"]
    assert [r.labels.tolist() for r in back] == [[0], [1]]


def test_cli_convert_vott_to_yolo(tmp_path, make_image, capsys):
    _vott_v1(tmp_path, make_image)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["convert", str(tmp_path / "imgs.json"), "--from", "vott",
                              "--to", "yolo", str(tmp_path / "out")])
    assert args.func(args) == 0
    assert "wrote 2 images and 2 boxes as yolo" in capsys.readouterr().out
    assert (tmp_path / "out" / "classes.txt").read_text() == "dog\ncat\n"
    lines = (tmp_path / "out" / "labels" / "a.txt").read_text().splitlines()
    assert lines == ["0 0.400000 0.600000 0.400000 0.400000",
                     "1 0.050000 0.600000 0.100000 0.400000"]
    args = parser.parse_args(["convert", str(tmp_path / "imgs.json"), "--to", "kitti",
                              str(tmp_path / "out2")])
    with pytest.raises(ValueError, match="cannot write format 'kitti'"):
        args.func(args)
