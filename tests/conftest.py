"""Shared fixtures: the bundled BCCD dataset, a 12-image copy of it, and a writer of small
synthetic images."""

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

BCCD = Path(__file__).parents[1] / "data" / "BCCD"
CLASSES = ["Platelets", "RBC", "WBC"]  # BCCD's class order (sorted names)


@pytest.fixture
def bccd() -> Path:
    """The bundled BCCD dataset (VOC layout, 364 images of 640x480)."""
    return BCCD


@pytest.fixture
def bccd_three(tmp_path) -> Path:
    """Three BCCD images (00338 has a zero-area box) in their own VOC folder, split trainval."""
    ids = ["BloodImage_00000", "BloodImage_00001", "BloodImage_00338"]
    src = tmp_path / "three"
    for folder, suffix in (("Annotations", ".xml"), ("JPEGImages", ".jpg")):
        (src / folder).mkdir(parents=True)
        for i in ids:
            shutil.copy(BCCD / folder / f"{i}{suffix}", src / folder)
    (src / "ImageSets" / "Main").mkdir(parents=True)
    (src / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(ids) + "\n")
    return src


@pytest.fixture
def make_image():
    """``make_image(path, width, height)`` writes a noise image (JPEG or PNG by suffix)."""

    def make(path, width=64, height=48) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
        assert cv2.imwrite(str(path), pixels)
        return path

    return make


SPLITS = {  # BCCD images without the dataset's two zero-area boxes
    "train": [f"BloodImage_{i:05d}" for i in (0, 1, 2, 3, 4, 5, 8, 9)],
    "val": ["BloodImage_00010", "BloodImage_00012"],
    "test": ["BloodImage_00007", "BloodImage_00011"],
}


@pytest.fixture(scope="session")
def tiny_voc(tmp_path_factory) -> Path:
    """12 BCCD images in their own VOC folder with train (8) / val (2) / test (2) splits."""
    root = tmp_path_factory.mktemp("voc")
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    for split, names in SPLITS.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            shutil.copy(BCCD / "Annotations" / f"{name}.xml", root / "Annotations")
            shutil.copy(BCCD / "JPEGImages" / f"{name}.jpg", root / "JPEGImages")
    return root


@pytest.fixture
def cli_env() -> dict:
    """The environment for ``ssdzoo`` subprocesses: quiet TensorFlow, unbuffered output."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


#: The test files that start training runs or other processes, longest first (sums of their
#: tests' durations: 170, 110, 100, 80 s ... of a ~950 s suite on 2 workers). pytest-xdist hands
#: whole files to its workers in collection order (``--dist loadfile --no-loadscope-reorder`` in
#: pyproject.toml): the long ones go first, so that neither worker is left with one at the end.
LONG_FILES = ("test_signals.py", "test_scale.py", "test_export.py", "test_install.py", "test_model.py",
              "test_cli_flags.py", "test_bad_inputs.py", "test_recipe.py", "test_bench_formats.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Collect the files of :data:`LONG_FILES` first, in that order; the others keep theirs."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
