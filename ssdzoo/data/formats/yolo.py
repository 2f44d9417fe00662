"""YOLO (Darknet): one ``.txt`` per image of normalised ``class x_center y_center width height``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ssdzoo.utils.images import image_files

from .base import NAMES_FILES, Layout, Parsed, RawImage, RawObject, names_file, read_names

_LAYOUT = Layout(("x_center", "y_center", "width", "height"), "cxcywh", "class")


def parse(root: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """YOLO folder: ``images/[split/]`` and ``labels/[split/]`` (or both in one folder).

    Each ``.txt`` line is ``class x_center y_center width height``, normalised to the image
    size read from the image header; class ids index ``classes.txt`` or ``obj.names``.
    """
    if not root.is_dir():
        raise ValueError(f"{root}: a YOLO dataset is a folder")
    declared_file = names_file(root)
    id_names = read_names(declared_file) if declared_file else list(class_names or [])
    if not id_names:
        raise ValueError(f"{root}: no {' or '.join(NAMES_FILES)}; pass class_names=")
    names_source = declared_file.name if declared_file else "class_names"
    image_dir = root / "images" if (root / "images").is_dir() else root
    label_dir = root / "labels" if (root / "labels").is_dir() else image_dir
    if split:
        image_dir, label_dir = image_dir / split, label_dir / split
        if not image_dir.is_dir():
            raise ValueError(f"split folder {image_dir} does not exist")
    images = []
    for image in map(Path, image_files(image_dir)):
        txt = label_dir / f"{image.stem}.txt"
        raw = RawImage(str(txt), str(image), _LAYOUT, frame=(1.0, 1.0))
        lines = txt.read_text(encoding="utf-8-sig", errors="replace").splitlines() if txt.is_file() else []
        for i, tokens in enumerate(line.split() for line in lines if line.strip()):
            name, problem = tokens[0], None
            if len(tokens) != 5:
                problem = (f"expected 5 values 'class x_center y_center width height', "
                           f"got {len(tokens)}")
            elif tokens[0].isdigit() and int(tokens[0]) < len(id_names):
                name = id_names[int(tokens[0])]
            else:
                problem = (f"field class: {tokens[0]!r} is not a class id of {names_source} "
                           f"({len(id_names)} classes)")
            raw.objects.append(RawObject(i, name, tokens[1:5], problem=problem))
        images.append(raw)
    return Parsed(images, id_names)


def detect(path: Path) -> bool:
    """A folder with a ``labels/`` folder or a class-names file."""
    return path.is_dir() and ((path / "labels").is_dir() or names_file(path) is not None)
