"""``ssdzoo train``: one flag per :class:`~ssdzoo.training.config.TrainConfig` field, or a TOML
config (flags override it); SIGINT / SIGTERM save a checkpoint and exit 130 / 143."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import typing
import warnings

if typing.TYPE_CHECKING:
    from ssdzoo.training.config import TrainConfig


def _bool(text: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return words[text.lower()]


def _bool_or_auto(text: str) -> bool | str:
    if text.lower() == "auto":
        return "auto"
    try:
        return _bool(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected true, false or auto, got {text!r}") from None


def _duration(text: str) -> float:
    from ssdzoo.training.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _or_word(parse: type, words: tuple[str, ...]) -> typing.Callable[[str], object]:
    """``parse`` that also takes ``words`` (kept as the first word: ``none`` -> None in ``TrainConfig.from_dict``)."""

    def parse_or_word(text: str) -> object:
        return words[0] if text.strip().lower() in words else parse(text)

    parse_or_word.__name__ = parse.__name__  # argparse names the type in its error message
    return parse_or_word


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


#: Help beyond the default for flags that need it.
_HELP = {"anchors": "default (the paper's), auto (fitted to the training boxes, as `ssdzoo anchors` "
                    "suggests) or an AnchorConfig JSON file (default default)",
         "deterministic": "deterministic TensorFlow ops (tf.config.experimental.enable_op_determinism, "
                          "TF_ENABLE_ONEDNN_OPTS=0, one inter-op thread): with the same --seed, data and "
                          "machine, runs (also killed and resumed ones) mostly end with the same weights; a "
                          "rare difference in the last bits is left, which training then amplifies; slower "
                          "on CPU (default False)"}


def _add_flags(p: argparse.ArgumentParser) -> None:
    """One flag per field (``--batch-size``…); unset flags stay None."""
    from ssdzoo.training.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if field.name == "backbone_options":
            p.add_argument("--backbone-option", dest="backbone_options", type=_option,
                           action="append", metavar="KEY=VALUE",
                           help="a backbone option, e.g. alpha=0.5 for mobilenet (repeatable; "
                                "`ssdzoo info` lists each backbone's options)")
        elif bool in (kind, *typing.get_args(kind)):  # --ema alone means true; --cache also takes auto
            auto = str in typing.get_args(kind)
            p.add_argument(flag, type=_bool_or_auto if auto else _bool, nargs="?", const=True, default=None,
                           metavar="BOOL|auto" if auto else "BOOL",
                           help=_HELP.get(field.name, f"default {field.default}"))
        elif field.name == "time_budget":
            p.add_argument(flag, type=_or_word(_duration, ("none", "null")), default=None, metavar="DURATION",
                           help="stop training when this much time is spent (minutes, or 90s, 10m, 1h30m; "
                                "none: no limit); the learning-rate schedule is fitted to the steps that fit")
        elif field.name == "lr_decay_at":
            p.add_argument(flag, type=float, nargs="*", default=None, help=f"default {field.default}")
        else:
            base = next((t for t in (int, float, str) if t == kind or t in typing.get_args(kind)), str)
            if base is not str and type(None) in typing.get_args(kind):  # e.g. --prior-probability none
                base = _or_word(base, ("none", "null"))
            elif base is not str and field.default == "auto":  # e.g. --warmup-steps auto
                base = _or_word(base, ("auto",))
            p.add_argument(flag, type=base, default=None, help=f"default {field.default}")
    p.add_argument("--alpha", type=float, default=None,
                   help="MobileNet width multiplier (same as --backbone-option alpha=X)")
    p.add_argument("--config", help="TOML file with TrainConfig keys (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's :class:`TrainConfig`: the TOML file, then the flags over it.

    Backbone options of a config file that the chosen backbone does not take are dropped with a
    warning; the same options given as flags are an error."""
    from ssdzoo.training.config import TrainConfig

    values = dataclasses.asdict(TrainConfig.from_toml(args.config)) if args.config else {}
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if f.name != "backbone_options" and getattr(args, f.name) is not None}
    options = dict(args.backbone_options or [])
    if args.alpha is not None:
        options["alpha"] = args.alpha
    config = TrainConfig.from_dict({**values, **flags})
    if args.config:
        config.drop_foreign_options(f"config {args.config}")
    config.backbone_options.update(options)
    return config


def run(args: argparse.Namespace) -> int:
    """Train; on SIGINT / SIGTERM print how to resume and return 128 + the signal number."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
        config = config_from_args(args)
    if config.deterministic:  # before TensorFlow is imported
        from ssdzoo.training.run import without_onednn

        without_onednn()
    config.validate()  # bad input fails fast and quietly
    from ssdzoo.training.run import train
    from ssdzoo.training.signals import TrainingInterrupted

    try:
        train(config, resume=args.resume)
    except KeyboardInterrupt as err:
        argv = [a for a in args.argv if a != "--resume"]
        print(f"resume with: ssdzoo {shlex.join(argv)} --resume", flush=True)
        return err.exit_code if isinstance(err, TrainingInterrupted) else 130
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``train``."""
    p = sub.add_parser("train", help="train a detector (writes checkpoints, logs, report.md)")
    _add_flags(p)
    p.set_defaults(func=run)
