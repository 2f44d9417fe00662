"""The anchors a training run builds its model with: the SSD paper's, fitted ones, or a file's.

``--anchors auto`` fits them with the code of ``ssdzoo anchors`` and its default settings
(:func:`~ssdzoo.data.anchor_fit.advise_anchors` on the boxes of ``DEFAULT_PASSES`` augmented
passes, the boxes training matches anchors to); ``--anchors FILE`` reads the JSON that
``ssdzoo anchors --out`` writes. The chosen :class:`AnchorConfig` goes into the model's
:class:`~ssdzoo.models.config.ArchConfig`, so a saved ``.keras`` and its exports decode with the
same anchors.
"""

from __future__ import annotations

import os

from ssdzoo.core.anchors import DEFAULT_ANCHORS, AnchorConfig
from ssdzoo.data.anchor_fit import advise_anchors, covered_share, map_sizes, normalised_boxes
from ssdzoo.data.records import Dataset
from ssdzoo.data.training_boxes import DEFAULT_PASSES, augmented_boxes

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


def choose_anchors(setting: str, train: Dataset, input_size: int,
                   zoom_out: float = 4.0) -> tuple[AnchorConfig | None, dict]:
    """The anchors for ``setting`` (``None`` = the paper's) and the facts for the report; prints coverage.

    Coverage is the share of training boxes whose best anchor IoU is >= 0.5, 0..1; the facts for
    ``auto`` or a file are ``anchor_coverage_default`` and ``anchor_coverage`` (the paper's and
    the chosen anchors on the boxes as annotated, what evaluation sees) and
    ``anchor_coverage_augmented_default`` and ``anchor_coverage_augmented`` (on the boxes of
    ``DEFAULT_PASSES`` augmented passes, seed 0, what training matches).
    """
    if setting == "auto":
        return _fitted(train, input_size, zoom_out)
    if setting == "default":
        return None, {}
    default, chosen = DEFAULT_ANCHORS[input_size], AnchorConfig.from_file(setting)
    sizes = map_sizes(default, input_size)  # the model's maps at this input size
    if len(chosen.aspect_ratios) != len(sizes):
        raise ValueError(f"{setting}: anchors for {len(chosen.aspect_ratios)} maps; an SSD{input_size} "
                         f"has {len(sizes)}")
    augmented, _ = augmented_boxes(train, DEFAULT_PASSES, seed=0, zoom_out=zoom_out)
    shares = [covered_share(augmented, c, sizes, input_size) for c in (default, chosen)]
    return chosen, _report(chosen, f"from {setting}", train, input_size, shares)


def _fitted(train: Dataset, input_size: int, zoom_out: float) -> tuple[AnchorConfig, dict]:
    """``auto``: the anchors ``ssdzoo anchors`` suggests for ``train`` and the report's facts."""
    advice = advise_anchors(train, DEFAULT_ANCHORS[input_size], input_size, augment_passes=DEFAULT_PASSES,
                            zoom_out=zoom_out)
    source = f"fitted to {advice.fitted_to} of the training split ({len(advice.labels)} boxes, as `ssdzoo anchors`)"
    return advice.suggested, _report(advice.suggested, source, train, input_size,
                                     [advice.coverage(), advice.coverage(suggested=True)])


def _report(chosen: AnchorConfig, source: str, train: Dataset, input_size: int,
            augmented: list[float]) -> dict:
    """Print the chosen anchors and their coverage; the facts (see :func:`choose_anchors`)."""
    default = DEFAULT_ANCHORS[input_size]
    boxes, _ = normalised_boxes(train)
    sizes = map_sizes(default, input_size)
    before, after = (covered_share(boxes, c, sizes, input_size) for c in (default, chosen))
    print(f"anchors {source}: scales {list(chosen.scales)}, aspect ratios "
          f"{[list(r) for r in chosen.aspect_ratios]}; training boxes with an anchor at IoU >= 0.5: "
          f"{before:.1%} with the default anchors, {after:.1%} with these; after augmentation "
          f"{augmented[0]:.1%} and {augmented[1]:.1%}")
    return {"anchor_coverage_default": before, "anchor_coverage": after,
            "anchor_coverage_augmented_default": augmented[0], "anchor_coverage_augmented": augmented[1]}
