"""The bad-input corpus (tests/badinputs.py): each defect has its exact outcome, decodes in the
training pipeline when kept, and never sends a traceback to a command-line user."""

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from badinputs import CASES, IMAGE_DEFECTS, IMAGE_DEFECTS_IN_FORMATS
from badmix import MIXERS, SPLIT, case_of, images_of, mix_voc, mixable

from ssdzoo.cli import main
from ssdzoo.data import check, load
from ssdzoo.data.check import DROPPED, KEPT, SKIPPED

ALL_CASES = CASES + IMAGE_DEFECTS_IN_FORMATS  # and the image defects in COCO, CSV and YOLO


def test_the_corpus_has_at_least_30_kinds_of_defect():
    assert len({c.name for c in ALL_CASES}) == len(ALL_CASES) and len(CASES) >= 30


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_each_defect_has_its_exact_outcome(tmp_path, case):
    path = case.build(tmp_path / "data")
    options = {"format": case.build.fmt, "class_names": case.class_names, "merge_case": case.merge_case}
    if case.error:
        with pytest.raises(ValueError, match=case.error):
            load(path, **options)
        return
    report = check(path, **options)
    got = [(f.action, Path(f.file).name, f.problem) for f in report.findings]
    assert len(got) == len(case.findings), got
    for (action, file, problem), (want_action, want_file, words) in zip(got, case.findings):
        assert action == want_action and (not want_file or file == want_file) and words in problem, got
    assert (report.num_records, report.num_boxes) == (case.records, case.boxes)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load(path, **options)
    assert (len(dataset), sum(len(r.labels) for r in dataset)) == (case.records, case.boxes)
    if report.errors:
        with pytest.raises(ValueError, match=Path(report.errors[0].file).name):
            load(path, strict=True, **options)
    else:
        assert all(f.action == KEPT or not f.is_error for f in report.findings)

    from ssdzoo.data.tfdata import load_example

    for record in dataset:  # what load keeps, the training pipeline decodes
        image, _, _ = load_example(record.image_path, record.boxes, record.labels)
        assert image.shape[-1] == 3 and min(image.shape[:2]) >= 1


