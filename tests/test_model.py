"""Core model: registry, alignment, head, anchors wiring, weights, save/load, freeze, FLOPs,
learning-rate schedule."""

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.models import registry
from ssdzoo.models.backbone import WeightsUnavailableError, alignment

BACKBONES = ["inceptionv3", "mobilenet", "resnet50", "small", "vgg16", "vgg19"]


def test_registry_lists_the_six_backbones():
    assert ssdzoo.list_backbones() == BACKBONES


@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_builds_with_8732_outputs_and_38x38_aligned_map(name):
    model = ssdzoo.build(name, num_classes=3, weights=None)
    images = np.random.default_rng(0).uniform(0, 255, (2, 300, 300, 3)).astype("float32")
    assert model(images).shape == (2, 8732, 4 + 3 + 1)
    # The map entering the head (conv4_1's input) is measured on a real forward pass.
    aligned = keras.Model(model.input, model.get_layer("conv4_1").input)(images[:1])
    assert tuple(aligned.shape[1:3]) == (38, 38)
    assert model.anchors.shape == (8732, 4) and model.anchors.dtype == np.float32
    assert model.feature_map_sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


def test_alignment_kernels():
    assert alignment(37, 38) == (2, 1)
    assert alignment(35, 38) == (4, 1)
    assert alignment(38, 38) == (0, 0)
    assert alignment(19, 38) == (2, 2)
    assert alignment(10, 38) is None
    model = ssdzoo.build("inceptionv3", 3, weights=None)
    assert model.get_layer("align").kernel_size == (4, 4)
    assert model.get_layer("backbone").output.shape[1:3] == (35, 35)


def test_ssd512_has_64x64_first_map_and_24564_anchors():
    model = ssdzoo.build("vgg16", num_classes=2, input_size=512, weights=None, head_width=0.25)
    assert model.feature_map_sizes[0] == (64, 64) and len(model.feature_map_sizes) == 7
    assert model.output.shape[1:] == (24564, 7) and len(model.anchors) == 24564


def test_backbone_weights_file_roundtrip_is_bit_identical(tmp_path):
    src = ssdzoo.build("small", 3, weights=None)
    path = str(tmp_path / "small_backbone.weights.h5")
    ssdzoo.save_backbone_weights(src, path)
    dst = ssdzoo.build("small", 3, weights=path)
    for a, b in zip(src.get_layer("backbone").weights, dst.get_layer("backbone").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_full_network_weights_file_loads_before_the_cut(tmp_path):
    full = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(300, 300, 3))
    path = str(tmp_path / "mobilenet_full.weights.h5")
    full.save_weights(path)
    model = ssdzoo.build("mobilenet", 3, weights=path)
    for name in ("conv1", "conv_pw_5"):
        np.testing.assert_array_equal(
            model.get_layer("backbone").get_layer(name).get_weights()[0],
            full.get_layer(name).get_weights()[0],
        )


def test_keras_save_load_gives_identical_predictions(tmp_path):
    # Build an unrelated InceptionV3 first so auto-numbered layer names differ across builds.
    keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(150, 150, 3))
    model = ssdzoo.build("inceptionv3", 3, weights=None, class_names=["a", "b", "c"])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = ssdzoo.load(path)
    assert isinstance(loaded, ssdzoo.SSD) and loaded.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.anchors, model.anchors)
    x = np.random.default_rng(1).uniform(0, 255, (2, 300, 300, 3)).astype("float32")
    assert np.abs(model.predict(x, verbose=0) - loaded.predict(x, verbose=0)).max() < 1e-6
    assert isinstance(keras.models.load_model(path), ssdzoo.SSD)


def _fit_one_step(model):
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=ssdzoo.MultiBoxLoss())
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 300, 300, 3)).astype("float32")
    boxes = np.array([[[0.1, 0.1, 0.4, 0.5]], [[0.5, 0.2, 0.9, 0.7]]], "float32")
    y = ssdzoo.encode_targets(boxes, np.array([[0], [1]]), model.anchors)
    model.fit(x, np.asarray(y), batch_size=2, epochs=1, verbose=0)


def _snapshot(layer):
    return [w.numpy().copy() for w in layer.weights]


def _changed(before, layer):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, layer.weights))


def test_freeze_keeps_backbone_and_batchnorm_stats_fixed_and_unfreeze_reverses():
    model = ssdzoo.build("small", 2, weights=None, head_width=0.25)
    backbone = model.get_layer("backbone")
    n_backbone = len(backbone.trainable_weights)
    n_all = len(model.trainable_weights)
    assert n_backbone == 18  # 6 conv kernels (no bias) + 6 BN x (gamma, beta)

    ssdzoo.freeze(model)
    assert len(model.trainable_weights) == n_all - n_backbone
    before_bb, before_head = _snapshot(backbone), _snapshot(model.get_layer("conv4_1"))
    _fit_one_step(model)
    assert not _changed(before_bb, backbone)          # includes BN moving mean/variance
    assert _changed(before_head, model.get_layer("conv4_1"))

    ssdzoo.unfreeze(model)
    assert len(model.trainable_weights) == n_all
    before_bb = _snapshot(backbone)
    _fit_one_step(model)
    assert _changed(before_bb, backbone)


