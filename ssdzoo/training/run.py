"""Training runs: config → data → model → ``model.fit`` with evaluation, checkpoints, report.

The output folder holds ``last.keras`` (+ ``state.json``, for ``--resume``), ``best.keras``
(best validation mAP), ``log.csv``, ``tensorboard/``, ``report.md`` and pictures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from typing import TYPE_CHECKING

from ssdzoo.training.config import TrainConfig
from ssdzoo.utils.files import atomic_path, write_text_atomic
from ssdzoo.utils.keras_internals import swap_ema_weights

if TYPE_CHECKING:
    import keras

    from ssdzoo.models.ssd import SSD


def _load_split(config: TrainConfig, split: str | None):
    from ssdzoo import data

    if split is None:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.load(config.data, format=config.format, split=split)
    for w in caught:
        print(f"warning: {w.message}")
    return ds


def learning_rate(config: TrainConfig, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning-rate schedule of a run of ``total_steps`` steps.

    Linear warm-up from 1 % of ``lr`` over ``warmup_steps`` (at most a quarter of the run), then
    steps of x0.1 at ``lr_decay_at`` or a cosine to 0.
    """
    import keras

    from ssdzoo.core.schedules import WarmupStepDecay

    warmup = min(config.warmup_steps, total_steps // 4)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.01 * config.lr if warmup else config.lr, decay_steps=max(1, total_steps - warmup),
            warmup_target=config.lr if warmup else None, warmup_steps=warmup)
    return WarmupStepDecay(config.lr, [int(f * total_steps) for f in config.lr_decay_at],
                           warmup_steps=warmup)


def _optimizer(config: TrainConfig, total_steps: int):
    import keras

    schedule = learning_rate(config, total_steps)
    common = dict(weight_decay=config.weight_decay, global_clipnorm=config.clipnorm or None,
                  use_ema=config.ema, ema_momentum=config.ema_momentum)
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(schedule, **common)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, **common)


def build_model(config: TrainConfig, class_names: list[str]) -> tuple[SSD, str]:
    """The model for ``config`` and a note on its weights: ``(model, weights_note)``.

    With ``weights="imagenet"`` it falls back to random init when the backbone has no ImageNet
    weights or they are unreachable, and says so."""
    from ssdzoo.models.builders import build, build_imagenet_or_scratch

    auto = config.head_norm == "auto"  # normalised head from scratch, the paper's on pretrained weights
    kwargs = dict(num_classes=len(class_names), class_names=class_names,
                  input_size=config.input_size, head=config.head, head_width=config.head_width,
                  head_norm="none" if auto else config.head_norm, prior_probability=config.prior_probability,
                  **config.backbone_options)
    scratch = {"head_norm": "batch"} if auto else {}
    if config.weights == "imagenet":
        return build_imagenet_or_scratch(config.backbone, scratch=scratch, **kwargs)
    if config.weights is None:
        kwargs.update(scratch)
    return build(config.backbone, weights=config.weights, **kwargs), str(config.weights)


