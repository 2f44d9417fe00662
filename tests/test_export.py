"""ssdzoo.export: artifacts with preprocessing, decoding and NMS inside, run by their own runtime
in a fresh process that does not import ssdzoo, give the Keras model's detections."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

import ssdzoo

ROOT = Path(__file__).parents[1]
N_IMAGES = 3


@pytest.fixture(scope="module")
def model():
    """The shipped BCCD detector."""
    return ssdzoo.build("small", 3, weights="bccd", head_width=0.25)


@pytest.fixture(scope="module")
def records():
    """A few BCCD test records."""
    return list(ssdzoo.data.load(str(ROOT / "data" / "BCCD"), format="voc", split="test"))[:N_IMAGES]


@pytest.fixture(scope="module")
def batch(model, records):
    """The records' images resized to the model input, uint8 (what an artifact takes)."""
    from ssdzoo.utils.images import read_image

    size = model.input_size
    return np.stack([cv2.resize(read_image(r.image_path), (size, size), interpolation=cv2.INTER_LINEAR)
                     for r in records]).astype(np.uint8)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """``exported(format, precision)`` → path of the artifact (written once per module)."""
    folder = tmp_path_factory.mktemp("exported")
    cache = {}

    def get(fmt: str, precision: str = "fp32", **kwargs) -> Path:
        key = (fmt, precision)
        if key not in cache:
            suffix = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}[fmt]
            cache[key] = ssdzoo.export(model, folder / f"bccd_{precision}{suffix}", format=fmt,
                                       precision=precision, **kwargs)
        return Path(cache[key])

    return get


