"""The training report: test-set evaluation, speed, pictures and ``report.md``."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ssdzoo.utils.machine import cpu_description

if TYPE_CHECKING:
    from ssdzoo.data.records import Dataset, Record
    from ssdzoo.models.ssd import SSD
    from ssdzoo.training.config import TrainConfig


def _pictures(model, records, result, out: str, log_csv: str | None, count: int = 2) -> list[str]:
    from ssdzoo.evaluation.plots import draw_detections, plot_pr_curves, plot_training_curves
    from ssdzoo.utils.images import read_image

    paths = []
    visual = model.detect([r.image_path for r in records[:count]], preset="visualize")
    for i, (record, det) in enumerate(zip(records, visual)):
        paths.append(draw_detections(read_image(record.image_path), det.boxes, det.labels, det.scores,
                                     model.class_names, os.path.join(out, f"detections_{i}.png"),
                                     gt_boxes=record.boxes))
    paths.append(plot_pr_curves(result.voc_area, model.class_names, os.path.join(out, "pr_curves.png")))
    if log_csv and os.path.isfile(log_csv):
        try:
            paths.append(plot_training_curves(log_csv, os.path.join(out, "curves.png")))
        except ValueError as err:  # a log without any of the plotted columns
            print(f"note: no training curves ({err})")
    return paths


def _anchor_line(summary: dict) -> str:
    """The report line on the model's anchors: the setting, its scales and ratios, and their coverage if measured."""
    anchors = summary["anchor_config"]
    line = (f"- Anchors: {summary['anchors']}: scales {list(anchors['scales'])}, aspect ratios "
            f"{anchors['aspect_ratios']}")
    if "anchor_coverage" in summary:
        line += (f"; training boxes with an anchor at IoU >= 0.5: {summary['anchor_coverage']:.1%} "
                 f"(default anchors {summary['anchor_coverage_default']:.1%})")
    if "anchor_coverage_augmented" in summary:
        line += (f"; after augmentation {summary['anchor_coverage_augmented']:.1%} "
                 f"(default anchors {summary['anchor_coverage_augmented_default']:.1%})")
    return line


def _run_lines(summary: dict) -> list[str]:
    """Report lines on how the run trained: replicas, precision, and the time budget if any."""
    lines = []
    if "replicas" in summary:
        lines.append(f"- Devices: {summary['replicas']} replica(s), distribute {summary['distribute']}; "
                     f"precision {summary['precision']}")
    if summary.get("time_budget_min"):
        where = summary["budget_stopped_at_step"]
        lines.append(f"- Time budget {summary['time_budget_min']:g} min: "
                     + (f"**budget-limited**, stopped at step {where} ({summary['budget_reason']})"
                        if where is not None else "not reached (the run finished its epochs)")
                     + f"; schedule fitted to {summary['schedule_total_steps']} steps")
    return lines


def write_report(model: SSD, config: TrainConfig, records: Dataset | Sequence[Record], *,
                 weights_note: str, train_seconds: float | None,
                 log_csv: str | None = None, facts: dict | None = None) -> dict:
    """Evaluate ``model`` on ``records`` and write ``report.md`` and ``results.json``; returns the results.

    Also measures its speed and draws pictures; everything goes into ``config.out``. ``facts``
    (devices, precision, time budget: see :func:`_run_lines`) go into both files."""
    from ssdzoo.evaluation.bench import inference_seconds
    from ssdzoo.evaluation.evaluator import evaluate

    records = list(records)
    result = evaluate(model, records, verbose=True)
    latency = inference_seconds(model, batch_size=1)
    pictures = _pictures(model, records, result, config.out, log_csv)
    summary = {
        "backbone": model.backbone_name,
        "weights": weights_note,
        "map_voc07": result.map,
        "map_area": float(result.voc_area["map"]),
        "coco_ap": float(result.coco["map"]) if result.coco else None,
        "per_class_ap_voc07": dict(zip(model.class_names, map(float, result.voc07["ap"]))),
        "num_gt": dict(zip(model.class_names, map(int, result.voc07["num_gt"]))),
        "test_images": len(records),
        "latency_ms_batch1": latency * 1e3,
        "fps_batch1": 1.0 / latency,
        "train_seconds": train_seconds,
        "steps": int(model.optimizer.iterations.numpy()) if model.optimizer else None,
        "machine": cpu_description(),
        "anchors": config.anchors,
        "anchor_config": model.anchor_config.to_dict(),
        **(facts or {}),
    }
    with open(os.path.join(config.out, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    lines = [
        f"# ssdzoo training report: {model.backbone_name} on {config.data}",
        "",
        f"- **Test mAP@0.5 (VOC07 11-point): {result.map:.4f}** on {len(records)} images "
        f"(area rule {summary['map_area']:.4f}"
        + (f", COCO AP@[.5:.95] {summary['coco_ap']:.4f})" if result.coco else ")"),
        f"- Backbone weights: {weights_note}"
        + (f"; recipe {summary['recipe']}" if summary.get("recipe") else ""),
        f"- Speed: {latency * 1e3:.1f} ms per image at batch 1 incl. NMS ({1 / latency:.1f} FPS), "
        f"{summary['machine']}",
        f"- Model: the checkpoint at training step {summary['steps']}; fit took "
        + (f"{train_seconds / 60:.1f} min (wall clock, incl. validation)" if train_seconds else "n/a"),
        _anchor_line(summary),
        *_run_lines(summary),
        "",
        "## Per-class AP (model with the best validation mAP)",
        "",
        result.table(),
        "",
        "## Pictures",
        "",
        *[f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in pictures],
        "",
        "## Config",
        "",
        "```json",
        json.dumps(dataclasses.asdict(config), indent=2),
        "```",
    ]
    with open(os.path.join(config.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"\nreport: {os.path.join(config.out, 'report.md')}")
    return summary
