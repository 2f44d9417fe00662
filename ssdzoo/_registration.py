"""Registering ssdzoo's serialisable classes with Keras without importing Keras early.

``keras.saving.load_model`` finds custom classes by their registered name (``ssdzoo>SSD``),
so the modules that define them must have been imported. Importing them means importing Keras
and TensorFlow (about 3.4 s on 2 CPU cores), which ``import ssdzoo`` avoids. So: if Keras is
already imported, the modules are imported now; otherwise an import hook watches the imports
of ``keras`` and of ssdzoo's submodules and imports them once the outermost of those imports
has finished with Keras loaded (never while an ssdzoo module is half-imported), then removes
itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

#: Modules whose import registers every serialisable class and function of ssdzoo.
SERIALIZABLE_MODULES = ("ssdzoo.core.box_coder", "ssdzoo.core.loss", "ssdzoo.core.schedules",
                        "ssdzoo.models.decoder", "ssdzoo.models.layers", "ssdzoo.models.ssd")


def register() -> None:
    """Import the modules of :data:`SERIALIZABLE_MODULES` (needs Keras)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _Tracked(importlib.abc.Loader):
    """Wraps the loader of ``keras`` or of an ssdzoo submodule: once the outermost of these
    imports has finished with Keras loaded, runs :func:`register` (never inside a half-imported
    ssdzoo module, whose names the registered modules may import)."""

    depth = 0

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def __getattr__(self, name: str):  # get_code, get_resource_reader…: runpy and friends need them
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        _Tracked.depth += 1
        try:
            self.loader.exec_module(module)
        finally:
            _Tracked.depth -= 1
        module.__loader__ = module.__spec__.loader = self.loader  # leave no trace
        if _Tracked.depth == 0 and "keras" in sys.modules and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
            try:
                register()
            except Exception as err:  # noqa: BLE001  (never break an import)
                warnings.warn(f"ssdzoo could not register its Keras classes ({err}); call "
                              f"ssdzoo.load() to load ssdzoo models", stacklevel=2)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``keras`` and ssdzoo's submodules as usual, their loaders wrapped in
    :class:`_Tracked`; on ``sys.meta_path`` until registration is done."""

    def find_spec(self, name, path, target=None):
        if name != "keras" and not name.startswith("ssdzoo."):
            return None
        for finder in sys.meta_path[sys.meta_path.index(self) + 1:]:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Tracked(spec.loader)
                return spec
        return None


_FINDER = _Finder()


def register_when_keras_is_imported() -> None:
    """Register now if Keras is loaded, else as soon as it is (idempotent)."""
    if "keras" in sys.modules:
        register()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
