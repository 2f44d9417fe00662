"""Training recipes as data: a run's ``"auto"`` settings take the recipe of how its backbone starts.

``pretrained`` (ImageNet weights, a weights file or a weight set) is the SSD paper's: SGD
(momentum 0.9) after 500 warm-up steps, zoom-out up to 4x, the paper's head, no weight
averaging. ``scratch`` (random weights: ``weights=None``, a backbone without ImageNet weights,
or ImageNet weights that cannot be had offline) is the one the ablation chose for small data
sets on short budgets (BENCHMARKS.md "Ablation"): AdamW after 50 warm-up steps, no zoom-out,
BatchNorm in the head, weight EMA. A setting given explicitly (flag, TOML key, keyword) is kept.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssdzoo.training.config import TrainConfig

AUTO = "auto"
#: Each recipe's value for every setting whose default is ``"auto"``.
RECIPES: dict[str, dict[str, object]] = {
    "pretrained": {"optimizer": "sgd", "warmup_steps": 500, "zoom_out": 4.0, "head_norm": "none", "ema": False},
    "scratch": {"optimizer": "adam", "warmup_steps": 50, "zoom_out": 1.0, "head_norm": "batch", "ema": True},
}
RECIPE_KEYS = tuple(RECIPES["scratch"])


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where a run's backbone weights come from: ``from_scratch`` and a note for the report."""

    from_scratch: bool
    note: str

    @property
    def recipe(self) -> str:
        """``"scratch"`` or ``"pretrained"``: the :data:`RECIPES` entry for these weights."""
        return "scratch" if self.from_scratch else "pretrained"


def weights_source(config: TrainConfig) -> WeightsSource:
    """Whether ``config``'s backbone will start from scratch, decided before anything is built.

    For ``weights="imagenet"`` it is :func:`~ssdzoo.models.builders.imagenet_or_scratch`'s
    decision (the file is fetched into the Keras cache; offline, the run trains from scratch)."""
    from ssdzoo.models.builders import imagenet_or_scratch

    if config.weights is None:
        return WeightsSource(True, "None")
    if config.weights != "imagenet":  # a weights file or a weight set
        return WeightsSource(False, str(config.weights))
    weights, note = imagenet_or_scratch(config.backbone, config.input_size, **config.backbone_options)
    return WeightsSource(weights is None, note)


def resolve_recipe(config: TrainConfig, from_scratch: bool) -> TrainConfig:
    """A copy of ``config`` whose ``"auto"`` settings hold the values of its recipe."""
    recipe = RECIPES["scratch" if from_scratch else "pretrained"]
    return dataclasses.replace(config, **{key: value for key, value in recipe.items()
                                          if getattr(config, key) == AUTO})


def check_resolved(config: TrainConfig, keys: tuple[str, ...] = RECIPE_KEYS) -> None:
    """``ValueError`` naming the settings among ``keys`` still ``"auto"`` (resolve the recipe first)."""
    left = [key for key in keys if getattr(config, key) == AUTO]
    if left:
        raise ValueError(f"{', '.join(left)} still 'auto': resolve the recipe first "
                         f"(ssdzoo.training.recipes.resolve_recipe)")


def recipe_note(config: TrainConfig, resolved: TrainConfig, recipe: str) -> str:
    """One line for the report: the recipe and the values it gave the ``"auto"`` settings."""
    chosen = [f"{key} {getattr(resolved, key)}" for key in RECIPE_KEYS if getattr(config, key) == AUTO]
    return f"{recipe}" + (f" ({', '.join(chosen)})" if chosen else " (every recipe setting given explicitly)")
