"""A ``.keras`` file saved by ssdzoo 0.1.0 (tests/fixtures/make_legacy_model.py) still loads,
compiled, and gives its stored outputs: with ``ssdzoo.load`` and with a plain
``keras.saving.load_model`` after ``import ssdzoo``. Its config predates the head registry and
the box coder (no ``head``/``box_coder`` keys) and names the module ``ssdzoo.model``, which no
longer exists; Keras finds the class by its registered name ``ssdzoo>SSD``."""

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ssdzoo

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = FIXTURES / "legacy_v0_1_mobilenet.keras"


@pytest.fixture(scope="module")
def stored():
    data = np.load(FIXTURES / "legacy_v0_1_mobilenet_outputs.npz")
    return data["images"].astype("float32"), data["outputs"]


def test_fixture_is_an_old_config_without_head_or_box_coder():
    with zipfile.ZipFile(LEGACY) as archive:
        saved = json.loads(archive.read("config.json"))
    assert saved["module"] == "ssdzoo.model" and saved["registered_name"] == "ssdzoo>SSD"
    assert "head" not in saved["config"] and "box_coder" not in saved["config"]


def test_ssdzoo_load_gives_the_stored_outputs_and_the_compiled_state(stored):
    images, outputs = stored
    model = ssdzoo.load(str(LEGACY))
    assert isinstance(model, ssdzoo.SSD)
    assert np.abs(np.asarray(model(images, training=False)) - outputs).max() <= 1e-6
    # missing keys take today's defaults
    assert model.head_name == "ssd"
    assert model.box_coder.get_config() == {"variances": [0.1, 0.2], "clip_log_size": math.log(1000 / 16)}
    assert (model.backbone_name, model.num_classes, model.head_width) == ("mobilenet", 2, 0.25)
    assert model.backbone_options == {"alpha": 0.25} and model.class_names == ["cat", "dog"]
    assert model.get_config()["head"] == "ssd"
    # compiled: MultiBoxLoss and SGD(WarmupStepDecay(1e-3, [10], warmup_steps=2))
    assert isinstance(model.loss, ssdzoo.MultiBoxLoss) and model.loss.neg_pos_ratio == 3.0
    assert type(model.optimizer).__name__ == "SGD"
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["registered_name"] == "ssdzoo>WarmupStepDecay"
    assert schedule["config"] == {"lr": 1e-3, "boundaries": [10], "factor": 0.1, "warmup_steps": 2,
                                  "warmup_start": 0.01}
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)  # step 0: lr x warmup_start


PLAIN_KERAS = r"""
import json, sys
import numpy as np
import ssdzoo  # registers ssdzoo's classes when keras is imported, nothing else
import keras
model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
out = keras.ops.convert_to_numpy(model(data["images"].astype("float32"), training=False))
print("RESULT " + json.dumps({
    "class": type(model).__module__ + "." + type(model).__name__,
    "diff": float(np.abs(out - data["outputs"]).max()),
    "head": model.head_name,
    "loss": type(model.loss).__name__,
    "schedule": model.optimizer.get_config()["learning_rate"]["class_name"],
}))
"""


def test_plain_keras_load_model_gives_the_stored_outputs():
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_KERAS, str(LEGACY), str(FIXTURES / "legacy_v0_1_mobilenet_outputs.npz")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(out for out in proc.stdout.splitlines() if out.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["class"] == "ssdzoo.models.ssd.SSD"
    assert result["diff"] <= 1e-6
    assert (result["head"], result["loss"], result["schedule"]) == ("ssd", "MultiBoxLoss", "WarmupStepDecay")