def test_exif_boxes_are_turned_with_the_image(tmp_path):
    case = next(c for c in CASES if c.name == "EXIF-rotated, annotation of the stored image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load(case.build(tmp_path), "voc")
    bad = next(r for r in dataset if r.image_path.endswith("bad.jpg"))
    # stored 64x48, EXIF 6 (turned 90° clockwise): (x, y) -> (48 - y, x)
    assert bad.boxes.tolist() == [[8, 1, 46, 30]] and (bad.width, bad.height) == (48, 64)


def test_a_1x1_image_makes_training_batches(tmp_path):
    """The image that crashed check-data, load and train (OpenCV's reduced decode) now trains."""
    from test_pipeline import ANCHORS

    from ssdzoo.data.tfdata import pipeline

    case = next(c for c in CASES if c.name == "1x1 image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load(case.build(tmp_path), "voc")
    for augment in (False, True):
        images, targets = next(iter(pipeline(dataset, anchors=ANCHORS, input_size=96, batch_size=2,
                                             augment=augment)))
        assert images.shape == (2, 96, 96, 3) and (targets[..., 4] > 0).numpy().sum() >= 2


# --- the command line, in subprocesses: no traceback ------------------------------------------

VOC_DEFECTS = mixable(CASES, "voc")


def _ssdzoo(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ssdzoo.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_check_data_reports_every_image_defect_without_a_traceback(tmp_path, cli_env):
    root = mix_voc(tmp_path / "mixed", IMAGE_DEFECTS)
    proc = _ssdzoo("check-data", root, "--format", "voc", env=cli_env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "c0_bad.jpg: image file is empty (image skipped)" in proc.stdout
    assert "boxes turned" in proc.stdout and "too large" in proc.stdout
    proc = _ssdzoo("check-data", root, "--format", "voc", "--strict", env=cli_env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    import ssdzoo

    path = tmp_path_factory.mktemp("model") / "model.keras"
    ssdzoo.build("small", num_classes=1, weights=None, head_width=0.25, class_names=["cat"]).save(path)
    return path


def test_cli_predict_and_eval_go_on_past_unreadable_images(tmp_path, model_file, cli_env, capsys):
    root = mix_voc(tmp_path / "mixed", VOC_DEFECTS)
    images = root / "JPEGImages"
    proc = _ssdzoo("predict", model_file, images, "--out", tmp_path / "pred", "--score", "0.9", env=cli_env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    skipped = (tmp_path / "pred" / "skipped.txt").read_text()
    assert "c0_bad.jpg: image file is empty" in skipped and "c1_bad.jpg: truncated" in skipped
    found = json.loads((tmp_path / "pred" / "detections.json").read_text())
    assert IMAGE_DEFECTS[3].name == "bytes after the JPEG end marker"
    assert str(images / "c3_bad.jpg") in found and str(images / "c0_bad.jpg") not in found
    assert len(found) + len(skipped.splitlines()) == len(list(images.iterdir()))

    # eval and the unreadable folder in this process (the CLI's own error handling): one TensorFlow start
    assert main(["eval", str(model_file), str(root), "--format", "voc", "--split", "", "--out",
                 str(tmp_path / "ev")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    report = (tmp_path / "ev" / "eval.md").read_text()
    assert "Left out" in report and "c0_bad.jpg: image file is empty" in report

    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "a.jpg").write_bytes(b"")
    (unreadable / "b.png").write_text("not a picture")
    assert main(["predict", str(model_file), str(unreadable), "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        "ssdzoo predict: error: none of the 2 images")


def _clean(proc: subprocess.CompletedProcess, code: int = 0) -> str:
    """The run's stdout and stderr, once its exit status is ``code`` and neither holds a traceback."""
    text = proc.stdout + proc.stderr
    assert proc.returncode == code and "Traceback" not in text, text[-3000:]
    return text


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(MIXERS))
def test_cli_check_train_predict_eval_over_every_defect_of_a_format(tmp_path, cli_env, fmt):
    """Every defect of a format in one dataset: check-data, 2 steps of training, predict and eval of the
    trained model, each with the corpus's counts and list of what was left out."""
    cases = mixable(ALL_CASES, fmt)
    data = MIXERS[fmt](tmp_path / "mixed", cases)
    records = 1 + sum(c.records - 1 for c in cases)  # each case's own image and box, less the shared good one
    boxes = 1 + sum(c.boxes - 1 for c in cases)
    skipped = sorted(f"c{i}" for i, c in enumerate(cases) for f in c.findings if f[0] == SKIPPED)
    dropped = sum(f[0] == DROPPED for c in cases for f in c.findings)
    warned = sum(f[0] not in (DROPPED, SKIPPED) for c in cases for f in c.findings)  # kept, clipped, turned

    text = _clean(_ssdzoo("check-data", data, "--format", fmt, env=cli_env))
    assert re.search(rf"images: \d+ annotated, {records} kept\n  objects: \d+ annotated, {boxes} kept\n"
                     rf"  errors: {dropped + len(skipped)} .*, warnings: {warned}\n", text), text
    assert sorted(case_of(line) for line in text.splitlines() if line.endswith("(image skipped)")) == skipped
    assert sum(line.endswith("(box dropped)") for line in text.splitlines()) == dropped, text

    run = tmp_path / "run"
    text = _clean(_ssdzoo("train", "--backbone", "small", "--head-width", "0.25", "--data", data, "--format", fmt,
                          "--train-split", SPLIT, "--val-split", "none", "--test-split", SPLIT, "--epochs", "1",
                          "--steps-per-epoch", "2", "--batch-size", "2", "--warmup-steps", "0", "--precise-bn", "0",
                          "--out", run, env=cli_env))
    for count, words in ((dropped, "dropped {} box"), (len(skipped), "skipped {} image")):  # the load's warning
        assert (words.format(count) in text) == bool(count), text[-3000:]
    assert f"({records} images)" in text and re.search(rf"\*\*mAP\*\* \|\s+{boxes} \|", text), text[-3000:]
    lines = (run / f"skipped-{SPLIT}.txt").read_text().splitlines() if skipped or dropped else []
    assert sorted(case_of(line) for line in lines if line.endswith("(image skipped)")) == skipped
    assert sum(line.endswith("(box dropped)") for line in lines) == dropped

    images = images_of(fmt, data)
    _clean(_ssdzoo("predict", run / "last.keras", images, "--out", tmp_path / "pred", "--score", "0.9", env=cli_env))
    found = json.loads((tmp_path / "pred" / "detections.json").read_text())
    unread = (tmp_path / "pred" / "skipped.txt")
    unread = unread.read_text().splitlines() if unread.exists() else []
    pictures = [p for p in images.iterdir() if p.suffix not in (".csv", ".json", ".txt", ".yaml")]
    assert len(found) + len(unread) == len(pictures) and str(images / "good.jpg") in found

    text = _clean(_ssdzoo("eval", run / "last.keras", data, "--format", fmt, "--split", SPLIT, "--out", tmp_path / "ev",
                          env=cli_env))
    assert re.search(rf"\*\*mAP\*\* \|\s+{boxes} \|", text), text
    report = (tmp_path / "ev" / "eval.md").read_text()
    assert sorted(case_of(line) for line in report.splitlines() if line.startswith("- ")) == skipped, report


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.error], ids=[c.name for c in CASES if c.error])
def test_cli_refuses_an_annotation_file_it_cannot_read_in_one_line(tmp_path, cli_env, model_file, case):
    """An annotation file that is not its format at all: check-data, train and eval each exit 2 with one
    line naming the file (predict reads no annotation)."""
    data, fmt = case.build(tmp_path / "data"), case.build.fmt
    for args in (("check-data", data, "--format", fmt),
                 ("train", "--backbone", "small", "--data", data, "--format", fmt, "--train-split", SPLIT,
                  "--val-split", "none", "--test-split", SPLIT, "--out", tmp_path / "run"),
                 ("eval", model_file, data, "--format", fmt, "--split", "")):
        proc = _ssdzoo(*args, env=cli_env)
        _clean(proc, code=2)
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ssdzoo {args[0]}: error: ") and re.search(case.error, last), proc.stderr
