"""YOLO: one ``.txt`` per image of normalised ``class x_center y_center width height``.

Two layouts: Darknet's (``images/``, ``labels/``, ``classes.txt`` or ``obj.names``) and
Ultralytics' (a ``data.yaml`` naming the split folders or list files and the classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from ssdzoo.utils.images import IMAGE_SUFFIXES, image_files, inspect_image

from ..check import SKIPPED, Finding
from ..records import Dataset
from .base import NAMES_FILES, Layout, Parsed, RawImage, RawObject, names_file, read_names, read_text
from .output import copy_images, write_lines

_LAYOUT = Layout(("x_center", "y_center", "width", "height"), "cxcywh", "class")
DATA_YAML = "data.yaml"
_SPLITS = ("train", "val", "test")


def _image(image: Path, txt: Path, id_names: list[str], names_source: str) -> RawImage:
    """One image and its label file (absent: no boxes)."""
    raw = RawImage(str(txt), str(image), _LAYOUT, frame=(1.0, 1.0))
    lines = txt.read_text(encoding="utf-8-sig", errors="replace").splitlines() if txt.is_file() else []
    for i, tokens in enumerate(line.split() for line in lines if line.strip()):
        name, problem = tokens[0], None
        if len(tokens) != 5:
            problem = f"expected 5 values 'class x_center y_center width height', got {len(tokens)}"
        elif tokens[0].isdigit() and int(tokens[0]) < len(id_names):
            name = id_names[int(tokens[0])]
        else:
            problem = (f"field class: {tokens[0]!r} is not a class id of {names_source} "
                       f"({len(id_names)} classes)")
        raw.objects.append(RawObject(i, name, tokens[1:5], problem=problem))
    return raw


def _is_label_file(txt: Path) -> bool:
    """Whether a ``.txt`` path is a file that reads as YOLO labels: empty, or its first word a class
    id (not a class-names file, nor a list of images or notes; one it cannot read is none)."""
    try:
        words = txt.read_text(encoding="utf-8-sig", errors="replace").split(maxsplit=1)
    except OSError:  # a folder, a link loop, no permission
        return False
    return txt.name not in NAMES_FILES and (not words or words[0].isdigit())


def _with_orphans(raws: list[RawImage], label_dirs: set[Path], id_names: list[str], names_source: str
                  ) -> list[RawImage]:
    """``raws`` and the label files of ``label_dirs`` that none of them has, each an image skipped
    as missing (its boxes counted, not lost unsaid)."""
    used = {Path(raw.source) for raw in raws}
    orphans = []
    for txt in sorted(t for folder in label_dirs for t in folder.glob("*.txt") if t not in used):
        if _is_label_file(txt):
            raw = _image(txt.with_suffix(""), txt, id_names, names_source)
            raw.findings.append(Finding(str(txt), f"image file missing (no image named {txt.stem!r} "
                                        "for this label file)", action=SKIPPED))
            orphans.append(raw)
    return raws + orphans


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files of a folder (and its subfolders with ``recursive``), sorted.

    One rule with ``predict`` and calibration: :func:`ssdzoo.utils.images.image_files`, and
    with ``recursive`` the same ``IMAGE_SUFFIXES`` on every file below ``folder``.
    """
    if not recursive:
        return [Path(p) for p in image_files(folder)]
    return sorted(p for p in folder.rglob("*") if p.name.lower().endswith(IMAGE_SUFFIXES) and p.is_file())


