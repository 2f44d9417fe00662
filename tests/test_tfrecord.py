"""TFRecord shards: ``ssdzoo convert --to tfrecord``, the streamed pipeline, extraction, damaged shards, training."""

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ssdzoo.cli import main
from ssdzoo.data import Dataset, Record, detect_format, load
from ssdzoo.data.tfdata import pipeline
from ssdzoo.data.tfrecord import METADATA, open_shards, parse_example, write_tfrecord
from ssdzoo.utils.images import read_image

ANCHORS = np.array([[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], [0.5, 0.5, 1.0, 1.0]], np.float32)


@pytest.fixture(scope="module")
def shards(tiny_voc, tmp_path_factory):
    """``tiny_voc``'s train (8 images, shards of 3) and test splits written by ``ssdzoo convert``."""
    out = tmp_path_factory.mktemp("tfrecord") / "shards"
    assert main(["convert", str(tiny_voc), "--split", "train", "--to", "tfrecord", str(out), "--shard-size", "3"]) == 0
    assert main(["convert", str(tiny_voc), str(out), "--split", "test", "--to", "tfrecord"]) == 0
    return out


def test_convert_writes_shards_and_metadata(shards, tiny_voc, capsys):
    names = sorted(p.name for p in shards.glob("*.tfrecord"))
    assert names == ["test-00000-of-00001.tfrecord", *(f"train-0000{i}-of-00003.tfrecord" for i in range(3))]
    meta = json.loads((shards / METADATA).read_text())
    voc = load(tiny_voc, split="train")
    assert meta["class_names"] == voc.class_names == ["Platelets", "RBC", "WBC"]
    train = meta["splits"]["train"]
    assert [s["records"] for s in train["shards"]] == [3, 3, 2] and train["records"] == 8
    assert train["boxes"] == sum(len(r.labels) for r in voc) == sum(train["class_counts"].values())
    assert detect_format(shards) == "tfrecord"
    assert main(["convert", str(tiny_voc), str(shards / "x"), "--to", "voc", "--shard-size", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ssdzoo convert: error: a shard size applies to --to tfrecord only, not voc"


def test_streamed_pipeline_gives_the_in_memory_pipelines_batches(shards, tiny_voc):
    """No augmentation, same seed: the same images and targets, batch for batch."""
    streamed = open_shards(shards, "train")
    assert len(streamed) == 8 and streamed.class_names == ["Platelets", "RBC", "WBC"]
    memory = load(tiny_voc, split="train")
    kwargs = dict(anchors=ANCHORS, input_size=96, batch_size=3, seed=0)
    ours = list(pipeline(streamed, **kwargs).as_numpy_iterator())
    theirs = list(pipeline(memory, **kwargs).as_numpy_iterator())
    assert [len(b[0]) for b in ours] == [len(b[0]) for b in theirs] == [3, 3, 2]
    for (image, target), (image_ref, target_ref) in zip(ours, theirs):
        np.testing.assert_array_equal(image, image_ref)
        np.testing.assert_array_equal(target, target_ref)
    assert any((t[..., 4] > 0).any() for _, t in ours)  # some anchors matched a box


def test_a_shuffled_stream_gives_every_record_once_per_pass(shards, tiny_voc):
    """The training path (shuffled shards, interleaved reads, shuffle buffer): a new order, the same records."""
    kwargs = dict(anchors=ANCHORS, input_size=64, batch_size=1, seed=0)
    streamed = pipeline(open_shards(shards, "train"), shuffle=True, **kwargs)
    shuffled = [t.tobytes() for _, t in streamed.as_numpy_iterator()]
    in_order = [t.tobytes() for _, t in pipeline(load(tiny_voc, split="train"), **kwargs).as_numpy_iterator()]
    assert sorted(shuffled) == sorted(in_order) and len(set(in_order)) == 8
    assert shuffled != in_order


def test_each_record_holds_the_image_bytes_boxes_and_labels(shards, tiny_voc):
    memory = load(tiny_voc, split="train")
    serialized = tf.data.TFRecordDataset([str(s) for s in open_shards(shards, "train").shards])
    for record, example in zip(memory, serialized):
        image, boxes, labels = (t.numpy() for t in parse_example(example))
        np.testing.assert_array_equal(image, read_image(record.image_path))
        np.testing.assert_array_equal(boxes, record.boxes)
        np.testing.assert_array_equal(labels, record.labels)
        features = tf.train.Example.FromString(example.numpy()).features.feature
        with open(record.image_path, "rb") as f:
            assert features["image/encoded"].bytes_list.value[0] == f.read()  # not re-encoded


def test_images_tensorflow_would_decode_otherwise_are_stored_as_their_pixels(tmp_path):
    """EXIF-turned JPEG and RGBA PNG: stored as PNG of read_image's pixels, boxes unchanged."""
    pixels = np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)
    turned, alpha = tmp_path / "turned.jpg", tmp_path / "alpha.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # 90 degrees clockwise: 60x40 stored, 40x60 seen
    Image.fromarray(pixels).save(turned, exif=exif.tobytes())
    Image.fromarray(np.dstack([pixels, pixels[..., :1]])).save(alpha)
    box = [[1.0, 2.0, 20.0, 30.0]]
    dataset = Dataset([Record(str(turned), box, [0]), Record(str(alpha), box, [1])], ["a", "b"])
    write_tfrecord(dataset, tmp_path / "out")
    serialized = tf.data.TFRecordDataset([str(s) for s in open_shards(tmp_path / "out").shards])
    for record, example in zip(dataset, serialized):
        image, boxes, labels = (t.numpy() for t in parse_example(example))
        np.testing.assert_array_equal(image, read_image(record.image_path))
        np.testing.assert_array_equal(boxes, box)
        assert labels.tolist() == record.labels.tolist()
    assert image.shape == (40, 60, 3) and read_image(turned).shape == (60, 40, 3)


def test_a_split_read_back_as_records_equals_the_source(shards, tiny_voc):
    """Evaluation, check-data and convert read the images extracted from the shards."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped
        ours = load(shards, format="tfrecord", split="test")
    theirs = load(tiny_voc, split="test")
    assert ours.class_names == theirs.class_names and len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert (a.width, a.height) == (b.width, b.height)
        np.testing.assert_array_equal(read_image(a.image_path), read_image(b.image_path))


def test_a_truncated_or_corrupt_shard_is_one_error_line_naming_it(shards, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in shards.iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    shard = broken / "train-00001-of-00003.tfrecord"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"train-00001-of-00003.tfrecord: \d+ bytes where .* says \d+: truncated"):
        open_shards(broken, "train")
    assert main(["check-data", str(broken), "--format", "tfrecord", "--split", "train"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ssdzoo check-data: error: {shard}: "), lines

    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF  # same size: found where the shard is read
    shard.write_bytes(bytes(damaged))
    assert main(["eval", "model.keras", str(broken), "--format", "tfrecord", "--split", "train"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"ssdzoo eval: error: {re.escape(str(shard))}: corrupted record at \d+; "
                                            "write the split again with ssdzoo convert", lines[0]), lines


@pytest.mark.slow  # a training subprocess: ~25 s quiet; the stream itself is tested above
def test_train_streams_from_tfrecord_for_two_steps(shards, tmp_path, cli_env):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ssdzoo.cli", "train", "--data", str(shards), "--format", "tfrecord",
                           "--backbone", "small", "--head-width", "0.25", "--weights", "none", "--batch-size", "2",
                           "--epochs", "1", "--steps-per-epoch", "2", "--warmup-steps", "0", "--val-split", "none",
                           "--precise-bn", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=cli_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cache: off, 8 training images streamed from TFRecord shards" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["test_images"] == 2 and results["steps"] == 2 and np.isfinite(results["map_voc07"])
