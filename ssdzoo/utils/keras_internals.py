"""The one place where ssdzoo relies on Keras internals (``keras.src…`` or private attributes).

Each use is a small function whose docstring says why no public Keras API does the job. When a
Keras release changes one of them, ``tests/test_keras_internals.py`` fails naming the internal
and the Keras version; fix it here, nowhere else (``tests/test_layout.py`` checks that no other
module of ssdzoo reaches into ``keras.src`` or these private attributes).

Keras is imported inside the functions: importing this module stays light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


def keras_home() -> str:
    """The Keras home directory as Keras resolved it when it was imported.

    Why internal: Keras reads ``KERAS_HOME`` once, at import, into the private
    ``keras.src.backend.config._KERAS_DIR`` and exposes it only through the private accessor
    ``keras.src.backend.config.keras_home()``; no ``keras.config`` function returns it. ssdzoo
    needs it to tell the user when the cache that ``keras.applications`` reads differs from the
    one ``KERAS_HOME`` names now.
    """
    from keras.src.backend.config import keras_home as home

    return home()


@contextlib.contextmanager
def intercepted_get_file(stand_in: Callable) -> Iterator[None]:
    """Inside the block, ``keras.applications`` calls ``stand_in`` instead of ``get_file``.

    Why internal: the applications fetch their ImageNet weights with
    ``keras.src.utils.file_utils.get_file``, looked up on that module at call time, and declare the
    file name and hash only as arguments of that call. Keras has no public way to ask which file an
    application would fetch (nor a download hook), so the module attribute is replaced for the
    duration of the block (``keras.utils.get_file`` too, for code that calls the public name).
    """
    import keras
    from keras.src.utils import file_utils

    saved = file_utils.get_file, keras.utils.get_file
    file_utils.get_file = keras.utils.get_file = stand_in
    try:
        yield
    finally:
        file_utils.get_file, keras.utils.get_file = saved


def optimizer_is_built_for(optimizer: keras.optimizers.Optimizer, variables: Sequence[keras.Variable]) -> bool:
    """Whether ``optimizer`` is built and tracks every variable of ``variables``.

    Why internal: a Keras 3 optimizer creates its slots (momentum, Adam moments) for the
    variables of its ``build`` and refuses unknown ones later, but the list it was built for is
    the private ``optimizer._trainable_variables``, matched by the private ``optimizer._var_key``
    (a backend-specific key: on TensorFlow, the id of the underlying ``tf.Variable``);
    ``optimizer.variables`` holds only the optimizer's own state.
    """
    if not optimizer.built:
        return False
    known = {optimizer._var_key(v) for v in optimizer._trainable_variables}
    return all(optimizer._var_key(v) in known for v in variables)


def scale_learning_rate(optimizer: keras.optimizers.Optimizer, variables: Sequence[keras.Variable],
                        scale: float) -> None:
    """Multiply the learning rate that ``optimizer`` applies to ``variables`` by ``scale``.

    Until :func:`restore_learning_rate`; calling it again replaces the previous scaling.

    A true learning-rate scale for any optimizer, unlike scaling gradients, which Adam would undo.
    Decoupled weight decay (``weight_decay=``) still uses the unscaled rate.

    Why internal: Keras 3 has no per-variable learning rate. ``keras.optimizers.MultiOptimizer``
    (recent Keras 3 only) does not fit: it needs a gradient for every variable it was built for
    (a frozen backbone gives none), its sub-optimizers count their own iterations (a schedule
    would restart for the backbone when it is unfrozen) and it hides ``learning_rate`` from
    callbacks. ``update_step(gradient, variable, learning_rate)`` is the documented override point
    of custom optimizers; it is wrapped on this instance only, so the optimizer keeps its class,
    its state and its serialisation. Inside ``update_step`` the variable is the backend's own
    (a ``tf.Variable`` on TensorFlow, one replica's under a distribution strategy), so it is
    recognised with the private ``optimizer._var_key``, the key Keras' optimizers use for their
    slots.
    """
    restore_learning_rate(optimizer)
    key = optimizer._var_key
    scaled = {key(v) for v in variables}
    update_step = optimizer.update_step  # the class's method, bound

    def scaled_update_step(gradient, variable, learning_rate):
        if key(variable) in scaled:
            learning_rate = learning_rate * scale
        return update_step(gradient, variable, learning_rate)

    optimizer.update_step = scaled_update_step


def restore_learning_rate(optimizer: keras.optimizers.Optimizer) -> None:
    """Undo :func:`scale_learning_rate`: back to the class's ``update_step`` (no-op if unscaled)."""
    if "update_step" in vars(optimizer):
        del optimizer.update_step


def swap_ema_weights(optimizer: keras.optimizers.Optimizer) -> None:
    """Exchange the values of the variables ``optimizer`` trains and of its weight averages.

    The optimizer must have been created with ``use_ema=True``.

    Why internal: ``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)`` leaves the averages in
    the model at each epoch's end, so a checkpoint saved then holds the averages as weights and
    the raw weights as the optimizer's averages; a run resumed from it must swap them back
    before training on. The callback's swap is private, and the averages live only in the
    private ``optimizer._model_variables_moving_average``, paired with the private
    ``optimizer._trainable_variables`` (``finalize_variable_values``, the one public use,
    copies one way).
    """
    import keras

    for var, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average,
                            strict=True):
        raw = keras.ops.convert_to_numpy(var)
        var.assign(average)
        average.assign(raw)


