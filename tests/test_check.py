"""The annotation checker: BCCD's known defects, bad input, box geometry, images, CLI."""

import argparse
import warnings
from pathlib import Path

import numpy as np
import pytest

from ssdzoo.cli.data import add_parser
from ssdzoo.data import CheckReport, Dataset, DataWarning, Record, check, load, read_voc
from ssdzoo.data.check import CLIPPED, DROPPED, KEPT, SKIPPED
from ssdzoo.utils.images import ImageError, inspect_image


def _bndbox(x1, y1, x2, y2):
    return f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>"


def _voc(root: Path, make_image, images: dict, stated=(64, 48)) -> Path:
    """A VOC folder with 64x48 images; ``images`` maps stem -> [(class, bndbox xml)]."""
    (root / "Annotations").mkdir(parents=True)
    for stem, objects in images.items():
        make_image(root / "JPEGImages" / f"{stem}.jpg", 64, 48)
        xml = "".join(f"<object><name>{name}</name><difficult>0</difficult>{box}</object>"
                      for name, box in objects)
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>{stated[0]}</width>"
            f"<height>{stated[1]}</height><depth>3</depth></size>{xml}</annotation>")
    return root


# --------------------------------------------------------------------------- BCCD


def test_bccd_report_has_exactly_the_two_zero_area_boxes(bccd):
    report = check(bccd, "voc")
    assert isinstance(report, CheckReport)
    assert [(Path(f.file).name, f.index, f.action) for f in report.errors] == [
        ("BloodImage_00338.xml", 12, DROPPED), ("BloodImage_00343.xml", 3, DROPPED)]
    assert [f.problem for f in report.errors] == [
        "RBC box [504, 337, 504, 337] has zero area", "RBC box [181, 329, 181, 329] has zero area"]
    assert report.warnings == []
    assert report.class_counts == {"Platelets": 361, "RBC": 4155, "WBC": 372}
    assert (report.num_images, report.num_records, report.num_boxes) == (364, 364, 4886)
    assert report.box_sizes["RBC"] == {"width": (42, 105, 168), "height": (39, 101, 166)}
    assert report.box_sizes["WBC"]["width"] == (31, 201, 338)
    assert report.box_sizes["Platelets"]["height"] == (23, 39, 135)
    text = str(report)
    assert "objects: 4888 annotated, 4886 kept" in text
    assert "BloodImage_00338.xml object 12: RBC box [504, 337, 504, 337] has zero area" in text
    assert "  RBC           4155" in text


# --------------------------------------------------------------------------- bad input

GOOD = ("cat", _bndbox(1, 2, 30, 40))
BAD_OBJECTS = {
    "missing bndbox": (("cat", ""), "missing field bndbox"),
    "missing xmin": (("cat", "<bndbox><ymin>1</ymin><xmax>5</xmax><ymax>6</ymax></bndbox>"),
                     "missing field xmin"),
    "not a number": (("cat", _bndbox(1, "abc", 5, 6)), "field ymin is not a number: 'abc'"),
    "unknown class": (("dog", _bndbox(1, 2, 5, 6)),
                      "field name: class 'dog' is not in class_names"),
}


@pytest.mark.parametrize("case", sorted(BAD_OBJECTS))
def test_bad_object_is_a_counted_skip_or_a_strict_error(tmp_path, make_image, case):
    bad_object, message = BAD_OBJECTS[case]
    root = _voc(tmp_path, make_image, {"bad": [GOOD, bad_object], "good": [GOOD]})

    with pytest.warns(DataWarning, match=r"dropped 1 box in 1 file \(bad.xml\)") as caught:
        ds = read_voc(root, class_names=["cat"])
    assert len(caught) == 1
    assert len(ds) == 2 and [len(r.labels) for r in ds] == [1, 1]
    np.testing.assert_array_equal(ds[0].boxes, [[1, 2, 30, 40]])
    assert ds.skipped == [f"{root / 'Annotations' / 'bad.xml'} object 1: {message} (box dropped)"]

    with pytest.raises(ValueError, match=f"bad.xml object 1: {message}"):
        read_voc(root, class_names=["cat"], strict=True)


