"""Sharded TFRecords: data larger than memory, written by ``ssdzoo convert --to tfrecord``.

A folder holds ``<split>-00000-of-000NN.tfrecord`` shards and ``ssdzoo-tfrecord.json`` (class
names, and per split its shards with their record counts and byte sizes, and box counts). Each
record is a ``tf.train.Example``: the image file's own bytes (JPEG and PNG kept as they are; an
image TensorFlow would decode differently from :func:`ssdzoo.utils.images.read_image` -- EXIF
orientation, CMYK, 16-bit, palette, alpha, other formats -- is stored as lossless PNG of its
pixels), its width and height, boxes in pixels ``x1 y1 x2 y2`` float32, 0-based labels and
difficult flags.

Two ways to read a folder: :func:`open_shards` gives a :class:`ShardedDataset` that
:func:`ssdzoo.data.pipeline` streams (interleaved shard reads, no records in memory); the
registered ``tfrecord`` format (:func:`parse`) extracts a split's images into a temporary folder
and gives ordinary records, for evaluation, ``check-data`` and ``convert`` back to other formats.
TensorFlow is imported only where a function needs it.
"""

from __future__ import annotations

import atexit
import dataclasses
import io
import json
import math
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ssdzoo.utils.files import atomic_path, write_text_atomic
from ssdzoo.utils.images import inspect_image, read_image

from .formats.base import Layout, Parsed, RawImage, RawObject, existing
from .records import Dataset

if TYPE_CHECKING:
    import tensorflow as tf

