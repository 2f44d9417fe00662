"""Learning-rate schedules (``keras.ops``, serializable)."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable("ssdzoo")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The SSD learning-rate recipe: linear warm-up, then step decay (rates per optimizer step).

    Linear warm-up from ``warmup_start * lr`` over ``warmup_steps``, then ``lr`` multiplied by
    ``factor`` at each step in ``boundaries`` (e.g. 80k and 100k of 120k)."""

    def __init__(self, lr: float, boundaries: list[int], factor: float = 0.1,
                 warmup_steps: int = 0, warmup_start: float = 0.01):
        self.lr = lr
        self.boundaries = list(boundaries)
        self.factor = factor
        self.warmup_steps = warmup_steps
        self.warmup_start = warmup_start

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = _step_decay(self.lr, self.factor, step, self.boundaries)
        return _warmed_up(rate, step, self.warmup_steps, self.warmup_start)

    def get_config(self):
        return {"lr": self.lr, "boundaries": self.boundaries, "factor": self.factor,
                "warmup_steps": self.warmup_steps, "warmup_start": self.warmup_start}


@keras.saving.register_keras_serializable("ssdzoo")
class RunSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A run's learning rate: warm-up, then step decay or a cosine over a revisable total step count.

    The decay points are fractions of the total, which may change while the run trains (a
    time-budgeted run).

    ``kind="step"``: ``lr`` times ``factor`` at each fraction in ``decay_at`` of ``total_steps``
    (boundary ``floor(f * total_steps)``); ``kind="cosine"``: from ``lr`` after the warm-up to 0 at
    ``total_steps``. The warm-up rises linearly from ``warmup_start * lr`` over ``warmup_steps``.
    The total lives in a variable, so :meth:`set_total_steps` takes effect without retracing."""

    def __init__(self, lr: float, total_steps: int, kind: str = "step", decay_at: tuple[float, ...] = (),
                 factor: float = 0.1, warmup_steps: int = 0, warmup_start: float = 0.01):
        if kind not in ("step", "cosine"):
            raise ValueError(f"kind must be step or cosine, got {kind!r}")
        self.lr = lr
        self.kind = kind
        self.decay_at = tuple(decay_at)
        self.factor = factor
        self.warmup_steps = warmup_steps
        self.warmup_start = warmup_start
        self.total = keras.Variable(float(total_steps), dtype="float32", trainable=False, name="total_steps")

    @property
    def total_steps(self) -> int:
        """The current total step count of the run."""
        return int(self.total.numpy())

    def set_total_steps(self, total_steps: int) -> None:
        """Revise the run's length (steps); the decay points move with it."""
        self.total.assign(float(total_steps))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total)
        if self.kind == "cosine":
            span = ops.maximum(total - self.warmup_steps, 1.0)
            done = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            rate = self.lr * 0.5 * (1.0 + ops.cos(math.pi * done))
        else:
            rate = _step_decay(self.lr, self.factor, step, [ops.floor(f * total) for f in self.decay_at])
        return _warmed_up(rate, step, self.warmup_steps, self.warmup_start)

    def get_config(self):
        return {"lr": self.lr, "total_steps": self.total_steps, "kind": self.kind, "decay_at": list(self.decay_at),
                "factor": self.factor, "warmup_steps": self.warmup_steps, "warmup_start": self.warmup_start}


def _step_decay(lr: float, factor: float, step, boundaries):
    """``lr`` times ``factor`` for every boundary (a step number) that ``step`` has reached."""
    decays = sum(ops.cast(step >= b, "float32") for b in boundaries)
    return lr * ops.power(factor, decays)


def _warmed_up(rate, step, warmup_steps: int, warmup_start: float):
    """``rate`` scaled by the linear warm-up from ``warmup_start`` to 1 over ``warmup_steps``."""
    if not warmup_steps:
        return rate
    frac = ops.minimum(step / warmup_steps, 1.0)
    return rate * (warmup_start + (1.0 - warmup_start) * frac)
