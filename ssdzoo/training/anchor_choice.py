"""The anchors a training run builds its model with: the SSD paper's, fitted ones, or a file's.

``--anchors auto`` fits them to the training split's boxes with the code of ``ssdzoo anchors``
(:func:`~ssdzoo.data.anchor_fit.advise_anchors`, its default settings); ``--anchors FILE`` reads
the JSON that ``ssdzoo anchors --out`` writes. The chosen :class:`AnchorConfig` goes into the
model's :class:`~ssdzoo.models.config.ArchConfig`, so a saved ``.keras`` and its exports decode
with the same anchors.
"""

from __future__ import annotations

import os

from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig
from ssdzoo.data.anchor_fit import advise_anchors, covered_share, map_sizes, normalised_boxes
from ssdzoo.data.records import Dataset

#: ``TrainConfig.anchors`` words; any other value is an AnchorConfig JSON file.
ANCHOR_CHOICES = ("default", "auto")


def check_anchors_setting(value: str) -> None:
    """``ValueError`` (one line) unless ``value`` is ``default``, ``auto`` or a readable AnchorConfig JSON file."""
    if value in ANCHOR_CHOICES:
        return
    if not isinstance(value, str) or not os.path.isfile(value):
        raise ValueError(f"anchors must be default, auto or an AnchorConfig JSON file (as `ssdzoo anchors "
                         f"--out` writes), got {value!r}: no such file")
    AnchorConfig.from_file(value)


def choose_anchors(setting: str, train: Dataset, input_size: int) -> tuple[AnchorConfig | None, dict]:
    """The anchors for ``setting`` (``None`` = the paper's) and the facts for the report; prints coverage.

    Coverage is the share of the training boxes whose best anchor IoU is >= 0.5; the facts for
    ``auto`` or a file are ``anchor_coverage_default`` (the paper's anchors) and ``anchor_coverage``
    (the chosen ones), 0..1.
    """
    if setting == "default":
        return None, {}
    default = DEFAULT_ANCHORS[input_size]
    if setting == "auto":
        advice = advise_anchors(train, default, input_size)
        chosen, before, after = advice.suggested, advice.coverage(), advice.coverage(suggested=True)
        source = f"fitted to {len(advice.labels)} training boxes (as `ssdzoo anchors`)"
    else:
        chosen, source = AnchorConfig.from_file(setting), f"from {setting}"
        boxes, _ = normalised_boxes(train)
        sizes = map_sizes(default, input_size)  # the model's maps at this input size
        if len(chosen.aspect_ratios) != len(sizes):
            raise ValueError(f"{setting}: anchors for {len(chosen.aspect_ratios)} maps; an SSD{input_size} "
                             f"has {len(sizes)}")
        before, after = (covered_share(boxes, c, sizes, input_size) for c in (default, chosen))
    print(f"anchors {source}: scales {list(chosen.scales)}, aspect ratios "
          f"{[list(r) for r in chosen.aspect_ratios]}; training boxes with an anchor at IoU >= 0.5: "
          f"{before:.1%} with the default anchors, {after:.1%} with these")
    return chosen, {"anchor_coverage_default": before, "anchor_coverage": after}
