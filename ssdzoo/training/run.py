"""Training runs: config → data → model → ``model.fit`` with evaluation, checkpoints, report.

The output folder holds ``last.keras`` (+ ``state.json``, for ``--resume``), ``best.keras``
(best validation mAP), ``log.csv``, ``tensorboard/``, ``report.md`` and pictures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING

from ssdzoo.training.config import TrainConfig
from ssdzoo.training.recipes import WeightsSource, check_resolved, recipe_note, resolve_recipe, weights_source
from ssdzoo.utils.files import write_text_atomic
from ssdzoo.utils.keras_internals import swap_ema_weights

if TYPE_CHECKING:
    import keras

    from ssdzoo.core.anchors import AnchorConfig
    from ssdzoo.models.ssd import SSD


def _load_split(config: TrainConfig, split: str | None, chief: bool):
    """The records of ``split``; on the chief what loading left out goes to ``OUT/skipped-SPLIT.txt``."""
    from ssdzoo import data

    if split is None:
        return None
    if split == config.train_split and (config.format or data.detect_format(config.data)) == "tfrecord":  # streamed
        from ssdzoo.data.tfrecord import open_shards

        return open_shards(config.data, split)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.load(config.data, format=config.format, split=split)
    for w in caught:
        print(f"warning: {w.message}")
    if ds.skipped and chief:
        path = os.path.join(config.out, f"skipped-{split or 'all'}.txt")
        write_text_atomic(path, "".join(f"{line}\n" for line in ds.skipped))
        print(f"the {len(ds.skipped)} problem(s) loading split {split!r} left out are listed in {path}")
    return ds


def learning_rate(config: TrainConfig, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning-rate schedule of a run of ``total_steps`` steps (revisable: a time-budgeted run).

    Linear warm-up from 1 % of ``lr`` over ``warmup_steps`` (at most a quarter of the run), then
    steps of x0.1 at ``lr_decay_at`` or a cosine to 0.
    """
    from ssdzoo.core.schedules import RunSchedule

    check_resolved(config, ("warmup_steps",))
    return RunSchedule(config.lr, total_steps, kind=config.schedule, decay_at=config.lr_decay_at,
                       warmup_steps=min(config.warmup_steps, total_steps // 4))


def _optimizer(config: TrainConfig, total_steps: int):
    import keras

    check_resolved(config, ("optimizer", "ema"))
    schedule = learning_rate(config, total_steps)
    common = dict(weight_decay=config.weight_decay, global_clipnorm=config.clipnorm or None,
                  use_ema=config.ema, ema_momentum=config.ema_momentum)
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(schedule, **common)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, **common)


def build_model(config: TrainConfig, class_names: list[str], anchors: AnchorConfig | None = None,
                source: WeightsSource | None = None) -> tuple[SSD, str]:
    """The model for ``config`` and a note on its weights: ``(model, weights_note)``; ``anchors`` None = the paper's.

    ``"auto"`` settings take the recipe of ``source`` (default: :func:`weights_source`, which
    falls back to random init when ImageNet weights cannot be had, and says so)."""
    from ssdzoo.models.builders import build

    source = source or weights_source(config)
    config = resolve_recipe(config, source.from_scratch)
    model = build(config.backbone, num_classes=len(class_names), class_names=class_names,
                  weights=None if source.from_scratch else config.weights, input_size=config.input_size,
                  head=config.head, head_width=config.head_width, head_norm=config.head_norm,
                  prior_probability=config.prior_probability, anchors=anchors, **config.backbone_options)
    return model, source.note


def without_onednn() -> None:
    """Turn TensorFlow's oneDNN CPU kernels off for a deterministic run (a warning if TF is imported).

    It must run before TensorFlow is imported; after, it can only warn.

    Op determinism alone does not make them repeat: two runs of the tiny test model with mosaic
    ended 1.8e-4 apart with them, bit-identical without (tests/test_determinism.py)."""
    if "tensorflow" in sys.modules:
        if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
            print("warning: deterministic: TensorFlow is imported already with its oneDNN CPU kernels on, "
                  "which may differ in the last bits from run to run; set TF_ENABLE_ONEDNN_OPTS=0 before "
                  "importing it")
        return
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"


def one_op_at_a_time() -> None:
    """Run a deterministic run's ops one at a time (one inter-op thread; a warning if too late).

    TensorFlow's CPU ``AddN`` sums into an input buffer it may reuse and moves that input to the
    front, so with 3 or more inputs the order of the additions, and the last bits, depend on
    which buffers other ops still hold when it runs (shown in isolation); this model's gradients
    have 3-input sums at every BatchNormalization layer and at each feature map feeding a head.
    One inter-op thread takes that thread timing out; each op still uses every core. Cost and
    effect measured in tests/test_determinism.py: no slower here, and not shown to be the
    source left there (rare: the runs without it were exact too on the day)."""
    import tensorflow as tf

    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow has run ops already in this process
        print("warning: deterministic: TensorFlow's runtime is started already with several inter-op threads, "
              "whose timing may change the last bits of a sum from run to run; call "
              "tf.config.threading.set_inter_op_parallelism_threads(1) before any TensorFlow op")


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Run a training job end to end; returns the summary written into ``report.md``.

    On a worker that is not the chief it returns ``{}``: only the chief writes files."""
    clock_start = time.monotonic()  # a time budget counts from here
    if config.deterministic:
        without_onednn()
    config.validate()  # before any data or model is loaded: bad input fails fast, in one line
    import keras

    from ssdzoo.training.distribute import is_chief, make_strategy, precision_policy

    if config.deterministic:
        one_op_at_a_time()
    strategy = make_strategy(config.distribute)  # before any other TensorFlow op (multi-worker needs it)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} is the global batch: it must split evenly over "
                         f"the {strategy.num_replicas_in_sync} replicas")
    policy, precision = precision_policy(config.mixed_precision)
    before = keras.mixed_precision.global_policy().name
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(policy)
    try:
        return _train(config, resume, strategy, is_chief(config.distribute), precision, clock_start)
    finally:
        keras.mixed_precision.set_global_policy(before)


def _train(config: TrainConfig, resume: bool, strategy, chief: bool, precision: str, clock_start: float) -> dict:
    import keras

    from ssdzoo.core.loss import MultiBoxLoss
    from ssdzoo.data.tfdata import pipeline
    from ssdzoo.models.builders import load
    from ssdzoo.training import callbacks as ssd_callbacks
    from ssdzoo.training.anchor_choice import choose_anchors
    from ssdzoo.training.budget import TimeBudget
    from ssdzoo.training.checkpoints import Checkpoints, SaveCheckpoints
    from ssdzoo.training.distribute import agree_max, train_as_one_device
    from ssdzoo.training.memory import resolve_cache
    from ssdzoo.training.signals import StopOnSignal, signal_name
    from ssdzoo.utils.keras_internals import learning_rate_schedule

    if chief:
        os.makedirs(config.out, exist_ok=True)
    keras.utils.set_random_seed(config.seed)  # Python, NumPy and TensorFlow
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    train_ds, val_ds, test_ds = (_load_split(config, split, chief) for split in
                                 (config.train_split, config.val_split, config.test_split))
    if len(train_ds) == 0:
        raise ValueError(f"no training records in {config.data!r} split {config.train_split!r}")

    checkpoints = Checkpoints(config.out, write=chief)
    steps = config.steps_per_epoch or max(1, len(train_ds) // config.batch_size)
    state = {}
    given = config  # the "auto" settings as given, for the report's recipe line
    if not resume:  # a resumed run takes the recipe its first part had (state.json)
        source = weights_source(config)
        config = resolve_recipe(config, source.from_scratch)
    anchors, anchor_facts = (None, {}) if resume else choose_anchors(config.anchors, train_ds,
                                                                     config.input_size, config.zoom_out)
    with strategy.scope():
        if resume:
            if not checkpoints.exists():
                raise FileNotFoundError(f"nothing to resume in {config.out!r} (no last.keras)")
            model, state, path = checkpoints.load_latest(load)
            epoch_step = state.get("epoch_step", state["step"])  # older runs: redo the unfinished epoch
            weights_note = state["weights"]
            recipe = state.get("recipe") or weights_source(config).recipe  # runs before recipes: decide now
            config = resolve_recipe(config, recipe == "scratch")
            print(f"resuming from {path}: {state['epochs_done']} epochs done, step {state['step']}")
            if state.get("ema_in_model"):  # saved at an epoch's end: the averages in the model
                swap_ema_weights(model.optimizer)
            if config.jit_compile is not None:
                model.jit_compile = config.jit_compile
        else:
            model, weights_note = build_model(config, train_ds.class_names, anchors, source)
            recipe = source.recipe
            loss = MultiBoxLoss(conf_loss=config.loss, box_loss=config.box_loss, variances=model.box_coder.variances)
            model.compile(optimizer=_optimizer(config, steps * config.epochs), loss=loss,
                          jit_compile="auto" if config.jit_compile is None else config.jit_compile)
            # built here, not inside fit's first trace: a tf.function that creates variables is
            # traced twice, so an unbuilt optimizer costs every run one more trace of the train step
            model.optimizer.build(model.trainable_variables)
    train_as_one_device(model, strategy)
    initial_epoch, earlier_seconds = state.get("epochs_done", 0), state.get("train_seconds", 0.0)
    in_epoch = state["step"] - epoch_step if resume else 0  # steps of the unfinished epoch already done
    if chief:
        write_text_atomic(os.path.join(config.out, "config.json"), json.dumps(dataclasses.asdict(config), indent=2))

    validate = bool(val_ds) and config.eval_every > 0  # eval_every 0: no validation at all
    if getattr(train_ds, "streamed", False):
        cache, cache_note = False, f"cache: off, {len(train_ds)} training images streamed from TFRecord shards"
    else:
        cache, cache_note = resolve_cache(config.cache, [*train_ds, *(val_ds if validate else [])])
    print(cache_note)

    def training_data(skip: int):
        """The augmented training stream from its ``skip``-th batch on: a resumed run goes on with it."""
        return pipeline(train_ds, model, batch_size=config.batch_size, augment=True,
                        seed=config.seed, cache=cache, repeat=True,
                        mosaic=config.mosaic, mixup=config.mixup, zoom_out=config.zoom_out, skip=skip)

    replicas, val_batch = strategy.num_replicas_in_sync, config.batch_size
    if validate and replicas > 1:  # every batch must split over the replicas: the last images are dropped
        val_batch = min(config.batch_size, len(val_ds) // replicas * replicas)
    data_val = pipeline(val_ds, model, batch_size=val_batch, cache=cache,
                        drop_remainder=replicas > 1) if validate and val_batch else None

    ema = getattr(model.optimizer, "use_ema", False)

    def calibration_data():
        """Augmented training batches for re-estimating BatchNorm statistics (own seed, no cache)."""
        return pipeline(train_ds, model, batch_size=config.batch_size, augment=True,
                        seed=config.seed + 1, cache=False, repeat=True)

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
    if validate and chief:  # evaluation runs once, on the chief
        calibration = calibration_data() if config.precise_bn else None
        evaluator = ssd_callbacks.EvaluateMAP(val_ds, every_n_epochs=config.eval_every,
                                              filepath=os.path.join(config.out, "best.keras"),
                                              calibration=calibration, calibration_batches=config.precise_bn)
        if resume:  # best.keras must stay the best of the whole run, not of the resumed part
            evaluator.best, evaluator.best_step = state.get("best_map", -1.0), state.get("best_step")
        cbs.append(evaluator)

    def run_state() -> dict:
        best = {"best_map": evaluator.best, "best_step": evaluator.best_step} if evaluator else {}
        seconds = None if earlier_seconds is None else earlier_seconds + time.time() - started
        return {"weights": weights_note, "recipe": recipe, "train_seconds": seconds,
                "ema_in_model": ema and ema_in_model.now, **best}

    checkpoint = SaveCheckpoints(checkpoints, run_state, initial_epoch, state["step"] - in_epoch if resume else 0,
                                 every=config.backup_every, batches=state.get("batches", state.get("step", 0)))
    budget = None
    if config.time_budget:
        budget = TimeBudget(config.time_budget * 60, clock_start, learning_rate_schedule(model.optimizer),
                            spent=earlier_seconds or 0.0, agree=agree_max(strategy))
        cbs.append(budget)
    stopper = StopOnSignal()
    if config.freeze_epochs:
        cbs.append(ssd_callbacks.StagedUnfreeze(config.freeze_epochs, from_layer=config.unfreeze_from))
    if chief:
        cbs += [keras.callbacks.CSVLogger(os.path.join(config.out, "log.csv"), append=resume),
                keras.callbacks.TensorBoard(os.path.join(config.out, "tensorboard"), write_graph=False)]
    cbs += [checkpoint, stopper]  # last: an epoch's checkpoint is written before a signal stops the run
    # A resumed run first trains the rest of its unfinished epoch, then whole epochs; each fit
    # starts a new iterator, so each phase gets the stream from the batches taken so far.
    phases = ([(initial_epoch + 1, steps - in_epoch)] if 0 < in_epoch < steps else []) + [(config.epochs, steps)]
    started = time.time()
    with stopper.installed():
        try:
            for epochs, phase_steps in phases:
                if checkpoint.epochs_done >= epochs or (budget and budget.stopped_step is not None):
                    continue
                model.fit(training_data(checkpoint.batches), epochs=epochs, initial_epoch=checkpoint.epochs_done,
                          steps_per_epoch=phase_steps, validation_data=data_val, callbacks=cbs,
                          shuffle=False, verbose=1 if chief else 2)
                stopper.check()  # a signal during the last epoch's evaluation
        except KeyboardInterrupt as err:
            checkpoint.save()
            print(f"\ninterrupted{signal_name(err)}: checkpoint saved to {config.out}/last.keras (step "
                  f"{int(model.optimizer.iterations.numpy())}, {checkpoint.epochs_done} epochs "
                  f"done)", flush=True)
            raise
    if checkpoint.non_finite_step is not None:
        raise ValueError(
            f"the training loss became NaN or infinite at step {checkpoint.non_finite_step}; nothing was saved "
            f"from that step on (last good checkpoint: {config.out}/last.keras, if an epoch had finished). "
            "Try a lower --lr, --clipnorm 10, or check the data with `ssdzoo check-data`")
    if not chief:
        return {}
    train_seconds = run_state()["train_seconds"]

    from ssdzoo.training.report import write_report

    best = os.path.join(config.out, "best.keras")
    if not os.path.isfile(best) and config.precise_bn:  # no validation: the last model is the result
        from ssdzoo.training.batchnorm import recalibrate_batchnorm

        if recalibrate_batchnorm(model, iter(calibration_data()), config.precise_bn):
            checkpoint.save()
    final = load(best) if os.path.isfile(best) else model
    facts = {"recipe": recipe_note(given, config, recipe), "replicas": strategy.num_replicas_in_sync,
             "distribute": config.distribute, "precision": precision,
             **(budget.summary() if budget else {}), **anchor_facts}
    return write_report(final, config, test_ds or val_ds, weights_note=weights_note, train_seconds=train_seconds,
                        log_csv=os.path.join(config.out, "log.csv"), facts=facts)
