"""Sources of the Composite data set: object cut-outs and background photos (see its README).

Objects come from scikit-image's bundled sample photos and one Ubuntu Touch wallpaper;
backgrounds from the Debian packages ``lomiri-wallpapers-16.04`` / ``-20.04`` (fetched with
``apt-get download``, never installed) and scikit-image's texture photos. Only
``benchmarks/make_composite_dataset.py`` uses this module, and only when it regenerates.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Debian packages with the photo wallpapers, and the photos used from them.
DEBS = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")
BACKGROUNDS = {
    "aitzgorri_by_Aitzol_Berasategi.jpg": "Aitzol Berasategi, 2018, CC-BY-4.0",
    "Bridge_by_Sander_Klootwijk.jpg": "Sander Klootwijk, 2018, CC-BY-SA-4.0",
    "Dragonfly_by_Bolly.jpg": '"Bolly", 2018, CC-BY-SA-4.0',
    "friends_by_Aitzol_Berasategi.jpg": "Aitzol Berasategi, 2018, CC-BY-4.0",
    "greentock_by_Peter_Nerlich.jpg": "Peter Nerlich, 2018, CC-BY-SA-4.0",
    "life_by_Aitzol_Berasategi.jpg": "Aitzol Berasategi, 2018, CC-BY-4.0",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": "Aitzol Berasategi, 2018, CC-BY-4.0",
    "Picture_0B_by_freespace.jpg": 'Trevor "Freespace", 2018, CC-BY-4.0',
    "Picture_1A_by_freespace.jpg": 'Trevor "Freespace", 2018, CC-BY-4.0',
    "seeding_by_Clements_Engelhardt.jpg": "Clemens Engelhardt, 2018, CC0-1.0",
    "sunset_by_Aitzol_Berasategi.jpg": "Aitzol Berasategi, 2018, CC-BY-4.0",
    "Wine_by_Jakkub_Mede.jpg": "Jakub Mede, 2018, CC-BY-4.0",
    "Kleiber_by_Lukas_Baubkus.jpg": "Lukas Baubkus, 2021, CC-BY-SA-3.0; the bird is cut out, the bark is a background",
}
#: scikit-image sample photos used as backgrounds (all CC0 or public domain).
SKIMAGE_BACKGROUNDS = ("brick", "grass", "gravel", "rocket", "astronaut", "coffee")
KLEIBER = "Kleiber_by_Lukas_Baubkus.jpg"
LONG_SIDE = 1280  # backgrounds are kept at most this large (crops are taken from them)


@dataclass
class Cutout:
    """An object photo (RGB uint8) with its alpha matte (float32 in 0..1), the same size."""

    rgb: np.ndarray
    alpha: np.ndarray


def fetch_wallpapers(cache: Path) -> Path:
    """``apt-get download`` the wallpaper packages into ``cache`` and unpack them; the photo folder."""
    photos = cache / "usr" / "share" / "backgrounds"
    if all(any(photos.rglob(name)) for name in BACKGROUNDS) if photos.is_dir() else False:
        return photos
    cache.mkdir(parents=True, exist_ok=True)
    if not shutil.which("apt-get"):
        raise RuntimeError("apt-get is needed to fetch the wallpapers (or pass --sources DIR)")
    subprocess.run(["apt-get", "download", *DEBS], cwd=cache, check=True)
    for deb in sorted(cache.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache)], check=True)
    return photos


def _read(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _shrink(rgb: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    """``rgb`` scaled down (never up) so that its long side is at most ``long_side``."""
    scale = long_side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _feather(mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """A binary mask as a soft float32 matte (edges blurred by ``sigma`` pixels)."""
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), 0.0, 1.0)


def _trim(rgb: np.ndarray, alpha: np.ndarray, pad: int = 2) -> Cutout:
    """The cut-out cropped to its matte's extent plus ``pad`` pixels."""
    ys, xs = np.nonzero(alpha > 0.02)
    y1, y2 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, alpha.shape[0])
    x1, x2 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, alpha.shape[1])
    return Cutout(np.ascontiguousarray(rgb[y1:y2, x1:x2]), np.ascontiguousarray(alpha[y1:y2, x1:x2]))


