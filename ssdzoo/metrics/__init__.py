"""Detection metrics as plain functions on per-image numpy arrays.

Boxes are ``x1 y1 x2 y2`` pixels, labels 0-based class indices (docs/CONVENTIONS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssdzoo.metrics.coco import eval_detection_coco
from ssdzoo.metrics.voc import eval_detection_voc

__all__ = ["eval_detection_coco", "eval_detection_voc", "format_table"]


def format_table(result: dict, class_names: Sequence[str], sort: bool = False) -> str:
    """Markdown table of per-class AP and ground-truth counts, then the mAP line.

    ``result`` is what ``eval_detection_voc`` or ``eval_detection_coco`` returned
    (keys ``ap``, ``num_gt``, ``map``). Classes beyond ``len(result["ap"])`` have
    neither ground truth nor detections. ``sort=True`` lists the worst AP first; AP
    shows "n/a" for classes without ground truth, which do not enter the mean.
    """
    ap, num_gt = np.asarray(result["ap"], np.float64), np.asarray(result["num_gt"])
    if len(ap) > len(class_names):
        raise ValueError(f"result has {len(ap)} classes but only {len(class_names)} class names were given")
    missing = len(class_names) - len(ap)
    ap = np.concatenate([ap, np.full(missing, np.nan)])
    num_gt = np.concatenate([num_gt, np.zeros(missing, num_gt.dtype)])

    order = np.argsort(np.nan_to_num(ap, nan=np.inf), kind="stable") if sort else range(len(ap))
    width = max([len("class"), len("**mAP**"), *map(len, class_names)])
    lines = [f"| {'class':<{width}} | gt boxes |     AP |", f"|{'-' * (width + 2)}|---------:|-------:|"]
    lines += [f"| {class_names[c]:<{width}} | {num_gt[c]:>8} | {_fmt(ap[c])} |" for c in order]
    lines.append(f"| {'**mAP**':<{width}} | {num_gt.sum():>8} | {_fmt(result['map'])} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "   n/a" if np.isnan(value) else f"{value:6.4f}"
