"""Learning-rate schedules (``keras.ops``, serializable)."""

from __future__ import annotations

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
        decays = sum(ops.cast(step >= b, "float32") for b in self.boundaries)
        rate = self.lr * ops.power(self.factor, decays)
        if self.warmup_steps:
            frac = ops.minimum(step / self.warmup_steps, 1.0)
            rate = rate * (self.warmup_start + (1.0 - self.warmup_start) * frac)
        return rate

    def get_config(self):
        return {"lr": self.lr, "boundaries": self.boundaries, "factor": self.factor,
                "warmup_steps": self.warmup_steps, "warmup_start": self.warmup_start}
