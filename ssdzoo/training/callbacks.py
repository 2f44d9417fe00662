"""Keras callbacks: in-training mAP evaluation with best-checkpoint saving, staged unfreezing."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import keras

from ssdzoo.models.freezing import freeze, unfreeze
from ssdzoo.training.batchnorm import recalibrate_batchnorm
from ssdzoo.utils.files import atomic_path
from ssdzoo.utils.keras_internals import optimizer_is_built_for, restore_learning_rate, scale_learning_rate

if TYPE_CHECKING:
    from ssdzoo.data.records import Dataset, Record


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
        calibration: training batches (e.g. ``ssdzoo.data.pipeline(train, model, augment=True,
            repeat=True)``); before each evaluation the BatchNorm statistics are re-estimated
            from ``calibration_batches`` of them (:func:`recalibrate_batchnorm`), so the
            evaluated and saved model is the one being trained. ``None``: the moving averages
            as they are (they lag far behind a model trained from scratch).
        calibration_batches: batches per re-estimation.
    """

    def __init__(self, records: Dataset | Sequence[Record], every_n_epochs: int = 1, every_n_steps: int | None = None,
                 filepath: str | None = None, batch_size: int = 8, verbose: int = 1,
                 calibration: Iterable | None = None, calibration_batches: int = 10):
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
        self._calibration = None if calibration is None else iter(calibration)
        self.calibration_batches = calibration_batches

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def _evaluate(self) -> float:
        from ssdzoo.evaluation.evaluator import evaluate

        if self._calibration is not None:
            recalibrate_batchnorm(self.model, self._calibration, self.calibration_batches)
        value = evaluate(self.model, self.records, coco=False, batch_size=self.batch_size,
                         verbose=False).map
        step = self._step()
        self.history.append((step, value))
        self._last = value
        improved = value > self.best
        if improved:
            self.best, self.best_step = value, step
            if self.filepath:
                with atomic_path(self.filepath) as tmp:
                    self.model.save(tmp)
        if self.verbose:
            if improved and self.filepath:
                note = f" (best, saved to {self.filepath})"
            else:
                note = f" (best {self.best:.4f} at step {self.best_step})"
            print(f"\nstep {step}: val mAP (VOC07) {value:.4f}{note}")
        return value

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None and not math.isfinite(float(logs.get("loss", 0.0))):
            return
        if self.every_n_steps and self._step() % self.every_n_steps == 0:
            self._evaluate()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and not math.isfinite(float(logs.get("loss", 0.0))):
            return  # diverged weights: nothing to evaluate or save
        # also when the run stops early (a time budget): its last weights are a candidate for best
        if not self.every_n_steps and ((epoch + 1) % self.every_n_epochs == 0 or self.model.stop_training):
            self._evaluate()
        if logs is not None:
            logs["val_map"] = self._last


class StagedUnfreeze(keras.callbacks.Callback):
    """Train the head with the backbone frozen for ``frozen_epochs`` epochs, then fine-tune both.

    The backbone is trained (from ``from_layer`` on, if given) at ``backbone_lr_scale`` times
    the learning rate.

    Lesson from this project: training with the pretrained backbone frozen for the whole run
    stalled at low accuracy; unfreezing it after a few head-only epochs worked better.

    Keras 3 mechanics. ``fit`` traces ``train_step`` once, reading ``model.trainable_weights``
    at trace time, and an optimizer creates its slot variables (momentum, Adam moments) for the
    variables of its first update and refuses unknown ones later. So the callback

    - at ``on_train_begin``, before the first trace, builds the optimizer for every variable it
      will train, backbone included. An optimizer already built for fewer (an earlier ``fit``
      with a frozen backbone, a model loaded while frozen) is replaced by a copy of it built for
      all of them, its state (iterations, slots) carried over by variable name;
    - calls ``model.make_train_function(force=True)`` after each change of trainable state, so
      ``fit`` runs a function traced for the new set (``fit`` looks ``model.train_function`` up
      at every step);
    - scales the learning rate of backbone variables inside the optimizer's ``update_step``
      (a per-instance wrapper, removed at ``on_train_end``): a true learning-rate scale for any
      optimizer, unlike scaling gradients, which Adam would undo. Decoupled weight decay
      (``weight_decay=``) still uses the unscaled rate. Keras 3 has no public per-variable
      learning rate: see :func:`ssdzoo.utils.keras_internals.scale_learning_rate`, which also
      says why ``keras.optimizers.MultiOptimizer`` does not fit.

    Args:
        frozen_epochs: epochs with the backbone frozen; it is unfrozen at the start of epoch
            ``frozen_epochs`` (0-based; 0 = never frozen, only the lower learning rate).
        from_layer: unfreeze the backbone from this layer on (earlier layers stay frozen).
        train_batchnorm: also train BatchNormalization layers (False keeps their statistics,
            the usual choice for small fine-tuning batches).
        backbone_lr_scale: learning-rate multiplier of the backbone's variables.

    Attributes:
        unfrozen_epoch: the epoch at whose start the backbone was unfrozen (None until then).
    """

    def __init__(self, frozen_epochs: int, from_layer: str | None = None,
                 train_batchnorm: bool = False, backbone_lr_scale: float = 0.1):
        super().__init__()
        if frozen_epochs < 0:
            raise ValueError(f"frozen_epochs must be >= 0, got {frozen_epochs}")
        self.frozen_epochs = frozen_epochs
        self.from_layer = from_layer
        self.train_batchnorm = train_batchnorm
        self.backbone_lr_scale = backbone_lr_scale
        self.unfrozen_epoch: int | None = None
        self._scaled = None  # the optimizer whose update_step is wrapped

    def _unfreeze(self) -> None:
        unfreeze(self.model, self.from_layer, self.train_batchnorm)

    def _optimizer_for(self, variables: list):
        """The model's optimizer, built for ``variables`` (replaced by a rebuilt copy if it was
        built for fewer)."""
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(variables)
            return optimizer
        if optimizer_is_built_for(optimizer, variables):
            return optimizer
        fresh = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        fresh.build(variables)
        state = {v.path: v for v in optimizer.variables}
        for v in fresh.variables:
            if v.path in state:
                v.assign(state[v.path])
        self.model.optimizer = fresh
        return fresh

    def on_train_begin(self, logs=None) -> None:
        self.unfrozen_epoch = None
        self._unfreeze()
        optimizer = self._optimizer_for(self.model.trainable_variables)
        self._scaled = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        scale_learning_rate(self._scaled, self.model.get_layer("backbone").weights, self.backbone_lr_scale)
        if self.frozen_epochs > 0:
            freeze(self.model)
        self.model.make_train_function(force=True)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch >= self.frozen_epochs and self.unfrozen_epoch is None:
            self._unfreeze()
            self.unfrozen_epoch = epoch
            self.model.make_train_function(force=True)

    def on_train_end(self, logs=None) -> None:
        restore_learning_rate(self._scaled)  # back to the class's update_step
        self.model.make_train_function(force=True)
