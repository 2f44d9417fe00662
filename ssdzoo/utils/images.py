"""Reading images: files and arrays → RGB uint8 ``(H, W, 3)`` numpy arrays."""

from __future__ import annotations

import os

import cv2
import numpy as np

cv2.setNumThreads(0)  # OpenCV's own threads deadlock forked data loaders


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)``; a clear error naming the file otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"image {path!r} could not be decoded (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_rgb(image: np.ndarray, where: str = "image") -> np.ndarray:
    """An array image as ``(H, W, 3)`` RGB, dtype and values kept: grayscale repeated, alpha dropped."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"{where}: expected an (H, W, 3) image, got shape {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]