def run_fresh(script: str, tmp_path: Path, **arrays) -> dict:
    """Run ``script`` in a new Python without ssdzoo on the path; ``inputs`` (npz) in, ``out`` back."""
    np.savez(tmp_path / "inputs.npz", **arrays)
    code = textwrap.dedent(script) + textwrap.dedent("""
        import sys
        assert not any(m == "ssdzoo" or m.startswith("ssdzoo.") for m in sys.modules), "ssdzoo imported"
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz", allow_pickle=False))


def keras_reference(model, batch) -> list:
    """``model.detect`` on the artifact's own uint8 input ("evaluate" preset: score 0.01, 200)."""
    return model.detect(batch, preset="evaluate")


def assert_same_detections(ref, out, size, *, exact=False, min_iou=0.99, min_score=0.05, score_atol=0.02):
    """Per image: count within 1 (all equal if ``exact``), each artifact box above ``min_score``
    matched to a same-class Keras box with IoU >= ``min_iou`` and a score within ``score_atol``."""
    from ssdzoo.core.box_coder import box_iou

    for i, det in enumerate(ref):
        n = int(out["num_detections"][i])
        boxes = out["boxes"][i, :n] * size
        if exact:
            assert n == len(det)
            np.testing.assert_allclose(boxes, det.boxes, atol=1e-3)
            np.testing.assert_allclose(out["scores"][i, :n], det.scores, atol=1e-5)
            np.testing.assert_array_equal(out["classes"][i, :n], det.labels)
            continue
        assert abs(n - len(det)) <= 1, (n, len(det))
        strong = out["scores"][i, :n] >= min_score
        assert strong.sum() >= 3
        iou = np.asarray(box_iou(boxes[strong], det.boxes))
        same = out["classes"][i, :n][strong][:, None] == det.labels[None, :]
        iou = np.where(same, iou, 0.0)
        best = iou.argmax(axis=1)
        assert iou.max(axis=1).min() >= min_iou, iou.max(axis=1)
        np.testing.assert_allclose(out["scores"][i, :n][strong], det.scores[best], atol=score_atol)


SAVED_MODEL_SCRIPT = """
    import json, numpy as np, tensorflow as tf
    x = np.load("inputs.npz")
    loaded = tf.saved_model.load(x["path"].item())
    out = {k: v.numpy() for k, v in loaded.signatures["serving_default"](images=x["images"]).items()}
    enc = loaded.signatures["detect_encoded"](image_bytes=tf.io.read_file(x["image_path"].item()))
    meta = json.loads(loaded.metadata_json.numpy().decode())
    np.savez("out.npz", class_names=np.array(meta["class_names"]),
             **out, **{"enc_" + k: v.numpy() for k, v in enc.items()})
"""


def test_saved_model_in_a_fresh_process_gives_the_keras_detections(model, batch, records, exported, tmp_path):
    path = exported("saved_model")
    assert (path / "saved_model.pb").is_file()
    out = run_fresh(SAVED_MODEL_SCRIPT, tmp_path, images=batch, path=np.array(str(path)),
                    image_path=np.array(records[0].image_path))
    assert list(out["class_names"]) == ["Platelets", "RBC", "WBC"]
    assert out["boxes"].dtype == np.float32 and out["classes"].dtype == np.int32
    assert out["boxes"].min() >= 0.0 and out["boxes"].max() <= 1.0
    assert_same_detections(keras_reference(model, batch), out, model.input_size, exact=True)
    # encoded bytes of any size -> boxes in that image's pixels (TF's bilinear resize, not cv2's)
    ref = model.detect(records[0].image_path, preset="evaluate")[0]
    enc = {k[4:]: v[None] for k, v in out.items() if k.startswith("enc_")}
    assert_same_detections([ref], enc, 1.0, min_iou=0.95, min_score=0.3, score_atol=0.05)
    assert enc["boxes"][0, :, 2].max() > model.input_size  # pixels of the 640x480 image


def test_no_artifact_is_left_when_export_fails(model, tmp_path):
    target = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="max_detections"):
        ssdzoo.export(model, target, format="tflite", max_detections=0)
    with pytest.raises(ValueError, match="unknown export format 'tensorrt'"):
        ssdzoo.export(model, tmp_path / "m.plan", format="tensorrt")
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        ssdzoo.export(model, target, format="tflite", precision="int4")
    with pytest.raises(ValueError, match="supports precision"):
        ssdzoo.export(model, tmp_path / "sm", format="saved_model", precision="int8", calibration=tmp_path)
    with pytest.raises(ValueError, match="needs calibration"):
        ssdzoo.export(model, target, format="tflite", precision="int8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="no readable calibration images"):
        ssdzoo.export(model, target, format="tflite", precision="int8", calibration=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ssdzoo.export(model, target, format="tflite", precision="int8", calibration=tmp_path / "nope")
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("hello")
    with pytest.raises(ValueError, match="not an SSD model file"):
        ssdzoo.export(str(not_a_model), target, format="tflite")
    assert sorted(os.listdir(tmp_path)) == ["empty", "notes.keras"]


def test_a_failing_writer_leaves_nothing_and_keeps_an_older_artifact(model, tmp_path, monkeypatch):
    from ssdzoo.deploy import saved_model

    target = tmp_path / "sm"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"older")

    def fail(model, path, *args):
        os.makedirs(path)
        Path(path, "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(saved_model, "write", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ssdzoo.export(model, target, format="saved_model")
    assert sorted(os.listdir(tmp_path)) == ["sm"] and os.listdir(target) == ["saved_model.pb"]
    assert (target / "saved_model.pb").read_bytes() == b"older"


def test_load_exported_detects_like_the_model(model, records, exported):
    det = ssdzoo.load_exported(exported("saved_model"))
    assert det.class_names == model.class_names and det.format == "saved_model"
    paths = [r.image_path for r in records]
    ours, ref = det.detect(paths), model.detect(paths)
    for a, b in zip(ours, ref, strict=True):  # uint8 rounding of the resized image: near, not equal
        assert abs(len(a) - len(b)) <= 1 and len(a) > 3
        assert json.dumps(a.names[:0]) == "[]" and set(a.names) <= set(model.class_names)
    with pytest.raises(ValueError, match="fixed at export"):
        det.detect(paths[0], iou_threshold=0.6)


ONNX_SCRIPT = """
    import json, numpy as np, onnxruntime as ort
    x = np.load("inputs.npz")
    session = ort.InferenceSession(x["path"].item(), providers=["CPUExecutionProvider"])
    names = ["boxes", "scores", "classes", "num_detections"]
    out = dict(zip(names, session.run(names, {"images": x["images"]})))
    meta = json.loads(session.get_modelmeta().custom_metadata_map["ssdzoo"])
    np.savez("out.npz", class_names=np.array(meta["class_names"]), **out)
"""


def test_onnx_in_onnxruntime_in_a_fresh_process_gives_the_keras_detections(model, batch, exported, tmp_path):
    import onnx

    path = exported("onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "NonMaxSuppression" in ops  # NMS inside the graph
    out = run_fresh(ONNX_SCRIPT, tmp_path, images=batch, path=np.array(str(path)))
    assert list(out["class_names"]) == ["Platelets", "RBC", "WBC"]
    assert out["boxes"].shape == (N_IMAGES, 200, 4)
    assert_same_detections(keras_reference(model, batch), out, model.input_size)


TFLITE_SCRIPT = """
    import json, numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter
    x = np.load("inputs.npz")
    path = x["path"].item()
    raw = open(path, "rb").read()
    fb = schema.Model.GetRootAsModel(raw, 0)
    entry = next(fb.Metadata(i) for i in range(fb.MetadataLength()) if fb.Metadata(i).Name() == b"ssdzoo")
    meta = json.loads(fb.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    ops = sorted({op["op_name"] for op in it._get_ops_details()})
    outs = {}
    for image in x["images"]:
        it.set_tensor(it.get_input_details()[0]["index"], image[None])
        it.invoke()
        for d in it.get_output_details():
            outs.setdefault(tuple(d["shape"]) + (d["dtype"].__name__,), []).append(it.get_tensor(d["index"]))
    by_shape = {k: np.concatenate(v) for k, v in outs.items()}
    k = meta["max_detections"]
    np.savez("out.npz", class_names=np.array(meta["class_names"]), ops=np.array(ops),
             boxes=by_shape[(1, k, 4, "float32")], scores=by_shape[(1, k, "float32")],
             classes=by_shape[(1, k, "int32")], num_detections=by_shape[(1, "int32")])
"""


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tflite_builtin_ops_only_in_litert_in_a_fresh_process(model, batch, exported, precision, tmp_path):
    path = exported("tflite", precision)
    out = run_fresh(TFLITE_SCRIPT, tmp_path, images=batch, path=np.array(str(path)))
    ops = list(out["ops"])
    assert "NON_MAX_SUPPRESSION_V5" in ops and "CONV_2D" in ops
    assert not [op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "VAR_HANDLE", "READ_VARIABLE")], ops
    assert list(out["class_names"]) == ["Platelets", "RBC", "WBC"]
    if precision == "fp32":  # same graph math as the SavedModel, builtin NMS
        assert_same_detections(keras_reference(model, batch), out, model.input_size)
    else:  # float16 weights: boxes move a little
        assert_same_detections(keras_reference(model, batch), out, model.input_size, min_iou=0.95,
                               min_score=0.3, score_atol=0.05)


@pytest.fixture(scope="module")
def calibration_folder(tmp_path_factory) -> Path:
    """8 BCCD train images (not test ones) and a file that is not an image."""
    calib = tmp_path_factory.mktemp("calib")
    bccd = ROOT / "data" / "BCCD"
    for name in (bccd / "ImageSets" / "Main" / "train.txt").read_text().split()[:8]:
        shutil.copy(bccd / "JPEGImages" / f"{name}.jpg", calib)
    (calib / "notes.txt").write_text("not an image")
    return calib


def assert_near_keras(det, model, records):
    """int8: counts within 2, median best same-class IoU with the Keras boxes >= 0.85."""
    from ssdzoo.core.box_coder import box_iou

    paths = [r.image_path for r in records]
    for ours, ref in zip(det.detect(paths), model.detect(paths), strict=True):
        assert abs(len(ours) - len(ref)) <= 2 and len(ours) > 3
        iou = np.asarray(box_iou(ours.boxes, ref.boxes)) * (ours.labels[:, None] == ref.labels[None])
        assert np.median(iou.max(axis=1)) >= 0.85, iou.max(axis=1)


def test_tflite_int8_calibrated_on_a_folder_of_the_users_images(model, records, exported, calibration_folder):
    from ssdzoo.deploy.tflite import op_names

    path = exported("tflite", "int8", calibration=str(calibration_folder), calibration_size=8)
    ops = op_names(str(path))
    assert "QUANTIZE" in ops and "NON_MAX_SUPPRESSION_V5" in ops and not [o for o in ops if o.startswith("Flex")]
    assert path.stat().st_size < 0.5 * exported("tflite", "fp32").stat().st_size  # int8 weights
    det = ssdzoo.load_exported(path)
    assert det.metadata["precision"] == "int8" and det.class_names == model.class_names
    assert_near_keras(det, model, records)


def test_onnx_int8_calibrated_on_a_folder_of_the_users_images(model, records, exported, calibration_folder):
    import onnx

    path = exported("onnx", "int8", calibration=str(calibration_folder), calibration_size=8)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "NonMaxSuppression"} <= ops
    assert path.stat().st_size < 0.5 * exported("onnx", "fp32").stat().st_size
    assert sorted(p.name for p in path.parent.iterdir() if "onnx" in p.name) == ["bccd_fp32.onnx", "bccd_int8.onnx"]
    det = ssdzoo.load_exported(path)
    assert det.metadata["precision"] == "int8" and det.class_names == model.class_names
    assert_near_keras(det, model, records)


# --- the command line: ssdzoo export, and eval / predict on exported artifacts ------------------

@pytest.fixture(scope="module")
def keras_file(model, tmp_path_factory) -> Path:
    """The shipped BCCD model saved as .keras."""
    path = tmp_path_factory.mktemp("keras") / "bccd.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("make_args, message", [
    (lambda t, k: [str(t / "notes.keras"), "--format", "onnx"], r"'.*notes.keras' is not an SSD model file"),
    (lambda t, k: [str(t / "none.keras"), "--format", "onnx"], r"model file '.*none.keras' does not exist"),
    (lambda t, k: [k, "--format", "coreml"], r"unknown export format 'coreml'; choose from"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int4"], r"unknown precision 'int4'"),
    (lambda t, k: [k, "--format", "onnx", "--precision", "fp16"],
     r"format 'onnx' supports precision \['fp32', 'int8'\], not 'fp16'"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int8"], r"int8 export needs calibration images"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int8", "--calibration", str(t / "empty")],
     r"no readable calibration images in '.*empty'"),
], ids=["not-a-model", "missing-model", "format", "precision", "precision-for-format", "no-calibration",
        "empty-calibration"])
