"""The from-scratch recipe's training options (docs/LEARNING.md): weight EMA evaluated and
saved, the cosine schedule, focal loss, and the head options reaching the model."""

import argparse
import json
import math

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.cli.train import _add_flags, config_from_args
from ssdzoo.core.loss import MultiBoxLoss
from ssdzoo.training.config import TrainConfig
from ssdzoo.training.recipes import WeightsSource, recipe_note, resolve_recipe, weights_source
from ssdzoo.training.run import _optimizer, build_model, learning_rate, train
from ssdzoo.utils.keras_internals import swap_ema_weights


def test_focal_loss_matches_hand_computed_values():
    y_true = np.zeros((1, 3, 5), "float32")
    y_true[0, 0, 4] = 1.0                                   # anchor 0: class 1; 1 and 2: background
    y_true[0, 0, :4] = [0.5, 0.0, 0.0, 0.0]                 # smooth L1 = 0.5 · 0.5² = 0.125
    y_pred = np.zeros((1, 3, 4 + 2), "float32")
    y_pred[0, 0, 5] = math.log(3.0)                         # p_t = 3/4
    y_pred[0, 1, 4] = math.log(9.0)                         # p_t = 9/10
    y_pred[0, 2, 4] = math.log(99.0)                        # p_t = 99/100
    expected = (0.25 * 0.25 ** 2 * math.log(4 / 3) + 0.75 * 0.1 ** 2 * math.log(10 / 9)
                + 0.75 * 0.01 ** 2 * math.log(100 / 99) + 0.125) / 1.0
    assert float(MultiBoxLoss(conf_loss="focal")(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    gamma0 = (0.25 * math.log(4 / 3) + 0.75 * (math.log(10 / 9) + math.log(100 / 99)) + 0.125)
    assert float(MultiBoxLoss(conf_loss="focal", focal_gamma=0.0)(y_true, y_pred)) == pytest.approx(gamma0, rel=1e-5)
    assert MultiBoxLoss.from_config(MultiBoxLoss(conf_loss="focal").get_config()).conf_loss == "focal"
    with pytest.raises(ValueError, match="conf_loss must be one of mining, focal"):
        MultiBoxLoss(conf_loss="ohem")


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    config = TrainConfig(schedule="cosine", lr=1e-3, warmup_steps=100)
    schedule = learning_rate(config, 500)                    # warm-up 100, cosine over 400
    lr = [float(schedule(s)) for s in (0, 50, 100, 300, 500)]
    np.testing.assert_allclose(lr, [1e-5, 0.505e-3, 1e-3, 0.5e-3, 0.0], atol=1e-9)
    step = [float(learning_rate(TrainConfig(lr=1e-3, warmup_steps=0), 600)(s)) for s in (0, 399, 400, 500)]
    np.testing.assert_allclose(step, [1e-3, 1e-3, 1e-4, 1e-5], rtol=1e-6)


def test_bad_recipe_settings_are_value_errors(tmp_path):
    for key, value, match in [("schedule", "linear", "unknown schedule"), ("loss", "ce", "unknown loss"),
                              ("head_norm", "layer", "unknown head_norm"),
                              ("ema_momentum", 1.0, r"ema_momentum must be in \[0, 1\)"),
                              ("prior_probability", 1.5, r"prior_probability must be in \(0, 1\)")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(backbone="small", data=str(tmp_path), **{key: value}).validate()


def test_head_options_reach_the_built_model():
    config = TrainConfig(backbone="small", weights=None, head_width=0.25, head_norm="group",
                         prior_probability=0.01)
    model, _ = build_model(config, ["a", "b", "c"])
    assert (model.arch.head_norm, model.arch.prior_probability) == ("group", 0.01)


def _weights(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return math.sqrt(sum(float(((x - y) ** 2).sum()) for x, y in zip(a, b, strict=True)))


def test_ema_weights_are_the_evaluated_saved_and_reported_ones(tiny_voc, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(backbone="small", data=str(tiny_voc), weights=None, head_width=0.25,
                         batch_size=2, epochs=2, steps_per_epoch=3, warmup_steps=0, optimizer="adam",
                         lr=1e-3, ema=True, ema_momentum=0.9, cache=False, precise_bn=0, out=str(out))
    keras.utils.set_random_seed(config.seed)  # train() seeds the same way before it builds
    start = _weights(build_model(config, ["Platelets", "RBC", "WBC"])[0])
    results = train(config)

    # mid-run checkpoint: the averages in the model, the raw weights in the optimizer's slots
    first = ssdzoo.load(str(out / "previous.keras"))  # the checkpoint before the last: epoch 1's
    ema = _weights(first)
    swap_ema_weights(first.optimizer)
    raw = _weights(first)
    assert _distance(raw, ema) > 1e-3
    assert _distance(ema, start) < 0.9 * _distance(raw, start)  # the average lags: closer to the start
    # the end of the run: averages in the model (Keras' finalize_variable_values)
    last = ssdzoo.load(str(out / "last.keras"))
    final = _weights(last)
    swap_ema_weights(last.optimizer)
    assert _distance(_weights(last), final) == 0
    # best.keras is the evaluated epoch's averaged model, and the report evaluates it
    state = json.loads((out / "state.json").read_text())
    assert state["ema_in_model"] is True
    best = ssdzoo.load(str(out / "best.keras"))
    assert _distance(_weights(best), ema if state["best_step"] == 3 else final) == 0
    split = lambda name: ssdzoo.data.load(str(tiny_voc), format="voc", split=name)  # noqa: E731
    assert state["best_map"] == ssdzoo.evaluate(best, split("val"), coco=False, verbose=False).map
    assert results["map_voc07"] == ssdzoo.evaluate(best, split("test"), verbose=False).map


def test_auto_settings_take_the_recipe_of_how_the_backbone_starts():
    given = TrainConfig(backbone="small", weights=None, optimizer="sgd")  # optimizer given: kept
    scratch = resolve_recipe(given, from_scratch=True)
    assert (scratch.optimizer, scratch.warmup_steps, scratch.zoom_out, scratch.head_norm, scratch.ema) == (
        "sgd", 50, 1.0, "batch", True)
    pretrained = resolve_recipe(TrainConfig(), from_scratch=False)
    assert (pretrained.optimizer, pretrained.warmup_steps, pretrained.zoom_out, pretrained.head_norm,
            pretrained.ema) == ("sgd", 500, 4.0, "none", False)
    assert recipe_note(given, scratch, "scratch") == (
        "scratch (warmup_steps 50, zoom_out 1.0, head_norm batch, ema True)")
    assert weights_source(given) == WeightsSource(True, "None")
    assert weights_source(TrainConfig(backbone="small")).note == (
        "none: small has no ImageNet weights, trained from scratch")
    with pytest.raises(ValueError, match="optimizer, ema still 'auto'"):
        _optimizer(TrainConfig(warmup_steps=0), 100)
    with pytest.raises(ValueError, match="warmup_steps still 'auto'"):
        learning_rate(TrainConfig(), 100)


def test_auto_is_a_value_of_the_recipe_flags_and_keys():
    parser = argparse.ArgumentParser()
    _add_flags(parser)
    args = parser.parse_args(["--warmup-steps", "auto", "--zoom-out", "2", "--ema", "auto", "--optimizer", "adam"])
    config = config_from_args(args)
    assert (config.warmup_steps, config.zoom_out, config.ema, config.optimizer) == ("auto", 2.0, "auto", "adam")
    config.data = "."
    config.validate()
    assert TrainConfig.from_dict({"warmup_steps": "auto", "ema": False}).ema is False
    for key, value, match in [("warmup_steps", "soon", "warmup_steps must be an integer"),
                              ("ema", "maybe", "ema must be true, false or auto"),
                              ("optimizer", "rmsprop", "unknown optimizer"),
                              ("zoom_out", 0.5, "zoom")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(data=".", **{key: value}).validate()
