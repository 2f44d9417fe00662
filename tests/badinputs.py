"""A bad-input corpus, generated at test time: one small dataset per kind of defect.

Each :class:`Case` builds a dataset (VOC, YOLO with or without data.yaml, COCO or CSV) holding one good image with one
``cat`` box plus the defect, and states the exact outcome: the records and boxes ``check`` /
``load`` keep, and every finding as ``(action, file name, words of the problem)`` — or, for a
file that cannot be read as its format at all, the ``ValueError`` naming it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from ssdzoo.data.check import APART, CLIPPED, DROPPED, KEPT, MERGED, SKIPPED, TURNED

W, H = 64, 48
BOX = (1, 2, 30, 40)


def pixels(width: int = W, height: int = H, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """Noise pixels ``(height, width, channels)``."""
    top = 65535 if dtype == np.uint16 else 255
    noise = np.random.default_rng(0).integers(0, top, (height, width, channels)).astype(dtype)
    return noise[..., 0] if channels == 1 else noise


def encode(image: Image.Image | np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    """An image (PIL or array) encoded as ``fmt`` bytes."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = W, height: int = H, **options) -> bytes:
    """A noise JPEG."""
    return encode(pixels(width, height), "JPEG", **options)


def exif_jpeg(orientation: int) -> bytes:
    """A 64x48 JPEG whose EXIF orientation turns it (6: shown 48 wide, 64 high)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(pixels(), "JPEG", exif=exif)


def huge_png(side: int = 200_000) -> bytes:
    """A PNG whose header claims ``side`` x ``side`` pixels (a decompression bomb)."""
    data = bytearray(encode(pixels(4, 4), "PNG"))
    ihdr = struct.pack(">II", side, side) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def gif_animation() -> bytes:
    """A two-frame GIF."""
    frames = [Image.fromarray(pixels()).convert("P"), Image.fromarray(255 - pixels()).convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def symlink_loop(path: Path) -> None:
    """``path`` as a symbolic link to itself."""
    os.symlink(path.name, path)


def _obj(name: str, box) -> str:
    coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name><bndbox>{coords}</bndbox></object>"


def voc_xml(filename: str, objects=(("cat", BOX),), size=(W, H)) -> str:
    """A VOC annotation; ``size`` None leaves the ``<size>`` element out."""
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height></size>" if size else ""
    return (f"<annotation><filename>{filename}</filename>{size_xml}"
            + "".join(_obj(n, b) for n, b in objects) + "</annotation>")


def voc(image: bytes | Callable[[Path], None] | None = None, name: str = "bad.jpg",
        xml: str | bytes | None = None, **xml_options) -> Callable[[Path], Path]:
    """A VOC dataset: good.jpg with one cat box, and ``name`` (bytes, a maker, or a noise
    JPEG) annotated by ``xml`` (default ``voc_xml(name, **xml_options)``)."""

    def build(root: Path) -> Path:
        (root / "Annotations").mkdir(parents=True)
        (root / "JPEGImages").mkdir()
        (root / "JPEGImages" / "good.jpg").write_bytes(jpeg())
        (root / "Annotations" / "good.xml").write_text(voc_xml("good.jpg"))
        target = root / "JPEGImages" / name
        if callable(image):
            image(target)
        else:
            target.write_bytes(jpeg() if image is None else image)
        text = voc_xml(name, **xml_options) if xml is None else xml
        (root / "Annotations" / "bad.xml").write_bytes(text if isinstance(text, bytes) else text.encode())
        return root

    build.fmt = "voc"
    return build


def yolo(labels: str | bytes, names: bytes | None = b"cat\n", data_yaml: bytes | None = None,
         bad_image: bool = True) -> Callable[[Path], Path]:
    """A YOLO folder: good.jpg with one box, bad.jpg (left out without ``bad_image``) with ``labels``;
    ``classes.txt`` = ``names`` and, given, an Ultralytics ``data.yaml`` (which then declares the
    classes and splits)."""

    def build(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for stem, text in (("good", "0 0.5 0.5 0.25 0.25\n"), ("bad", labels)):
            if stem == "good" or bad_image:
                (root / f"{stem}.jpg").write_bytes(jpeg())
            (root / f"{stem}.txt").write_bytes(text if isinstance(text, bytes) else text.encode())
        if names is not None:
            (root / "classes.txt").write_bytes(names)
        if data_yaml is not None:
            (root / "data.yaml").write_bytes(data_yaml)
        return root

    build.fmt = "yolo"
    return build


def coco(edit: Callable[[dict], object] = lambda data: None, raw: bytes | None = None, bom: bytes = b""
         ) -> Callable[[Path], Path]:
    """A COCO file (``bom`` first) for good.jpg and bad.jpg (a box each), changed by ``edit`` or replaced by ``raw``."""

    def build(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        data = {"images": [{"id": i, "file_name": f"{n}.jpg", "width": W, "height": H}
                           for i, n in ((1, "good"), (2, "bad"))],
                "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 2, 29, 38]}
                                for i in (1, 2)],
                "categories": [{"id": 1, "name": "cat"}]}
        edit(data)
        for n in ("good", "bad"):
            (root / f"{n}.jpg").write_bytes(jpeg())
        (root / "coco.json").write_bytes(bom + (raw if raw is not None else json.dumps(data).encode()))
        return root / "coco.json"

    build.fmt = "coco"
    return build


def csv_file(rows: str | bytes, bom: bytes = b"") -> Callable[[Path], Path]:
    """A CSV file: ``bom``, a header, good.jpg's box, then ``rows`` (about bad.jpg)."""

    def build(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for n in ("good", "bad"):
            (root / f"{n}.jpg").write_bytes(jpeg())
        head = bom + b"path,x1,y1,x2,y2,class\ngood.jpg,1,2,30,40,cat\n"
        (root / "boxes.csv").write_bytes(head + (rows if isinstance(rows, bytes) else rows.encode()))
        return root / "boxes.csv"

    build.fmt = "csv"
    return build


@dataclasses.dataclass(frozen=True)
class Case:
    """One kind of defect: its dataset and the exact outcome (see the module docstring)."""

    name: str
    build: Callable[[Path], Path]
    records: int = 2
    boxes: int = 2
    findings: tuple[tuple[str, str, str], ...] = ()
    error: str | None = None
    class_names: tuple[str, ...] | None = None
    merge_case: bool = False


def _box(*coords) -> tuple:
    return (("cat", coords), ("cat", BOX))


def _skip(problem: str, file: str = "bad.jpg") -> dict:
    return {"records": 1, "boxes": 1, "findings": ((SKIPPED, file, problem),)}


def _drop(problem: str, file: str = "bad.xml") -> dict:
    return {"findings": ((DROPPED, file, problem),)}


CASES = [
    # --- images (VOC): skipped with the decoder's reason, or kept
    Case("empty image file", voc(b""), **_skip("image file is empty")),
    Case("truncated JPEG header", voc(jpeg()[:400]), **_skip("truncated image file")),
    Case("truncated JPEG data", voc(jpeg()[:-300]), **_skip("truncated JPEG file")),
    Case("bytes after the JPEG end marker", voc(jpeg() + b"\x00trailer" * 40)),
    Case("1x1 image", voc(jpeg(1, 1), size=(1, 1), objects=(("cat", (0, 0, 1, 1)),))),
    Case("huge dimensions", voc(huge_png(), name="bad.png"), **_skip("image too large", "bad.png")),
    Case("grayscale JPEG", voc(encode(pixels(channels=1)))),
    Case("16-bit PNG", voc(encode(pixels(channels=1, dtype=np.uint16), "PNG"), name="bad.png")),
    Case("CMYK JPEG", voc(encode(Image.fromarray(pixels()).convert("CMYK")))),
    Case("RGBA PNG", voc(encode(pixels(channels=4), "PNG"), name="bad.png")),
    Case("palette PNG with transparency",
         voc(encode(Image.fromarray(pixels()).convert("P"), "PNG", transparency=0), name="bad.png")),
    Case("TIFF", voc(encode(pixels(), "TIFF"), name="bad.tif")),
    Case("animated GIF", voc(gif_animation(), name="bad.gif")),
    Case("progressive JPEG", voc(jpeg(progressive=True))),
    Case("EXIF-rotated, annotation of the turned image",
         voc(exif_jpeg(6), size=(H, W)), findings=((KEPT, "bad.jpg", "EXIF orientation 6"),)),
    Case("EXIF-rotated, annotation of the stored image", voc(exif_jpeg(6)),
         findings=((TURNED, "bad.jpg", "boxes were turned with the image"),)),
    Case("PNG named .jpg", voc(encode(pixels(), "PNG"))),
    Case("symlink loop", voc(symlink_loop), **_skip("cannot read the image file")),
    Case("text file named .jpg", voc(b"just some notes\n"), **_skip("not an image")),
    Case("folder named .jpg", voc(lambda p: p.mkdir()), **_skip("cannot read the image file")),
    Case("missing image", voc(lambda p: None), **_skip("image file missing")),
    # --- VOC annotations
    Case("malformed XML", voc(xml="<annotation><object>"), **_skip("cannot read XML", "bad.xml")),
    Case("non-UTF-8 XML", voc(xml=b"<annotation><object><name>caf\xe9</name></object></annotation>"),
         **_skip("cannot read XML", "bad.xml")),
    Case("XML with a byte-order mark", voc(xml=b"\xef\xbb\xbf" + voc_xml("bad.jpg").encode())),
    Case("missing size", voc(size=None)),
    Case("size not a number", voc(size=("wide", H)),
         findings=((KEPT, "bad.xml", "is not a positive number"),)),
    Case("size differs from the image", voc(size=(100, 100)),
         findings=((KEPT, "bad.jpg", "annotation says 100x100 but the image is 64x48"),)),
    Case("box outside the image", voc(objects=_box(100, 100, 200, 200)), boxes=2,
         **_drop("lies outside the 64x48 image")),
    Case("box partly outside", voc(objects=_box(50, 2, 90, 40)), boxes=3,
         findings=((CLIPPED, "bad.xml", "extends past the 64x48 image"),)),
    Case("inverted box", voc(objects=_box(30, 2, 1, 40)), **_drop("is inverted")),
    Case("zero-area box", voc(objects=_box(5, 5, 5, 20)), **_drop("has zero area")),
    Case("NaN coordinate", voc(objects=_box("nan", 2, 30, 40)), **_drop("non-finite coordinate")),
    Case("coordinate not a number", voc(objects=_box(1, "abc", 30, 40)), **_drop("is not a number: 'abc'")),
    Case("unknown class", voc(objects=(("dog", BOX), ("cat", BOX))), class_names=("cat",),
         **_drop("class 'dog' is not in class_names")),
    Case("duplicate objects", voc(objects=(("cat", BOX), ("cat", BOX))), **_drop("duplicates object 0")),
    Case("empty annotation", voc(objects=()), boxes=1, findings=((KEPT, "bad.xml", "no boxes"),)),
    Case("only bad boxes", voc(objects=(("cat", (9, 9, 9, 9)),)), records=1, boxes=1,
         findings=((DROPPED, "bad.xml", "zero area"), (SKIPPED, "bad.xml", "no box left of 1 object"))),
    Case("class names differing in case", voc(objects=(("Cat", BOX),)),
         findings=((APART, "", "'Cat' (1 objects, first in bad.xml), 'cat' (1 objects, first in good.xml) "
                               "differ only in case"),)),
    Case("class names differing in case, merged", voc(objects=(("Cat", BOX),)), merge_case=True,
         findings=((MERGED, "", "merged into 'Cat'"),)),
    # --- YOLO
    Case("YOLO line with 4 fields", yolo("0 0.5 0.5 0.2\n0 0.5 0.5 0.25 0.25\n"),
         **_drop("expected 5 values", "bad.txt")),
    Case("YOLO line with 6 fields", yolo("0 0.5 0.5 0.2 0.2 0.9\n0 0.5 0.5 0.25 0.25\n"),
         **_drop("got 6", "bad.txt")),
    Case("YOLO class id out of range", yolo("7 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.25 0.25\n"),
         **_drop("'7' is not a class id of classes.txt", "bad.txt")),
    Case("YOLO non-UTF-8 labels", yolo(b"\xff\xfe 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.25 0.25\n"),
         **_drop("is not a class id", "bad.txt")),
    Case("YOLO labels with a byte-order mark", yolo(b"\xef\xbb\xbf0 0.5 0.5 0.2 0.2\n")),
    Case("YOLO label file without its image", yolo("0 0.5 0.5 0.2 0.2\n", bad_image=False),
         **_skip("image file missing (no image named 'bad'", "bad.txt")),
    Case("YOLO without class names", yolo("0 0.5 0.5 0.2 0.2\n", names=None), error=r"no data.yaml, classes.txt"),
    Case("YOLO non-UTF-8 class names", yolo("0 0.5 0.5 0.2 0.2\n", names=b"caf\xe9\n"),
         error=r"classes.txt: not UTF-8 text"),
    Case("YOLO data.yaml with a byte-order mark",
         yolo("0 0.5 0.5 0.2 0.2\n", names=None, data_yaml=b"\xef\xbb\xbftrain: .\nnames: [cat]\n")),
    Case("YOLO data.yaml not UTF-8", yolo("0 0.5 0.5 0.2 0.2\n", names=None,
                                          data_yaml=b"train: .\nnames: [caf\xe9]\n"),
         error=r"data.yaml: not UTF-8 text"),
    Case("YOLO data.yaml not YAML", yolo("0 0.5 0.5 0.2 0.2\n", data_yaml=b"names: [cat\n"),
         error=r"data.yaml: not a valid YAML file"),
    # --- COCO
    Case("COCO annotation with a missing image id",
         coco(lambda d: d["annotations"].append({"id": 9, "image_id": 77, "category_id": 1,
                                                 "bbox": [1, 2, 3, 4]})),
         findings=((DROPPED, "coco.json", "unknown image_id 77"),)),
    Case("COCO image without an id", coco(lambda d: d["images"][1].pop("id")),
         error=r"coco.json: malformed coco annotations"),
    Case("COCO bbox of 3 numbers", coco(lambda d: d["annotations"][1].update(bbox=[1, 2, 3])),
         records=1, boxes=1, findings=((DROPPED, "coco.json", "not a list of 4 numbers"),
                                       (SKIPPED, "coco.json", "no box left"))),
    Case("COCO unknown category", coco(lambda d: d["annotations"][1].update(category_id=5)),
         records=1, boxes=1, findings=((DROPPED, "coco.json", "not among the categories"),
                                       (SKIPPED, "coco.json", "no box left"))),
    Case("COCO image size infinite", coco(lambda d: d["images"][1].update(width=float("inf"))),
         findings=((KEPT, "coco.json", "is not a positive number"),)),
    Case("COCO not JSON", coco(raw=b"{\"images\": [1, 2"), error=r"coco.json: not a valid JSON file"),
    Case("COCO JSON with a byte-order mark", coco(bom=b"\xef\xbb\xbf")),
    # --- CSV
    Case("CSV row with 4 columns", csv_file("bad.jpg,1,2,cat\nbad.jpg,1,2,30,40,cat\n"),
         **_drop("expected 6 columns", "boxes.csv")),
    Case("CSV NaN coordinate", csv_file("bad.jpg,nan,2,30,40,cat\nbad.jpg,1,2,30,40,cat\n"),
         **_drop("non-finite coordinate", "boxes.csv")),
    Case("CSV image path with a NUL byte", csv_file("bad\x00.jpg,1,2,30,40,cat\n"),
         **_skip("cannot read the image file (embedded null byte)", "bad\x00.jpg")),
    Case("CSV not UTF-8", csv_file(b"bad.jpg,1,2,30,40,caf\xe9\n"), error=r"boxes.csv: not UTF-8 text"),
    Case("CSV with a byte-order mark", csv_file(b"bad.jpg,1,2,30,40,cat\n", bom=b"\xef\xbb\xbf")),
]


def _voc_in(fmt: str, voc_build: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """A VOC dataset of ``voc_build`` written as ``fmt`` (coco, csv or yolo): the same image files
    and boxes (YOLO normalised to the annotation's size), the annotation file beside them."""

    def build(root: Path) -> Path:
        voc_root = voc_build(root.parent / f"{root.name}-voc")
        shutil.copytree(voc_root / "JPEGImages", root, symlinks=True)
        rows = []  # (file name, (width, height), [x1, y1, x2, y2])
        for xml in sorted((voc_root / "Annotations").iterdir()):
            tree = ElementTree.parse(xml)
            size = tuple(int(tree.findtext(f"size/{k}", v)) for k, v in (("width", W), ("height", H)))
            for obj in tree.iter("object"):
                box = [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
                rows.append((tree.findtext("filename"), size, box))
        if fmt == "coco":
            images = [{"id": i, "file_name": n, "width": s[0], "height": s[1]} for i, (n, s, _) in enumerate(rows)]
            boxes = [{"id": i, "image_id": i, "category_id": 1, "bbox": [a, b, c - a, d - b]}
                     for i, (_, _, (a, b, c, d)) in enumerate(rows)]
            data = {"images": images, "annotations": boxes, "categories": [{"id": 1, "name": "cat"}]}
            (root / "coco.json").write_text(json.dumps(data))
            return root / "coco.json"
        if fmt == "csv":
            lines = "".join(f"{n},{a},{b},{c},{d},cat\n" for n, _, (a, b, c, d) in rows)
            (root / "boxes.csv").write_text("path,x1,y1,x2,y2,class\n" + lines)
            return root / "boxes.csv"
        for n, (w, h), (a, b, c, d) in rows:
            centre_size = ((a + c) / 2 / w, (b + d) / 2 / h, (c - a) / w, (d - b) / h)
            (root / f"{Path(n).stem}.txt").write_text("0 " + " ".join(map(str, centre_size)) + "\n")
        (root / "classes.txt").write_text("cat\n")
        return root

    build.fmt = fmt
    return build


def in_format(case: Case, fmt: str) -> Case:
    """A VOC image defect written as ``fmt``: the same records and boxes kept. Findings name no file;
    CSV and YOLO state no image size, so an EXIF-turned image keeps its boxes as drawn."""

    def finding(action: str, words: str) -> tuple[str, str, str]:
        if action == TURNED and fmt != "coco":
            return KEPT, "", "EXIF orientation 6"
        return action, "", words

    return dataclasses.replace(case, name=f"{fmt}: {case.name}", build=_voc_in(fmt, case.build),
                               findings=tuple(finding(action, words) for action, _, words in case.findings))


#: The image defects of the VOC cases (the empty file, a truncated JPEG…): good.jpg with one box and the image.
IMAGE_DEFECTS = CASES[:[c.name for c in CASES].index("malformed XML")]
#: The image defects written in each other format.
IMAGE_DEFECTS_IN_FORMATS = [in_format(c, fmt) for fmt in ("coco", "csv", "yolo") for c in IMAGE_DEFECTS]
