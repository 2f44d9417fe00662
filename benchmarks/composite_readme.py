"""README.md and LICENSE of the Composite data set, written by make_composite_dataset.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from composite_sources import BACKGROUNDS, DEBS, KLEIBER, SKIMAGE_BACKGROUNDS

SIZE_BINS = (0, 16, 32, 64, 128, 256, 10**9)  # sqrt(box area), pixels

SOURCES = "\n".join([
    "| what | file | author, year, licence | shipped by |",
    "|---|---|---|---|",
    "| class `cat` | `chelsea.png` (Chelsea the cat; face, oval matte) | Stefan van der Walt, CC0 "
    "| scikit-image (`skimage.data.chelsea`) |",
    "| class `coin` | `coins.png` (Greek coins, Otsu matte each) | Brooklyn Museum, no known "
    "copyright restrictions | scikit-image (`skimage.data.coins`) |",
    "| class `bird` | `Kleiber_by_Lukas_Baubkus.jpg` (a nuthatch; GrabCut inside a hand-drawn "
    "outline) | Lukas Baubkus, 2021, CC-BY-SA-3.0 | Debian `lomiri-wallpapers-20.04` |",
    "| clutter | `coffee.png` (espresso cup on saucer; hand-drawn ellipses) | Rachel Michetti, CC0 "
    "| scikit-image (`skimage.data.coffee`) |",
    ""])

LICENSE = """\
The Composite data set (images and annotations) is a derivative work of the photographs listed
below. As a whole it is licensed under the Creative Commons Attribution-ShareAlike 4.0
International licence (CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/), the
licence of its share-alike sources (CC BY-SA 3.0 material is used under its "later version"
clause). The generator script (benchmarks/make_composite_dataset.py and the modules beside it)
is part of ssdzoo and under ssdzoo's licence.

Changes made: objects were cut out of the photographs, scaled, rotated, flipped, recoloured,
blurred and pasted onto random crops of other photographs, which were resized, recoloured and
relit; then noise was added and the results were JPEG-compressed.

Attribution (author, year, licence; where the file was obtained):

{lines}

CC BY 4.0: https://creativecommons.org/licenses/by/4.0/
CC BY-SA 3.0: https://creativecommons.org/licenses/by-sa/3.0/
CC BY-SA 4.0: https://creativecommons.org/licenses/by-sa/4.0/
CC0 1.0: https://creativecommons.org/publicdomain/zero/1.0/
The lomiri wallpapers' authors and licences are those of the Debian packages' copyright files
(/usr/share/doc/lomiri-wallpapers-16.04/copyright, .../lomiri-wallpapers-20.04/copyright).
"""

SKIMAGE_CREDITS = {
    "chelsea": "Stefan van der Walt, CC0",
    "coins": "Brooklyn Museum, no known copyright restrictions",
    "coffee": "Rachel Michetti (courtesy of Pikolo Espresso Bar), CC0",
    "brick": "CC0Textures (Bricks25), CC0",
    "grass": "CC0Textures, CC0",
    "gravel": "CC0Textures (Gravel04), CC0",
    "rocket": "SpaceX (DSCOVR launch), public domain",
    "astronaut": "NASA (Eileen Collins), public domain",
}


def _package(name: str) -> str:
    """The Debian package a wallpaper comes from."""
    return DEBS[1] if name == KLEIBER else DEBS[0]


def _histogram(sides: list[float]) -> str:
    """A text histogram of box sizes (sqrt of the area) in SIZE_BINS."""
    counts = Counter(next(i for i in range(len(SIZE_BINS) - 1) if s < SIZE_BINS[i + 1]) for s in sides)
    peak = max(counts.values(), default=1)
    lines = []
    for i in range(len(SIZE_BINS) - 1):
        lo, hi = SIZE_BINS[i], SIZE_BINS[i + 1]
        label = f"{lo:>4}-{hi:<4} px" if hi < 10**9 else f"{lo:>4}+     px"
        lines.append(f"{label} {counts[i]:>5}  {'#' * round(40 * counts[i] / peak)}")
    return "\n".join(lines)


def write_readme(out: Path, command: str, written: dict, objects: dict[str, int], photos: int) -> None:
    """Write ``out/README.md`` (what, how, sources, counts, box sizes) and ``out/LICENSE``."""
    classes = sorted({b.name for images in written.values() for _, boxes in images for b in boxes})
    rows = ["| split | images | " + " | ".join(classes) + " | difficult | truncated | boxes/image |",
            "|---|---|" + "---|" * (len(classes) + 3)]
    sides, long_sides = [], []
    for split, images in written.items():
        boxes = [b for _, bs in images for b in bs]
        per = Counter(b.name for b in boxes)
        rows.append(f"| {split} | {len(images)} | " + " | ".join(str(per[c]) for c in classes)
                    + f" | {sum(b.difficult for b in boxes)} | {sum(b.truncated for b in boxes)}"
                    + f" | {len(boxes) / max(len(images), 1):.2f} |")
        sides += [((b.box[2] - b.box[0]) * (b.box[3] - b.box[1])) ** 0.5 for b in boxes]
        long_sides += [max(size) for size, _ in images]
    images_total = sum(len(v) for v in written.values())
    backgrounds = "\n".join(f"- `{name}` ({credit}; Debian `{_package(name)}`)"
                            for name, credit in sorted(BACKGROUNDS.items()))
    textures = ", ".join(f"`{n}` ({SKIMAGE_CREDITS[n]})" for n in SKIMAGE_BACKGROUNDS)
    text = f"""# Composite — real photo cut-outs on real photos (VOC layout)

