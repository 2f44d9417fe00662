"""Head options of the from-scratch recipe (docs/LEARNING.md): ``head_norm`` and
``prior_probability`` in ``ArchConfig``, their initial outputs and their ``.keras`` round trip."""

import math

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.models.config import ArchConfig
from ssdzoo.models.heads.base import prior_bias

SMALL = dict(weights=None, head_width=0.25)


def _random_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (2, 300, 300, 3)).astype("float32")


def test_prior_bias_is_the_softmax_form_of_retinanet_prior():
    assert prior_bias(3, 0.01) == pytest.approx(math.log(97))  # e^b = (1 - 3·0.01) / 0.01
    assert prior_bias(1, 0.25) == pytest.approx(math.log(3)) and prior_bias(1, 0.5) == 0.0
    for bad in (0.0, 1 / 3, 0.5, -0.1):
        with pytest.raises(ValueError, match="prior_probability must be in"):
            prior_bias(3, bad)


@pytest.mark.parametrize("head, norm", [("ssd", "none"), ("ssd", "batch"), ("ssd", "group"), ("lite", "none")])
def test_initial_class_probabilities_and_boxes_are_the_intended_ones(head, norm):
    model = ssdzoo.build("small", 3, head=head, head_norm=norm, prior_probability=0.01, **SMALL)
    out = np.asarray(model(_random_input(), training=False))
    prob = np.asarray(keras.ops.softmax(out[..., 4:], axis=-1))
    np.testing.assert_allclose(prob[..., 1:], 0.01, atol=1e-6)      # each foreground class: π
    np.testing.assert_allclose(prob[..., 0], 0.97, atol=1e-6)       # background: 1 - C·π
    assert np.abs(out[..., :4]).max() == 0                           # offsets 0: boxes = anchors


def test_default_init_is_not_the_prior():
    out = np.asarray(ssdzoo.build("small", 3, **SMALL)(_random_input()))
    prob = np.asarray(keras.ops.softmax(out[..., 4:], axis=-1))
    assert abs(prob[..., 0].mean() - 0.97) > 0.1 and np.abs(out[..., :4]).max() > 0


def test_bad_head_options_are_value_errors():
    with pytest.raises(ValueError, match="head_norm must be one of none, batch, group"):
        ssdzoo.build("small", 3, head_norm="layer", **SMALL)
    with pytest.raises(ValueError, match=r"prior_probability must be in \(0, 1/num_classes\)"):
        ssdzoo.build("small", 3, prior_probability=0.4, **SMALL)


@pytest.mark.parametrize("head, norm, layer", [("ssd", "batch", "conv8_1_bn"), ("ssd", "group", "conv8_1_gn"),
                                               ("lite", "group", "conv8_1_gn")])
def test_normalised_head_roundtrips_exactly_through_keras_files(tmp_path, head, norm, layer):
    model = ssdzoo.build("small", 3, head=head, head_norm=norm, prior_probability=0.02, **SMALL)
    assert model.get_layer(layer) is not None
    rng = np.random.default_rng(0)  # non-trivial norm statistics (variances > 0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) * 0.1 for w in model.get_weights()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = ssdzoo.load(path)
    assert (loaded.arch.head_norm, loaded.arch.prior_probability) == (norm, 0.02)
    assert loaded.get_config() == model.get_config()
    x = _random_input(1)
    assert np.abs(np.asarray(model(x)) - np.asarray(loaded(x))).max() == 0


def test_configs_without_the_new_keys_build_todays_head():
    arch = ArchConfig.from_dict({"backbone": "small", "num_classes": 3})
    assert (arch.head_norm, arch.prior_probability) == ("none", None)
    model = ssdzoo.SSD(arch.updated(head_width=0.25))
    names = {layer.name for layer in model.layers}
    assert "conv8_1" in names and not any(n.endswith(("_bn", "_gn")) for n in names)
