"""``ssdzoo bench --formats``: one table per model of mAP and speed per export format and
precision (markdown + csv), unsupported precisions named in the notes, torchvision peers when
torch is installed."""

import csv

import numpy as np
import pytest

import ssdzoo


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """The shipped BCCD model saved as .keras."""
    path = tmp_path_factory.mktemp("keras") / "bccd.keras"
    ssdzoo.build("small", 3, weights="bccd", head_width=0.25).save(path)
    return path


def test_bench_formats_writes_a_table_per_model_with_map_and_speed(keras_file, tiny_voc, tmp_path, monkeypatch):
    from ssdzoo.cli import main
    from ssdzoo.deploy import peers

    monkeypatch.setattr(peers, "available", lambda: False)
    out = tmp_path / "bench"
    assert main(["bench", "--formats", "keras", "onnx", "--precisions", "fp32", "fp16", "--model", str(keras_file),
                 "--data", str(tiny_voc), "--split", "test", "--repeats", "1", "--threads", "1",
                 "--out", str(out)]) == 0
    text = (out / "bench_formats.md").read_text()
    assert "### bccd.keras" in text and "CPUs; load average" in text
    assert "onnx fp16: not written by the exporter (onnx supports fp32, int8)" in text
    assert "torch / torchvision not installed" in text
    rows = list(csv.DictReader(open(out / "bench_formats.csv")))
    assert [(r["format"], r["precision"]) for r in rows] == [("keras", "fp32"), ("keras", "fp32, uint8 input"),
                                                             ("onnx", "fp32")]
    keras, keras_uint8, onnx = rows
    assert abs(float(onnx["map_voc07"]) - float(keras["map_voc07"])) < 0.002
    assert abs(float(onnx["map_voc07"]) - float(keras_uint8["map_voc07"])) < 1e-4  # same input, same network
    assert all(float(r["ms_b1"]) > 0 and float(r["img_s_b8"]) > 0 for r in rows)
    assert float(onnx["size_mb"]) > 1 and keras["size_mb"] == ""
    assert sorted(p.name for p in out.iterdir()) == ["bench_formats.csv", "bench_formats.md"]  # no artifacts left


@pytest.mark.parametrize("argv, message", [
    (["--formats", "keras", "--data", "d"], "--formats needs --model"),
    (["--formats", "coreml", "--model", "m.keras", "--data", "d"], "unknown export format 'coreml'"),
], ids=["no-model", "unknown-format"])
def test_bench_formats_bad_input_is_one_line(argv, message, keras_file, tiny_voc, tmp_path, capsys):
    from ssdzoo.cli import main

    argv = [str(keras_file) if a == "m.keras" else str(tiny_voc) if a == "d" else a for a in argv]
    assert main(["bench", *argv, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("ssdzoo bench: error: "), err


def test_tflite_batch_of_8_loops_the_batch_1_interpreter(keras_file, tiny_voc, tmp_path):
    from ssdzoo.deploy.benchmark import bench_model

    records = list(ssdzoo.data.load(str(tiny_voc), format="voc", split="test"))
    table = bench_model(str(keras_file), records, formats=["tflite"], repeats=1, threads=1, with_map=False,
                        folder=str(tmp_path))
    (row,) = table.rows
    assert row["map_voc07"] is None and row["img_s_b8"] > 0 and "LiteRT" in row["runtime"]
    assert any("8 invocations of the batch-1 interpreter" in n for n in table.notes)
    assert "| tflite | fp32 |" in table.markdown()


@pytest.mark.slow  # optional extra; ~100 s here: the peers' speed is a benchmark figure, not a unit
def test_torchvision_peers_are_timed_with_their_postprocess(tiny_voc):
    pytest.importorskip("torchvision")
    from ssdzoo.deploy.benchmark import peers_table

    records = list(ssdzoo.data.load(str(tiny_voc), format="voc", split="test"))
    table = peers_table(records, 3, repeats=1, threads=2)
    assert [r["model"] for r in table.rows] == ["ssdlite320_mobilenet_v3_large", "ssd300_vgg16"]
    assert all(np.isfinite(r["ms_b1"]) and r["ms_b1"] > 0 and "random weights: speed only" in r["runtime"]
               for r in table.rows)
