"""Many cases of the bad-input corpus (tests/badinputs.py) of one format in one dataset.

Each case is built on its own, then its files join the mixed dataset renamed ``c<i>_<name>``
(``c0_bad.jpg``, ``c3_bad.txt``…); only the first case's good image (``good.jpg`` with one
``cat`` box) is kept, so the mix holds ``1 + sum(records - 1)`` records and
``1 + sum(boxes - 1)`` boxes of its cases. What a case states about the whole file (a
byte-order mark on the COCO JSON or the CSV, an Ultralytics ``data.yaml``) holds for the mix.
Every image of a mix is in its split ``SPLIT`` (a COCO or CSV file has no splits: all of it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from badinputs import Case

from ssdzoo.data.check import APART

BOM = b"\xef\xbb\xbf"
SPLIT = "train"


def mixable(cases: list[Case], fmt: str) -> list[Case]:
    """The cases of ``fmt`` that a plain load survives with the one class ``cat``: no error, no class
    list, no merge option, no second spelling of the class."""
    return [c for c in cases if c.build.fmt == fmt and not (c.error or c.class_names or c.merge_case)
            and all(f[0] != APART for f in c.findings)]


def _name(i: int, name: str) -> str | None:
    """Case ``i``'s file ``name`` in the mix; None for a good image after the first case's."""
    if name.startswith("good"):
        return name if i == 0 else None
    return f"c{i}_{name}"


def _built(root: Path, cases: list[Case]) -> Iterator[tuple[int, Path]]:
    """``(i, what case i's build returns)``, each case built in a folder beside ``root``."""
    for i, case in enumerate(cases):
        yield i, case.build(root.parent / f"{root.name}-case{i}")


def _copy(file: Path, target: Path) -> None:
    """``file`` to ``target``: a symbolic link stays a link to itself, a folder an empty folder."""
    if file.is_symlink():
        target.symlink_to(target.name)
    elif file.is_dir():
        target.mkdir()
    else:
        target.write_bytes(file.read_bytes())


def _copy_images(i: int, folder: Path, root: Path, skip: tuple[str, ...] = ()) -> None:
    """Case ``i``'s files of ``folder`` but ``skip`` into ``root``, renamed by :func:`_name`."""
    for file in sorted(folder.iterdir()):
        name = _name(i, file.name)
        if name and file.name not in skip:
            _copy(file, root / name)


def _write_same(target: Path, content: bytes) -> None:
    """A side file every case that has one must agree on (``classes.txt``, ``data.yaml``)."""
    assert not target.exists() or target.read_bytes() == content, f"cases differ on {target.name}"
    target.write_bytes(content)


def mix_voc(root: Path, cases: list[Case]) -> Path:
    """A VOC folder: ``Annotations/c<i>_bad.xml`` (``<filename>`` renamed too), ``JPEGImages/``, the split."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    for i, one in _built(root, cases):
        _copy_images(i, one / "JPEGImages", root / "JPEGImages")
        for file in (one / "Annotations").iterdir():
            if name := _name(i, file.name):
                text = file.read_bytes().replace(b"<filename>bad", f"<filename>c{i}_bad".encode())
                (root / "Annotations" / name).write_bytes(text)
    stems = "".join(f"{p.stem}\n" for p in sorted((root / "Annotations").iterdir()))
    (root / "ImageSets" / "Main" / f"{SPLIT}.txt").write_text(stems)
    return root


def mix_yolo(root: Path, cases: list[Case]) -> Path:
    """A YOLO folder: ``images/SPLIT/``, ``labels/SPLIT/`` and the cases' ``classes.txt`` and ``data.yaml``
    (whose ``train: .`` finds the same images)."""
    for sub in ("images", "labels"):
        (root / sub / SPLIT).mkdir(parents=True)
    for i, one in _built(root, cases):
        for file in sorted(one.iterdir()):
            if file.name in ("classes.txt", "data.yaml"):
                _write_same(root / file.name, file.read_bytes())
            elif name := _name(i, file.name):
                _copy(file, root / ("labels" if file.suffix == ".txt" else "images") / SPLIT / name)
    return root


def mix_coco(root: Path, cases: list[Case]) -> Path:
    """``root/coco.json`` (image ids ``1000 i + id``; a byte-order mark when a case has one) and its images."""
    root.mkdir(parents=True)
    merged: dict[str, list] = {"images": [], "annotations": [], "categories": []}
    bom = b""
    for i, file in _built(root, cases):
        raw = file.read_bytes()
        bom = BOM if raw.startswith(BOM) else bom
        data = json.loads(raw.decode("utf-8-sig"))
        left = {image["id"] for image in data["images"] if not _name(i, image["file_name"])}
        merged["images"] += [{**image, "id": 1000 * i + image["id"], "file_name": _name(i, image["file_name"])}
                             for image in data["images"] if image["id"] not in left]
        merged["annotations"] += [{**a, "id": 1000 * i + a["id"], "image_id": 1000 * i + a["image_id"]}
                                  for a in data["annotations"] if a["image_id"] not in left]
        merged["categories"] += [c for c in data["categories"] if c not in merged["categories"]]
        _copy_images(i, file.parent, root, skip=(file.name,))
    (root / "coco.json").write_bytes(bom + json.dumps(merged).encode())
    return root / "coco.json"


def mix_csv(root: Path, cases: list[Case]) -> Path:
    """``root/boxes.csv`` (one header; a byte-order mark when a case has one) and its images."""
    root.mkdir(parents=True)
    bom, rows = b"", []
    for i, file in _built(root, cases):
        header, *lines = file.read_bytes().splitlines(keepends=True)
        bom = BOM if header.startswith(BOM) else bom
        for line in lines:
            name, comma, rest = line.decode("utf-8", "surrogateescape").partition(",")
            if new := _name(i, name):
                rows.append(f"{new}{comma}{rest}".encode("utf-8", "surrogateescape"))
        _copy_images(i, file.parent, root, skip=(file.name,))
    (root / "boxes.csv").write_bytes(bom + header.removeprefix(BOM) + b"".join(rows))
    return root / "boxes.csv"


#: format -> the maker of a mixed dataset (returns the path to give ``--data``)
MIXERS: dict[str, Callable[[Path, list[Case]], Path]] = {
    "voc": mix_voc, "yolo": mix_yolo, "coco": mix_coco, "csv": mix_csv}


def images_of(fmt: str, data: Path) -> Path:
    """The folder holding a mixed dataset's images (what ``ssdzoo predict`` reads)."""
    return {"voc": data / "JPEGImages", "yolo": data / "images" / SPLIT}.get(fmt, data.parent)


def case_of(line: str) -> str | None:
    """The case a line of a skipped list is about (``c3`` of ``…/c3_bad.jpg: …``), None for the good image."""
    found = re.search(r"\bc(\d+)_bad", line.split(": ")[0])
    return f"c{found.group(1)}" if found else None
