"""Reading images: the one decoder of ssdzoo, files and arrays → RGB uint8 ``(H, W, 3)`` arrays.

The checker, the tf.data pipeline, ``detect``, ``predict`` and ``eval`` all read image files
through :func:`read_image`, so they accept exactly the same files and see the same pixels.
Pillow decodes: JPEG (also with bytes after its end marker, as cameras write them), PNG, BMP,
GIF (first frame), TIFF and WebP; CMYK, palette, grayscale, 16-bit and alpha images become
RGB; a truncated file is an error (OpenCV would return a half-grey picture) and so is a
decompression bomb (over ``PIL.Image.MAX_IMAGE_PIXELS`` x 2 pixels).

EXIF orientation is applied everywhere: an image is used as a photo viewer shows it, and
its size ``(width, height)`` is that of the turned image.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File name endings taken as images where a folder is listed (YOLO, predict, calibration).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

_ORIENTATION_TAG = 0x0112
#: EXIF orientations that swap width and height (transpose, 90° CW, transverse, 90° CCW).
_SWAPS = (5, 6, 7, 8)


class ImageError(ValueError):
    """An image file is unreadable, empty, truncated or not an image (``problem`` says which)."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What an image file holds: ``size`` (width, height) in pixels as used (EXIF orientation
    applied), ``stored_size`` as stored in the file, ``orientation`` the EXIF tag (1: none)."""

    size: tuple[int, int]
    stored_size: tuple[int, int]
    orientation: int


def _open(path: str | os.PathLike) -> Image.Image:
    """The opened (not yet decoded) image; ImageError naming the file and the problem."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageError(path, "image file missing") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        raise ImageError(path, f"cannot read the image file ({getattr(error, 'strerror', None) or error})") from None
    if not data:
        raise ImageError(path, "image file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(path, "not an image in a format ssdzoo reads (JPEG, PNG, BMP, GIF, "
                               "TIFF, WebP)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"image too large to decode ({error})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # Pillow's header parsers raise these
        what = "truncated image file" if "truncated" in str(error).lower() else "cannot decode the image header"
        raise ImageError(path, f"{what} ({error})") from None


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except (OSError, ValueError, SyntaxError, TypeError):  # a damaged EXIF block: not turned
        return 1
    return value if 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8; 16-bit and float grey scaled to 0-255 (Pillow's own conversion clips them)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        grey = np.asarray(image, np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or grey.max(initial=0) > 255 else 255.0
        grey = np.clip(grey / top * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")  # alpha dropped: the colour under it, as OpenCV did
    return np.asarray(image.convert("RGB"))


def _decode(image: Image.Image, path: str | os.PathLike) -> np.ndarray:
    """Every pixel of an opened image as RGB uint8, EXIF orientation applied."""
    try:
        image.seek(0)  # the first frame of an animation
        image.load()
        image = ImageOps.exif_transpose(image) if _orientation(image) != 1 else image
        return _to_rgb(image)
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"image too large to decode ({error})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        reason = "truncated" if "truncated" in str(error) else "corrupt"
        raise ImageError(path, f"{reason} {image.format or 'image'} file ({error})") from None


def inspect_image(path: str | os.PathLike, decode: bool = True) -> ImageInfo:
    """Sizes and EXIF orientation of an image file; ``decode`` also decodes every pixel.

    Raises:
        ImageError: the file is missing, unreadable, empty, not an image, too large, or
            (``decode``) truncated or corrupt.
    """
    image = _open(path)
    orientation = _orientation(image)
    width, height = image.size
    if decode:
        _decode(image, path)
    size = (height, width) if orientation in _SWAPS else (width, height)
    return ImageInfo(size, (width, height), orientation)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)``, EXIF orientation applied.

    Raises:
        FileNotFoundError: nothing is at ``path``.
        ImageError: (a ValueError) the file cannot be read or decoded; the message names it.
    """
    if not os.path.lexists(path):
        raise FileNotFoundError(f"image {os.fspath(path)!r} does not exist")
    return _decode(_open(path), path)


def image_files(folder: str | os.PathLike) -> list[str]:
    """The paths of the files in ``folder`` whose names end in one of ``IMAGE_SUFFIXES``, sorted."""
    folder = os.fspath(folder)
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.lower().endswith(IMAGE_SUFFIXES)]


def image_items(images: str | os.PathLike | np.ndarray | Sequence) -> list:
    """One image (a path or an ``(H, W[, C])`` array) or a batch of them (a list, or ``(B, H, W, C)``) as a list."""
    single = isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim <= 3)
    return [images] if single else list(images)


def load_image(item: str | os.PathLike | np.ndarray, index: int = 0) -> np.ndarray:
    """A path (read with :func:`read_image`) or an array (:func:`as_rgb`) as an RGB image."""
    if isinstance(item, (str, os.PathLike)):
        return read_image(item)
    return as_rgb(item, f"image {index}")


def orient_boxes(boxes: np.ndarray, orientation: int, stored_size: tuple[int, int]) -> np.ndarray:
    """Pixel x1 y1 x2 y2 boxes ``(N, 4)`` of the stored (width, height) image, on it turned by EXIF ``orientation``."""
    w, h = stored_size
    x = boxes[:, [0, 2]]
    y = boxes[:, [1, 3]]
    new_x, new_y = {1: (x, y), 2: (w - x, y), 3: (w - x, h - y), 4: (x, h - y), 5: (y, x),
                    6: (h - y, x), 7: (h - y, w - x), 8: (y, w - x)}[orientation]
    return np.stack([new_x.min(1), new_y.min(1), new_x.max(1), new_y.max(1)], axis=1).astype(boxes.dtype)


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