def test_export_bad_input_exits_2_with_one_line_and_writes_nothing(make_args, message, keras_file, tmp_path,
                                                                   capsys):
    from ssdzoo.cli import main

    (tmp_path / "notes.keras").write_text("not a zip")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out" / "model.tflite"
    code = main(["export", *make_args(tmp_path, str(keras_file)), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and re.search(message, err), err
    assert err.startswith("ssdzoo export: error: ")
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_cli_export_then_eval_and_predict_the_artifacts(keras_file, tiny_voc, model, tmp_path, capsys):
    from ssdzoo.cli import main

    onnx_path, tfl_path = tmp_path / "bccd.onnx", tmp_path / "bccd.tflite"
    assert main(["export", str(keras_file), "--format", "onnx", "--out", str(onnx_path)]) == 0
    assert main(["export", str(keras_file), "--format", "tflite", "--precision", "fp16", "--out", str(tfl_path)]) == 0
    printed = capsys.readouterr().out
    assert f"{onnx_path}: onnx fp32" in printed and f"{tfl_path}: tflite fp16" in printed
    assert sorted(os.listdir(tmp_path)) == ["bccd.onnx", "bccd.tflite"]  # no temporary files left

    assert main(["eval", str(onnx_path), str(tiny_voc), "--split", "test", "--out", str(tmp_path / "ev")]) == 0
    table = (tmp_path / "ev" / "eval.md").read_text()
    records = ssdzoo.data.load(str(tiny_voc), format="voc", split="test")
    keras_map = ssdzoo.evaluate(model, records, coco=False, verbose=False).map
    onnx_map = ssdzoo.evaluate(ssdzoo.load_exported(onnx_path), records, coco=False, verbose=False).map
    assert "RBC" in table and abs(onnx_map - keras_map) < 0.02, (onnx_map, keras_map)

    images = tmp_path / "images"
    images.mkdir()
    for r in records:
        shutil.copy(r.image_path, images)
    assert main(["predict", str(tfl_path), str(images), "--out", str(tmp_path / "pred")]) == 0
    found = json.loads((tmp_path / "pred" / "detections.json").read_text())
    assert len(found) == len(records)
    for dets in found.values():
        assert len(dets["scores"]) >= 3 and min(dets["scores"]) >= 0.5
        assert set(dets["names"]) <= {"Platelets", "RBC", "WBC"}
    assert len(list((tmp_path / "pred").glob("*.png"))) == len(records)


def test_load_exported_names_what_is_wrong(tmp_path, exported):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="not an exported model"):
        ssdzoo.load_exported(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="without saved_model.pb"):
        ssdzoo.load_exported(tmp_path / "folder")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ssdzoo.load_exported(tmp_path / "missing.onnx")
    foreign = tmp_path / "foreign.tflite"  # a TFLite file without ssdzoo's metadata entry
    from ssdzoo.deploy.graph import PostProcess
    from ssdzoo.deploy.tflite import convert

    foreign.write_bytes(convert(ssdzoo.build("small", 2, weights=None, head_width=0.25), PostProcess(), "fp32"))
    with pytest.raises(ValueError, match="no ssdzoo metadata"):
        ssdzoo.load_exported(foreign)


#: What TensorFlow itself writes on stderr when it starts (not ssdzoo's output).
TF_LOG_PREFIXES = ("WARNING: All log messages before absl", "I0000 ", "W0000 ", "E0000 ")


@pytest.mark.parametrize("make_args, message", [
    (lambda t, k: [str(t / "notes.keras"), "--format", "onnx"], "is not an SSD model file (.keras): not a zip"),
    (lambda t, k: [k, "--format", "coreml"], "unknown export format 'coreml'"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int4"], "unknown precision 'int4'"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int8"], "int8 export needs calibration images"),
    (lambda t, k: [k, "--format", "tflite", "--precision", "int8", "--calibration", str(t / "empty")],
     "no readable calibration images"),
], ids=["not-a-model", "format", "precision", "no-calibration", "unreadable-calibration"])
def test_export_bad_input_from_the_command_line_has_no_traceback_and_no_output(make_args, message, keras_file,
                                                                               tmp_path):
    (tmp_path / "notes.keras").write_text("not a zip")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out" / "model.tflite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "ssdzoo", "export", *make_args(tmp_path, str(keras_file)),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(TF_LOG_PREFIXES)]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("ssdzoo export: error: ") and message in lines[0], lines
    assert not out.exists() and not (tmp_path / "out").exists()


