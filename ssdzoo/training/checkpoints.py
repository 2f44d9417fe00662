"""A run's checkpoints: ``last.keras`` + ``state.json`` at every epoch end and every
``backup_every`` steps, each written to a temporary file then renamed; the pair before is kept
as ``previous.keras`` + ``previous-state.json`` until the new one is complete. ``--resume`` takes
the newest model file that loads, with the state of the same step, and says when it falls back."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import keras

from ssdzoo.utils.files import atomic_path

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD

#: (model file, state file), newest first.
PAIRS = (("last.keras", "state.json"), ("previous.keras", "previous-state.json"))


class Checkpoints:
    """Writes and finds the checkpoint pairs of ``out``; ``write=False`` (a non-chief worker) writes nothing."""

    def __init__(self, out: str, write: bool = True):
        self.out = out
        self.write = write

    def _path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def save(self, model: SSD, state: dict) -> None:
        """Save ``model`` and ``state`` (``step`` is added) as the newest pair; the newest becomes the previous one."""
        if not self.write:
            return
        state = {**state, "step": int(model.optimizer.iterations.numpy())}
        (model_file, state_file), previous = PAIRS
        # the new pair is complete before the old one moves; the renames run when the block ends
        with atomic_path(self._path(model_file)) as tmp_model, atomic_path(self._path(state_file)) as tmp_state:
            model.save(tmp_model)
            with open(tmp_state, "w") as f:
                f.write(json.dumps(state, indent=2))
            for now, before in zip(PAIRS[0], previous):
                if os.path.isfile(self._path(now)):
                    os.replace(self._path(now), self._path(before))

    def exists(self) -> bool:
        """Whether there is any model file to resume from."""
        return any(os.path.isfile(self._path(model_file)) for model_file, _ in PAIRS)

    def _states(self) -> list[dict]:
        states = []
        for _, state_file in PAIRS:
            try:
                with open(self._path(state_file)) as f:
                    states.append(json.load(f))
            except (OSError, ValueError):
                pass
        return states

    def load_latest(self, load: Callable[[str], SSD]) -> tuple[SSD, dict, str]:
        """``(model, state, path)`` of the newest readable model file with a state file of its step.

        ``load`` reads a model file; a warning is printed for each file passed over."""
        states = self._states()
        for model_file, _ in PAIRS:
            path = self._path(model_file)
            if not os.path.isfile(path):
                continue
            try:
                model = load(path)
            except Exception as err:  # a torn zip, a half-written file: try the previous pair
                print(f"warning: {path} is unreadable ({_first_line(err)}); trying the previous checkpoint")
                continue
            step = int(model.optimizer.iterations.numpy())
            state = next((s for s in states if s.get("step") == step), None)
            if state is not None:
                return model, state, path
            print(f"warning: no state file records step {step} of {path}; trying the previous checkpoint")
        raise FileNotFoundError(f"nothing to resume in {self.out!r} (no readable last.keras or previous.keras "
                                "with its state file)")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


class SaveCheckpoints(keras.callbacks.Callback):
    """Saves at every epoch end and, with ``every`` > 0, every ``every`` steps inside an epoch.

    ``checkpoints`` writes; ``state()`` gives the run's own entries of ``state.json``.

    Besides them the state records ``epochs_done``, ``epoch_step`` (the step at which the
    unfinished epoch began), so that a resumed run trains exactly that epoch's remaining steps,
    and ``batches`` (training batches taken from the data stream, which a resumed run skips).

    A loss that is not finite stops the run at that step (``non_finite_step``) and nothing is
    saved from then on: the last checkpoint stays the last good one."""

    def __init__(self, checkpoints: Checkpoints, state: Callable[[], dict], epochs_done: int = 0,
                 epoch_step: int = 0, every: int = 0, batches: int = 0):
        super().__init__()
        self.checkpoints = checkpoints
        self.state = state
        self.epochs_done = epochs_done
        self.epoch_step = epoch_step
        self.batches = batches
        self.every = every
        self._saved_step = None
        self.non_finite_step: int | None = None

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def save(self) -> None:
        """Save the model now (also used on an interrupt); nothing once the loss was not finite."""
        if self.non_finite_step is not None:
            return
        self.checkpoints.save(self.model, {"epochs_done": self.epochs_done, "epoch_step": self.epoch_step,
                                           "batches": self.batches, **self.state()})
        self._saved_step = self._step()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.non_finite_step is None:
            self.non_finite_step = self._step()
            self.model.stop_training = True
        last_of_epoch = batch + 1 >= ((self.params or {}).get("steps") or 0)  # on_epoch_end saves it
        if self.every and self._step() % self.every == 0 and not last_of_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done, self.epoch_step = epoch + 1, self._step()
        self.save()
