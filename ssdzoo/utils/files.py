"""Writing files so that a crash never leaves a torn one: write a temporary file beside the
target, then ``os.replace`` it (atomic on POSIX and Windows)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path beside ``path`` that replaces ``path`` if the block ends without an exception.

    It has the same suffix (so savers that check it accept it) and is removed otherwise."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.partial{os.path.splitext(name)[1]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
