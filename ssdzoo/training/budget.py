"""``--time-budget``: a run that stops when its time is spent, its learning-rate schedule fitted to
the number of steps that fit.

The clock starts when ``train`` starts (loading the data and building the model count; the test
evaluation and the report after training do not). Speed is measured from the end of the first
step (which traces the graph) and includes the validation passes: first after
``measure_steps`` steps, then again at every epoch end. The schedule's total steps
(:class:`~ssdzoo.core.schedules.RunSchedule`) follow the estimate: up or down until half of the
run is done, then only down, so a decay point once passed stays passed; it never exceeds the
``epochs`` x ``steps_per_epoch`` of the config. The run stops at the first step boundary where
the time is spent or the schedule's last step is reached, then saves, evaluates and reports as usual.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras

from ssdzoo.core.schedules import RunSchedule


class TimeBudget(keras.callbacks.Callback):
    """Stops ``fit`` when the budget is spent; keeps ``schedule``'s total steps fitted to the speed.

    The budget is ``seconds`` since ``clock_start`` (a ``time.monotonic()`` value) plus ``spent``
    earlier (a resumed run); the run stops at a step boundary.

    ``agree`` maps this process's elapsed seconds to the value all workers agree on (the largest),
    so that every worker stops at the same step. After the run, ``stopped_step`` is the step at
    which the budget stopped it (None if it did not) and ``reason`` says why."""

    def __init__(self, seconds: float, clock_start: float, schedule: RunSchedule | None = None, spent: float = 0.0,
                 agree: Callable[[float], float] | None = None, measure_steps: int = 10):
        super().__init__()
        self.seconds = seconds
        self.clock_start = clock_start
        self.schedule = schedule
        self.spent = spent
        self.agree = agree or (lambda value: value)
        self.measure_steps = measure_steps
        self.max_steps = schedule.total_steps if schedule is not None else None
        self.stopped_step: int | None = None
        self.reason = ""
        self._first: tuple[float, int] | None = None  # (elapsed, step) after the first step

    def _now(self) -> tuple[float, int]:
        return self.agree(time.monotonic() - self.clock_start), int(self.model.optimizer.iterations.numpy())

    def _fit_schedule(self, elapsed: float, step: int) -> None:
        """Set the schedule's total to the steps that fit in the time left at the measured speed."""
        first_elapsed, first_step = self._first
        if self.schedule is None or step <= first_step or elapsed <= first_elapsed:
            return
        rate = (step - first_step) / (elapsed - first_elapsed)
        left = self.seconds - self.spent - elapsed
        estimate = min(self.max_steps, step + max(1, int(left * rate)))
        total = self.schedule.total_steps
        if step < total / 2 or estimate < total:
            self.schedule.set_total_steps(estimate)

    def on_train_batch_end(self, batch, logs=None):
        elapsed, step = self._now()
        if self._first is None:
            self._first = (elapsed, step)
        elif step - self._first[1] == self.measure_steps:
            self._fit_schedule(elapsed, step)
        if self.spent + elapsed >= self.seconds:
            self._stop(step, f"the time budget of {self.seconds / 60:g} min was spent")
        elif self.schedule is not None and step >= self.schedule.total_steps:
            self._stop(step, "the schedule fitted to the time budget reached its last step")

    def on_epoch_end(self, epoch, logs=None):
        if self._first is not None and self.stopped_step is None:
            self._fit_schedule(*self._now())

    def _stop(self, step: int, reason: str) -> None:
        self.model.stop_training = True
        if self.stopped_step is None:
            self.stopped_step, self.reason = step, reason
            print(f"\nstep {step}: stopping, {reason}", flush=True)

    def summary(self) -> dict:
        """What the report says about the budget: minutes, whether and where it stopped the run."""
        return {"time_budget_min": self.seconds / 60, "budget_stopped_at_step": self.stopped_step,
                "budget_reason": self.reason or None,
                "schedule_total_steps": self.schedule.total_steps if self.schedule is not None else None}
