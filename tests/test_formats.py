"""CVAT, Label Studio and Ultralytics YOLO (data.yaml) readers and writers, VoTT 1.x index keys,
and the round trip through every writable format, on fixtures written here and on BCCD."""

import argparse
import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from badinputs import exif_jpeg, gif_animation, jpeg

from ssdzoo.cli.data import add_parser
from ssdzoo.data import (
    Dataset,
    DataWarning,
    Record,
    convert,
    detect_format,
    load,
    read_cvat,
    read_labelstudio,
    read_vott,
    read_yolo,
    write_cvat,
    write_labelstudio,
    write_yolo,
)
from ssdzoo.data.anchor_fit import normalised_boxes
from ssdzoo.data.formats.vott import vott1_order
from ssdzoo.data.gallery import thumbnail

# --------------------------------------------------------------------------- round trip


def _named_boxes(ds: Dataset) -> list[list[tuple[str, list[float]]]]:
    """Per image, its boxes with class names, in a fixed order (classes may be renumbered)."""
    return [sorted((ds.class_names[label], box) for box, label in
                   zip(r.boxes.tolist(), r.labels.tolist())) for r in ds]


def test_round_trip_voc_cvat_labelstudio_yolo_coco_voc(tmp_path, bccd_three):
    src = bccd_three
    with pytest.warns(DataWarning, match="dropped 1 box "):  # the zero-area box of 00338
        original = convert(src, "voc", tmp_path / "cvat", "cvat", split="trainval")
    chain = [("cvat", "labelstudio"), ("labelstudio", "yolo"), ("yolo", "coco"), ("coco", "voc")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing else to drop or clip
        for src_format, dst_format in chain:
            assert detect_format(tmp_path / src_format, "trainval") == src_format
            convert(tmp_path / src_format, None, tmp_path / dst_format, dst_format, split="trainval")
        final = load(tmp_path / "voc", "voc", split="trainval")
    assert sorted(final.class_names) == sorted(original.class_names) == ["RBC", "WBC"]
    assert [Path(r.image_path).name for r in final] == [Path(r.image_path).name for r in original]
    assert sum(len(r.labels) for r in final) == 20 + 19 + 13
    for before, after in zip(_named_boxes(original), _named_boxes(final)):
        assert [name for name, _ in after] == [name for name, _ in before]
        np.testing.assert_allclose([b for _, b in after], [b for _, b in before], atol=0.5)


# --------------------------------------------------------------------------- CVAT

CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><job><id>4</id><labels>
    <label><name>dog</name><color>#fa3253</color><type>rectangle</type><attributes/></label>
    <label><name>cat</name><color>#33ddff</color><type>any</type><attributes/></label>
  </labels></job></meta>
  <image id="0" name="a.jpg" width="100" height="50" subset="Train">
    <box label="cat" source="manual" occluded="0" xtl="10.50" ytl="20.00" xbr="40.00" ybr="35.25" z_order="0">
      <attribute name="difficult">true</attribute>
    </box>
    <polygon label="dog" source="manual" occluded="0" points="1,1;5,5;1,5" z_order="0"/>
  </image>
  <image id="1" name="sub/b.png" width="40" height="30" subset="Validation">
    <box label="dog" source="manual" occluded="1" xtl="0" ytl="0" xbr="40" ybr="30" z_order="0"/>
    <box label="dog" source="manual" occluded="0" xtl="x" ytl="0" xbr="4" ybr="3" z_order="0"/>
  </image>
</annotations>
"""


def test_read_cvat_for_images_export(tmp_path, make_image):
    make_image(tmp_path / "images" / "a.jpg", 100, 50)
    make_image(tmp_path / "images" / "sub" / "b.png", 40, 30)
    (tmp_path / "annotations.xml").write_text(CVAT_XML)
    assert detect_format(tmp_path) == "cvat"
    with pytest.warns(DataWarning, match="dropped 1 box"):
        ds = read_cvat(tmp_path)
    assert ds.class_names == ["dog", "cat"]  # the labels of <meta>, in order
    a, b = ds.records
    np.testing.assert_allclose(a.boxes, [[10.5, 20, 40, 35.25]])
    assert a.labels.tolist() == [1] and a.difficult.tolist() == [True]
    assert b.labels.tolist() == [0] and b.image_path == str(tmp_path / "images" / "sub" / "b.png")
    problems = {(f.record, f.index, f.problem) for f in ds.report.findings}
    assert ("sub/b.png", 1, "field xtl is not a number: 'x'") in problems
    assert ("a.jpg", None, "shapes other than boxes are ignored: polygon") in problems
    assert [Path(r.image_path).name for r in read_cvat(tmp_path, split="Train")] == ["a.jpg"]
    with pytest.raises(ValueError, match=r"annotations.xml: no image has subset 'test'"):
        read_cvat(tmp_path, split="test")


def test_cvat_writer_keeps_difficult_and_subset(tmp_path, make_image):
    image = make_image(tmp_path / "src" / "x.jpg", 64, 48)
    ds = Dataset([Record(str(image), [[1, 2, 10.25, 20]], [1], [True])], ["a", "b"])
    file = write_cvat(ds, tmp_path / "out", split="val")
    back = read_cvat(file, split="val")
    assert back.class_names == ["a", "b"] and back[0].difficult.tolist() == [True]
    np.testing.assert_allclose(back[0].boxes, [[1, 2, 10.25, 20]])


def test_cvat_rejects_malformed_files(tmp_path):
    bad = tmp_path / "annotations.xml"
    bad.write_text("<annotations><image name='a.jpg'")
    with pytest.raises(ValueError, match=r"annotations.xml: cannot read XML"):
        read_cvat(tmp_path)
    bad.write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(ValueError, match=r"annotations.xml: not a CVAT file \(root element <annotation>"):
        read_cvat(bad)
    bad.write_text("<annotations><image width='4' height='4'/></annotations>")
    with pytest.raises(ValueError, match=r"annotations.xml.*<image> number 0.*field name is missing"):
        read_cvat(bad, strict=True)


# --------------------------------------------------------------------------- Label Studio


def _ls_result(x, y, w, h, label, kind="rectanglelabels", rotation=0):
    return {"id": "r", "type": kind, "from_name": "label", "to_name": "image", "original_width": 200,
            "original_height": 100, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, kind: [label]}}


def test_read_labelstudio_export(tmp_path, make_image):
    make_image(tmp_path / "images" / "3f2a1b9c-a.jpg", 200, 100)
    make_image(tmp_path / "photos" / "b.png", 200, 100)
    tasks = [
        {"id": 11, "data": {"image": "/data/upload/1/3f2a1b9c-a.jpg"},
         "annotations": [{"was_cancelled": True, "result": []},
                         {"result": [_ls_result(10, 20, 30, 40, "cat"),
                                     _ls_result(0, 0, 5, 5, "dog", kind="polygonlabels")]}]},
        {"id": 12, "data": {"image": "/data/local-files/?d=photos%2Fb.png"},
         "annotations": [{"result": [_ls_result(50, 50, 50, 50, "dog"),
                                     _ls_result(1, 1, 2, 2, "dog", rotation=30)]}]},
        {"id": 13, "data": {}, "annotations": []},
    ]
    file = tmp_path / "project-1-at-2024.json"
    file.write_text(json.dumps(tasks))
    assert detect_format(file) == "labelstudio" and detect_format(tmp_path) == "labelstudio"
    with pytest.warns(DataWarning):
        ds = read_labelstudio(file)
    assert ds.class_names == ["cat", "dog"] and len(ds) == 2
    np.testing.assert_allclose(ds[0].boxes, [[20, 20, 80, 60]])  # percent of 200 x 100
    np.testing.assert_allclose(ds[1].boxes, [[100, 50, 200, 100]])
    problems = {(f.record, f.index, f.problem) for f in ds.report.findings}
    assert ("task 12", 1, "field value.rotation: rotated boxes are not supported") in problems
    assert ("task 13", None, "field data.image is missing") in problems
    assert ("task 11", None, "results other than rectanglelabels are ignored: polygonlabels") in problems


def test_labelstudio_writer_round_trip(tmp_path, make_image):
    image = make_image(tmp_path / "src" / "x.jpg", 64, 48)
    ds = Dataset([Record(str(image), [[1, 2, 10.25, 20], [0, 0, 64, 48]], [1, 0])], ["a", "b"])
    file = write_labelstudio(ds, tmp_path / "out", split="val")
    assert file == tmp_path / "out" / "val.json"
    back = read_labelstudio(tmp_path / "out", split="val")
    np.testing.assert_allclose(back[0].boxes, ds[0].boxes, atol=1e-4)
    assert back[0].labels.tolist() == [1, 0] and (back[0].width, back[0].height) == (64, 48)


def test_labelstudio_rejects_what_is_not_a_task_list(tmp_path):
    file = tmp_path / "x.json"
    file.write_text(json.dumps({"rectanglelabels": []}))
    with pytest.raises(ValueError, match=r"x.json: not a Label Studio export \(expected a JSON list"):
        read_labelstudio(file)


# --------------------------------------------------------------------------- YOLO data.yaml


def test_read_ultralytics_data_yaml_roboflow_layout(tmp_path, make_image):
    root = tmp_path / "ds"
    make_image(root / "train" / "images" / "a.jpg", 100, 50)
    make_image(root / "valid" / "images" / "b.jpg", 100, 50)
    (root / "train" / "labels").mkdir(parents=True)
    (root / "train" / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    (root / "data.yaml").write_text("train: ../ds/train/images\nval: valid/images\n"
                                    "nc: 2\nnames: ['person', 'car']\n")
    assert detect_format(root) == "yolo"
    ds = read_yolo(root, split="train")
    assert ds.class_names == ["person", "car"] and ds[0].labels.tolist() == [1]
    np.testing.assert_allclose(ds[0].boxes, [[40, 15, 60, 35]])
    assert len(read_yolo(root / "data.yaml")) == 2  # no split: train, val and test together
    with pytest.raises(ValueError, match=r"data.yaml: no split 'test' \(it has train, val\)"):
        read_yolo(root, split="test")


def test_read_ultralytics_list_file_and_names_mapping(tmp_path, make_image):
    make_image(tmp_path / "images" / "x" / "c.jpg", 10, 10)
    (tmp_path / "labels" / "x").mkdir(parents=True)
    (tmp_path / "labels" / "x" / "c.txt").write_text("0 0.5 0.5 1 1\n")
    (tmp_path / "train.txt").write_text("images/x/c.jpg\n")
    (tmp_path / "coco.yaml").write_text("path: .\ntrain: train.txt\nnames:\n  0: person\n")
    ds = read_yolo(tmp_path / "coco.yaml", split="train")
    assert ds.class_names == ["person"]
    np.testing.assert_allclose(ds[0].boxes, [[0, 0, 10, 10]])
    (tmp_path / "coco.yaml").write_text("names:\n  1: person\ntrain: train.txt\n")
    with pytest.raises(ValueError, match=r"coco.yaml: field names: ids must be 0..0, got \[1\]"):
        read_yolo(tmp_path / "coco.yaml")
    (tmp_path / "coco.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ValueError, match=r"coco.yaml: not a valid YAML file"):
        read_yolo(tmp_path / "coco.yaml")


def test_yolo_writer_adds_each_split_to_data_yaml(tmp_path, make_image):
    image = make_image(tmp_path / "src" / "x.jpg", 64, 48)
    ds = Dataset([Record(str(image), [[8, 12, 40, 36]], [1])], ["a", "b"])
    write_yolo(ds, tmp_path / "out", split="train")
    write_yolo(ds, tmp_path / "out", split="val")
    data = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert data == {"train": "images/train", "val": "images/val", "nc": 2, "names": {0: "a", 1: "b"}}
    np.testing.assert_allclose(read_yolo(tmp_path / "out", split="val")[0].boxes, [[8, 12, 40, 36]])


# --------------------------------------------------------------------------- VoTT 1.x


def test_vott1_order_is_case_insensitive_with_underscore_after_letters():
    names = ["cell_b.jpg", "Cell2.jpg", "cella.jpg", "IMG_0001.JPG", "img0002.jpg"]
    assert vott1_order(names) == ["Cell2.jpg", "cella.jpg", "cell_b.jpg", "img0002.jpg", "IMG_0001.JPG"]
    assert sorted(names) != vott1_order(names)  # Python's default order would pick wrong files


def test_read_vott1_frames_keyed_by_index(tmp_path, make_image):
    sizes = {"Cell2.jpg": (40, 30), "cella.jpg": (60, 30), "cell_b.jpg": (80, 30)}
    for name, (w, h) in sizes.items():
        make_image(tmp_path / "cells" / name, w, h)
    (tmp_path / "cells" / "notes.txt").write_text("not an image")
    region = {"x1": 0, "y1": 0, "x2": 20, "y2": 15, "width": 40, "height": 30, "type": "Rectangle",
              "tags": ["rbc"], "name": 1, "id": 0, "UID": "8f1f2b1c"}
    data = {"frames": {"0": [], "1": [], "2": [region]}, "framerate": "1", "inputTags": "rbc",
            "suggestiontype": "track", "scd": False, "visitedFrames": [0, 1, 2],
            "tag_colors": ["#e9f1fe"]}
    (tmp_path / "cells.json").write_text(json.dumps(data))
    ds = read_vott(tmp_path / "cells.json")
    assert [Path(r.image_path).name for r in ds] == ["Cell2.jpg", "cella.jpg", "cell_b.jpg"]
    np.testing.assert_allclose(ds[2].boxes, [[0, 0, 40, 15]])  # drawn on 40x30, image 80x30
    data["frames"]["3"] = []
    (tmp_path / "cells.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"cells.json: frames are keyed by index up to 3 \(4 frames\) "
                                         r"but .*cells holds 3 images"):
        read_vott(tmp_path / "cells.json")


# --------------------------------------------------------------------------- CLI


def test_cli_convert_to_cvat_and_labelstudio(tmp_path, make_image, capsys):
    image = make_image(tmp_path / "src" / "x.jpg", 64, 48)
    write_yolo(Dataset([Record(str(image), [[8, 12, 40, 36]], [0])], ["a"]), tmp_path / "yolo")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    for fmt in ("cvat", "labelstudio"):
        args = parser.parse_args(["convert", str(tmp_path / "yolo"), str(tmp_path / fmt), "--to", fmt])
        assert args.func(args) == 0
        assert f"wrote 1 images and 1 boxes as {fmt}" in capsys.readouterr().out
        np.testing.assert_allclose(load(tmp_path / fmt)[0].boxes, [[8, 12, 40, 36]], atol=1e-4)


# --------------------------------------------------------------------------- one decoder


def test_new_formats_read_images_with_the_one_decoder(tmp_path):
    """CVAT, Label Studio and YOLO writers, anchor advice and gallery thumbnails size and decode
    images with ssdzoo.utils.images, EXIF orientation applied: stored 64x48, used 48x64."""
    image = tmp_path / "turned.jpg"
    image.write_bytes(exif_jpeg(6))
    box = np.array([[4, 8, 40, 56]], np.float32)
    dataset = Dataset([Record(str(image), box, np.array([0], np.int32))], ["cat"])
    assert np.allclose(normalised_boxes(dataset)[0], box / [48, 64, 48, 64])
    root = ET.parse(write_cvat(dataset, tmp_path / "cvat")).getroot()
    assert (root.find("image").get("width"), root.find("image").get("height")) == ("48", "64")
    task = json.loads(write_labelstudio(dataset, tmp_path / "ls").read_text())[0]
    assert task["annotations"][0]["result"][0]["original_width"] == 48
    write_yolo(dataset, tmp_path / "yolo")
    line = (tmp_path / "yolo" / "labels" / "turned.txt").read_text().split()
    assert np.allclose([float(v) for v in line[1:]], [22 / 48, 32 / 64, 36 / 48, 48 / 64], atol=1e-5)
    for fmt, out in (("cvat", tmp_path / "cvat"), ("labelstudio", tmp_path / "ls" / "all.json"),
                     ("yolo", tmp_path / "yolo")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            back = load(out, fmt)
        assert np.allclose(back.records[0].boxes, box, atol=0.02), fmt
    thumbnail(image, tmp_path / "thumb.jpg", 32)
    assert cv2.imread(str(tmp_path / "thumb.jpg")).shape[:2] == (32, 24)


def test_yolo_lists_images_like_predict(tmp_path):
    """A Darknet folder and a data.yaml split take the files ssdzoo.utils.images.image_files takes (GIF too)."""
    for name, data in (("a.jpg", jpeg()), ("b.gif", gif_animation()), ("notes.txt", b"x")):
        (tmp_path / "images" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "images" / name).write_bytes(data)
    (tmp_path / "classes.txt").write_text("cat\n")
    assert [Path(r.image_path).name for r in read_yolo(tmp_path)] == ["a.jpg", "b.gif"]
    (tmp_path / "data.yaml").write_text("train: images\nnames: [cat]\n")
    assert [Path(r.image_path).name for r in read_yolo(tmp_path)] == ["a.jpg", "b.gif"]
