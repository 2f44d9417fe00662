"""Shared fixtures: the bundled BCCD dataset and a writer of small synthetic images."""

from pathlib import Path

import cv2
import numpy as np
import pytest

BCCD = Path(__file__).parents[1] / "data" / "BCCD"


@pytest.fixture
def bccd() -> Path:
    """The bundled BCCD dataset (VOC layout, 364 images of 640x480)."""
    return BCCD


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