def learning_rate_schedule(
        optimizer: keras.optimizers.Optimizer) -> keras.optimizers.schedules.LearningRateSchedule | None:
    """The schedule object an optimizer was given (None for a constant rate).

    Looks inside a ``LossScaleOptimizer``; Keras exposes only the current rate
    (``optimizer.learning_rate``)."""
    import keras

    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = optimizer._learning_rate
    return schedule if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) else None


def fit_under_strategy(model: keras.Model) -> None:
    """Let ``model.fit`` under a ``tf.distribute`` strategy read its data as on one device.

    Written for Keras 3.15 and TensorFlow 2.21.

    Under a strategy, ``fit`` builds the model from a batch it reads off a first iterator of
    the training data, then trains from a new one: a ``tf.data`` pipeline whose shuffle and
    augmentation draw anew on each iteration (``reshuffle_each_iteration``,
    ``rerandomize_each_iteration``) trains on its second draw, not the one a single device
    sees. Under ``MultiWorkerMirroredStrategy`` two bugs stop any model
    (keras-team/keras#20585): that build reduces the first batch with ``strategy.reduce("MEAN",
    …)`` run eagerly ("Attempt to convert a value (PerReplica…)"), and each step's logs are
    averaged over the workers with ``strategy.reduce("MEAN", value, axis=0)``, which fails for
    scalars ("Invalid reduction dimension 0").

    This instance builds from the dataset's element spec (shapes and dtypes: nothing is
    read), and under ``MultiWorkerMirroredStrategy`` its ``train_step`` / ``test_step`` return
    each log as a 1-element vector, which that reduce turns back into the scalar mean over the
    replicas. Without a strategy ``fit`` is unchanged. Why internal: the build step is the
    private ``Trainer._maybe_symbolic_build``, given Keras' private epoch iterator (its
    ``data_adapter`` holds the dataset); no public hook replaces it."""
    import tensorflow as tf

    original_build = type(model)._maybe_symbolic_build

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None and data_batch is None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        return original_build(model, data_batch=data_batch)

    def as_vectors(step: Callable) -> Callable:
        return lambda data: {name: tf.reshape(value, [1]) for name, value in step(data).items()}

    model._maybe_symbolic_build = maybe_symbolic_build
    if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        model.train_step = as_vectors(model.train_step)
        model.test_step = as_vectors(model.test_step)