METADATA = "ssdzoo-tfrecord.json"
#: Records per shard unless ``--shard-size`` says otherwise (about 40-100 MB of JPEGs).
DEFAULT_SHARD_SIZE = 1000
#: Serialized records held by the training shuffle buffer (on top of the interleaved shards).
SHUFFLE_BUFFER = 1024
#: Shards read at once while training.
CYCLE_LENGTH = 16
_LAYOUT = Layout(("x1", "y1", "x2", "y2"), "xyxy", "object/label")
_KEPT_AS_IS = {("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "RGB"), ("PNG", "L")}


def _shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _image_bytes(path: str) -> tuple[bytes, str, int, int]:
    """The bytes to store for an image, their format and the image's (width, height) in pixels.

    The file's own bytes when TensorFlow decodes them to the pixels ``read_image`` gives, else
    ``read_image``'s pixels as PNG."""
    data = Path(path).read_bytes()
    info = inspect_image(path, decode=False)
    with Image.open(io.BytesIO(data)) as image:
        kind = (image.format, image.mode)
    if kind in _KEPT_AS_IS and info.orientation == 1:
        return data, kind[0].lower(), *info.size
    pixels = read_image(path)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue(), "png", pixels.shape[1], pixels.shape[0]


def _example(record, data: bytes, fmt: str, width: int, height: int) -> bytes:
    """One serialized ``tf.train.Example`` for a record (boxes in pixels x1 y1 x2 y2)."""
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    def raw(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        "image/encoded": raw(data), "image/format": raw(fmt.encode()),
        "image/filename": raw(Path(record.image_path).name.encode()),
        "image/width": ints([width]), "image/height": ints([height]),
        "object/box": tf.train.Feature(float_list=tf.train.FloatList(value=record.boxes.reshape(-1).tolist())),
        "object/label": ints(record.labels), "object/difficult": ints(record.difficult),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def read_metadata(directory: str | Path) -> dict:
    """The folder's ``ssdzoo-tfrecord.json``; ValueError naming the file when absent or malformed."""
    file = Path(directory) / METADATA
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(meta["class_names"], list) or not isinstance(meta["splits"], dict):
            raise TypeError("class_names must be a list and splits an object")
        return meta
    except FileNotFoundError:
        raise ValueError(f"{directory}: no {METADATA}; write TFRecords with ssdzoo convert SRC --to tfrecord") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{file}: not an ssdzoo TFRecord description ({error})") from None


def existing_class_names(directory: str | Path) -> list[str] | None:
    """The class names of TFRecords already in ``directory`` (None when there are none)."""
    return read_metadata(directory)["class_names"] if (Path(directory) / METADATA).is_file() else None


def write_tfrecord(dataset: Dataset, out_dir: str | Path, split: str | None = None,
                   shard_size: int = DEFAULT_SHARD_SIZE) -> Path:
    """Write ``dataset`` as shards ``<split or all>-NNNNN-of-MMMMM.tfrecord`` in ``out_dir``; returns the metadata file.

    Boxes are stored in pixels ``x1 y1 x2 y2``. Earlier shards of the same split are replaced;
    other splits stay, and must use the same class names."""
    import tensorflow as tf

    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard size must be an integer >= 1, got {shard_size!r}")
    out, name = Path(out_dir), split or "all"
    out.mkdir(parents=True, exist_ok=True)
    fresh = {"class_names": list(dataset.class_names), "splits": {}}
    meta = read_metadata(out) if (out / METADATA).is_file() else fresh
    if meta["class_names"] != list(dataset.class_names):
        raise ValueError(f"{out / METADATA}: its splits use classes {meta['class_names']}, this one "
                         f"{list(dataset.class_names)}; pass --classes or write to a new folder")
    for old in out.glob(f"{name}-*-of-*.tfrecord"):
        old.unlink()
    count = max(1, math.ceil(len(dataset.records) / shard_size))
    shards = []
    for index in range(count):
        file = out / _shard_name(name, index, count)
        chunk = dataset.records[index * shard_size:(index + 1) * shard_size]
        with atomic_path(file) as tmp, tf.io.TFRecordWriter(tmp) as writer:
            for record in chunk:
                writer.write(_example(record, *_image_bytes(record.image_path)))
        shards.append({"file": file.name, "records": len(chunk), "bytes": file.stat().st_size})
    labels = Counter(int(label) for r in dataset.records for label in r.labels)
    meta["splits"][name] = {
        "records": len(dataset.records), "boxes": sum(labels.values()), "shards": shards,
        "class_counts": {c: labels.get(i, 0) for i, c in enumerate(dataset.class_names)}}
    meta.update(format="ssdzoo tfrecord", version=1, box_format="pixels x1 y1 x2 y2")
    write_text_atomic(out / METADATA, json.dumps(meta, indent=1) + "\n")
    return out / METADATA


@dataclasses.dataclass
class ShardedDataset:
    """One split of a TFRecord folder, streamed: shards, class names and counts; no records in memory."""

    directory: Path
    split: str | None
    class_names: list[str]
    shards: list[Path]
    num_records: int
    streamed = True

    def __len__(self) -> int:
        return self.num_records

    def __iter__(self):
        raise ValueError(f"{self.directory}: the TFRecord split {self.split or 'all'!r} is streamed; its "
                         "records are not held in memory (ssdzoo.data.load(..., format='tfrecord') extracts them)")

    def serialized(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        """The serialized examples: shards in order, or shuffled and interleaved ``CYCLE_LENGTH`` at a time."""
        import tensorflow as tf

        files = tf.data.Dataset.from_tensor_slices([str(s) for s in self.shards])
        if not shuffle:
            return files.flat_map(tf.data.TFRecordDataset)
        files = files.shuffle(len(self.shards), seed=seed, reshuffle_each_iteration=True)
        return files.interleave(lambda f: tf.data.TFRecordDataset(f, buffer_size=1 << 20),
                                cycle_length=min(CYCLE_LENGTH, len(self.shards)),
                                num_parallel_calls=tf.data.AUTOTUNE)


def _split_shards(directory: Path, meta: dict, split: str | None) -> tuple[list[Path], int]:
    """The shard paths of ``split`` (None: every split) and their record count, each shard's size checked."""
    splits = meta["splits"]
    if split is not None and split not in splits:
        raise ValueError(f"{directory}: no TFRecord split {split!r}; it has {', '.join(splits) or 'none'}")
    shards, total = [], 0
    for name in [split] if split is not None else list(splits):
        for shard in splits[name]["shards"]:
            file = directory / shard["file"]
            if not file.is_file():
                raise ValueError(f"{file}: shard missing; write the split again with ssdzoo convert")
            if file.stat().st_size != shard["bytes"]:
                raise ValueError(f"{file}: {file.stat().st_size} bytes where {METADATA} says {shard['bytes']}: "
                                 "truncated or changed since ssdzoo convert wrote it; write the split again")
            shards.append(file)
            total += shard["records"]
    return shards, total


def open_shards(path: str | Path, split: str | None = None) -> ShardedDataset:
    """A split (None: all of them) of a TFRecord folder, for :func:`ssdzoo.data.pipeline` to stream.

    Raises:
        ValueError: no such folder, metadata or split, or a shard missing or of another size
            than when it was written (the message names the shard).
    """
    directory = existing(path)
    meta = read_metadata(directory)
    shards, total = _split_shards(directory, meta, split)
    if not total:
        raise ValueError(f"{directory}: the TFRecord split {split or 'all'!r} has no records")
    return ShardedDataset(directory, split, list(meta["class_names"]), shards, total)


def parse_example(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decode one example: image ``(H, W, 3)`` uint8, pixel boxes ``(K, 4)`` x1y1x2y2 float32, labels ``(K,)`` int32."""
    import tensorflow as tf

    features = tf.io.parse_single_example(serialized, {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "object/box": tf.io.VarLenFeature(tf.float32),
        "object/label": tf.io.VarLenFeature(tf.int64)})
    encoded = features["image/encoded"]
    image = tf.cond(tf.io.is_jpeg(encoded),  # the accurate DCT gives read_image's (Pillow's) pixels exactly
                    lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE"),
                    lambda: tf.io.decode_png(encoded, channels=3))
    image.set_shape((None, None, 3))
    boxes = tf.reshape(tf.sparse.to_dense(features["object/box"]), (-1, 4))
    return image, boxes, tf.cast(tf.sparse.to_dense(features["object/label"]), tf.int32)


def detect(path: Path) -> bool:
    """Whether ``path`` is a TFRecord folder written by ssdzoo (or its metadata file)."""
    return (path / METADATA).is_file() if path.is_dir() else path.name == METADATA


def _extract_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ssdzoo-tfrecord-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _raw_image(example, shard: Path, index: int, folder: Path, names: list[str]) -> RawImage:
    """One extracted record as the checker's ``RawImage`` (image written into ``folder``)."""
    f = example.features.feature
    filename = f["image/filename"].bytes_list.value[0].decode(errors="replace")
    image = folder / f"{index:07d}-{Path(filename).stem}.{f['image/format'].bytes_list.value[0].decode()}"
    image.write_bytes(f["image/encoded"].bytes_list.value[0])
    boxes = np.asarray(f["object/box"].float_list.value, np.float32).reshape(-1, 4)
    objects = []
    for i, (box, label, difficult) in enumerate(zip(boxes, f["object/label"].int64_list.value,
                                                    f["object/difficult"].int64_list.value)):
        known = 0 <= label < len(names)
        objects.append(RawObject(i, names[label] if known else None, box.tolist(), bool(difficult),
                                 None if known else f"label {label} is not an index into the {len(names)} classes"))
    return RawImage(str(shard), str(image), _LAYOUT, f"record {index} ({filename})",
                    f["image/width"].int64_list.value[0], f["image/height"].int64_list.value[0], objects=objects)


def parse(path: Path, split: str | None, class_names: Sequence[str] | None) -> Parsed:
    """TFRecord shards written by ``ssdzoo convert --to tfrecord``: boxes in pixels x1 y1 x2 y2.

    ``path`` is the folder (or its ``ssdzoo-tfrecord.json``); ``split`` one of its splits (None:
    all). The images are extracted into a temporary folder removed when the process exits.
    """
    import tensorflow as tf

    directory = path.parent if path.is_file() else path
    meta = read_metadata(directory)
    shards, _ = _split_shards(directory, meta, split)
    folder, images = _extract_folder(), []
    for shard in shards:
        try:
            for serialized in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
                example = tf.train.Example.FromString(serialized)
                images.append(_raw_image(example, shard, len(images), folder, meta["class_names"]))
        except (tf.errors.DataLossError, IndexError, UnicodeDecodeError) as error:
            problem = re.search(r"(truncated|corrupted) record at \d+", str(error))
            raise ValueError(f"{shard}: {problem.group(0) if problem else 'damaged record'}; "
                             "write the split again with ssdzoo convert") from None
    return Parsed(images, list(meta["class_names"]))
