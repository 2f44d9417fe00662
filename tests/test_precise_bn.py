"""Precise BatchNorm (ssdzoo/training/batchnorm.py): the moving statistics become the average of
the batch statistics, frozen layers keep theirs, and EvaluateMAP evaluates and saves the
re-estimated model."""

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.data.tfdata import pipeline
from ssdzoo.training.batchnorm import batchnorm_layers, recalibrate_batchnorm
from ssdzoo.training.callbacks import EvaluateMAP
from ssdzoo.training.config import TrainConfig


def _bn_model(frozen: bool = False) -> keras.Model:
    inputs = keras.Input((3,))
    trained = keras.layers.BatchNormalization(name="trained")(inputs)
    kept = keras.layers.BatchNormalization(name="kept", trainable=not frozen)(trained)
    return keras.Model(inputs, kept)


def test_moving_statistics_become_the_mean_of_the_batch_statistics():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, scale, (16, 3)).astype("float32") for loc, scale in [(5, 2), (-1, 0.5), (3, 1)]]
    model = _bn_model(frozen=True)
    bn, frozen = model.get_layer("trained"), model.get_layer("kept")
    assert batchnorm_layers(model) == [bn]
    assert recalibrate_batchnorm(model, iter(batches + batches), num_batches=3) == 3
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), rtol=1e-4)
    assert bn.momentum == 0.99                                   # restored
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), np.zeros(3))  # frozen: untouched
    np.testing.assert_array_equal(frozen.moving_variance.numpy(), np.ones(3))
    # (images, targets) tuples are accepted; fewer batches than asked: all of them are used
    assert recalibrate_batchnorm(model, iter([(batches[0], None)]), num_batches=5) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), batches[0].mean(0), rtol=1e-5)
    assert recalibrate_batchnorm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), iter(batches), 3) == 0


def test_evaluate_map_evaluates_and_saves_the_recalibrated_model(tiny_voc, tmp_path):
    keras.utils.set_random_seed(0)
    train = ssdzoo.data.load(str(tiny_voc), format="voc", split="train")
    val = ssdzoo.data.load(str(tiny_voc), format="voc", split="val")
    model = ssdzoo.build("small", 3, weights=None, head_width=0.25)
    data = lambda: pipeline(train, model, batch_size=2, augment=True, seed=1, repeat=True)  # noqa: E731
    layers = batchnorm_layers(model)
    assert len(layers) > 5
    for layer in layers:                                         # stale statistics, as early in training
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 7.0, "float32"))
    callback = EvaluateMAP(val, filepath=str(tmp_path / "best.keras"), calibration=data(),
                           calibration_batches=2, verbose=0)
    callback.set_model(model)
    model.compile(optimizer="adam", loss=ssdzoo.MultiBoxLoss())
    callback.on_epoch_end(0, {})
    got = [layer.moving_mean.numpy() for layer in layers]
    reference = ssdzoo.build("small", 3, weights=None, head_width=0.25)
    reference.set_weights(model.get_weights())
    recalibrate_batchnorm(reference, iter(data()), 2)            # same batches: same statistics
    for a, layer in zip(got, batchnorm_layers(reference), strict=True):
        assert not np.allclose(a, 7.0)
        np.testing.assert_allclose(a, layer.moving_mean.numpy(), rtol=1e-4, atol=1e-6)
    saved = ssdzoo.load(str(tmp_path / "best.keras"))
    for a, layer in zip(got, batchnorm_layers(saved), strict=True):
        np.testing.assert_array_equal(a, layer.moving_mean.numpy())
    assert callback.best == ssdzoo.evaluate(saved, val, coco=False, verbose=False).map


def test_precise_bn_setting_is_checked(tmp_path):
    TrainConfig(backbone="small", data=str(tmp_path), precise_bn=0).validate()
    with pytest.raises(ValueError, match="precise_bn must be an integer >= 0"):
        TrainConfig(backbone="small", data=str(tmp_path), precise_bn=-1).validate()
