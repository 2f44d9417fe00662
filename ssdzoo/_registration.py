"""Registering ssdzoo's serialisable classes with Keras without importing Keras early.

``keras.saving.load_model`` finds custom classes by their registered name (``ssdzoo>SSD``),
so the modules that define them must have been imported. Importing them means importing Keras
and TensorFlow (about 3.4 s on 2 CPU cores), which ``import ssdzoo`` avoids. So: if Keras is
already imported, the modules are imported now; otherwise a one-shot import hook imports them
right after the ``keras`` package itself has finished loading.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

#: Modules whose import registers every serialisable class and function of ssdzoo.
SERIALIZABLE_MODULES = ("ssdzoo.core.loss", "ssdzoo.core.schedules", "ssdzoo.models.layers",
                        "ssdzoo.models.ssd")


def register() -> None:
    """Import the modules of :data:`SERIALIZABLE_MODULES` (needs Keras)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _AfterExec(importlib.abc.Loader):
    """Wraps the ``keras`` package's loader: runs :func:`register` once it has executed."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader  # leave no trace
        try:
            register()
        except Exception as err:  # noqa: BLE001  (never break `import keras`)
            warnings.warn(f"ssdzoo could not register its Keras classes ({err}); call "
                          f"ssdzoo.load() to load ssdzoo models", stacklevel=2)


class _KerasFinder(importlib.abc.MetaPathFinder):
    """Finds ``keras`` as usual, with its loader wrapped in :class:`_AfterExec`; one-shot."""

    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterExec(spec.loader)
        return spec


def register_when_keras_is_imported() -> None:
    """Register now if Keras is loaded, else as soon as it is (idempotent)."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(f, _KerasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasFinder())
