"""Keras callbacks: in-training mAP evaluation with best-checkpoint saving, staged unfreezing."""

from __future__ import annotations

import keras


class EvaluateMAP(keras.callbacks.Callback):
    """Evaluate VOC07 mAP on held-out records every N steps or epochs during ``fit``.

    The figure goes into the Keras logs as ``val_map`` (so ``CSVLogger`` and ``TensorBoard``
    record it: put this callback before them in the list) and the best model so far is saved
    to ``filepath`` — mAP often peaks early and later checkpoints are worse.

    Args:
        records: an :class:`ssdzoo.data.Dataset` or list of records (pixel boxes).
        every_n_epochs: evaluate at the end of every N-th epoch (ignored if ``every_n_steps``).
        every_n_steps: evaluate every N training steps instead; the latest value is also
            written into each epoch's logs.
        filepath: where to save the best model (``.keras``); ``None`` saves nothing.
    """

    def __init__(self, records, every_n_epochs: int = 1, every_n_steps: int | None = None,
                 filepath: str | None = None, batch_size: int = 8, verbose: int = 1):
        super().__init__()
        self.records = list(records)
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.filepath = filepath
        self.batch_size = batch_size
        self.verbose = verbose
        self.best = -1.0
        self.best_step = None
        self.history: list[tuple[int, float]] = []  # (training step, mAP)
        self._last = float("nan")

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def _evaluate(self) -> float:
        from .evaluate import evaluate

        value = evaluate(self.model, self.records, coco=False, batch_size=self.batch_size,
                         verbose=False).map
        step = self._step()
        self.history.append((step, value))
        self._last = value
        improved = value > self.best
        if improved:
            self.best, self.best_step = value, step
            if self.filepath:
                self.model.save(self.filepath)
        if self.verbose:
            note = f" (best, saved to {self.filepath})" if improved and self.filepath else f" (best {self.best:.4f} at step {self.best_step})"
            print(f"\nstep {step}: val mAP (VOC07) {value:.4f}{note}")
        return value

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_steps and self._step() % self.every_n_steps == 0:
            self._evaluate()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if not self.every_n_steps and (epoch + 1) % self.every_n_epochs == 0:
            self._evaluate()
        logs["val_map"] = self._last