def _grabcut(rgb: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """GrabCut foreground (uint8 0/1) inside ``rect`` (x, y, w, h), with a fixed RNG seed."""
    cv2.setRNGSeed(0)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, rect, bgd, fgd, 6, cv2.GC_INIT_WITH_RECT)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def cat_face(chelsea: np.ndarray) -> list[Cutout]:
    """Chelsea the cat's face (she fills the photo, so an oval matte around the face)."""
    mask = np.zeros(chelsea.shape[:2], np.uint8)
    cv2.ellipse(mask, (205, 160), (180, 150), 0, 0, 360, 1, -1)
    return [_trim(chelsea, _feather(mask, 3.0))]


def nuthatch(kleiber: np.ndarray) -> list[Cutout]:
    """The nuthatch of the Kleiber wallpaper: GrabCut, limited by a hand-drawn outline."""
    crop = cv2.resize(kleiber[1000:2300, 2100:3300], None, fx=0.25, fy=0.25,
                      interpolation=cv2.INTER_AREA)
    outline = np.array([(85, 40), (100, 45), (140, 115), (185, 195), (225, 235), (250, 260),
                        (292, 291), (245, 294), (200, 306), (140, 306), (90, 292), (76, 220),
                        (76, 150), (80, 100)], np.int32)
    limit = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(limit, [outline], 1)
    mask = _grabcut(crop, (40, 30, 240, 280)) & limit
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return [_trim(crop, _feather(mask, 0.8))]


def coins(gray: np.ndarray) -> list[Cutout]:
    """The Greek coins of ``skimage.data.coins``, each with its Otsu-threshold matte."""
    smooth = cv2.GaussianBlur(gray, (5, 5), 0)
    threshold, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((smooth > threshold).astype(np.uint8))
    rgb = np.dstack([gray] * 3)
    found = []
    for i in range(1, count):
        area = stats[i, cv2.CC_STAT_AREA]
        if not 500 <= area <= 5000:  # specks, and the bright band at the top with a coin in it
            continue
        mask = (labels == i).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(mask, contours, -1, 1, -1)  # fill holes (dark parts of the relief)
        found.append(_trim(rgb, _feather(mask, 0.7)))
    return found


def cup(coffee: np.ndarray) -> list[Cutout]:
    """The espresso cup on its saucer (ellipses and the spoon's polygon, by hand)."""
    mask = np.zeros(coffee.shape[:2], np.uint8)
    cv2.ellipse(mask, (278, 230), (200, 158), -4, 0, 360, 1, -1)
    cv2.ellipse(mask, (290, 110), (118, 92), 0, 0, 360, 1, -1)
    cv2.fillPoly(mask, [np.array([(398, 70), (425, 72), (415, 135), (398, 135)], np.int32)], 1)
    return [_trim(coffee, _feather(mask, 1.5))]


def load(sources: Path) -> tuple[dict[str, list[Cutout]], list[Cutout], list[np.ndarray]]:
    """``(objects by class, distractor cut-outs, background photos)``; needs scikit-image."""
    import skimage.data  # noqa: PLC0415 (only needed to regenerate)

    photos = fetch_wallpapers(sources)
    paths = {name: next(photos.rglob(name)) for name in BACKGROUNDS}
    kleiber = _read(paths[KLEIBER])
    objects = {"bird": nuthatch(kleiber), "cat": cat_face(skimage.data.chelsea()),
               "coin": coins(skimage.data.coins())}
    distractors = cup(skimage.data.coffee())
    backgrounds = [_shrink(_read(paths[name])) for name in sorted(BACKGROUNDS) if name != KLEIBER]
    backgrounds.append(_shrink(kleiber[:, :2000]))  # bark only, without the bird
    for name in SKIMAGE_BACKGROUNDS:
        photo = np.asarray(getattr(skimage.data, name)())
        backgrounds.append(_shrink(np.dstack([photo] * 3) if photo.ndim == 2 else photo[..., :3]))
    return objects, distractors, [np.ascontiguousarray(b) for b in backgrounds]
