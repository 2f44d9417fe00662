"""Heads as registered parts: ``ssd`` and ``lite`` share anchors, lite is a fraction of the
size, saves and loads exactly and trains; user heads; the one architecture config."""

import math
from pathlib import Path

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.data.tfdata import pipeline
from ssdzoo.models import heads
from ssdzoo.models.config import ArchConfig
from ssdzoo.models.heads.base import Head
from ssdzoo.models.profile import layer_flops, summarize
from ssdzoo.training.config import TrainConfig

ROOT = Path(__file__).parents[1]
SMALL = dict(weights=None, head_width=0.25)


def _head_params(model) -> int:
    """Parameters after the backbone and its alignment conv: the head's own."""
    return summarize(model)["head_params"] - model.get_layer("align").count_params()


@pytest.mark.parametrize("input_size, rows", [(300, 8732), (512, 24564)])
def test_both_heads_give_the_same_maps_anchors_and_output_rows(input_size, rows):
    ssd = ssdzoo.build("small", 3, input_size=input_size, **SMALL)
    lite = ssdzoo.build("small", 3, input_size=input_size, head="lite", **SMALL)
    assert (ssd.head_name, lite.head_name) == ("ssd", "lite")
    assert lite.output.shape[1:] == ssd.output.shape[1:] == (rows, 4 + 3 + 1)
    assert lite.feature_map_sizes == ssd.feature_map_sizes
    np.testing.assert_array_equal(lite.anchors, ssd.anchors)
    # the lite head's 3x3 convolutions are depthwise; its predictors end in 1x1 convs
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.kernel_size != (1, 1)
                   for layer in lite.layers if layer.name != "backbone")
    assert lite.get_layer("fc7_mbox_conf").kernel.shape == (1, 1, 256, 6 * 4)
    assert isinstance(lite.get_layer("fc7_mbox_conf_dw"), keras.layers.DepthwiseConv2D)


def test_lite_head_has_about_a_fifth_of_the_ssd_head_parameters():
    ssd = ssdzoo.build("small", 3, **SMALL)
    lite = ssdzoo.build("small", 3, head="lite", **SMALL)
    # measured at head width 0.25, 3 classes, SSD300 (alignment conv excluded)
    assert (_head_params(ssd), _head_params(lite)) == (1_668_176, 304_528)
    assert _head_params(ssd) / _head_params(lite) == pytest.approx(5.48, abs=0.01)
    assert summarize(lite)["head"] == "lite"
    assert summarize(lite)["gflops"] < summarize(ssd)["gflops"]


def test_depthwise_flops_count_one_filter_per_channel():
    inputs = keras.Input((8, 8, 6))
    depthwise = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)
    keras.Model(inputs, depthwise(inputs))
    assert layer_flops(depthwise) == 2 * 4 * 4 * (3 * 3 * 6 * 2)  # 4x4 outputs, 3x3 per channel x2


def test_lite_model_keras_roundtrip_is_exact(tmp_path):
    model = ssdzoo.build("small", 3, head="lite", class_names=["a", "b", "c"], **SMALL)
    rng = np.random.default_rng(0)  # non-trivial batch-norm statistics too (variances > 0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) * 0.1 for w in model.get_weights()])
    path = str(tmp_path / "lite.keras")
    model.save(path)
    loaded = ssdzoo.load(path)
    assert isinstance(loaded, ssdzoo.SSD) and loaded.head_name == "lite"
    assert loaded.get_config() == model.get_config()
    x = rng.uniform(0, 255, (2, 300, 300, 3)).astype("float32")
    assert np.abs(np.asarray(model(x)) - np.asarray(loaded(x))).max() == 0


def test_a_user_registered_head_builds(monkeypatch):
    heads.list_heads()
    monkeypatch.setattr(heads, "_REGISTRY", dict(heads._REGISTRY))  # leave no "tiny_test"

    @heads.register_head("tiny_test")
    class TinyHead(Head):
        """One 3x3 conv per map, strided down: 38, 19, 10, 5, 3, 1."""

        def sources(self, x, input_size):
            out = []
            for i, (stride, padding) in enumerate([(1, "same")] + [(2, "same")] * 3 + [(1, "valid")] * 2):
                x = keras.layers.Conv2D(self.filters(32), 3, strides=stride, padding=padding,
                                        name=f"tiny{i}")(x)
                out.append((f"tiny{i}", x))
            return out

    assert "tiny_test" in heads.list_heads()
    model = ssdzoo.build("small", 2, head="tiny_test", **SMALL)
    assert model.output.shape[1:] == (8732, 7) and model.head_name == "tiny_test"
    assert model.feature_map_sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert model.get_layer("tiny0_mbox_conf").kernel.shape == (3, 3, 8, 4 * 3)  # the default predictor
    with pytest.raises(ValueError, match="already registered"):
        heads.register_head("tiny_test")(TinyHead)


def test_unknown_head_and_bad_options_are_clear_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown head 'nope'; registered: lite, ssd"):
        ssdzoo.build("small", 3, head="nope", weights=None)
    with pytest.raises(ValueError, match="backbone 'small' takes no option 'alpha'"):
        ssdzoo.build("small", 3, alpha=0.5, weights=None)
    config = TrainConfig(backbone="small", data=str(tmp_path), head="nope")
    with pytest.raises(ValueError, match="unknown head 'nope'"):
        config.validate()


def test_arch_config_is_the_one_description_of_the_model():
    model = ssdzoo.build("mobilenet", 2, head="lite", head_width=0.25, alpha=0.25, weights=None)
    arch = model.arch
    assert (arch.backbone, arch.head, arch.cut_layer, arch.backbone_options) == (
        "mobilenet", "lite", "conv_pw_5_relu", {"alpha": 0.25})
    assert model.get_config() == {**arch.to_dict(), "name": "ssd300_mobilenet"}
    assert ArchConfig.from_dict(arch.to_dict()) == arch
    again = ssdzoo.SSD(arch)
    assert again.count_params() == model.count_params() and again.arch == arch
    # keys missing from an old config take today's defaults
    old = {k: v for k, v in arch.to_dict().items() if k not in ("head", "box_coder")}
    assert ArchConfig.from_dict(old).head == "ssd"
    assert ArchConfig.from_dict(old).box_coder.get_config() == {
        "variances": [0.1, 0.2], "clip_log_size": math.log(1000 / 16)}


@pytest.mark.slow  # ~60 s; the lite head's build, config and export are in the default suite
def test_twenty_lite_steps_on_bccd_lower_the_loss():
    with pytest.warns(ssdzoo.data.DataWarning):  # BCCD keeps a zero-area box on purpose
        train = ssdzoo.data.load(ROOT / "data" / "BCCD", format="voc", split="train")
    keras.utils.set_random_seed(0)
    model = ssdzoo.build("mobilenet", 3, head="lite", alpha=0.25, class_names=train.class_names, **SMALL)
    data = pipeline(train.records[:8], model, batch_size=4, augment=False, repeat=True, cache=True, seed=0)
    # SGD: Adam's update graph over this model's 176 variables takes ~18 s more to trace on 2 CPUs
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), loss=ssdzoo.MultiBoxLoss())
    # 10 "epochs" of 2 steps: each History entry is the mean loss of 2 consecutive steps
    losses = model.fit(data, epochs=10, steps_per_epoch=2, verbose=0, shuffle=False).history["loss"]
    assert int(model.optimizer.iterations.numpy()) == 20
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < 0.6 * losses[0], losses
