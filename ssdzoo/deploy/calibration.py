"""Calibration images for int8 export: the user's images, resized to the model's input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.utils.images import image_files, load_image

if TYPE_CHECKING:
    from ssdzoo.data.records import Dataset, Record
    from ssdzoo.utils.typing import ImagesLike


def _sources(calibration) -> list:
    if isinstance(calibration, (str, os.PathLike)):
        folder = os.fspath(calibration)
        if not os.path.exists(folder):
            raise FileNotFoundError(f"calibration folder {folder!r} does not exist")
        if not os.path.isdir(folder):
            return [folder]
        return image_files(folder)
    if isinstance(calibration, np.ndarray) and calibration.ndim == 3:
        return [calibration]
    return [getattr(item, "image_path", item) for item in calibration]


def calibration_images(calibration: ImagesLike | Dataset | Sequence[Record], size: int,
                       limit: int = 100) -> np.ndarray:
    """Calibration images resized to the model input: ``(N, size, size, 3)`` uint8 RGB (``N <= limit``).

    From a folder, a list of paths/arrays or records; ``ValueError`` when none is readable.
    """
    import cv2

    images = []
    for i, item in enumerate(_sources(calibration)):
        if len(images) >= limit:
            break
        try:
            image = load_image(item, i)
        except (ValueError, OSError):
            continue
        images.append(cv2.resize(np.asarray(image, np.float32), (size, size), interpolation=cv2.INTER_LINEAR))
    if not images:
        raise ValueError(f"no readable calibration images in {calibration!r}")
    return np.clip(np.rint(np.stack(images)), 0, 255).astype(np.uint8)
