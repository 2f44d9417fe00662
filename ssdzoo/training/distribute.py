"""Devices for ``ssdzoo train``: the ``tf.distribute`` strategy of ``--distribute``, which process
is the chief (the only one that writes files), agreement across workers, mixed precision."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


def make_strategy(mode: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy for ``mode`` (``TrainConfig.distribute``).

    ``none``; ``auto``: mirrored over the GPUs when there are two or more; ``mirrored``: all
    visible GPUs, else the logical CPU devices; ``multiworker``: ``MultiWorkerMirroredStrategy``
    from ``TF_CONFIG``."""
    import tensorflow as tf

    if mode == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if mode == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy(None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")])
    if mode == "auto" and len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(mode: str) -> bool:
    """Whether this process writes checkpoints, logs and reports.

    Always, but under ``multiworker`` only the ``chief`` task, or worker 0 when ``TF_CONFIG``
    names no chief."""
    if mode != "multiworker":
        return True
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind in (None, "chief"):
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


def train_as_one_device(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Make ``model.fit`` under ``strategy`` take the steps one device takes on the global batch.

    On this instance (call it again after a load): ``fit`` reads the same batches as on one
    device, and works under ``MultiWorkerMirroredStrategy``
    (:func:`ssdzoo.utils.keras_internals.fit_under_strategy`); with several replicas also

    - every BatchNormalization layer takes its batch statistics over the global batch
      (``synchronized``; its saved config still says unsynchronized: it is how this run
      trains, and the JAX backend refuses the flag);
    - the MultiBoxLoss divides by the positives of the global batch: each replica returns its
      part of the one-device loss, and Keras sums the replicas' gradients into the one-device
      gradient (it leaves a scalar loss unscaled, so a per-replica mean would give R times
      the gradient and log R times the loss).

    The global batch reaches the replicas whole and in order: ``experimental_distribute_dataset``
    splits each batch of the one-device pipeline into consecutive parts (across workers by
    the DATA auto-shard policy, to which AUTO falls back for a dataset of in-memory records).
    """
    from ssdzoo.core.loss import MultiBoxLoss
    from ssdzoo.training.batchnorm import batchnorm_layers
    from ssdzoo.utils.keras_internals import fit_under_strategy

    fit_under_strategy(model)
    if strategy.num_replicas_in_sync == 1:
        return
    for layer in batchnorm_layers(model, frozen=True):  # a frozen layer may be unfrozen later
        layer.synchronized = True
        layer.get_config = _unsynchronized_config(layer)
    if isinstance(model.loss, MultiBoxLoss):
        model.loss.total_positives = _global_positives


def _unsynchronized_config(layer: keras.layers.BatchNormalization) -> Callable[[], dict]:
    return lambda: {**type(layer).get_config(layer), "synchronized": False}


def _global_positives(num_pos: tf.Tensor) -> tf.Tensor:
    """MultiBoxLoss.total_positives over all replicas: positives ``(B,)`` of this replica's images in."""
    import tensorflow as tf

    total = tf.reduce_sum(num_pos)
    context = tf.distribute.get_replica_context()
    if context is not None:  # None: the cross-replica context, where the whole batch is at hand
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, total)
    return tf.maximum(total, 1.0)


def agree_max(strategy: tf.distribute.Strategy) -> Callable[[float], float]:
    """A function that every worker calls with its own value and that returns the largest of them.

    A collective all-reduce under several workers, the value itself otherwise: decisions taken
    on time (stop now) are then the same on every worker."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        @tf.function(autograph=False)
        def reduce(value):  # tf.distribute reduces by SUM or MEAN only: gather, then max
            per_replica = strategy.run(lambda: tf.reshape(value, [1]))
            return tf.reduce_max(strategy.gather(per_replica, axis=0))

        return lambda value: float(reduce(tf.constant(value, tf.float64)))
    return lambda value: value


def precision_policy(mixed: bool) -> tuple[str, str]:
    """The Keras dtype policy for ``--mixed-precision`` and a note on it: ``(policy, note)``.

    ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with BF16 instructions, else
    ``float32`` with a note saying why."""
    if not mixed:
        return "float32", "float32"
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16", "mixed_float16 (GPU)"
    if cpu_has_bf16():
        return "mixed_bfloat16", "mixed_bfloat16 (CPU with BF16)"
    return "float32", "float32: this CPU has no BF16 instructions and no GPU is visible"


def cpu_has_bf16() -> bool:
    """Whether the CPU lists ``avx512_bf16`` or ``amx_bf16`` (Linux ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))