class _SaveState:
    """Writes ``last.keras`` and ``state.json`` (epochs done, step) after every epoch, each
    through a temporary file (a kill during the write leaves the previous pair intact)."""

    def __init__(self, out: str):
        self.out = out

    def save(self, model, epochs_done: int, extra: dict) -> None:
        with atomic_path(os.path.join(self.out, "last.keras")) as tmp:
            model.save(tmp)
        state = {"epochs_done": epochs_done, "step": int(model.optimizer.iterations.numpy()), **extra}
        write_text_atomic(os.path.join(self.out, "state.json"), json.dumps(state, indent=2))

    def load(self) -> dict:
        with open(os.path.join(self.out, "state.json")) as f:
            return json.load(f)


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Run a training job end to end; returns the summary written into ``report.md``."""
    config.validate()  # before the TensorFlow import: bad input fails fast and quietly
    import keras

    from ssdzoo.core.loss import MultiBoxLoss
    from ssdzoo.data.tfdata import pipeline
    from ssdzoo.models.builders import load
    from ssdzoo.training import callbacks as ssd_callbacks
    from ssdzoo.training.signals import StopOnSignal, signal_name

    os.makedirs(config.out, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    train_ds = _load_split(config, config.train_split)
    val_ds = _load_split(config, config.val_split)
    test_ds = _load_split(config, config.test_split)
    if len(train_ds) == 0:
        raise ValueError(f"no training records in {config.data!r} split {config.train_split!r}")

    saver = _SaveState(config.out)
    if resume:
        if not os.path.isfile(os.path.join(config.out, "last.keras")):
            raise FileNotFoundError(f"nothing to resume in {config.out!r} (no last.keras)")
        state = saver.load()
        model = load(os.path.join(config.out, "last.keras"))
        weights_note, initial_epoch = state["weights"], state["epochs_done"]
        print(f"resuming from {config.out}/last.keras: {initial_epoch} epochs done, step {state['step']}")
        earlier_seconds = state.get("train_seconds")  # None for runs saved before it was recorded
        if state.get("ema_in_model"):  # saved at an epoch's end: the averages in the model
            swap_ema_weights(model.optimizer)
    else:
        model, weights_note = build_model(config, train_ds.class_names)
        initial_epoch, earlier_seconds = 0, 0.0
    steps = config.steps_per_epoch or max(1, len(train_ds) // config.batch_size)
    if not resume:
        model.compile(optimizer=_optimizer(config, steps * config.epochs),
                      loss=MultiBoxLoss(conf_loss=config.loss))
    write_text_atomic(os.path.join(config.out, "config.json"),
                      json.dumps(dataclasses.asdict(config), indent=2))

    validate = bool(val_ds) and config.eval_every > 0  # eval_every 0: no validation at all
    data_train = pipeline(train_ds, model, batch_size=config.batch_size, augment=True,
                          seed=config.seed, cache=config.cache, repeat=True,
                          mosaic=config.mosaic, mixup=config.mixup)
    data_val = pipeline(val_ds, model, batch_size=config.batch_size, cache=config.cache) if validate else None

    ema = getattr(model.optimizer, "use_ema", False)

    def calibration_data():
        """Augmented training batches for re-estimating BatchNorm statistics (own seed, no cache)."""
        return pipeline(train_ds, model, batch_size=config.batch_size, augment=True,
                        seed=config.seed + 1, cache=False, repeat=True)

    class Checkpoint(keras.callbacks.Callback):
        epochs_done = initial_epoch  # of this run, not of a stale state.json left in config.out

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_done = epoch + 1
            saver.save(self.model, self.epochs_done, extra())

    class EMAInModel(keras.callbacks.Callback):
        """Right after SwapEMAWeights: whether the model holds the averages now."""

        now = False

        def on_epoch_begin(self, epoch, logs=None):
            self.now = False

        def on_epoch_end(self, epoch, logs=None):
            self.now = True

    # With EMA the averages are in the model from each epoch's end (validation, mAP, best.keras,
    # last.keras) to the next epoch's start, and after fit: first in the list, before the others.
    # An interrupt mid-epoch saves the raw weights; state.json's ema_in_model says which.
    ema_in_model = EMAInModel()
    cbs = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True), ema_in_model] if ema else []
    evaluator = None
    if validate:
        calibration = calibration_data() if config.precise_bn else None
        evaluator = ssd_callbacks.EvaluateMAP(val_ds, every_n_epochs=config.eval_every,
                                              filepath=os.path.join(config.out, "best.keras"),
                                              calibration=calibration, calibration_batches=config.precise_bn)
        if resume:  # best.keras must stay the best of the whole run, not of the resumed part
            evaluator.best, evaluator.best_step = state.get("best_map", -1.0), state.get("best_step")
        cbs.append(evaluator)

    def extra() -> dict:
        best = {"best_map": evaluator.best, "best_step": evaluator.best_step} if evaluator else {}
        seconds = None if earlier_seconds is None else earlier_seconds + time.time() - started
        return {"weights": weights_note, "train_seconds": seconds, "ema_in_model": ema and ema_in_model.now,
                **best}

    checkpoint = Checkpoint()
    stopper = StopOnSignal()
    if config.freeze_epochs:
        cbs.append(ssd_callbacks.StagedUnfreeze(config.freeze_epochs, from_layer=config.unfreeze_from))
    cbs += [
        keras.callbacks.CSVLogger(os.path.join(config.out, "log.csv"), append=resume),
        keras.callbacks.TensorBoard(os.path.join(config.out, "tensorboard"), write_graph=False),
        checkpoint,
        stopper,  # last: an epoch's checkpoint is written before a signal stops the run
    ]
    started = time.time()
    with stopper.installed():
        try:
            model.fit(data_train, epochs=config.epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=steps, validation_data=data_val, callbacks=cbs,
                      shuffle=False, verbose=1)
            stopper.check()  # a signal during the last epoch's evaluation
        except KeyboardInterrupt as err:
            saver.save(model, checkpoint.epochs_done, extra())
            why = signal_name(err)
            print(f"\ninterrupted{why}: checkpoint saved to {config.out}/last.keras (step "
                  f"{int(model.optimizer.iterations.numpy())}, {checkpoint.epochs_done} epochs "
                  f"done)", flush=True)
            raise
    train_seconds = extra()["train_seconds"]

    from ssdzoo.training.report import write_report

    best = os.path.join(config.out, "best.keras")
    if not os.path.isfile(best) and config.precise_bn:  # no validation: the last model is the result
        from ssdzoo.training.batchnorm import recalibrate_batchnorm

        if recalibrate_batchnorm(model, iter(calibration_data()), config.precise_bn):
            saver.save(model, checkpoint.epochs_done, extra())
    final = load(best) if os.path.isfile(best) else model
    return write_report(final, config, test_ds or val_ds, weights_note=weights_note,
                        train_seconds=train_seconds, log_csv=os.path.join(config.out, "log.csv"))
