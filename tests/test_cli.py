"""The ``ssdzoo`` command line: bad input, ``info``, train → SIGINT → ``--resume``, eval, predict."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

import ssdzoo
from ssdzoo.cli import main

ROOT = Path(__file__).parents[1]
BCCD = ROOT / "data" / "BCCD"
CLASSES = ["Platelets", "RBC", "WBC"]  # BCCD's class order (sorted names)
SPLITS = {  # BCCD images without the dataset's two zero-area boxes
    "train": [f"BloodImage_{i:05d}" for i in (0, 1, 2, 3, 4, 5, 8, 9)],
    "val": ["BloodImage_00010", "BloodImage_00012"],
    "test": ["BloodImage_00007", "BloodImage_00011"],
}


def env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory) -> Path:
    """12 BCCD images in their own VOC folder with train (8) / val (2) / test (2) splits."""
    root = tmp_path_factory.mktemp("voc")
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    for split, names in SPLITS.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            shutil.copy(BCCD / "Annotations" / f"{name}.xml", root / "Annotations")
            shutil.copy(BCCD / "JPEGImages" / f"{name}.jpg", root / "JPEGImages")
    return root


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


def test_cli_process_exit_code_and_stderr_for_a_bad_config_key(tmp_path):
    (tmp_path / "bad.toml").write_text("bogus_key = 1\n")
    proc = subprocess.run([sys.executable, "-m", "ssdzoo.cli", "train", "--config", str(tmp_path / "bad.toml")],
                          capture_output=True, text=True, timeout=120, env=env(), cwd=tmp_path)
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


# --- train, SIGINT, --resume -----------------------------------------------------------------

def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being written
        return None


def test_train_sigint_then_resume_continues_steps_and_log(tiny_voc, tmp_path):
    out = tmp_path / "run"
    epochs, steps = 3, 2
    args = [sys.executable, "-m", "ssdzoo.cli", "train", "--backbone", "small", "--head-width", "0.25",
            "--data", str(tiny_voc), "--epochs", str(epochs), "--steps-per-epoch", str(steps),
            "--batch-size", "2", "--warmup-steps", "0", "--out", str(out)]
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            state = read_json(out / "state.json")
            if state and state["epochs_done"] >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert state and state["epochs_done"] >= 1, "no epoch finished in time"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    first_log = (tmp_path / "first.log").read_text()
    assert code == 130, first_log[-3000:]
    assert "interrupted: checkpoint saved" in first_log
    assert (out / "last.keras").is_file()
    interrupted = json.loads((out / "state.json").read_text())
    done = interrupted["epochs_done"]
    assert 1 <= done < epochs
    assert done * steps <= interrupted["step"] < epochs * steps
    assert interrupted["weights"].startswith("none: small has no ImageNet weights")
    assert not (out / "report.md").exists()
    with open(out / "log.csv") as f:
        before = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in before] == list(range(done))
    assert interrupted["best_map"] == pytest.approx(max(float(r["val_map"]) for r in before))
    assert interrupted["best_step"] in [steps * (e + 1) for e in range(done)]
    best_before = (out / "best.keras").read_bytes()
    # Pretend the best epoch so far scored a perfect 1.0: no resumed epoch may replace best.keras
    # (the mAP of this little training run only grows, so it would always overwrite it otherwise).
    (out / "state.json").write_text(json.dumps({**interrupted, "best_map": 1.0}))

    proc = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=400,
                          env=env(), cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert f"resuming from {out}/last.keras: {done} epochs done, step {interrupted['step']}" in proc.stdout
    final = json.loads((out / "state.json").read_text())
    assert final["epochs_done"] == epochs
    # the optimizer continues from the interrupted step (the unfinished epoch runs again)
    assert final["step"] == interrupted["step"] + (epochs - done) * steps

    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))  # appended, not restarted
    assert rows[:done] == before
    maps = [float(r["val_map"]) for r in rows]
    assert all(0.0 <= m <= 1.0 for m in maps)

    # best.keras is still the best epoch from before the interrupt, and the state says so
    assert (out / "best.keras").read_bytes() == best_before
    assert "(best, saved to" not in proc.stdout
    assert final["best_map"] == 1.0 and final["best_step"] == interrupted["best_step"]
    assert int(ssdzoo.load(str(out / "best.keras")).optimizer.iterations.numpy()) == interrupted["best_step"]

    report = (out / "report.md").read_text()
    assert re.search(r"Test mAP@0\.5 \(VOC07 11-point\): (0\.\d{4}|1\.0000)\*\* on 2 images", report), report
    assert "Backbone weights: none: small has no ImageNet weights" in report
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == interrupted["best_step"] and results["test_images"] == 2


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
