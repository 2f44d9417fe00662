"""The ``ssdzoo`` command line: bad input, ``info``, eval, predict (signals: test_signals.py)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

import ssdzoo
from ssdzoo.cli import main

ROOT = Path(__file__).parents[1]
BCCD = ROOT / "data" / "BCCD"
CLASSES = ["Platelets", "RBC", "WBC"]  # BCCD's class order (sorted names)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained small-backbone model saved as .keras."""
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model = ssdzoo.build("small", num_classes=3, weights=None, head_width=0.25, class_names=CLASSES)
    model.save(path)
    return path


# --- bad input: exit code 2 and one line on stderr naming the problem -------------------------

@pytest.mark.parametrize("make_args, message", [
    (lambda tmp: ["--backbone", "nope", "--data", str(BCCD)], r"unknown backbone 'nope'; registered: .*small"),
    (lambda tmp: ["--data", str(tmp / "missing")], r"data folder '.*missing' does not exist"),
    (lambda tmp: ["--config", str(tmp / "bad.toml")], r"unknown config key\(s\): bogus_key;"),
    (lambda tmp: ["--config", str(tmp / "nothere.toml")], r"config file '.*nothere.toml' does not exist"),
], ids=["backbone", "data", "config-key", "config-file"])
def test_train_bad_input_exits_2_with_one_line(make_args, message, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('bogus_key = 1\nbackbone = "small"\n')
    code = main(["train", *make_args(tmp_path), "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.fullmatch(r"ssdzoo train: error: " + message + ".*", lines[0]), lines[0]
    assert not (tmp_path / "run").exists()


def test_cli_process_exit_code_and_stderr_for_a_bad_config_key(tmp_path, cli_env):
    (tmp_path / "bad.toml").write_text("bogus_key = 1\n")
    proc = subprocess.run([sys.executable, "-m", "ssdzoo.cli", "train", "--config", str(tmp_path / "bad.toml")],
                          capture_output=True, text=True, timeout=120, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("ssdzoo train: error: unknown config key(s): bogus_key; known: ")
    assert "Traceback" not in proc.stderr


def test_weights_none_from_the_command_line_means_random_init(tmp_path):
    from ssdzoo.training.config import TrainConfig
    from ssdzoo.training.run import build_model

    config = TrainConfig.from_dict({"backbone": "small", "weights": "none", "head_width": 0.25})
    model, note = build_model(config, CLASSES)
    assert note == "None" and model.class_names == CLASSES
    missing = TrainConfig.from_dict({"backbone": "small", "weights": str(tmp_path / "w.weights.h5")})
    with pytest.raises(FileNotFoundError, match="w.weights.h5"):
        build_model(missing, CLASSES)


# --- info ------------------------------------------------------------------------------------

def test_info_small_prints_its_row(capsys):
    assert main(["info", "small", "--num-classes", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| small ")]
    assert len(rows) == 1, out
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1:4] == ["block3_pool", "37x37x128", "2x2 s1"]
    assert cells[-1] == "8732"
    assert out.splitlines()[0].startswith("| backbone | cut layer | cut map |")


# --- eval and predict ------------------------------------------------------------------------

def test_eval_prints_the_per_class_table_and_writes_files(tiny_model, tiny_voc, tmp_path, capsys):
    code = main(["eval", str(tiny_model), str(tiny_voc), "--split", "test", "--out", str(tmp_path / "ev")])
    out = capsys.readouterr().out
    assert code == 0
    records = ssdzoo.data.load(tiny_voc, format="voc", split="test")
    gt = {name: sum(int(label) == i for r in records for label in r.labels) for i, name in enumerate(CLASSES)}
    for name in CLASSES:
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[1]) == gt[name]
    total = next(line for line in out.splitlines() if line.startswith("| **mAP**"))
    assert int(total.strip("|").split("|")[1]) == sum(gt.values()) > 0
    assert (tmp_path / "ev" / "eval.md").read_text().strip() in out
    assert cv2.imread(str(tmp_path / "ev" / "pr_curves.png")) is not None


def test_predict_writes_pngs_and_detections_json(tiny_model, tiny_voc, tmp_path, capsys):
    images = tiny_voc / "JPEGImages"
    names = sorted(p.name for p in images.glob("*.jpg"))[:3]
    folder = tmp_path / "images"
    folder.mkdir()
    for name in names:
        shutil.copy(images / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    code = main(["predict", str(tiny_model), str(folder), "--out", str(tmp_path / "pred"), "--score", "0.2"])
    out = capsys.readouterr().out
    assert code == 0
    found = json.loads((tmp_path / "pred" / "detections.json").read_text())
    assert sorted(found) == [str(folder / n) for n in names]
    for path, det in found.items():
        n = len(det["scores"])
        assert len(det["boxes"]) == len(det["labels"]) == len(det["names"]) == n
        assert f"{path}: {n} detections" in out
        assert all(s >= 0.2 for s in det["scores"])
        assert all(CLASSES[label] == name for label, name in zip(det["labels"], det["names"]))
        assert all(0 <= x1 <= x2 <= 640 and 0 <= y1 <= y2 <= 480 for x1, y1, x2, y2 in det["boxes"])
        png = cv2.imread(str(tmp_path / "pred" / (Path(path).stem + ".png")))
        assert png is not None and png.shape[:2] == (480, 640)
    assert sum(len(d["scores"]) for d in found.values()) > 0  # an untrained 4-way softmax is ~0.25
