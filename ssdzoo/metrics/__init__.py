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
    (keys ``ap``, ``num_gt``, ``map``), or a dict ``{column title: such a result}`` to show
    several metrics side by side (ground-truth counts come from the first). Classes beyond
    ``len(result["ap"])`` have neither ground truth nor detections. ``sort=True`` lists the
    worst AP (first column) first; AP shows "n/a" for classes without ground truth, which do
    not enter the mean.
    """
    columns = {"AP": result} if "ap" in result else dict(result)
    aps = []
    for title, res in columns.items():
        ap = np.asarray(res["ap"], np.float64)
        if len(ap) > len(class_names):
            raise ValueError(f"{title}: result has {len(ap)} classes but only {len(class_names)} "
                             f"class names were given")
        aps.append(np.concatenate([ap, np.full(len(class_names) - len(ap), np.nan)]))
    first = next(iter(columns.values()))
    num_gt = np.asarray(first["num_gt"])
    num_gt = np.concatenate([num_gt, np.zeros(len(class_names) - len(num_gt), num_gt.dtype)])

    order = np.argsort(np.nan_to_num(aps[0], nan=np.inf), kind="stable") if sort else range(len(class_names))
    width = max([len("class"), len("**mAP**"), *map(len, class_names)])
    titles = [f"{t:>6}" for t in columns]
    lines = [f"| {'class':<{width}} | gt boxes | " + " | ".join(titles) + " |",
             f"|{'-' * (width + 2)}|---------:|" + "|".join("-" * (len(t) + 1) + ":" for t in titles) + "|"]
    for c in order:
        cells = " | ".join(f"{_fmt(ap[c]):>{len(t)}}" for ap, t in zip(aps, titles))
        lines.append(f"| {class_names[c]:<{width}} | {num_gt[c]:>8} | {cells} |")
    cells = " | ".join(f"{_fmt(res['map']):>{len(t)}}" for res, t in zip(columns.values(), titles))
    lines.append(f"| {'**mAP**':<{width}} | {num_gt.sum():>8} | {cells} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "   n/a" if np.isnan(value) else f"{value:6.4f}"