def test_truncated_jpeg_skips_the_image_or_raises(tmp_path, make_image):
    root = _voc(tmp_path, make_image, {"bad": [GOOD], "good": [GOOD]})
    image = root / "JPEGImages" / "bad.jpg"
    data = image.read_bytes()
    image.write_bytes(data[:int(len(data) * 0.6)])

    with pytest.warns(DataWarning, match=r"skipped 1 image in 1 file \(bad.jpg\)"):
        ds = load(root, "voc")
    assert [Path(r.image_path).name for r in ds] == ["good.jpg"]
    assert len(ds.skipped) == 1
    assert ds.skipped[0].startswith(f"{image}: truncated JPEG file (image file is truncated")
    assert ds.skipped[0].endswith("(image skipped)")
    with pytest.raises(ValueError, match="bad.jpg: truncated JPEG"):
        load(root, "voc", strict=True)
    # only the end marker missing: still truncated
    image.write_bytes(data[:-2])
    assert "truncated JPEG" in check(root).errors[0].problem
    # bytes after the end marker (as some cameras write): a valid image, kept
    image.write_bytes(data + b"\x00camera trailer" * 50)
    assert check(root).errors == []


def test_unparsable_xml_and_missing_image_are_skipped(tmp_path, make_image):
    root = _voc(tmp_path, make_image, {"a": [GOOD], "b": [GOOD], "c": [GOOD]})
    (root / "Annotations" / "a.xml").write_text("<annotation><object>")
    (root / "JPEGImages" / "b.jpg").unlink()
    report = check(root)
    assert [(Path(f.file).name, f.action) for f in report.errors] == [
        ("a.xml", SKIPPED), ("b.jpg", SKIPPED)]
    assert report.errors[0].problem.startswith("cannot read XML")
    assert report.errors[1].problem.startswith("image file missing")
    assert report.num_records == 1
    # without image checks the missing image is not noticed
    assert check(root, check_images=False).num_records == 2


def test_split_listing_a_missing_annotation_skips_it(tmp_path, make_image):
    root = _voc(tmp_path, make_image, {"a": [GOOD]})
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "s.txt").write_text("a\nz\na\n")
    report = check(root, split="s")
    assert [(Path(f.file).name, f.action, f.problem) for f in report.errors] == [
        ("z.xml", SKIPPED, "annotation file missing (listed in s.txt)")]
    assert (report.num_images, report.num_records) == (2, 1)


# --------------------------------------------------------------------------- geometry


def test_box_geometry_findings(tmp_path, make_image):
    root = _voc(tmp_path, make_image, {
        "boxes": [GOOD, GOOD, ("cat", _bndbox(30, 2, 1, 40)), ("cat", _bndbox(5, 5, 5, 9)),
                  ("cat", _bndbox(70, 10, 80, 20)), ("cat", _bndbox(50, 30, 70, 60))],
        "empty": [],
        "hopeless": [("cat", _bndbox(5, 5, 5, 5))],
    })
    report = check(root)
    found = [(Path(f.file).stem, f.index, f.action, f.problem) for f in report.findings]
    assert found == [
        ("boxes", 1, DROPPED, "cat box [1, 2, 30, 40] duplicates object 0"),
        ("boxes", 2, DROPPED, "cat box [30, 2, 1, 40] is inverted (x2 < x1 or y2 < y1)"),
        ("boxes", 3, DROPPED, "cat box [5, 5, 5, 9] has zero area"),
        ("boxes", 4, DROPPED, "cat box [70, 10, 80, 20] lies outside the 64x48 image"),
        ("boxes", 5, CLIPPED, "cat box [50, 30, 70, 60] extends past the 64x48 image; clipped"),
        ("empty", None, KEPT, "no boxes"),
        ("hopeless", 0, DROPPED, "cat box [5, 5, 5, 5] has zero area"),
        ("hopeless", None, SKIPPED, "no box left of 1 object"),
    ]
    with pytest.warns(DataWarning, match="dropped 5 boxes, skipped 1 image, clipped 1 box"):
        ds = load(root)
    assert [Path(r.image_path).stem for r in ds] == ["boxes", "empty"]
    np.testing.assert_array_equal(ds[0].boxes, [[1, 2, 30, 40], [50, 30, 64, 48]])
    assert len(ds.skipped) == 6


