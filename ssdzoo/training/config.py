"""``TrainConfig``: every setting of a training run, with its checks (CLI flags and TOML keys
use the field names)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings

from ssdzoo.training.recipes import AUTO

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("step", "cosine")
LOSSES = ("mining", "focal")
BOX_LOSSES = ("smooth_l1", "giou")
DISTRIBUTE = ("auto", "none", "mirrored", "multiworker")
_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s)?")
#: Fields that take ``None`` from the command line or TOML as ``"none"`` (or an empty string).
_NONE_WORDS = ("none", "null", "")
#: Old keys still read from config files: key -> the ``backbone_options`` entry it sets.
LEGACY_OPTION_KEYS = {"alpha": "alpha"}


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on (CLI flags and TOML keys use these names)."""

    backbone: str = "mobilenet"
    backbone_options: dict = dataclasses.field(default_factory=dict)  # e.g. {"alpha": 0.5}
    data: str = "data/BCCD"
    format: str | None = "voc"
    train_split: str = "train"
    val_split: str | None = "val"
    test_split: str | None = "test"
    input_size: int = 300
    weights: str | None = "imagenet"
    head_width: float = 1.0
    head: str = "ssd"                   # registered head: ssd, lite, or a user's
    head_norm: str = "auto"             # none, batch, group; auto: the recipe's (batch from scratch, else none)
    prior_probability: float | None = 0.01  # class-logit bias init: p(class) at step 0 (RetinaNet); none: zero
    anchors: str = "default"            # default (the paper's), auto (fit to the train split), or a JSON file
    batch_size: int = 8
    epochs: int = 40
    steps_per_epoch: int | None = None
    optimizer: str = "auto"             # sgd, adam (AdamW); auto: the recipe's (training/recipes.py)
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clipnorm: float = 0.0               # global gradient-norm clip, 0 = off (try 10 for VGG from scratch)
    warmup_steps: int | str = "auto"    # linear warm-up steps; auto: the recipe's (50 from scratch, else 500)
    schedule: str = "step"              # step (lr_decay_at) or cosine (to 0 at the end), both after warm-up
    lr_decay_at: tuple[float, ...] = (2 / 3, 5 / 6)   # fractions of the run, x0.1 each (schedule step)
    loss: str = "mining"                # mining (hard negatives 3:1) or focal (all anchors)
    box_loss: str = "smooth_l1"         # smooth_l1 on the offsets (SSD) or giou on the decoded boxes
    ema: bool | str = "auto"            # weight EMA: evaluated, saved and reported weights are the averages
    ema_momentum: float = 0.99
    precise_bn: int = 10                # batches that re-estimate BatchNorm statistics before evaluating (0 = off)
    freeze_epochs: int = 0
    unfreeze_from: str | None = None
    eval_every: int = 1                 # epochs; 0 = no validation (and no best.keras)
    seed: int = 0
    deterministic: bool = False         # deterministic TensorFlow ops: same seed and data, same weights (slower)
    cache: bool | str = "auto"           # decoded images in memory: true, false, or auto (if they fit 1/4 of RAM)
    out: str = "runs/train"
    mosaic: float = 0.0                 # probability a training image becomes a 4-image mosaic
    mixup: float = 0.0                  # probability a training image is blended with another
    zoom_out: float | str = "auto"      # SSD zoom-out: canvas up to this x the image (p 0.5); 1 = off
    time_budget: float | None = None    # minutes of training (fit, incl. validation); the schedule fits it
    distribute: str = "auto"            # auto (all GPUs if >1), none, mirrored, multiworker (TF_CONFIG)
    backup_every: int = 0               # steps between mid-epoch checkpoints (last.keras), 0 = epoch ends only
    mixed_precision: bool = False       # mixed_float16 on GPU, mixed_bfloat16 on a CPU with BF16
    jit_compile: bool | None = None     # XLA train step; none = Keras' auto: on with a GPU, off on CPU (slower there)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Config from a dict (e.g. a TOML file); unknown keys are an error.

        ``"none"`` means None for the optional fields; the old top-level ``alpha`` key is read as
        ``backbone_options.alpha``."""
        values = dict(values)
        options = dict(values.pop("backbone_options", None) or {})
        for key, option in LEGACY_OPTION_KEYS.items():
            if key in values:
                value = values.pop(key)
                if value is not None:
                    options.setdefault(option, value)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
        for name, value in values.items():
            if isinstance(value, str) and value.strip().lower() in _NONE_WORDS and "None" in str(fields[name].type):
                values[name] = None
        if isinstance(values.get("time_budget"), str):
            values["time_budget"] = parse_duration(values["time_budget"])
        if "lr_decay_at" in values:
            values["lr_decay_at"] = tuple(values["lr_decay_at"] or ())
        return cls(backbone_options=options, **values)

    @classmethod
    def from_toml(cls, path: str) -> TrainConfig:
        """Config from a TOML file of :class:`TrainConfig` keys."""
        import tomllib

        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file {path!r} does not exist")
        try:
            with open(path, "rb") as f:
                return cls.from_dict(tomllib.load(f))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {path!r} is not valid TOML: {err}") from None

    def drop_foreign_options(self, source: str) -> None:
        """Remove, with a warning naming ``source``, the backbone options the chosen backbone does not take.

        For a config file written for another backbone."""
        from ssdzoo.models.registry import get_backbone

        spec = get_backbone(self.backbone)
        for key in [k for k in self.backbone_options if k not in spec.options]:
            value = self.backbone_options.pop(key)
            warnings.warn(f"{source}: backbone option {key}={value!r} is ignored: backbone "
                          f"{spec.name!r} takes {spec.describe_options()}", stacklevel=2)

    def validate(self) -> None:
        """One clear ``ValueError`` / ``FileNotFoundError`` for the first bad setting."""
        from ssdzoo.models.heads import get_head
        from ssdzoo.models.registry import get_backbone
        from ssdzoo.training.anchor_choice import check_anchors_setting

        if not os.path.exists(self.data):
            raise FileNotFoundError(f"data folder {self.data!r} does not exist")
        if self.optimizer not in (AUTO, *OPTIMIZERS):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {(AUTO, *OPTIMIZERS)}")
        spec = get_backbone(self.backbone)  # unknown backbone -> ValueError listing the known ones
        get_head(self.head)  # unknown head -> ValueError listing the known ones
        self.backbone_options = spec.check_options(self.backbone_options)
        check_anchors_setting(self.anchors)
        if self.input_size not in (300, 512):
            raise ValueError(f"input_size must be 300 or 512, got {self.input_size}")
        _at_least("batch_size", self.batch_size, 1)
        _at_least("epochs", self.epochs, 1)
        if self.steps_per_epoch is not None:
            _at_least("steps_per_epoch", self.steps_per_epoch, 1)
        if self.warmup_steps != AUTO:
            _at_least("warmup_steps", self.warmup_steps, 0)
        if self.ema not in (AUTO, True, False):
            raise ValueError(f"ema must be true, false or auto, got {self.ema!r}")
        _at_least("freeze_epochs", self.freeze_epochs, 0)
        _at_least("eval_every", self.eval_every, 0)
        _at_least("precise_bn", self.precise_bn, 0)
        _at_least("backup_every", self.backup_every, 0)
        if self.time_budget is not None and not (math.isfinite(self.time_budget) and self.time_budget > 0):
            raise ValueError(f"time_budget must be a duration > 0 (minutes, or e.g. 90s, 10m, 1h30m), "
                             f"got {self.time_budget}")
        if isinstance(self.cache, str) and self.cache != "auto":
            raise ValueError(f"cache must be true, false or auto, got {self.cache!r}")
        if self.distribute not in DISTRIBUTE:
            raise ValueError(f"unknown distribute {self.distribute!r}; choose from {DISTRIBUTE}")
        if self.distribute == "multiworker" and not os.environ.get("TF_CONFIG"):
            raise ValueError("distribute multiworker needs the TF_CONFIG environment variable "
                             "(cluster and this task; see README, GPU and several machines)")
        for name in ("lr", "head_width"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a number > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "clipnorm"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a number >= 0 (0 = off), got {getattr(self, name)}")
        for name in ("mosaic", "mixup"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(f"{name} is a probability in [0, 1], got {value!r}")
        from ssdzoo.data.options import check_zoom_out

        if self.zoom_out != AUTO:
            check_zoom_out(self.zoom_out)
        for name in ("momentum", "ema_momentum"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        from ssdzoo.models.heads.base import HEAD_NORMS

        for name, allowed in (("schedule", SCHEDULES), ("loss", LOSSES), ("box_loss", BOX_LOSSES),
                              ("head_norm", ("auto", *HEAD_NORMS))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose from {allowed}")
        if self.prior_probability is not None and not 0 < self.prior_probability < 1:
            raise ValueError(f"prior_probability must be in (0, 1) (or none), got {self.prior_probability}")
        if any(not 0 < f < 1 for f in self.lr_decay_at):
            raise ValueError(f"lr_decay_at takes fractions of the run in (0, 1), got {list(self.lr_decay_at)}")
        if not self.out:
            raise ValueError("out must name an output folder")
        if self.val_split is None and self.test_split is None:
            raise ValueError("val_split and test_split are both none: the run needs one of them "
                             "to evaluate the model on")
        from ssdzoo.data.readers import FORMATS

        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"unknown annotation format {self.format!r}; expected one of "
                             f"{', '.join(FORMATS)} (or none: detected)")


def parse_duration(text: str) -> float:
    """Minutes in ``"10"`` (minutes), ``"90s"``, ``"10m"``, ``"1.5h"`` or ``"1h30m"``; ``ValueError`` otherwise."""
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text)
    if not text or not match:
        raise ValueError(f"time_budget must be minutes or a duration like 90s, 10m, 1h30m; got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 60 + minutes + seconds / 60


def _at_least(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
