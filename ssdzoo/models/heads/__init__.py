"""SSD heads as registered parts: extra feature layers on the aligned backbone map, then the
per-source box and class predictors (:class:`~ssdzoo.models.heads.base.Head`).

Built in: ``ssd`` (the paper's, :mod:`.ssd`) and ``lite`` (SSDLite, :mod:`.lite`). A new head is
one module defining a :class:`Head` subclass decorated with :func:`register_head`, plus its
name in :data:`BUILTIN_HEADS` (or, for a user's head, the decorator alone)::

    @register_head("tiny")
    class TinyHead(Head):
        def sources(self, x, input_size):
            ...  # [(name, map), ...], largest first, one per anchor map
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ssdzoo.models.heads.base import EXTRA_LAYERS, Head

__all__ = ["BUILTIN_HEADS", "EXTRA_LAYERS", "Head", "get_head", "list_heads", "register_head"]

#: Modules of this package that register the built-in heads (imported on first look-up).
BUILTIN_HEADS = ("ssd", "lite")

_REGISTRY: dict[str, type[Head]] = {}
_LOADED = False


def register_head(name: str, *, overwrite: bool = False) -> Callable[[type[Head]], type[Head]]:
    """Decorator registering a :class:`Head` subclass under ``name`` (lower case)."""

    def decorator(cls: type[Head]) -> type[Head]:
        key = name.lower()
        if not (isinstance(cls, type) and issubclass(cls, Head)):
            raise TypeError(f"head {key!r}: register a subclass of ssdzoo.models.heads.Head")
        if key in _REGISTRY and not overwrite:
            raise ValueError(f"head {key!r} is already registered (pass overwrite=True)")
        _REGISTRY[key] = cls
        return cls

    return decorator


def _load_builtin() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for module in BUILTIN_HEADS:
            importlib.import_module(f"{__name__}.{module}")


def list_heads() -> list[str]:
    """Names of all registered heads, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_head(name: str) -> type[Head]:
    """The head class registered as ``name``; ``ValueError`` listing the known heads otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; registered: {', '.join(list_heads())}") from None
