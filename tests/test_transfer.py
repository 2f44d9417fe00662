"""transfer_weights: class count change, class maps, other backbones, file sources, bad input."""

import h5py
import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.models import registry
from ssdzoo.models.transfer import _apply, _h5_names, transfer_weights

SRC_CLASSES = ["RBC", "WBC", "Platelets", "debris"]
DST_CLASSES = ["WBC", "red cell", "other"]


def _small(num_classes, class_names=None, **options):
    return ssdzoo.build("small", num_classes, weights=None, head_width=0.25,
                        class_names=class_names, **options)


def _units(model):
    """(name, layer) per layer with weights, backbone layers as backbone/<name>."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from ((f"{layer.name}/{s.name}", s) for s in layer.layers if s.weights)
        elif layer.weights:
            yield layer.name, layer


def _values(model):
    return {name: [w.numpy().copy() for w in layer.weights] for name, layer in _units(model)}


def _assert_equal(a, b, name):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)


def _assert_unchanged(model, before):
    for name, values in _values(model).items():
        _assert_equal(values, before[name], name)


@pytest.fixture(scope="module")
def src20():
    return _small(20)


def test_20_to_3_classes_copies_every_layer_but_the_class_heads(src20):
    dst = _small(3)
    before, source = _values(dst), _values(src20)
    report = transfer_weights(src20, dst)
    after = _values(dst)
    assert len(after) == 42
    for name, values in after.items():
        if name.endswith("_mbox_conf"):
            assert report.layers[name]["status"] == "skipped"
            assert "shape" in report.layers[name]["reason"]
            _assert_equal(values, before[name], name)
        else:
            assert report.layers[name] == {"status": "copied"}
            _assert_equal(values, source[name], name)
    assert "skipped" in str(report) and "copied 36, partially copied 0, skipped 6" in str(report)


def _head_channels(model, name, class_index):
    """Kernel and bias channels of class ``class_index`` (0 = background) for every box."""
    n = model.num_classes + 1
    kernel, bias = (w.numpy() for w in model.get_layer(name).weights)
    boxes = bias.shape[0] // n
    channels = [b * n + class_index for b in range(boxes)]
    return kernel[..., channels], bias[channels]


def test_class_names_and_class_map_keep_shared_rows_bit_identical():
    src = _small(4, SRC_CLASSES)
    dst = _small(3, DST_CLASSES)
    heads = [layer.name for layer in dst.layers if layer.name.endswith("_mbox_conf")]
    fresh = {h: _head_channels(dst, h, 3) for h in heads}
    report = transfer_weights(src, dst, class_map={"RBC": "red cell"})
    # dst class (1-based) <- src class: background, WBC <- WBC, red cell <- RBC; "other" stays.
    for head in heads:
        assert report.layers[head] == {"status": "partial",
                                       "classes": ["background", "WBC", "red cell"]}
        for d, s in [(0, 0), (1, 2), (2, 1)]:
            for a, b in zip(_head_channels(dst, head, d), _head_channels(src, head, s)):
                np.testing.assert_array_equal(a, b)
        for a, b in zip(_head_channels(dst, head, 3), fresh[head]):
            np.testing.assert_array_equal(a, b)
    assert "background, WBC, red cell" in str(report)


def test_src_class_names_replace_placeholders_and_same_label_map_is_a_full_copy():
    src = _small(3)  # class_0, class_1, class_2: unknown names
    dst = _small(3, ["a", "b", "c"])
    report = transfer_weights(src, dst, src_class_names=["c", "b", "a"])
    head = "fc7_mbox_conf"
    assert report.layers[head] == {"status": "copied"}  # every class found, reordered
    for d, s in [(0, 0), (1, 3), (3, 1)]:
        for a, b in zip(_head_channels(dst, head, d), _head_channels(src, head, s)):
            np.testing.assert_array_equal(a, b)


def test_other_backbone_copies_the_shared_head_and_skips_the_backbone():
    src = _small(3, width=16)  # 64 channels at the cut, as MobileNet alpha=0.25
    dst = ssdzoo.build("mobilenet", 3, weights=None, head_width=0.25, alpha=0.25)
    before, source = _values(dst), _values(src)
    report = transfer_weights(src, dst)
    for name, values in _values(dst).items():
        if name.startswith("backbone/"):
            assert report.layers[name] == {"status": "skipped",
                                           "reason": "backbone differs (small vs mobilenet)"}
            _assert_equal(values, before[name], name)
        else:
            assert report.layers[name]["status"] == "copied", name
            _assert_equal(values, source[name], name)
    assert {"conv4_1", "conv11_2", "fc7_mbox_loc", "align"} <= set(report.names("copied"))


def _save_legacy_weights(model, path):
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, model)


@pytest.mark.parametrize("fmt", ["legacy_weights_h5", "legacy_model_h5", "weights_h5", "keras"])
def test_file_sources_give_the_same_result_as_the_model(tmp_path, fmt):
    src = _small(4, SRC_CLASSES)
    path = str(tmp_path / {"legacy_weights_h5": "w.h5", "legacy_model_h5": "m.h5",
                           "weights_h5": "w.weights.h5", "keras": "m.keras"}[fmt])
    {"legacy_weights_h5": lambda: _save_legacy_weights(src, path),
     "legacy_model_h5": lambda: src.save(path),
     "weights_h5": lambda: src.save_weights(path),
     "keras": lambda: src.save(path)}[fmt]()
    names = None if fmt in ("legacy_model_h5", "keras") else SRC_CLASSES  # files without names
    expected, dst = _small(3, DST_CLASSES), _small(3, DST_CLASSES)
    dst.set_weights(expected.get_weights())
    ref = transfer_weights(src, expected, class_map={"RBC": "red cell"})
    report = transfer_weights(path, dst, class_map={"RBC": "red cell"}, src_class_names=names)
    assert report.layers == ref.layers
    _assert_unchanged(dst, _values(expected))


def test_auto_numbered_backbone_layers_match_by_position(tmp_path, monkeypatch):
    registry.list_backbones()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @ssdzoo.register_backbone("unnamed", cut_layer="cut", preprocessing="tf", pretrained=False)
    def unnamed(input_shape, weights):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same")(x)
        return keras.Model(inputs, keras.layers.MaxPooling2D(2, name="cut")(x))

    src = ssdzoo.build("unnamed", 2, weights=None, head_width=0.125)
    path = str(tmp_path / "w.h5")
    _save_legacy_weights(src, path)
    keras.layers.Conv2D(4, 1).build((None, 8, 8, 3))  # shift Keras' automatic numbering
    dst = ssdzoo.build("unnamed", 2, weights=None, head_width=0.125)
    names = [layer.name for layer in dst.get_layer("backbone").layers if layer.weights]
    assert names == ["conv2d", "batch_normalization", "conv2d_1"]  # canonical names
    assert dst.get_layer("backbone").weights[0].path != src.get_layer("backbone").weights[0].path
    for source in (src, path):
        report = transfer_weights(source, dst)
        assert not report.names("skipped")
        _assert_unchanged(dst, _values(src))


def _bad_input_cases(tmp_path, src20):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    fake_zip = tmp_path / "model.keras"
    fake_zip.write_text("not a zip")
    truncated = tmp_path / "cut.h5"
    _save_legacy_weights(src20, str(truncated))
    truncated.write_bytes(truncated.read_bytes()[:5000])
    weights20 = str(tmp_path / "w20.weights.h5")
    src20.save_weights(weights20)
    other = str(tmp_path / "mobilenet.weights.h5")
    ssdzoo.build("mobilenet", 3, weights=None, head_width=0.25, alpha=0.25).save_weights(other)
    ssd512 = ssdzoo.build("small", 3, weights=None, head_width=0.25, input_size=512)
    legacy512 = str(tmp_path / "w512.h5")
    _save_legacy_weights(ssd512, legacy512)
    plain = str(tmp_path / "table.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    return [
        (str(tmp_path / "missing.h5"), {}, FileNotFoundError, "does not exist"),
        (str(text), {}, ValueError, "not a readable HDF5"),
        (str(truncated), {}, ValueError, "not a readable HDF5"),
        (str(fake_zip), {}, ValueError, "not a zip"),
        (weights20, {}, ValueError, "does not fit the source architecture.*src_class_names"),
        (other, {"src_class_names": DST_CLASSES}, ValueError, "does not fit the source architecture"),
        (ssd512, {}, ValueError, "SSD512, the destination an SSD300"),
        (legacy512, {}, ValueError, "class heads.*conv12_2_mbox_conf"),
        (plain, {}, ValueError, "HDF5 but not a Keras weights file"),
        (src20, {"class_map": {"RBC": "WBC"}}, ValueError, "class names on both sides"),
    ]


def test_bad_inputs_raise_clear_errors_and_leave_dst_unchanged(tmp_path, src20):
    dst = _small(3, DST_CLASSES)
    before = _values(dst)
    for src, kwargs, error, match in _bad_input_cases(tmp_path, src20):
        with pytest.raises(error, match=match):
            transfer_weights(src, dst, **kwargs)
        _assert_unchanged(dst, before)
    named = _small(4, SRC_CLASSES)
    for class_map, match in [({"rbc": "WBC"}, "keys .*'rbc'"), ({"RBC": "wbc"}, "values .*'wbc'"),
                             ({"RBC": "WBC"}, "'RBC' and 'WBC' both map to 'WBC'")]:
        with pytest.raises(ValueError, match=match):
            transfer_weights(named, dst, class_map=class_map)
        _assert_unchanged(dst, before)
    with pytest.raises(ValueError, match="expected a .keras"):
        (tmp_path / "x.pt").write_text("")
        transfer_weights(str(tmp_path / "x.pt"), dst)
    with pytest.raises(ValueError, match="nothing to transfer"):
        transfer_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), dst)
    _assert_unchanged(dst, before)


def test_legacy_h5_name_lists_split_by_keras_are_joined(tmp_path):
    with h5py.File(tmp_path / "names.h5", "w") as f:
        f.attrs["layer_names"] = [b"conv1", b"conv2"]
        f.attrs["weight_names0"] = [b"conv1/kernel:0"]  # Keras' chunks of a list over 64 kB
        f.attrs["weight_names1"] = [b"conv1/bias:0", b"conv2/kernel:0"]
        assert _h5_names(f, "layer_names") == ["conv1", "conv2"]
        assert _h5_names(f, "weight_names") == ["conv1/kernel:0", "conv1/bias:0", "conv2/kernel:0"]
        assert _h5_names(f, "other") is None


def test_a_failure_while_assigning_restores_what_was_assigned():
    a, b, c = (keras.Variable(np.full(3, v, "float32")) for v in (1.0, 2.0, 3.0))
    with pytest.raises(ValueError):
        _apply([(a, np.zeros(3, "float32")), (b, np.zeros(3, "float32")),
                (c, np.zeros(5, "float32"))])
    for v, expected in [(a, 1.0), (b, 2.0), (c, 3.0)]:
        np.testing.assert_array_equal(v.numpy(), np.full(3, expected))
