"""Stopping a training run cleanly on SIGINT / SIGTERM (Ctrl-C, ``kill``, schedulers).

A process started in the background without job control inherits SIGINT as *ignored*, and
schedulers (Kubernetes, SLURM) stop jobs with SIGTERM; so the run installs its own handlers
whatever it inherited. The first signal lets the current step finish, then
:class:`StopOnSignal` raises :class:`TrainingInterrupted` out of ``fit`` so that the caller
saves a checkpoint; a second signal ends the process at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

import keras

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by ``signum`` at a step boundary; ``exit_code`` is ``128 + signum``."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class StopOnSignal(keras.callbacks.Callback):
    """Raises :class:`TrainingInterrupted` after the step during which a signal arrived."""

    def __init__(self):
        super().__init__()
        self.received: int | None = None

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # the second signal: stop now, whatever is running
            print(f"\n{signal.Signals(signum).name} again: stopping at once", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.received = signum
        print(f"\n{signal.Signals(signum).name}: stopping after this step (send it again to stop "
              f"at once)", file=sys.stderr, flush=True)

    def check(self) -> None:
        """Raise if a signal has arrived."""
        if self.received is not None:
            raise TrainingInterrupted(self.received)

    def on_train_batch_end(self, batch, logs=None):
        self.check()

    def on_epoch_end(self, epoch, logs=None):  # after the checkpoint callbacks (keep it last)
        self.check()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopOnSignal]:
        """Handle SIGINT and SIGTERM in this block (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def signal_name(err: BaseException) -> str:
    """``" by SIGTERM"`` for a :class:`TrainingInterrupted`, ``""`` for a plain Ctrl-C."""
    return f" by {signal.Signals(err.signum).name}" if isinstance(err, TrainingInterrupted) else ""
