"""Training end to end on the small backbone: the loss falls, tf.distribute (2 CPU replicas),
mixed precision, and the EvaluateMAP callback (best checkpoint, CSV log, step mode)."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.data.tfdata import pipeline
from ssdzoo.training.callbacks import EvaluateMAP

ROOT = Path(__file__).parents[1]
SMALL = dict(num_classes=3, weights=None, head_width=0.25)


@pytest.fixture(scope="module")
def bccd_train():
    with pytest.warns(ssdzoo.data.DataWarning):  # BCCD keeps a zero-area box on purpose
        return ssdzoo.data.load(ROOT / "data" / "BCCD", format="voc", split="train")


def small_model(class_names=None):
    return ssdzoo.build("small", class_names=class_names, **SMALL)


@pytest.mark.slow  # ~55 s; the default suite trains in the EMA, demo-config and signal tests
def test_thirty_steps_on_bccd_reduce_the_loss(bccd_train):
    keras.utils.set_random_seed(0)
    model = small_model(bccd_train.class_names)
    data = pipeline(bccd_train.records[:16], model, batch_size=2, augment=True, repeat=True,
                    cache=True, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), loss=ssdzoo.MultiBoxLoss())
    # 6 "epochs" of 5 steps: each History entry is the mean loss of 5 consecutive steps.
    losses = model.fit(data, epochs=6, steps_per_epoch=5, verbose=0, shuffle=False).history["loss"]
    assert int(model.optimizer.iterations.numpy()) == 30
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < 0.7 * losses[0], losses


DISTRIBUTED = r"""
import json, math, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, ssdzoo, warnings
from ssdzoo.data.tfdata import pipeline
keras.utils.set_random_seed(0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    records = ssdzoo.data.load(sys.argv[1], format="voc", split="train").records[:11]
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    model = ssdzoo.build("small", num_classes=3, weights=None, head_width=0.25)
    model.compile(keras.optimizers.SGD(1e-3, momentum=0.9), loss=ssdzoo.MultiBoxLoss())
# 11 images, global batch 4: two full batches; the training pipeline drops the last 3 images
# (a replica with an empty share breaks BatchNormalization, see docs/platform-notes.md).
data = pipeline(records, model, batch_size=4, augment=True)
history = model.fit(data, epochs=1, verbose=0, shuffle=False).history
print("RESULT " + json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "devices": list(strategy.extended.worker_devices),
    "batches": sum(1 for _ in data),
    "steps": int(model.optimizer.iterations.numpy()),
    "loss": history["loss"],
}))
"""


@pytest.mark.slow  # tests/test_scale.py runs mirrored through `ssdzoo train` in the default suite
def test_mirrored_strategy_on_two_logical_cpus_fits_and_drops_the_partial_batch():
    proc = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(ROOT / "data" / "BCCD")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(text for text in proc.stdout.splitlines() if text.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["replicas"] == 2
    assert len(set(result["devices"])) == 2
    assert result["batches"] == 2
    assert result["steps"] == 2  # 2 full batches, no crash on the remainder
    assert len(result["loss"]) == 1 and all(math.isfinite(v) and v > 0 for v in result["loss"])


def test_l2_normalization_is_exact_under_mixed_float16():
    x = np.zeros((1, 2, 2, 64), "float32")
    x[0, 0, 0] = 300.0  # sum of squares 5.8e6: overflows float16
    x[0, 1, 1] = 0.01   # x[0, 0, 1] and x[0, 1, 0] stay all-zero: 0 / 0 without epsilon
    expected = np.asarray(ssdzoo.L2Normalization(20.0)(x))
    mixed = np.asarray(ssdzoo.L2Normalization(20.0, dtype="mixed_float16")(x), "float32")
    assert np.all(np.isfinite(mixed))
    np.testing.assert_allclose(mixed, expected, rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(mixed[0, 0, 0], 20.0 / 8.0, rtol=2e-3)  # 20 / sqrt(64)


@pytest.mark.slow  # ~40 s; tests/test_scale.py checks the mixed policies' float32 outputs and loss
def test_mixed_float16_model_matches_float32_and_trains(bccd_train):
    keras.utils.set_random_seed(1)
    reference = small_model()
    data = pipeline(bccd_train.records[:1], reference, batch_size=1, augment=True, seed=0)
    images, targets = next(iter(data))
    expected = np.asarray(reference(images))
    expected_loss = float(ssdzoo.MultiBoxLoss()(targets, expected))
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model()
        assert model.get_layer("conv4_3").compute_dtype == "float16"
        model.set_weights(reference.get_weights())
        out = model(images)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        out = np.asarray(out)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, expected, rtol=0.05, atol=0.05)
        loss = float(ssdzoo.MultiBoxLoss()(targets, out))
        assert math.isfinite(loss) and loss == pytest.approx(expected_loss, rel=0.02)

        model.compile(keras.optimizers.Adam(1e-3), loss=ssdzoo.MultiBoxLoss())
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        history = model.fit(data, epochs=1, verbose=0, shuffle=False).history
        assert len(history["loss"]) == 1 and math.isfinite(history["loss"][0])
        # A float16 step either updates the weights or skips and halves the loss scale.
        scale = float(model.optimizer.dynamic_scale.numpy())
        assert int(model.optimizer.iterations.numpy()) == 1 or scale == 2.0 ** 14
        assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def compiled_small(bccd_train):
    """One compiled model for the EvaluateMAP tests: fit and detect trace once per model."""
    keras.utils.set_random_seed(0)
    model = small_model(bccd_train.class_names)
    model.compile(keras.optimizers.Adam(1e-3), loss=ssdzoo.MultiBoxLoss())
    return model


def test_evaluate_map_logs_val_map_to_csv_and_keeps_the_best_checkpoint(
        bccd_train, compiled_small, tmp_path):
    model = compiled_small
    train = pipeline(bccd_train.records[:8], model, batch_size=2, augment=True, repeat=True,
                     cache=True)
    val = bccd_train.records[200:203]
    best = tmp_path / "best.keras"
    log = tmp_path / "log.csv"
    start = int(model.optimizer.iterations.numpy())
    evaluator = EvaluateMAP(val, filepath=str(best), verbose=0)
    snapshots = []  # weights at each epoch end, i.e. when EvaluateMAP ran
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    history = model.fit(train, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False,
                        callbacks=[evaluator, keras.callbacks.CSVLogger(str(log)), keep]).history

    assert [step for step, _ in evaluator.history] == [start + 2, start + 4]
    maps = [value for _, value in evaluator.history]
    assert all(0.0 <= v <= 1.0 for v in maps)
    assert history["val_map"] == pytest.approx(maps)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [float(r["val_map"]) for r in rows] == pytest.approx(maps, abs=1e-6)
    assert [float(r["loss"]) for r in rows] == pytest.approx(history["loss"], rel=1e-5)
    best_epoch = int(maps[1] > maps[0])
    assert evaluator.best == maps[best_epoch]
    assert evaluator.best_step == start + 2 + 2 * best_epoch

    assert best.is_file()
    restored = ssdzoo.load(str(best))
    assert restored.class_names == bccd_train.class_names
    assert int(restored.optimizer.iterations.numpy()) == evaluator.best_step
    # the file holds the weights of the best epoch, not the last ones
    for saved, kept in zip(restored.get_weights(), snapshots[best_epoch], strict=True):
        np.testing.assert_array_equal(saved, kept)
    assert any(not np.array_equal(a, b) for a, b in zip(snapshots[0], snapshots[1]))


def test_evaluate_map_every_n_steps_evaluates_at_those_steps(bccd_train, compiled_small):
    model = compiled_small
    train = pipeline(bccd_train.records[:6], model, batch_size=2, augment=True, repeat=True,
                     cache=True)
    model.optimizer.iterations.assign(1)  # global steps 2..7 in this fit
    evaluator = EvaluateMAP(bccd_train.records[200:201], every_n_steps=2, verbose=0)
    history = model.fit(train, epochs=2, steps_per_epoch=3, verbose=0, shuffle=False,
                        callbacks=[evaluator]).history
    assert int(model.optimizer.iterations.numpy()) == 7
    assert [step for step, _ in evaluator.history] == [2, 4, 6]
    values = dict(evaluator.history)
    assert all(0.0 <= v <= 1.0 for v in values.values())
    # each epoch's log carries the latest evaluation: epoch 1 ran steps 2-4, epoch 2 steps 5-7
    assert history["val_map"] == pytest.approx([values[4], values[6]])
