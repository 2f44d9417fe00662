"""The examples users run: the backbone-comparison notebook (tiny setting), examples/train.py
on a 10-image VOC folder, and examples/train_bccd.py's configuration."""

import csv
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
NOTEBOOK = EXAMPLES / "compare_backbones.ipynb"


def _tagged(nb, tag: str) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if tag in cell.metadata.get("tags", [])]


def test_committed_notebook_has_parameters_and_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert len(_tagged(nb, "parameters")) == 1
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the chart output is missing"
    assert any("mAP" in o.get("data", {}).get("text/markdown", "") for o in outputs), \
        "the per-class table output is missing"


@pytest.mark.slow  # 54 s: the notebook's saved outputs are checked in the default suite, its run is opt-in
def test_compare_backbones_notebook_tiny(tmp_path, bccd):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # papermill-style: our parameters replace any injected cell, right after `parameters`
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    out = tmp_path / "out"
    params = f"TINY = True\nDATA = {str(bccd)!r}\nOUT = {str(out)!r}"
    nb.cells.insert(_tagged(nb, "parameters")[0] + 1,
                    nbformat.v4.new_code_cell(params, metadata={"tags": ["injected-parameters"]}))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert (out / "map_vs_fps.png").stat().st_size > 1000
    runs = json.loads((out / "results.json").read_text())
    backbones = [r["backbone"] for r in runs]
    assert backbones == ["small", "mobilenet"]
    assert all(r["fps_batch1"] > 0 and r["fps_batch8"] > 0 and 0 <= r["map_voc07"] <= 1 for r in runs)

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    tables = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert len(tables) == 1
    header, _, *rows = tables[0].splitlines()
    for column in ["Platelets", "RBC", "WBC", "mAP", "FPS b1", "FPS b8", "params"]:
        assert column in header
    assert [row.split("|")[1].strip() for row in rows] == backbones


@pytest.fixture
def voc10(tmp_path, bccd) -> Path:
    """10 BCCD images in VOC layout: trainval 8, test 2."""
    root = tmp_path / "voc10"
    ids = (bccd / "ImageSets" / "Main" / "trainval.txt").read_text().split()[:10]
    for sub, ext in [("Annotations", "xml"), ("JPEGImages", "jpg")]:
        (root / sub).mkdir(parents=True)
        for name in ids:
            shutil.copy(bccd / sub / f"{name}.{ext}", root / sub)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(ids[:8]) + "\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(ids[8:]) + "\n")
    return root


def test_train_example(tmp_path, voc10):
    out = tmp_path / "run"
    # 8 training images at batch 4: one epoch of 2 steps
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "train.py"), "--backbone", "small", "--data", str(voc10),
         "--epochs", "1", "--batch-size", "4", "--weights", "none", "--head-width", "0.25",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "best val mAP" in proc.stdout

    with open(out / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and {"epoch", "loss", "val_map"} <= rows[0].keys()
    assert 0 <= float(rows[0]["val_map"]) <= 1
    assert (out / "best.keras").stat().st_size > 0
    assert any((out / "tensorboard").rglob("events.out.tfevents.*"))

    import ssdzoo

    model = ssdzoo.load(str(out / "best.keras"), compile=False)
    assert model.backbone_name == "small" and model.class_names == ["Platelets", "RBC", "WBC"]


def test_train_bccd_example_config(monkeypatch, capsys):
    import ssdzoo

    configs = []

    def fake_train(config):
        config.validate()  # the data folder exists, the backbone is registered
        configs.append(config)
        return {"map_voc07": 0.25}

    monkeypatch.setattr(ssdzoo, "train", fake_train)
    runpy.run_path(str(EXAMPLES / "train_bccd.py"), run_name="__main__")
    assert len(configs) == 1 and configs[0].backbone == "mobilenet"
    assert "test mAP@0.5 (VOC07): 0.2500" in capsys.readouterr().out
