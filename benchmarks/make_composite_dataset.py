"""Build "Composite": a small VOC detection set of real photo cut-outs pasted onto real photos.

A second small data set beside BCCD for measuring the learning recipe: 3 classes (bird, cat,
coin) cut out of CC0 / public-domain / CC-BY(-SA) photographs and pasted, 1-8 per image, onto
random crops of photographic wallpapers and texture photos, with scale from ~15 px to ~60 % of
the image, rotation, flips, colour / lighting / blur changes, cast shadows, unlabelled clutter
(an espresso cup, patches of other photos), occlusion by later pastes and truncation at the
borders. Each box is the visible extent of its object; objects more than 70 % hidden get
``<difficult>1``, more than 85 % (or under 10 % inside the image) no box; boxes cut by the border
get ``<truncated>1``. Sources and licences: the data set's README.md / LICENSE.

    python benchmarks/make_composite_dataset.py --seed 0 --out data/Composite

Regenerating needs scikit-image (its bundled sample photos) and ``apt-get download`` of the
Debian wallpaper packages (cached under ``--sources``); using the committed set needs neither.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from composite_readme import write_readme  # noqa: E402
from composite_sources import Cutout  # noqa: E402

CLASSES = ("bird", "cat", "coin")
COUNT_P = np.array([0.25, 0.22, 0.16, 0.12, 0.09, 0.07, 0.05, 0.04])  # 1..8 objects per image
ASPECTS = (1.0, 5 / 4, 4 / 3, 3 / 2, 16 / 9)
METALS = ((1.0, 0.84, 0.52), (0.95, 0.66, 0.45), (0.96, 0.97, 1.0), (0.8, 0.75, 0.62))
OCCLUDED_DIFFICULT, OCCLUDED_DROP, INSIDE_DIFFICULT, INSIDE_DROP = 0.7, 0.85, 0.25, 0.1
MIN_SIDE = 4  # visible boxes narrower or lower than this (pixels) are dropped
JPEG_QUALITY = 90


@dataclass
class Box:
    """One annotated object: class, visible extent (pixel edges x1 y1 x2 y2) and VOC flags."""

    name: str
    box: tuple[int, int, int, int]
    truncated: bool
    difficult: bool


def _image_size(rng: np.random.Generator, min_side: int, max_side: int) -> tuple[int, int]:
    """A random ``(width, height)``: long side in ``[min_side, max_side]``, a photo aspect."""
    long_side = int(rng.integers(min_side, max_side + 1))
    short = int(round(long_side / ASPECTS[rng.integers(len(ASPECTS))]))
    return (long_side, short) if rng.random() < 0.7 else (short, long_side)


def _background(rng: np.random.Generator, photos: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """A random crop of a random photo (35-100 % of its short side), flipped and resized, float32."""
    photo = photos[rng.integers(len(photos))]
    ph, pw = photo.shape[:2]
    aspect = width / height
    ch = max(int(rng.uniform(0.35, 1.0) * min(ph, pw / aspect)), 8)
    cw = min(max(int(ch * aspect), 8), pw)
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    image = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_AREA)
    return _jitter_colour(rng, image.astype(np.float32), 0.15)


def _jitter_colour(rng: np.random.Generator, rgb: np.ndarray, amount: float) -> np.ndarray:
    """Brightness, contrast, saturation and a colour cast, each within ``amount`` (float32 RGB)."""
    grey = rgb.mean(axis=2, keepdims=True)
    rgb = grey + (rgb - grey) * rng.uniform(1 - 1.5 * amount, 1 + amount)  # saturation
    mean = rgb.mean()
    rgb = mean + (rgb - mean) * rng.uniform(1 - amount, 1 + amount)  # contrast
    cast = 1 + rng.normal(0, amount / 3, 3).astype(np.float32)
    return np.clip(rgb * cast * rng.uniform(1 - amount * 1.5, 1 + amount), 0, 255)


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random blob matte of ``size`` x ``size`` pixels (for clutter patches)."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(6, 11))))
    radii = rng.uniform(0.55, 1.0, len(angles)) * size / 2 * 0.95
    points = np.stack([size / 2 + radii * np.cos(angles), size / 2 + radii * np.sin(angles)], 1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(size / 40, 0.8)), 0, 1)


def _clutter(rng: np.random.Generator, photos: list[np.ndarray], cups: list[Cutout]) -> Cutout:
    """An unlabelled distractor: the cup, or a blob-shaped patch of some other photo."""
    if cups and rng.random() < 0.35:
        return cups[rng.integers(len(cups))]
    photo = photos[rng.integers(len(photos))]
    size = int(rng.integers(24, min(photo.shape[:2]) // 2))
    y, x = int(rng.integers(0, photo.shape[0] - size)), int(rng.integers(0, photo.shape[1] - size))
    return Cutout(photo[y:y + size, x:x + size], _blob(rng, size))


def _transform(rng: np.random.Generator, cut: Cutout, name: str, long_side: float) -> Cutout:
    """``cut`` scaled to ``long_side`` pixels, rotated, flipped, recoloured and maybe blurred."""
    rgb, alpha = cut.rgb.astype(np.float32), cut.alpha
    if rng.random() < 0.5:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    if name == "bird" and rng.random() < 0.5:  # nuthatches climb head-down and head-up
        rgb, alpha = rgb[::-1], alpha[::-1]
    h, w = alpha.shape
    stretch = rng.uniform(0.87, 1.15)
    scale = long_side / max(h, w)
    size = (max(int(round(w * scale * stretch)), 2), max(int(round(h * scale / stretch)), 2))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=interp)
    alpha = cv2.resize(np.ascontiguousarray(alpha), size, interpolation=interp)
    angle = rng.uniform(-180, 180) if name == "coin" else rng.normal(0, 12)
    rgb, alpha = _rotate(rgb, alpha, angle)
    if name == "coin":
        rgb = rgb * np.float32(METALS[rng.integers(len(METALS))])
    else:
        hsv = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-6, 7))) % 180
        rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    rgb = _jitter_colour(rng, rgb, 0.15)
    if rng.random() < 0.25:  # out of focus
        sigma = rng.uniform(0.6, 0.6 + long_side / 60)
        rgb, alpha = (cv2.GaussianBlur(a, (0, 0), sigma) for a in (rgb, alpha))
    return Cutout(rgb, alpha)


def _rotate(rgb: np.ndarray, alpha: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Both rotated by ``angle`` degrees about their centre, on a canvas that holds the result."""
    h, w = alpha.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    matrix[:, 2] += (nw - w) / 2, (nh - h) / 2
    warp = {"dsize": (nw, nh), "flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_CONSTANT}
    return cv2.warpAffine(rgb, matrix, **warp), cv2.warpAffine(alpha, matrix, **warp)


def _paste(canvas: np.ndarray, owner: np.ndarray, cut: Cutout, x: int, y: int, index: int,
           shadow: float) -> None:
    """Alpha-blend ``cut`` with its top-left at ``(x, y)`` (may be outside), with a soft shadow."""
    h, w = cut.alpha.shape
    if shadow > 0:
        dx, dy = int(round(w * 0.06)), int(round(h * 0.08))
        soft = cv2.GaussianBlur(cut.alpha, (0, 0), max(w, h) / 25 + 0.5) * shadow
        _blend(canvas, None, soft, x + dx, y + dy, np.zeros((h, w, 3), np.float32), index)
    _blend(canvas, owner, cut.alpha, x, y, cut.rgb, index)


def _blend(canvas: np.ndarray, owner: np.ndarray | None, alpha: np.ndarray, x: int, y: int,
           rgb: np.ndarray, index: int) -> None:
    """Blend ``rgb`` with matte ``alpha`` at ``(x, y)`` into the part inside ``canvas``."""
    height, width = canvas.shape[:2]
    h, w = alpha.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 >= x2 or y1 >= y2:
        return
    a = alpha[y1 - y:y2 - y, x1 - x:x2 - x, None]
    region = canvas[y1:y2, x1:x2]
    region[:] = region * (1 - a) + rgb[y1 - y:y2 - y, x1 - x:x2 - x] * a
    if owner is not None:
        owner[y1:y2, x1:x2][a[..., 0] > 0.5] = index


def _finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Whole-image light: gamma, a lighting gradient, colour cast, sensor noise, maybe blur."""
    height, width = image.shape[:2]
    image = 255 * (np.clip(image, 0, 255) / 255) ** rng.uniform(0.75, 1.35)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = ((xs / width - 0.5) * math.cos(angle) + (ys / height - 0.5) * math.sin(angle))
    image = image * (1 + rng.uniform(0, 0.5) * ramp)[..., None]
    image = image * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    image = image + rng.normal(0, rng.uniform(0, 5), image.shape).astype(np.float32)
    if rng.random() < 0.15:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def compose(rng: np.random.Generator, objects: dict[str, list[Cutout]], cups: list[Cutout],
            photos: list[np.ndarray], min_side: int = 320, max_side: int = 640
            ) -> tuple[np.ndarray, list[Box]]:
    """One composite photo (RGB uint8) and its boxes."""
    width, height = _image_size(rng, min_side, max_side)
    canvas = _background(rng, photos, width, height)
    owner = np.full((height, width), -1, np.int32)
    count = int(rng.choice(len(COUNT_P), p=COUNT_P)) + 1
    names = sorted(objects)
    only = names[rng.integers(len(names))] if rng.random() < 0.5 else None
    items: list[tuple[str | None, Cutout]] = []
    for _ in range(count):
        name = only or names[rng.integers(len(names))]
        pool = objects[name]
        items.append((name, pool[rng.integers(len(pool))]))
    items += [(None, _clutter(rng, photos, cups)) for _ in range(int(rng.integers(0, 4)))]
    order = rng.permutation(len(items))
    full_area: dict[int, int] = {}
    inside: dict[int, int] = {}
    for index in order:
        name, cut = items[index]
        long_side = math.exp(rng.uniform(math.log(15), math.log(0.6 * max(width, height))))
        if name is None:
            long_side = min(long_side, 0.45 * max(width, height))
        placed = _transform(rng, cut, name or "clutter", long_side)
        h, w = placed.alpha.shape
        x = int(rng.integers(-w // 4, max(width - 3 * w // 4, -w // 4) + 1))
        y = int(rng.integers(-h // 4, max(height - 3 * h // 4, -h // 4) + 1))
        solid = placed.alpha > 0.5
        full_area[index] = int(solid.sum())
        inside[index] = int(solid[max(-y, 0):height - y, max(-x, 0):width - x].sum())
        _paste(canvas, owner, placed, x, y, int(index), rng.uniform(0.15, 0.45) if rng.random() < 0.7 else 0)
    boxes = []
    for index, (name, _) in enumerate(items):
        box = _visible_box(owner, index, full_area[index], inside[index], name)
        if box is not None:
            boxes.append(box)
    return _finish(rng, canvas), boxes


def _visible_box(owner: np.ndarray, index: int, full: int, inside: int, name: str | None) -> Box | None:
    """The box of what is visible of object ``index``, with its flags, or None when it is dropped."""
    if name is None or full == 0 or inside / full < INSIDE_DROP:
        return None
    ys, xs = np.nonzero(owner == index)
    if len(xs) == 0 or 1 - len(xs) / max(inside, 1) > OCCLUDED_DROP:
        return None
    x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    if min(x2 - x1, y2 - y1) < MIN_SIDE:
        return None
    difficult = 1 - len(xs) / inside > OCCLUDED_DIFFICULT or inside / full < INSIDE_DIFFICULT
    return Box(name, (x1, y1, x2, y2), inside < full, bool(difficult))


def _annotation(stem: str, width: int, height: int, boxes: list[Box]) -> ET.ElementTree:
    """The Pascal VOC XML of one image, laid out like data/BCCD's."""
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = "JPEGImages"
    ET.SubElement(ann, "filename").text = f"{stem}.jpg"
    ET.SubElement(ET.SubElement(ann, "source"), "database").text = "ssdzoo Composite"
    size = ET.SubElement(ann, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(ann, "segmented").text = "0"
    for box in boxes:
        obj = ET.SubElement(ann, "object")
        ET.SubElement(obj, "name").text = box.name
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = str(int(box.truncated))
        ET.SubElement(obj, "difficult").text = str(int(box.difficult))
        bndbox = ET.SubElement(obj, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box.box):
            ET.SubElement(bndbox, key).text = str(value)
    tree = ET.ElementTree(ann)
    ET.indent(tree, "\t")
    return tree


def write_dataset(out: Path, seed: int, splits: dict[str, int], objects: dict[str, list[Cutout]],
                  cups: list[Cutout], photos: list[np.ndarray], min_side: int = 320,
                  max_side: int = 640) -> dict[str, list[tuple[tuple[int, int], list[Box]]]]:
    """Write the VOC folders under ``out`` (replacing them); per split, each image's size and boxes."""
    for sub in ("Annotations", "JPEGImages", "ImageSets"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    written: dict[str, list[tuple[tuple[int, int], list[Box]]]] = {}
    index = 0
    for split, count in splits.items():
        stems, written[split] = [], []
        for _ in range(count):
            rng = np.random.default_rng([seed, index])
            image, boxes = compose(rng, objects, cups, photos, min_side, max_side)
            while not boxes:  # every object hidden or outside: draw the image again
                image, boxes = compose(rng, objects, cups, photos, min_side, max_side)
            stem = f"composite_{index:05d}"
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            assert ok, stem
            (out / "JPEGImages" / f"{stem}.jpg").write_bytes(data.tobytes())
            height, width = image.shape[:2]
            _annotation(stem, width, height, boxes).write(out / "Annotations" / f"{stem}.xml",
                                                          encoding="utf-8")
            stems.append(stem)
            written[split].append(((width, height), boxes))
            index += 1
        (out / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
    trainval = [line for split in ("train", "val") if split in splits
                for line in (out / "ImageSets" / "Main" / f"{split}.txt").read_text().splitlines()]
    (out / "ImageSets" / "Main" / "trainval.txt").write_text("".join(f"{s}\n" for s in trainval))
    return written


def class_counts(boxes: list[Box]) -> Counter:
    """Boxes per class name (difficult ones included)."""
    return Counter(box.name for box in boxes)


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate the data set (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/Composite"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=150)
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--min-side", type=int, default=320, help="smallest long side (pixels)")
    parser.add_argument("--max-side", type=int, default=640, help="largest long side (pixels)")
    parser.add_argument("--sources", type=Path, default=Path.home() / ".cache" / "ssdzoo-composite",
                        help="where the wallpaper packages are downloaded and unpacked")
    args = parser.parse_args(argv)
    from composite_sources import load  # noqa: PLC0415 (needs scikit-image)

    objects, cups, photos = load(args.sources)
    splits = {"train": args.train, "val": args.val, "test": args.test}
    written = write_dataset(args.out, args.seed, splits, objects, cups, photos, args.min_side, args.max_side)
    command = " ".join(["python benchmarks/make_composite_dataset.py", *(argv if argv is not None else sys.argv[1:])])
    write_readme(args.out, command, written, {k: len(v) for k, v in objects.items()}, len(photos))
    print(f"wrote {sum(splits.values())} images to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