{images_total} JPEG images (quality 90, long side {min(long_sides)}-{max(long_sides)} px, landscape and
portrait) with Pascal VOC XML boxes for three classes: `{"`, `".join(classes)}`. Layout as
data/BCCD: `Annotations/*.xml`, `JPEGImages/*.jpg`, `ImageSets/Main/{{train,val,test,trainval}}.txt`.
A second small detection set, beside BCCD, for measuring the learning recipe on photographs
(BCCD is microscopy).

## Counts

Boxes per class and split (difficult boxes included; they are ignored by VOC mAP):

{chr(10).join(rows)}

Box size, sqrt(width x height) in pixels, all splits ({len(sides)} boxes):

```
{_histogram(sides)}
```

## How it was made

```bash
{command}
```

(`--seed`, `--train/--val/--test`, `--min-side/--max-side` set what is generated; the same
command gives the same files.) Regenerating needs `pip install scikit-image` (its bundled
sample photos) and `apt-get download` of the Debian packages `{DEBS[0]}` and `{DEBS[1]}`
(unpacked, not installed, into `--sources`); training on the committed set needs neither.

Each image: a random crop (35-100 % of the short side, maybe mirrored, recoloured) of one of
{photos} background photographs; 1-8 objects (half the images one class only) drawn from
{", ".join(f"{n} {c} cut-out{'s' * (c > 1)}" for n, c in sorted(objects.items()))}; each scaled to a long
side log-uniform from 15 px to 60 % of the image's, stretched ±15 %, rotated (coins any angle,
others ~N(0°, 12°)), mirrored (birds also upside down: nuthatches climb both ways), hue / colour
/ brightness / contrast jittered (coins tinted gold, copper, silver or bronze), out of focus in
1 of 4, with a soft cast shadow in 7 of 10; 0-3 unlabelled clutter pastes (the espresso cup, or
blob-shaped patches of the background photos); all in random order, so later pastes occlude
earlier ones, placed anywhere at most a quarter of their size past a border (so big ones are
often cut by it). Then the whole image gets gamma, a lighting gradient, a colour cast, sensor noise
and, in 15 %, blur.

Boxes are the visible extent of each object after occlusion (pixels where its matte is > 0.5
and nothing pasted later covers it), in pixel-edge coordinates (0 ≤ xmin < xmax ≤ width).
More than 70 % occluded or less than 25 % inside the image: `<difficult>1`; more than 85 %
occluded, less than 10 % inside, or a visible box under 4 px wide or high: no box. Boxes that
the border cuts: `<truncated>1`.

Limits: one cat (its face) and one bird are the source of every `cat` and `bird` box ({objects.get("coin", 0)} coins
for `coin`): the variation comes from the transformations, not from different animals, so the
set measures localisation under scale / occlusion / clutter more than appearance
generalisation. Pasting leaves matte edges and lighting that a camera would not produce.

## Sources and licences

Objects:

{SOURCES}
Backgrounds: photographs from the Debian wallpaper packages (lomiri-wallpapers, Ubuntu Touch):

{backgrounds}

and scikit-image's sample photos {textures}.

The data set is CC BY-SA 4.0 as a whole (see LICENSE, with every attribution).
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    credits = [f"- {name}: {credit}; Debian package {_package(name)}"
               for name, credit in sorted(BACKGROUNDS.items())]
    credits += [f"- skimage.data.{name}: {credit}; scikit-image sample data"
                for name, credit in sorted(SKIMAGE_CREDITS.items())]
    (out / "LICENSE").write_text(LICENSE.format(lines="\n".join(credits)), encoding="utf-8")