def test_partial_freeze_and_unfreeze_from_a_named_layer():
    model = ssdzoo.build("small", 2, weights=None, head_width=0.25)
    backbone = model.get_layer("backbone")
    ssdzoo.freeze(model, up_to="block2_conv2_relu")
    assert not backbone.get_layer("block2_conv2").trainable
    assert backbone.get_layer("block3_conv1").trainable
    ssdzoo.freeze(model)
    ssdzoo.unfreeze(model, from_layer="block3_conv1", train_batchnorm=False)
    assert backbone.get_layer("block3_conv1").trainable
    assert not backbone.get_layer("block3_conv1_bn").trainable
    assert not backbone.get_layer("block1_conv1").trainable
    with pytest.raises(ValueError, match="no layer 'nope'"):
        ssdzoo.unfreeze(model, from_layer="nope")


def test_bad_input_gives_clear_value_errors():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9000'.*vgg16"):
        ssdzoo.build("resnet9000", 3, weights=None)
    with pytest.raises(ValueError, match=r"no layer 'mixed99'(.|\n)*mixed2 35x35x288"):
        ssdzoo.build("inceptionv3", 3, weights=None, cut_layer="mixed99")
    with pytest.raises(ValueError, match="num_classes"):
        ssdzoo.build("small", 0, weights=None)
    with pytest.raises(ValueError, match="too small for backbone 'inceptionv3'.*75"):
        ssdzoo.build("inceptionv3", 3, weights=None, input_size=64)
    with pytest.raises(ValueError, match="input_size must be one of"):
        ssdzoo.build("small", 3, weights=None, input_size=416)
    with pytest.raises(ValueError, match=r"gives a 9x9 map(.|\n)*block3_pool 37x37"):
        ssdzoo.build("vgg16", 3, weights=None, cut_layer="block5_pool")
    with pytest.raises(ValueError, match="no ImageNet weights"):
        ssdzoo.build("small", 3, weights="imagenet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ssdzoo.build("small", 3, weights="/no/such/file.weights.h5")


def test_user_registered_backbone_and_offline_imagenet_error(monkeypatch):
    registry.list_backbones()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # leave no "tiny_test"

    @ssdzoo.register_backbone("tiny_test", cut_layer="pool", preprocessing="tf")
    def tiny(input_shape, weights):
        if weights == "imagenet":
            raise Exception("URL fetch failure: Name or service not known")
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same")(x)
        return keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(x))

    assert "tiny_test" in ssdzoo.list_backbones()
    model = ssdzoo.build("tiny_test", 1, weights=None, head_width=0.125)
    assert model.output.shape[1:] == (8732, 6)
    assert model.get_layer("align").strides == (1, 1)  # 37 -> 38
    with pytest.raises(WeightsUnavailableError, match="weights=None"):
        ssdzoo.build("tiny_test", 1)


def test_layer_flops_and_summary_count_known_values():
    from ssdzoo.models.profile import layer_flops, summarize

    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    dense = keras.layers.Dense(5)
    keras.Model(inputs, dense(conv(inputs)))
    assert layer_flops(conv) == 2 * 4 * 4 * (3 * 3 * 3 * 4)  # 4x4 outputs, 3x3x3 -> 4
    assert layer_flops(dense) == 2 * 4 * 4 * 4 * 5  # applied at each of the 4x4 positions
    assert layer_flops(keras.layers.ReLU()) == 0
    model = ssdzoo.build("small", 2, weights=None, head_width=0.25)
    s = summarize(model)
    assert (s["backbone"], s["cut_layer"], s["cut_map"], s["align"]) == (
        "small", "block3_pool", "37x37x128", "2x2 s1")
    assert s["backbone_params"] + s["head_params"] == model.count_params()
    assert s["anchors"] == 8732


def test_warmup_step_decay_values_and_config_roundtrip():
    from ssdzoo.core.schedules import WarmupStepDecay

    schedule = WarmupStepDecay(0.1, [10, 20], factor=0.5, warmup_steps=4, warmup_start=0.2)
    rates = [float(schedule(step)) for step in (0, 2, 4, 9, 10, 25)]
    np.testing.assert_allclose(rates, [0.02, 0.06, 0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    np.testing.assert_allclose(float(WarmupStepDecay(0.1, [])(50)), 0.1, rtol=1e-6)
    again = WarmupStepDecay.from_config(schedule.get_config())
    assert [float(again(step)) for step in (0, 2, 4, 9, 10, 25)] == rates
