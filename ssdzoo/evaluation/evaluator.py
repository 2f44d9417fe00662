"""Evaluate a detector on annotated records: VOC07 11-point, VOC area and COCO mAP, per class."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ssdzoo.data.records import Dataset, Record
from ssdzoo.models.detector import Detections

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD


@dataclasses.dataclass
class EvalResult:
    """mAP figures and per-class AP (with ground-truth counts) of one evaluation."""

    class_names: list[str]
    voc07: dict
    voc_area: dict
    coco: dict | None
    detections: list[Detections]

    @property
    def map(self) -> float:
        """VOC07 11-point mAP at IoU 0.5 (the usual SSD figure)."""
        return float(self.voc07["map"])

    def table(self) -> str:
        """Per-class table: ground-truth boxes, AP50 (VOC07), AP50 (area), COCO AP if computed."""
        from ssdzoo.metrics import format_table

        columns = {"AP50 VOC07": self.voc07, "AP50 area": self.voc_area}
        if self.coco:
            columns["AP COCO"] = self.coco
        text = format_table(columns, self.class_names)
        if self.coco:
            c = self.coco
            text += (f"\n\nCOCO: AP {c['map']:.4f}, AP50 {c['map50']:.4f}, AP75 {c['map75']:.4f}, "
                     f"APs {c['map_small']:.4f}, APm {c['map_medium']:.4f}, APl {c['map_large']:.4f}")
        return text

    def __str__(self) -> str:
        return self.table()


def evaluate(model: SSD, records: Dataset | Sequence[Record], *, iou_thresh: float = 0.5, coco: bool = True,
             batch_size: int = 8, verbose: bool = True) -> EvalResult:
    """Run ``model.detect`` (preset "evaluate") on ``records`` and score it.

    Args:
        model: any detector with ``detect(paths, preset=..., batch_size=...)`` and ``class_names``
            (an :class:`ssdzoo.SSD`, a :func:`ssdzoo.load_exported` artifact) whose class order
            matches the records' labels.
        records: an :class:`ssdzoo.data.Dataset` or a list of :class:`Record`.
        coco: also compute COCO AP@[.5:.95] etc. with pycocotools.

    Returns:
        An :class:`EvalResult`; its table is printed when ``verbose``.
    """
    from ssdzoo.metrics import eval_detection_coco, eval_detection_voc

    records: list[Record] = list(records)
    if not records:
        raise ValueError("evaluate: no records to evaluate on")
    dets = model.detect([r.image_path for r in records], preset="evaluate", batch_size=batch_size)
    args = ([d.boxes for d in dets], [d.labels for d in dets], [d.scores for d in dets],
            [r.boxes for r in records], [r.labels for r in records])
    difficult = [r.difficult for r in records]
    voc = dict(gt_difficults=difficult, iou_thresh=iou_thresh, num_classes=len(model.class_names))
    result = EvalResult(
        class_names=list(model.class_names),
        voc07=eval_detection_voc(*args, use_07_metric=True, **voc),
        voc_area=eval_detection_voc(*args, use_07_metric=False, **voc),
        coco=eval_detection_coco(*args, class_names=list(model.class_names)) if coco else None,
        detections=dets,
    )
    if verbose:
        print(result.table())
    return result
