"""The annotation-format registry: each format's parser and detector, under its name.

A format is one module of :mod:`ssdzoo.data.formats` with a ``parse`` function (dataset path
→ :class:`~ssdzoo.data.formats.base.Parsed`; its docstring documents the layout) and a
``detect`` function (does this path look like the format). ``register_format`` makes
``load``, ``detect_format`` and ``FORMATS`` know it and returns its ``read_<name>`` function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ..records import Dataset
from .base import Parse, read

Detect = Callable[[Path], bool]


@dataclasses.dataclass(frozen=True)
class Format:
    """A registered annotation format: its name, parser and detector."""

    name: str
    parse: Parse
    detect: Detect


class Reader(Protocol):
    """The ``read_<format>`` function ``register_format`` returns."""

    def __call__(self, path: str | Path, split: str | None = None,
                 class_names: Sequence[str] | None = None, check_images: bool = True,
                 strict: bool = False, merge_case: bool = False) -> Dataset: ...


_FORMATS: dict[str, Format] = {}


def register_format(name: str, *, parse: Parse, detect: Detect) -> Reader:
    """Make format ``name`` known to ``load`` and ``detect_format``; returns its reader.

    ``detect`` is asked in registration order, first about the dataset path as given and
    then, for a folder, about its one JSON annotation file. The reader is ``load`` with the
    format fixed; its docstring is ``parse``'s.
    """
    if name in _FORMATS:
        raise ValueError(f"annotation format {name!r} is already registered")
    _FORMATS[name] = Format(name, parse, detect)

    def reader(path: str | Path, split: str | None = None,
               class_names: Sequence[str] | None = None, check_images: bool = True,
               strict: bool = False, merge_case: bool = False) -> Dataset:
        return read(name, parse, path, split, class_names, check_images, strict, merge_case)

    reader.__name__ = reader.__qualname__ = f"read_{name}"
    reader.__doc__ = parse.__doc__
    return reader


def registered() -> tuple[Format, ...]:
    """The registered formats, in registration order."""
    return tuple(_FORMATS.values())


def get_format(name: str) -> Format:
    """The format registered as ``name``; ValueError listing the known ones otherwise."""
    if name not in _FORMATS:
        raise ValueError(f"unknown annotation format {name!r}; expected one of "
                         f"{', '.join(_FORMATS)}")
    return _FORMATS[name]
