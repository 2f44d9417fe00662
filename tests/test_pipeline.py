"""The tf.data pipeline on a few BCCD images and on synthetic PNGs."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ssdzoo.core.matching import encode_targets
from ssdzoo.data import load
from ssdzoo.data.records import Record
from ssdzoo.data.tfdata import load_example, pipeline
from ssdzoo.utils.images import read_image

BCCD = Path(__file__).resolve().parents[1] / "data" / "BCCD"
SIZE = 96


def grid_anchors() -> np.ndarray:
    """A small SSD-like anchor grid: square and 2:1 boxes on 12x12, 6x6 and 3x3 maps."""
    out = []
    for cells, scale in ((12, 0.15), (6, 0.3), (3, 0.6)):
        c = (np.arange(cells) + 0.5) / cells
        cx, cy = (g.reshape(-1, 1) for g in np.meshgrid(c, c))
        for w, h in ((scale, scale), (scale * 1.4, scale / 1.4), (scale / 1.4, scale * 1.4)):
            out.append(np.concatenate([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
    return np.concatenate(out).astype(np.float32)


ANCHORS = grid_anchors()


@pytest.fixture(scope="module")
def records():
    return load(BCCD, format="voc", split="test").records[:6]


def make(records, batch_size=4, **kwargs):
    return pipeline(records, anchors=ANCHORS, input_size=SIZE, batch_size=batch_size, **kwargs)


@pytest.mark.parametrize("augment", [False, True])
def test_batches_have_the_model_shapes_and_positive_anchors(records, augment):
    batches = list(make(records, augment=augment))
    assert len(batches) == (1 if augment else 2)     # training drops the incomplete batch
    images, targets = batches[0]
    assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == tf.float32
    assert targets.shape == (4, len(ANCHORS), 5) and targets.dtype == tf.float32
    images, targets = images.numpy(), targets.numpy()
    assert 0 <= images.min() and images.max() <= 255 and images.std() > 10
    classes = targets[..., 4]
    assert set(np.unique(classes)) <= {0, 1, 2, 3}   # background + the 3 BCCD classes
    positives = (classes > 0).sum(axis=1)
    assert np.all(positives >= 1) and np.all(positives < len(ANCHORS) / 4)
    assert np.all(targets[classes == 0, :4] == 0) and np.isfinite(targets).all()


def test_eval_batches_match_a_plain_resize_and_encode_the_record_boxes(records):
    images, targets = next(iter(make(records[:1], batch_size=1)))
    decoded = read_image(records[0].image_path)  # the decoder of the checker and of detect
    expected = tf.image.resize(tf.cast(decoded, tf.float32), (SIZE, SIZE))
    np.testing.assert_allclose(images[0].numpy(), expected.numpy(), atol=1e-3)
    height, width = decoded.shape[:2]
    boxes = np.clip(np.asarray(records[0].boxes) / [width, height, width, height], 0, 1)
    np.testing.assert_allclose(targets[0].numpy(), encode_targets(boxes, records[0].labels, ANCHORS),
                               atol=1e-5)


def test_a_seed_fixes_the_batch_and_another_seed_changes_it(records):
    first = lambda seed: next(iter(make(records, augment=True, seed=seed)))  # noqa: E731
    a, b, c = first(3), first(3), first(4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_each_pass_draws_new_augmentations(records):
    ds = make(records, augment=True, shuffle=False)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)


def test_cache_gives_the_same_batches(records):
    plain, cached = make(records), make(records, cache=True)
    for (x1, y1), (x2, y2) in zip(plain, cached, strict=True):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())


@pytest.mark.parametrize("channels", [1, 4])
def test_grey_and_rgba_pngs_become_rgb(tmp_path, channels):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, channels), dtype=np.uint8)
    path = str(tmp_path / f"c{channels}.png")
    tf.io.write_file(path, tf.io.encode_png(pixels))
    record = Record(path, [[5, 10, 30, 35]], [0])
    image, boxes, labels = load_example(path, record.boxes, record.labels)
    assert image.shape == (40, 50, 3)
    if channels == 1:
        np.testing.assert_array_equal(image.numpy(), np.repeat(pixels, 3, axis=-1))
    np.testing.assert_allclose(boxes.numpy(), [[0.1, 0.25, 0.6, 0.875]])
    images, targets = next(iter(make([record], batch_size=1)))
    assert images.shape == (1, SIZE, SIZE, 3) and (targets[..., 4] == 1).numpy().sum() >= 1


def test_anchors_and_input_size_come_from_the_model(records):
    class FakeModel:
        anchors = ANCHORS[:50]
        input_shape = (None, 64, 80, 3)

    images, targets = next(iter(pipeline(records, FakeModel(), batch_size=2)))
    assert images.shape == (2, 64, 80, 3) and targets.shape == (2, 50, 5)
    with pytest.raises(ValueError, match="anchors"):
        pipeline(records, input_size=SIZE)


def test_package_level_pipeline_stays_callable(records):
    import ssdzoo.data

    for _ in range(2):   # the first call imports the submodule of the same name
        ds = ssdzoo.data.pipeline(records, anchors=ANCHORS, input_size=SIZE, batch_size=2)
        assert ds.element_spec[1].shape[1:] == (len(ANCHORS), 5)


@pytest.mark.parametrize("kind", ["exif", "tiff", "cmyk"])
def test_the_pipeline_decodes_like_detect_and_the_checker(tmp_path, kind):
    """One decoder: an EXIF-turned JPEG, a TIFF and a CMYK JPEG come out of the pipeline as
    ``read_image`` (detect, predict, eval) and the checker see them."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    image, path = Image.fromarray(pixels), tmp_path / f"{kind}.{'tif' if kind == 'tiff' else 'jpg'}"
    if kind == "exif":
        exif = Image.Exif()
        exif[0x0112] = 6  # turned 90° clockwise: shown 40 wide, 50 high
        image.save(path, exif=exif)
    else:
        (image.convert("CMYK") if kind == "cmyk" else image).save(path)
    record = Record(str(path), [[5, 10, 30, 35]], [0])
    decoded, _, _ = load_example(str(path), record.boxes, record.labels)
    np.testing.assert_array_equal(decoded.numpy(), read_image(path))
    assert decoded.shape == ((50, 40, 3) if kind == "exif" else (40, 50, 3))
