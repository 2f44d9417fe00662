"""ImageNet files in the Keras cache (expected names, hashes, checks, offline load, CLI) and
shipped weight sets (manifest, sha256, architecture checks)."""

import argparse
import hashlib
import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.cli.weights import add_parser
from ssdzoo.models.backbone import WeightsUnavailableError
from ssdzoo.models.weights import check_imagenet_file, expected_imagenet_file, is_weight_set_name, weight_sets
from ssdzoo.training.config import TrainConfig
from ssdzoo.training.recipes import WeightsSource, weights_source
from ssdzoo.training.run import build_model

VGG16_NOTOP = ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")
MOBILENET_025 = "mobilenet_2_5_224_tf_no_top.h5"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A temporary KERAS_HOME. Keras itself reads KERAS_HOME once, at import: point its
    import-time value there too, so keras.applications looks in the same cache."""
    from keras.src.backend import config

    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    assert config.keras_home() != str(home)  # the environment variable alone is not seen
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home


def _legacy_h5(model, path):
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, model)


@pytest.fixture
def fake_mobilenet(keras_home):
    """A random-weight MobileNet alpha=0.25 file where keras.applications expects the ImageNet
    one (the file name says 224: MobileNet loads the 224 px weights for other input sizes)."""
    full = keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25,
                                        input_shape=(224, 224, 3))
    path = keras_home / "models" / MOBILENET_025
    _legacy_h5(full, str(path))
    return full, path


def test_expected_files_and_hashes_are_those_keras_applications_declares(keras_home):
    models = str(keras_home / "models")
    assert expected_imagenet_file("vgg16") == (os.path.join(models, VGG16_NOTOP[0]), VGG16_NOTOP[1])
    assert expected_imagenet_file("resnet50") == (
        os.path.join(models, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        "4d473c1dd8becc155b73f8504c6f6626")
    assert expected_imagenet_file("mobilenet") == (
        os.path.join(models, "mobilenet_1_0_224_tf_no_top.h5"), None)  # keras declares no hash
    assert expected_imagenet_file("mobilenet", alpha=0.25)[0] == os.path.join(models, MOBILENET_025)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        expected_imagenet_file("small")


def test_check_rejects_missing_truncated_foreign_and_wrong_hash_files(keras_home, fake_mobilenet):
    path = keras_home / "models" / VGG16_NOTOP[0]
    with pytest.raises(WeightsUnavailableError, match="missing.*storage.googleapis.com"):
        check_imagenet_file("vgg16")
    shutil.copy(fake_mobilenet[1], path)  # a Keras weights file, but not VGG16's
    wrong_md5 = f"md5 [0-9a-f]{{32}}, keras.applications expects {VGG16_NOTOP[1]}"
    with pytest.raises(WeightsUnavailableError, match=wrong_md5):
        check_imagenet_file("vgg16")
    path.write_bytes(fake_mobilenet[1].read_bytes()[:100_000])
    with pytest.raises(WeightsUnavailableError, match="not a readable HDF5 file, probably truncated"):
        check_imagenet_file("vgg16")
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(WeightsUnavailableError, match="holds no Keras weights"):
        check_imagenet_file("vgg16")
    assert check_imagenet_file("mobilenet", alpha=0.25) == str(fake_mobilenet[1])


def test_imagenet_weights_load_offline_from_the_cache(keras_home, fake_mobilenet, monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    full, path = fake_mobilenet
    expected = full.get_layer("conv_pw_5").get_weights()[0]
    for weights in ("imagenet", check_imagenet_file("mobilenet", alpha=0.25)):
        model = ssdzoo.build("mobilenet", 2, weights=weights, alpha=0.25, head_width=0.25)
        got = model.get_layer("backbone").get_layer("conv_pw_5").get_weights()[0]
        np.testing.assert_array_equal(got, expected)
    # VGG16 declares an md5: keras rejects a wrong cached file and tries to download it again.
    shutil.copy(path, keras_home / "models" / VGG16_NOTOP[0])
    with pytest.raises(WeightsUnavailableError, match="tried to download"):
        ssdzoo.build("vgg16", 2, head_width=0.25)


def test_a_run_takes_the_scratch_recipe_offline_and_the_pretrained_one_with_the_file(keras_home, monkeypatch,
                                                                                     capsys):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise OSError("no internet")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    config = TrainConfig(backbone="mobilenet", backbone_options={"alpha": 0.25}, head_width=0.25)
    source = weights_source(config)
    assert source.recipe == "scratch" and source.note.startswith("ImageNet weights unavailable, trained from")
    assert "FROM SCRATCH" in capsys.readouterr().out
    model, note = build_model(config, ["a", "b"], source=source)
    assert (note, model.arch.head_norm) == (source.note, "batch")  # the scratch recipe's head

    full = keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25, input_shape=(224, 224, 3))
    _legacy_h5(full, str(keras_home / "models" / MOBILENET_025))
    assert weights_source(config) == WeightsSource(False, "imagenet")  # the cached file, no download
    model, note = build_model(config, ["a", "b"])
    assert (note, model.arch.head_norm) == ("imagenet", "none")
    np.testing.assert_array_equal(model.get_layer("backbone").get_layer("conv_pw_5").get_weights()[0],
                                  full.get_layer("conv_pw_5").get_weights()[0])
    with open(keras_home / "models" / MOBILENET_025, "r+b") as f:  # damaged: MobileNet declares no hash
        f.truncate(1000)
    assert weights_source(config).recipe == "scratch"


def test_build_imagenet_or_scratch_falls_back_offline_and_says_so(keras_home, monkeypatch, capsys):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise OSError("no internet")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    options = dict(alpha=0.25, head_width=0.25)
    model, note = ssdzoo.build_imagenet_or_scratch("mobilenet", 2, **options)
    assert note.startswith("ImageNet weights unavailable, trained from scratch (could not load")
    assert "FROM SCRATCH" in capsys.readouterr().out
    assert model.num_classes == 2 and model.backbone_options == {"alpha": 0.25}

    model, note = ssdzoo.build_imagenet_or_scratch("small", 2, head_width=0.25)
    assert note == "none: small has no ImageNet weights, trained from scratch"

    # once the file is in the cache, the same call loads it
    full = keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25,
                                        input_shape=(224, 224, 3))
    _legacy_h5(full, str(keras_home / "models" / MOBILENET_025))
    model, note = ssdzoo.build_imagenet_or_scratch("mobilenet", 2, **options)
    assert note == "imagenet"
    np.testing.assert_array_equal(model.get_layer("backbone").get_layer("conv_pw_5").get_weights()[0],
                                  full.get_layer("conv_pw_5").get_weights()[0])


def test_cli_weights_path_lists_file_hash_and_state(keras_home, fake_mobilenet, capsys,
                                                     monkeypatch):
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", "/elsewhere")  # as if KERAS_HOME changed after import
    parser = argparse.ArgumentParser(prog="ssdzoo")
    add_parser(parser.add_subparsers(dest="command"))
    (keras_home / "models" / "mobilenet_1_0_224_tf_no_top.h5").write_bytes(b"\x89HDF\r\n")
    args = parser.parse_args(["weights", "path", "vgg16", "mobilenet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"| vgg16 | {keras_home}/models/{VGG16_NOTOP[0]} | md5 {VGG16_NOTOP[1]} | missing |" in out
    assert "| mobilenet |" in out and "none declared | INVALID: not a readable HDF5" in out
    assert "keras in this process reads /elsewhere/models" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["weights", "download"])


# ---------------------------------------------------------------------------------------------
# Weight sets

TOY_CLASSES = ["RBC", "WBC", "Platelets"]


@pytest.fixture
def toy_set(tmp_path, monkeypatch):
    """A weight set "toy" in a temporary manifest (SSDZOO_WEIGHTS_MANIFEST)."""
    model = ssdzoo.build("small", 3, weights=None, head_width=0.25, class_names=TOY_CLASSES)
    model.save_weights(str(tmp_path / "toy.weights.h5"))
    digest = hashlib.sha256((tmp_path / "toy.weights.h5").read_bytes()).hexdigest()
    entry = {"name": "toy", "backbone": "small", "dataset": "random", "classes": TOY_CLASSES,
             "input_size": 300, "head_width": 0.25, "file": "toy.weights.h5", "sha256": digest,
             "map": {"value": 0.0, "metric": "none (test)"}, "command": "pytest"}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"weight_sets": [entry]}))
    monkeypatch.setenv("SSDZOO_WEIGHTS_MANIFEST", str(manifest))
    return model, tmp_path / "toy.weights.h5"


def test_build_with_a_weight_set_loads_the_verified_file(toy_set):
    source, _ = toy_set
    model = ssdzoo.build("small", 3, weights="toy", head_width=0.25)
    assert model.class_names == TOY_CLASSES
    for a, b in zip(model.weights, source.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weight_set_errors(toy_set, tmp_path):
    _, path = toy_set
    with pytest.raises(ValueError, match=r"num_classes=2 \(the set has 3\).*"
                                         r"ssdzoo.build\('small', 3, weights='toy', head_width=0.25\).*"
                                         r"transfer_weights"):
        ssdzoo.build("small", 2, weights="toy", head_width=0.25)
    with pytest.raises(ValueError, match="backbone='vgg16' \\(the set has 'small'\\)"):
        ssdzoo.build("vgg16", 3, weights="toy", head_width=0.25)
    with pytest.raises(ValueError, match="class_names"):
        ssdzoo.build("small", 3, weights="toy", head_width=0.25, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="no weight set 'nope'.*available: toy"):
        ssdzoo.build("small", 3, weights="nope")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailableError, match="sha256 .* the manifest says"):
        ssdzoo.build("small", 3, weights="toy", head_width=0.25)
    path.unlink()
    with pytest.raises(WeightsUnavailableError, match="toy.weights.h5 is missing"):
        ssdzoo.build("small", 3, weights="toy", head_width=0.25)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"weight_sets": [{"name": "x", "backbone": "small"}]}))
    with pytest.raises(ValueError, match="weight set 'x' lacks dataset, classes"):
        weight_sets(str(bad))


def test_shipped_manifest_is_valid_and_names_are_recognised(monkeypatch):
    monkeypatch.delenv("SSDZOO_WEIGHTS_MANIFEST", raising=False)
    assert "bccd" in weight_sets()
    with pytest.raises(ValueError, match="no weight set 'voc'"):
        ssdzoo.build("small", 3, weights="voc")
    with pytest.raises(ValueError, match="does not fit the requested model.*transfer_weights"):
        ssdzoo.build("small", 5, weights="bccd", head_width=0.25)
    assert is_weight_set_name("bccd")
    for not_a_name in ("imagenet", None, "x.weights.h5", os.path.join("dir", "file")):
        assert not is_weight_set_name(not_a_name)