def test_size_mismatch_is_a_warning(tmp_path, make_image):
    root = _voc(tmp_path, make_image, {"a": [GOOD]}, stated=(100, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing dropped: no warning
        ds = load(root, strict=True)
    assert (ds[0].width, ds[0].height) == (100, 100)
    (finding,) = ds.report.findings
    assert finding.action == KEPT and not finding.is_error
    assert finding.problem == "annotation says 100x100 but the image is 64x48"


def test_check_an_in_memory_dataset(tmp_path, make_image):
    image = str(make_image(tmp_path / "a.png", 40, 30))
    ds = Dataset([Record(image, [[1, 1, 9, 9], [1, 1, 9, 9], [0, 0, 5, 5]], [0, 0, 4], width=40,
                         height=30),
                  Record(str(tmp_path / "gone.jpg"), [[1, 1, 2, 2]], [1])], ["a", "b"])
    report = check(ds)
    assert [(Path(f.file).name, f.index, f.action) for f in report.findings] == [
        ("a.png", 1, DROPPED), ("a.png", 2, DROPPED), ("gone.jpg", None, SKIPPED)]
    assert report.findings[1].problem == "label 4 is not an index into the 2 class names"
    assert report.class_counts == {"a": 2, "b": 1, "label 4": 1}
    assert report.box_sizes == {"a": {"width": (8, 8, 8), "height": (8, 8, 8)}}
    assert check(ds, check_images=False).num_records == 2


def test_bad_yolo_and_csv_lines_name_file_and_field(tmp_path, make_image):
    make_image(tmp_path / "yolo" / "a.jpg", 100, 50)
    (tmp_path / "yolo" / "classes.txt").write_text("cat\n")
    (tmp_path / "yolo" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n3 0.5 0.5 0.1 0.1\n")
    report = check(tmp_path / "yolo")
    assert [(Path(f.file).name, f.index, f.problem) for f in report.errors] == [
        ("a.txt", 1, "expected 5 values 'class x_center y_center width height', got 4"),
        ("a.txt", 2, "field class: '3' is not a class id of classes.txt (1 classes)")]

    make_image(tmp_path / "a.jpg")
    (tmp_path / "boxes.csv").write_text("a.jpg,1,2,3,4,cat\na.jpg,1,2,x,4,cat\na.jpg,1,2\n")
    with pytest.raises(ValueError, match=r"boxes.csv \[a.jpg\] object 1: field x2 is not a "
                                         r"number: 'x'"):
        load(tmp_path / "boxes.csv", strict=True)
    report = check(tmp_path / "boxes.csv")
    assert report.errors[1].problem == "line 3: expected 6 columns path,x1,y1,x2,y2,class, got 3"
    assert report.num_boxes == 1


def test_inspect_image_reads_sizes_and_decodes_in_full(tmp_path, make_image):
    assert inspect_image(make_image(tmp_path / "a.jpg", 33, 17)).size == (33, 17)
    png = make_image(tmp_path / "b.png", 21, 11)
    assert inspect_image(png).size == (21, 11)
    data = png.read_bytes()
    png.write_bytes(data[:-20])  # only the end chunk and checksums cut: every pixel is there
    assert inspect_image(png).size == (21, 11)
    png.write_bytes(data[:len(data) // 2])
    with pytest.raises(ImageError, match="b.png: truncated PNG"):
        inspect_image(png)
    assert inspect_image(png, decode=False).size == (21, 11)
    garbage = tmp_path / "c.jpg"
    garbage.write_bytes(b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9")
    with pytest.raises(ImageError, match="c.jpg: "):
        inspect_image(garbage)


# --------------------------------------------------------------------------- CLI


def _run(argv):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_check_data(bccd, capsys):
    assert _run(["check-data", str(bccd), "--format", "voc", "--split", "trainval",
                 "--strict"]) == 1
    out = capsys.readouterr().out
    assert "images: 292 annotated, 292 kept" in out
    assert "BloodImage_00343.xml object 3: RBC box [181, 329, 181, 329] has zero area" in out
    assert _run(["check-data", str(bccd), "--split", "trainval"]) == 0
    assert _run(["check-data", str(bccd), "--split", "test", "--strict"]) == 0
    assert "errors: 0" in capsys.readouterr().out
    with pytest.raises(ValueError, match="does not exist"):
        _run(["check-data", str(bccd / "nope")])
    with pytest.raises(ValueError, match="unknown annotation format 'darknet'"):
        _run(["check-data", str(bccd), "--format", "darknet"])


def test_cli_check_data_reports_near_duplicate_class_names_and_merges_them(tmp_path, make_image, capsys):
    root = _voc(tmp_path, make_image, {"a": [("RBC", _bndbox(1, 2, 30, 40))], "b": [("rbc", _bndbox(1, 2, 30, 40))],
                                       "c": [("RBC", _bndbox(3, 4, 30, 40))]})
    assert _run(["check-data", str(root), "--strict"]) == 1
    out = capsys.readouterr().out
    assert ("class names 'RBC' (2 objects, first in a.xml), 'rbc' (1 objects, first in b.xml) differ only "
            "in case or surrounding spaces; not merged") in out
    assert _run(["check-data", str(root), "--strict", "--merge-case"]) == 0
    out = capsys.readouterr().out
    assert "merged into 'RBC' (classes merged)" in out and "  RBC  " in out
    with pytest.warns(DataWarning, match="kept apart 1 near-duplicate class"):
        assert load(root).class_names == ["RBC", "rbc"]
    with pytest.warns(DataWarning, match="merged 1 near-duplicate class"):
        assert load(root, merge_case=True).class_names == ["RBC"]