# --- the shipped MobileNet (depthwise convolutions, ReLU6, BatchNorm, the lite head) ------------

@pytest.fixture(scope="module")
def mobilenet():
    """The shipped MobileNet + lite head BCCD detector (weights/manifest.json)."""
    return ssdzoo.load_weight_set("bccd_mobilenet_lite")


# SavedModel is the slowest export (~22 s) and is checked in a fresh process for `bccd` above
@pytest.mark.parametrize("fmt", [pytest.param("saved_model", marks=pytest.mark.slow), "onnx", "tflite"])
def test_a_mobilenet_artifact_gives_the_keras_detections_image_by_image(mobilenet, batch, fmt, tmp_path):
    script = {"saved_model": SAVED_MODEL_SCRIPT, "onnx": ONNX_SCRIPT, "tflite": TFLITE_SCRIPT}[fmt]
    suffix = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}[fmt]
    path = ssdzoo.export(mobilenet, tmp_path / f"mobilenet{suffix}", format=fmt)
    extra = {"image_path": np.array(str(ROOT / "data" / "BCCD" / "JPEGImages" / "BloodImage_00000.jpg"))}
    out = run_fresh(script, tmp_path, images=batch, path=np.array(str(path)),
                    **(extra if fmt == "saved_model" else {}))
    assert list(out["class_names"]) == ["Platelets", "RBC", "WBC"]
    assert_same_detections(keras_reference(mobilenet, batch), out, mobilenet.input_size)
