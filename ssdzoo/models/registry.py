"""The backbone registry: which pretrained network, cut where, preprocessed how.

Entries live in ``backbones/`` (installed as ``ssdzoo.backbones``); users add their own with
:func:`register_backbone`::

    @ssdzoo.register_backbone("efficientnetb0", cut_layer="block3b_add", preprocessing="none")
    def efficientnetb0(input_shape, weights):
        return keras.applications.EfficientNetB0(include_top=False, weights=weights,
                                                 input_shape=input_shape)
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable

_REGISTRY: dict[str, BackboneSpec] = {}
_LOADED = False


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One registry entry.

    Attributes:
        name: registry key (lower case).
        constructor: ``f(input_shape, weights, **options) -> keras.Model`` building the full
            feature extractor (e.g. a ``keras.applications`` model with ``include_top=False``);
            ``weights`` is ``None``, ``"imagenet"`` or a file path.
        cut_layer: default layer whose output feeds the SSD head.
        preprocessing: :class:`ssdzoo.layers.Preprocess` mode (``caffe``, ``tf``, ``torch``, ``none``).
        min_input: smallest input side in pixels the network accepts.
        pretrained: whether ``weights="imagenet"`` is available.
        description: one line for ``ssdzoo info``.
        options: the keyword options the constructor takes and their defaults (MobileNet's
            ``alpha``, the small net's ``width``), read from its signature.
    """

    name: str
    constructor: Callable
    cut_layer: str
    preprocessing: str
    min_input: int = 32
    pretrained: bool = True
    description: str = ""
    options: dict = dataclasses.field(default_factory=dict)

    def describe_options(self) -> str:
        """``"alpha (default 1.0)"``-style list of the options, or ``"no options"``."""
        if not self.options:
            return "no options"
        return "options " + ", ".join(f"{k} (default {v!r})" for k, v in self.options.items())

    def check_options(self, options: dict) -> dict:
        """``options`` with each value converted to its default's type.

        ``ValueError`` naming the option, this backbone and the options it takes for an unknown option
        or a value that does not convert."""
        checked = {}
        for key, value in (options or {}).items():
            if key not in self.options:
                raise ValueError(f"backbone {self.name!r} takes no option {key!r}; it takes "
                                 f"{self.describe_options()}")
            kind = type(self.options[key])
            try:
                if kind is bool or isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise TypeError
                checked[key] = kind(value) if self.options[key] is not None else value
            except (TypeError, ValueError):
                expected = {int: "an integer", float: "a number", str: "a string"}.get(kind, kind.__name__)
                raise ValueError(f"backbone {self.name!r} option {key}={value!r}: expected "
                                 f"{expected}") from None
            if kind is int and float(value) != checked[key]:
                raise ValueError(f"backbone {self.name!r} option {key}={value!r}: expected an integer")
        return checked


def _signature_options(constructor: Callable) -> dict:
    """Keyword parameters after ``(input_shape, weights)`` with their defaults."""
    params = list(inspect.signature(constructor).parameters.values())[2:]
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def register_backbone(
    name: str,
    *,
    cut_layer: str,
    preprocessing: str,
    min_input: int = 32,
    pretrained: bool = True,
    description: str = "",
    overwrite: bool = False,
) -> Callable:
    """Decorator registering ``constructor(input_shape, weights, **options)`` as a backbone.

    Its keyword parameters with defaults are the backbone's options."""

    def decorator(constructor: Callable) -> Callable:
        key = name.lower()
        if key in _REGISTRY and not overwrite:
            raise ValueError(f"backbone {key!r} is already registered (pass overwrite=True)")
        _REGISTRY[key] = BackboneSpec(key, constructor, cut_layer, preprocessing, min_input,
                                      pretrained, description or (constructor.__doc__ or "").strip(),
                                      _signature_options(constructor))
        return constructor

    return decorator


def _load_entries() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        importlib.import_module("ssdzoo.backbones")


def list_backbones() -> list[str]:
    """Names of all registered backbones, sorted."""
    _load_entries()
    return sorted(_REGISTRY)


def get_backbone(name: str) -> BackboneSpec:
    """The registry entry for ``name``; ``ValueError`` listing the known names otherwise."""
    _load_entries()
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown backbone {name!r}; registered: {', '.join(list_backbones())}"
        ) from None
