"""Tests for ssdzoo.plots: PNGs are written, valid, of plausible size, and tolerate missing columns."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from ssdzoo.evaluation.plots import draw_detections, plot_pr_curves, plot_training_curves
from ssdzoo.metrics import eval_detection_voc

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def read_rgb(path) -> np.ndarray:
    import matplotlib.image

    return (matplotlib.image.imread(path)[..., :3] * 255).round().astype(np.uint8)


def test_import_stays_light():
    code = "import sys, ssdzoo.evaluation.plots, ssdzoo.metrics; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_draw_detections_writes_image_sized_png(tmp_path):
    image = np.full((120, 160, 3), 40, np.uint8)
    boxes = np.array([[10, 20, 70, 100], [90, 30, 150, 90]], np.float32)
    out = draw_detections(image, boxes, np.array([0, 1]), np.array([0.93, 0.51]), ["cat", "dog"],
                          tmp_path / "det.png", gt_boxes=np.array([[12, 22, 68, 98]]))
    assert out == str(tmp_path / "det.png")
    assert png_size(out) == (160, 120)
    pixels = read_rgb(out)
    # The untouched background keeps its grey; the box edges are coloured.
    assert (pixels[110, 5] == 40).all()
    assert not (pixels[60, 150] == 40).all() and not (pixels[60, 10] == 40).all()
    # Without boxes the image comes back pixel for pixel.
    noise = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    empty = draw_detections(noise, np.zeros((0, 4)), [], [], [], tmp_path / "empty.png")
    np.testing.assert_array_equal(read_rgb(empty), noise)


def test_plot_pr_curves(tmp_path):
    gt = [np.array([[0, 0, 9, 9], [20, 20, 29, 29]], float)]
    result = eval_detection_voc([np.array([[0, 0, 9, 9], [50, 50, 59, 59], [20, 20, 29, 29]], float)],
                                [np.array([0, 0, 1])], [np.array([0.9, 0.8, 0.7])], gt, [np.array([0, 1])])
    out = plot_pr_curves(result, ["cat", "dog"], tmp_path / "pr.png")
    width, height = png_size(out)
    assert (width, height) == (700, 550)
    assert (tmp_path / "pr.png").stat().st_size > 10_000


CSV = """epoch,loss,lr,val_loss,val_map
0,9.5,0.001,8.7,NA
1,6.25,0.001,6.0,0.21
2,5.0,0.001,5.5,
3,4.5,0.0005,5.25,0.43
"""


def test_plot_training_curves_skips_missing_columns(tmp_path):
    csv_path = tmp_path / "log.csv"
    csv_path.write_text(CSV)
    # "map" is missing (only val_map exists) and NA / empty cells are skipped.
    out = plot_training_curves(csv_path, tmp_path / "curves.png", metrics=("loss", "val_loss", "map", "val_map"))
    assert png_size(out) == (700, 450)
    default = plot_training_curves(csv_path, tmp_path / "default.png")
    assert (tmp_path / "default.png").read_bytes() == (tmp_path / "curves.png").read_bytes()
    assert png_size(default) == (700, 450)
    # Only mAP columns, one axis.
    assert png_size(plot_training_curves(csv_path, tmp_path / "map.png", metrics=("val_map",))) == (700, 450)
    with pytest.raises(ValueError, match="none of"):
        plot_training_curves(csv_path, tmp_path / "none.png", metrics=("map", "accuracy"))


def test_plot_training_curves_uses_step_when_present(tmp_path):
    csv_path = tmp_path / "steps.csv"
    csv_path.write_text("epoch,step,loss\n" + "".join(f"{i // 10},{i * 50},{10 / (i + 1)}\n" for i in range(40)))
    out = plot_training_curves(csv_path, tmp_path / "steps.png", metrics=("loss", "val_loss"))
    assert png_size(out) == (700, 450) and (tmp_path / "steps.png").stat().st_size > 10_000
    epochs_only = tmp_path / "epochs.csv"
    epochs_only.write_text("\n".join(line.split(",", 2)[0] + "," + line.split(",", 2)[2]
                                     for line in csv_path.read_text().splitlines()))
    by_epoch = plot_training_curves(epochs_only, tmp_path / "epochs.png", metrics=("loss",))
    assert open(by_epoch, "rb").read() != open(out, "rb").read()  # a different x axis
