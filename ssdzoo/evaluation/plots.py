"""PNG plots: detections on an image, PR curves, training curves.

matplotlib is imported inside the functions (Agg backend, no display), so
``import ssdzoo`` stays light. Boxes are ``x1 y1 x2 y2`` pixels, labels 0-based
class indices (docs/CONVENTIONS.md).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence

import numpy as np


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(label: int) -> tuple:
    """An RGBA colour per class: the 10 dark tab20 hues first, then their light twins."""
    from matplotlib import colormaps

    label = int(label) % 20
    return colormaps["tab20"](2 * label % 20 + label // 10)


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    path: str | os.PathLike,
    gt_boxes: np.ndarray | None = None,
) -> str:
    """Writes ``image`` (RGB uint8, ``(H, W, 3)``) with detections to the PNG ``path``.

    ``boxes`` ``(R, 4)`` are ``x1 y1 x2 y2`` pixels of ``image``, drawn in a colour
    per class with a "name 0.93" caption; ``gt_boxes`` ``(G, 4)``, same format, are
    drawn as white dashed lines. The PNG has the image's pixel size. Returns ``path``.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.set_axis_off()
    gt = np.zeros((0, 4)) if gt_boxes is None else np.asarray(gt_boxes).reshape(-1, 4)
    for x1, y1, x2, y2 in gt:
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white", linewidth=1.2,
                               linestyle="--"))
    for (x1, y1, x2, y2), label, score in zip(np.asarray(boxes).reshape(-1, 4), labels, scores):
        color = _color(label)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ax.text(x1, y1, f"{class_names[int(label)]} {score:.2f}", fontsize=7, va="bottom",
                color="black" if luminance > 0.5 else "white",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
    ax.set_xlim(-0.5, w - 0.5)  # exactly the image (pixel centres on integers), whatever the boxes
    ax.set_ylim(h - 0.5, -0.5)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def plot_pr_curves(result: dict, class_names: Sequence[str], path: str | os.PathLike) -> str:
    """Writes one precision-recall curve per class with AP in the legend to the PNG ``path``.

    ``result`` is what ``ssdzoo.metrics.eval_detection_voc`` returned; classes
    without ground truth (AP nan) are left out. Returns ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    for c, (prec, rec) in enumerate(zip(result["precision"], result["recall"])):
        if rec is None:
            continue
        # Start at recall 0 with the first precision so a one-point curve is visible; the
        # end marker shows the recall reached even where curves overlap.
        x, y = np.r_[0.0, rec], (np.r_[prec[:1], prec] if len(prec) else [0.0])
        ax.plot(x, y, color=_color(c), marker="o", markevery=[len(x) - 1], markersize=5,
                label=f"{class_names[c]} (AP {result['ap'][c]:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05),
           title=f"Precision-recall per class, mAP {result['map']:.3f}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def plot_training_curves(
    csv_path: str | os.PathLike,
    path: str | os.PathLike,
    metrics: Sequence[str] = ("loss", "val_loss", "map", "val_map"),
) -> str:
    """Plots the ``metrics`` columns of a Keras ``CSVLogger`` file to the PNG ``path``.

    The x axis is ``step`` if the file has that column, else ``epoch``. Requested
    columns that the file lacks are skipped, as are empty / "NA" cells. Columns whose
    name contains "map" go on a second y axis (0-1); losses on the first. Returns
    ``path``; raises ``ValueError`` when none of ``metrics`` is in the file.
    """
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = rows[0].keys() if rows else []
    x_name = "step" if "step" in columns else "epoch"
    present = [m for m in metrics if m in columns]
    if not present:
        raise ValueError(f"none of {list(metrics)} in {csv_path} (columns: {list(columns)})")

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    has_map = any("map" in m for m in present)
    has_loss = not all("map" in m for m in present)
    ax_map = ax.twinx() if has_map and has_loss else ax
    x = np.array([_float(r.get(x_name)) for r in rows])
    for i, name in enumerate(present):
        y = np.array([_float(r[name]) for r in rows])
        ok = ~np.isnan(x) & ~np.isnan(y)
        target = ax_map if "map" in name else ax
        target.plot(x[ok], y[ok], marker="o" if ok.sum() < 30 else None, markersize=3,
                    linestyle="--" if name.startswith("val_") else "-", color=f"C{i}", label=name)
    ax.set(xlabel=x_name, ylabel="loss" if has_loss else "mAP")
    if has_map:
        ax_map.set(ylabel="mAP", ylim=(0, 1))
    handles, labels = ax.get_legend_handles_labels()
    if ax_map is not ax:
        more = ax_map.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.grid(alpha=0.3)
    ax.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def _float(cell: str | None) -> float:
    """A CSV cell as float; empty, missing or unparsable ("NA") cells are nan."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return math.nan


def plot_map_vs_fps(runs: Sequence[dict], path: str | os.PathLike) -> str:
    """Scatter of test mAP against frames per second, one labelled point per run.

    ``runs`` are dicts with ``backbone``, ``map_voc07`` and ``fps_batch1`` (the
    ``results.json`` a training run writes). Returns ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for i, run in enumerate(runs):
        ax.scatter(run["fps_batch1"], run["map_voc07"], s=60, color=_color(i))
        ax.annotate(run["backbone"], (run["fps_batch1"], run["map_voc07"]),
                    textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.set(xlabel="frames per second (batch 1, incl. NMS)", ylabel="test mAP@0.5 (VOC07)",
           ylim=(0, 1), title="mAP vs speed")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
