"""The Keras internals of ssdzoo.utils.keras_internals, one test each: when a Keras release changes
one, its test fails naming the internal and the Keras version."""

import contextlib
import os

import keras
import numpy as np
import pytest

from ssdzoo.utils import keras_internals as ki


@contextlib.contextmanager
def internal(name: str, function: str):
    """Turn any failure inside the block into one message naming the internal and Keras."""
    try:
        yield
    except Exception as err:  # AssertionError included: any change is reported the same way
        pytest.fail(f"Keras {keras.__version__} changed {name}, which "
                    f"ssdzoo.utils.keras_internals.{function} relies on: {type(err).__name__}: {err}",
                    pytrace=False)


def test_keras_home_is_the_directory_keras_resolved_at_import():
    with internal("keras.src.backend.config.keras_home() / _KERAS_DIR", "keras_home"):
        from keras.src.backend import config

        home = ki.keras_home()
        assert isinstance(home, str) and os.path.isabs(os.path.expanduser(home)), home
        assert home == config._KERAS_DIR, (home, config._KERAS_DIR)


def test_intercepted_get_file_sees_what_keras_applications_would_download():
    from keras.src.utils import file_utils

    class Asked(Exception):
        pass

    def stand_in(fname, origin=None, **kwargs):
        raise Asked(fname, origin, kwargs.get("file_hash"), kwargs.get("cache_subdir"))

    original = file_utils.get_file, keras.utils.get_file
    with internal("keras.src.utils.file_utils.get_file (how keras.applications download weights)",
                  "intercepted_get_file"):
        try:
            with ki.intercepted_get_file(stand_in):
                keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
        except Asked as asked:
            fname, origin, file_hash, cache_subdir = asked.args
        else:
            raise AssertionError("VGG16(weights='imagenet') did not call the stand-in get_file")
        assert fname == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", fname
        assert origin and origin.endswith(fname), origin
        assert file_hash == "6d6bbae143d832006294945121d1f1fc", file_hash
        assert cache_subdir == "models", cache_subdir
    assert (file_utils.get_file, keras.utils.get_file) == original  # restored


def _variables():
    return [keras.Variable(np.ones(3, "float32"), name=name) for name in ("a", "b", "c")]


def test_optimizer_is_built_for_its_variables_only():
    a, b, c = _variables()
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    with internal("Optimizer._trainable_variables / Optimizer._var_key", "optimizer_is_built_for"):
        assert not ki.optimizer_is_built_for(optimizer, [a])
        optimizer.build([a, b])
        assert ki.optimizer_is_built_for(optimizer, [a, b])
        assert ki.optimizer_is_built_for(optimizer, [b])
        assert not ki.optimizer_is_built_for(optimizer, [a, b, c])


@pytest.mark.parametrize("make", [lambda: keras.optimizers.SGD(1.0), lambda: keras.optimizers.Adam(0.5)],
                         ids=["sgd", "adam"])
def test_scale_learning_rate_scales_the_chosen_variables_only(make):
    a, b, _ = _variables()
    optimizer = make()
    grads = [np.ones(3, "float32"), np.ones(3, "float32")]
    with internal("Optimizer.update_step (called per variable by apply, with its backend variable "
                  "as matched by Optimizer._var_key)", "scale_learning_rate"):
        optimizer.build([a, b])
        ki.scale_learning_rate(optimizer, [a], 0.0)
        ki.scale_learning_rate(optimizer, [a], 0.0)  # replaces, does not stack
        optimizer.apply(grads, [a, b])
        np.testing.assert_array_equal(a.numpy(), np.ones(3), err_msg="scaled by 0: unchanged")
        assert np.all(b.numpy() < 1), "unscaled variable: updated"

        ki.restore_learning_rate(optimizer)
        assert "update_step" not in vars(optimizer)
        optimizer.apply(grads, [a, b])
        assert np.all(a.numpy() < 1), "restored: updated"


def test_scale_learning_rate_multiplies_the_rate_inside_a_traced_step():
    import tensorflow as tf

    a, b, _ = _variables()
    optimizer = keras.optimizers.SGD(1.0)
    grads = [tf.ones(3), tf.ones(3)]
    with internal("Optimizer.update_step (called per variable by apply, with its backend variable "
                  "as matched by Optimizer._var_key)", "scale_learning_rate"):
        optimizer.build([a, b])
        ki.scale_learning_rate(optimizer, [a], 0.25)
        tf.function(lambda: optimizer.apply(grads, [a, b]))()  # as in fit's train_function
        np.testing.assert_allclose(a.numpy(), 0.75, err_msg="learning rate x 0.25")
        np.testing.assert_allclose(b.numpy(), 0.0, err_msg="learning rate x 1")


def test_swap_ema_weights_exchanges_weights_and_their_averages():
    a, b, _ = _variables()
    optimizer = keras.optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    grads = [np.ones(3, "float32"), 2 * np.ones(3, "float32")]
    optimizer.apply_gradients(zip(grads, [a, b]))            # step 0: average = weight
    optimizer.apply_gradients(zip(grads, [a, b]))            # step 1: average = (w1 + w2) / 2
    with internal("Optimizer._model_variables_moving_average / _trainable_variables", "swap_ema_weights"):
        np.testing.assert_allclose([a.numpy(), b.numpy()], [[-1.0] * 3, [-3.0] * 3])
        ki.swap_ema_weights(optimizer)
        np.testing.assert_allclose([a.numpy(), b.numpy()], [[-0.5] * 3, [-2.0] * 3])
        ki.swap_ema_weights(optimizer)
        np.testing.assert_allclose([a.numpy(), b.numpy()], [[-1.0] * 3, [-3.0] * 3])


def test_learning_rate_schedule_is_the_object_the_optimizer_was_given():
    with internal("Optimizer._learning_rate", "learning_rate_schedule"):
        schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        assert ki.learning_rate_schedule(keras.optimizers.SGD(schedule)) is schedule
        assert ki.learning_rate_schedule(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule))) \
            is schedule
        assert ki.learning_rate_schedule(keras.optimizers.SGD(0.1)) is None


def test_fit_under_strategy_keeps_a_single_device_fit_working():
    """The distributed runs themselves are in tests/test_scale.py; here the hooks it replaces
    exist, and a model patched by it still fits."""
    import inspect

    with internal("Trainer._maybe_symbolic_build(iterator, data_batch), train_step/test_step logs",
                  "fit_under_strategy"):
        from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

        assert list(inspect.signature(TensorFlowTrainer._maybe_symbolic_build).parameters) == \
            ["self", "iterator", "data_batch"]
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), loss="mse")
        ki.fit_under_strategy(model)
        history = model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=2, epochs=1, verbose=0,
                            validation_data=(np.ones((2, 2)), np.ones((2, 1)))).history
        assert np.shape(history["loss"][0]) in ((), (1,)) and np.isfinite(np.ravel(history["val_loss"])).all()