def _label_file(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder of the path becomes ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    k = max((i for i, part in enumerate(parts[:-1]) if part == "images"), default=None)
    if k is not None:
        parts[k] = "labels"
    return Path(*parts).with_suffix(".txt")


def _yaml_file(path: Path) -> Path | None:
    """The Ultralytics dataset YAML of a path: the ``.yaml`` file itself or the folder's ``data.yaml``."""
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return path
    return path / DATA_YAML if (path / DATA_YAML).is_file() else None


def _read_yaml(file: Path) -> dict:
    """The dataset YAML as a dict; ValueError naming the file when it is unusable."""
    try:
        data = yaml.safe_load(read_text(file))  # read_text: UTF-8 (BOM dropped), ValueError naming the file
    except (yaml.YAMLError, RecursionError) as error:
        raise ValueError(f"{file}: not a valid YAML file ({error})".replace("\n", " ")) from None
    if not isinstance(data, dict) or not isinstance(data.get("names"), (list, dict)):
        raise ValueError(f"{file}: no 'names' list or mapping (not an Ultralytics dataset YAML)")
    return data


def _yaml_names(file: Path, names: list | dict) -> list[str]:
    """Class names of ``names``: a list, or a mapping of ids 0..n-1 to names."""
    if isinstance(names, list):
        return [str(n) for n in names]
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{file}: field names: ids must be 0..{len(names) - 1}, got {sorted(names)}")
    return [str(names[i]) for i in range(len(names))]


def _split_images(file: Path, data: dict, split: str) -> list[Path]:
    """The images of one split: its folders (searched recursively) and list files."""
    entries = data.get(split)
    if entries is None:
        present = [s for s in data if s not in ("path", "names", "nc", "download")]
        raise ValueError(f"{file}: no split {split!r} (it has {', '.join(map(str, present)) or 'none'})")
    base = file.parent / str(data["path"]) if data.get("path") else file.parent
    base = base if base.is_dir() else file.parent
    images = []
    for entry in entries if isinstance(entries, list) else [entries]:
        target = base / str(entry)
        if target.is_dir():
            images += _images_in(target, recursive=True)
        elif target.is_file():
            images += [target.parent / line for line in read_names(target)]
        else:
            raise ValueError(f"{file}: field {split}: {target} does not exist")
    return images


def _parse_yaml(file: Path, split: str | None) -> Parsed:
    """An Ultralytics dataset: ``names`` and the images of ``split`` (all splits when None)."""
    data = _read_yaml(file)
    id_names = _yaml_names(file, data["names"])
    splits = [split] if split else [s for s in _SPLITS if data.get(s)]
    images = list(dict.fromkeys(p for s in splits for p in _split_images(file, data, s)))
    raws = [_image(p, _label_file(p), id_names, file.name) for p in images]
    label_dirs = {Path(raw.source).parent for raw in raws if Path(raw.source).is_file()}
    return Parsed(_with_orphans(raws, label_dirs, id_names, file.name), id_names)


def parse(root: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """YOLO: an Ultralytics ``data.yaml`` (or a folder with one), else a Darknet folder.

    Each label ``.txt`` line is ``class x_center y_center width height``, normalised to the
    image size read from the image header; class ids index ``names`` of the YAML, else
    ``classes.txt`` or ``obj.names``. Darknet folders: ``images/[split/]`` and
    ``labels/[split/]`` (or both in one folder). A label file that no image has is an image
    skipped ("image file missing"), its boxes counted.
    """
    yaml_file = _yaml_file(root)
    if yaml_file:
        return _parse_yaml(yaml_file, split)
    if not root.is_dir():
        raise ValueError(f"{root}: a YOLO dataset is a folder or a {DATA_YAML}")
    declared_file = names_file(root)
    id_names = read_names(declared_file) if declared_file else list(class_names or [])
    if not id_names:
        raise ValueError(f"{root}: no {DATA_YAML}, {' or '.join(NAMES_FILES)}; pass class_names=")
    names_source = declared_file.name if declared_file else "class_names"
    image_dir = root / "images" if (root / "images").is_dir() else root
    label_dir = root / "labels" if (root / "labels").is_dir() else image_dir
    if split:
        image_dir, label_dir = image_dir / split, label_dir / split
        if not image_dir.is_dir():
            raise ValueError(f"split folder {image_dir} does not exist")
    raws = [_image(p, label_dir / f"{p.stem}.txt", id_names, names_source) for p in _images_in(image_dir)]
    return Parsed(_with_orphans(raws, {label_dir} if label_dir.is_dir() else set(), id_names, names_source),
                  id_names)


def detect(path: Path) -> bool:
    """A dataset YAML, or a folder with ``data.yaml``, a ``labels/`` folder or a class-names file."""
    if _yaml_file(path):
        return True
    return path.is_dir() and ((path / "labels").is_dir() or names_file(path) is not None)


def write(dataset: Dataset, out_dir: str | Path, split: str | None = None) -> Path:
    """Write YOLO: ``images/[split/]``, ``labels/[split/]<stem>.txt``, ``classes.txt``, ``data.yaml``.

    Each line is ``class x_center y_center width height`` normalised to the image size.
    ``data.yaml`` (Ultralytics) gets ``names`` and the split's folder, keeping the splits an
    earlier write put there; without a split, ``train`` and ``val`` both name ``images``.
    Returns ``out_dir``.
    """
    out = Path(out_dir)
    sub = Path(split or "")
    images = copy_images(dataset.records, out / "images" / sub)
    for record, image in zip(dataset.records, images):
        width, height = inspect_image(image, decode=False).size
        b = record.boxes.astype(np.float64) / [width, height, width, height]
        centre_size = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                                b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
        write_lines(out / "labels" / sub / f"{image.stem}.txt",
                    [f"{label} " + " ".join(f"{v:.6f}" for v in row)
                     for label, row in zip(record.labels.tolist(), centre_size)])
    write_lines(out / "classes.txt", dataset.class_names)
    data_file = out / DATA_YAML
    data = _read_yaml(data_file) if data_file.is_file() else {}
    data.update({split: f"images/{split}"} if split else {"train": "images", "val": "images"})
    data["nc"], data["names"] = len(dataset.class_names), dict(enumerate(dataset.class_names))
    data_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
