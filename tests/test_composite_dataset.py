"""The Composite data set: its generator is deterministic and writes valid boxes, and the committed
copy in data/Composite loads through ssdzoo's VOC reader with its splits and classes."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

import ssdzoo

ROOT = Path(__file__).parents[1]
COMPOSITE = ROOT / "data" / "Composite"
sys.path.insert(0, str(ROOT / "benchmarks"))
import make_composite_dataset as mcd  # noqa: E402
from composite_sources import Cutout  # noqa: E402


def _library() -> tuple[dict[str, list[Cutout]], list[Cutout], list[np.ndarray]]:
    """Stand-ins for the real sources (which need scikit-image and apt): textured shapes."""
    rng = np.random.default_rng(7)
    photos = [cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), np.uint8), (0, 0), s) for s in (1, 4)]
    objects = {}
    for name, colour in (("bird", (200, 120, 40)), ("cat", (180, 150, 110)), ("coin", (160, 160, 160))):
        mask = np.zeros((60, 80), np.uint8)
        cv2.ellipse(mask, (40, 30), (38, 26), 0, 0, 360, 1, -1)
        rgb = np.clip(np.float32(colour) + rng.normal(0, 20, (60, 80, 3)), 0, 255).astype(np.uint8)
        objects[name] = [Cutout(rgb, mask.astype(np.float32))]
    cups = [Cutout(np.full((40, 40, 3), 90, np.uint8), np.ones((40, 40), np.float32))]
    return objects, cups, photos


def _boxes(xml: Path) -> tuple[int, int, list[tuple[str, list[int], str, str]]]:
    """Width, height and ``(name, box, truncated, difficult)`` of each object of one VOC file."""
    ann = ET.parse(xml).getroot()
    objects = [(o.findtext("name"), [int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")],
                o.findtext("truncated"), o.findtext("difficult")) for o in ann.findall("object")]
    return int(ann.findtext("size/width")), int(ann.findtext("size/height")), objects


def test_generation_is_deterministic_and_boxes_are_inside(tmp_path):
    objects, cups, photos = _library()
    splits = {"train": 3, "val": 2, "test": 1}
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        mcd.write_dataset(out, 5, splits, objects, cups, photos, min_side=160, max_side=240)
    files = sorted(p.relative_to(runs[0]) for p in runs[0].rglob("*") if p.is_file())
    assert len(files) == 6 * 2 + 4  # images, annotations, train/val/test/trainval
    assert files == sorted(p.relative_to(runs[1]) for p in runs[1].rglob("*") if p.is_file())
    for rel in files:
        assert (runs[0] / rel).read_bytes() == (runs[1] / rel).read_bytes(), rel
    assert (runs[0] / "ImageSets/Main/trainval.txt").read_text().split() == \
        [f"composite_{i:05d}" for i in range(5)]
    other = tmp_path / "c"
    mcd.write_dataset(other, 6, splits, objects, cups, photos, min_side=160, max_side=240)
    assert (other / "JPEGImages/composite_00000.jpg").read_bytes() != \
        (runs[0] / "JPEGImages/composite_00000.jpg").read_bytes()
    for xml in sorted((runs[0] / "Annotations").glob("*.xml")):
        width, height, boxes = _boxes(xml)
        image = cv2.imread(str(runs[0] / "JPEGImages" / f"{xml.stem}.jpg"))
        assert image.shape[:2] == (height, width) and 160 <= max(width, height) <= 240
        assert boxes, xml.name
        for name, (x1, y1, x2, y2), truncated, difficult in boxes:
            assert name in mcd.CLASSES and truncated in "01" and difficult in "01"
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (xml.name, x1, y1, x2, y2)
            assert min(x2 - x1, y2 - y1) >= mcd.MIN_SIDE


def test_visible_box_follows_occlusion():
    owner = np.full((50, 60), -1, np.int32)
    owner[10:30, 5:25] = 0  # object 0: 400 pixels visible
    assert mcd._visible_box(owner, 0, 400, 400, "cat").box == (5, 10, 25, 30)
    hidden = mcd._visible_box(owner, 0, 1600, 1600, "cat")  # 75 % covered by later pastes
    assert hidden.difficult and not hidden.truncated
    assert mcd._visible_box(owner, 0, 4000, 4000, "cat") is None  # 90 % covered
    cut = mcd._visible_box(owner, 0, 800, 400, "cat")  # half of it outside the image
    assert cut.truncated and not cut.difficult
    assert mcd._visible_box(owner, 0, 400, 400, None) is None  # clutter gets no box


@pytest.mark.parametrize("split, count", [("train", 150), ("val", 40), ("test", 40)])
def test_committed_set_loads_with_its_splits_and_classes(split, count):
    ds = ssdzoo.data.load(str(COMPOSITE), format="voc", split=split)
    assert ds.class_names == ["bird", "cat", "coin"]
    assert len(ds.records) == count
    labels = np.concatenate([r.labels for r in ds.records])
    assert set(labels.tolist()) == {0, 1, 2}
    for record in ds.records:
        assert len(record.boxes) >= 1
        x1, y1, x2, y2 = record.boxes.T
        assert np.all((0 <= x1) & (x1 < x2) & (x2 <= record.width) & (0 <= y1) & (y1 < y2) & (y2 <= record.height))


def test_committed_set_has_readme_licence_and_small_size():
    readme = (COMPOSITE / "README.md").read_text(encoding="utf-8")
    assert "python benchmarks/make_composite_dataset.py --seed 0 --out data/Composite" in readme
    assert "CC BY-SA 4.0" in (COMPOSITE / "LICENSE").read_text(encoding="utf-8")
    assert sum(p.stat().st_size for p in COMPOSITE.rglob("*") if p.is_file()) < 15 * 2**20
