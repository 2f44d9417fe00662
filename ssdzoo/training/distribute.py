"""Devices for ``ssdzoo train``: the ``tf.distribute`` strategy of ``--distribute``, which process
is the chief (the only one that writes files), agreement across workers, mixed precision."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def agree_max(strategy: tf.distribute.Strategy) -> Callable[[float], float]:
    """A function that every worker calls with its own value and that returns the largest of them.

    A collective all-reduce under several workers, the value itself otherwise: decisions taken
    on time (stop now) are then the same on every worker."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        @tf.function
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
