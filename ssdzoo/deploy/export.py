"""``export(model, path, format=...)``: one artifact with preprocessing, the network, box decoding
and NMS inside, written to a temporary name and moved into place (nothing half-written on error).

Formats are a registry: a module of this package with ``PRECISIONS``, ``write(model, path, post,
precision, calibration, meta)`` and a ``Runner(path)`` class, plus one :func:`register_format` line.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import types
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ssdzoo.deploy.graph import PostProcess, metadata
from ssdzoo.utils.files import atomic_dir, atomic_path

if TYPE_CHECKING:
    from ssdzoo.data.records import Dataset, Record
    from ssdzoo.models.ssd import SSD
    from ssdzoo.utils.typing import ImagesLike

#: Every precision some format supports.
PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """A registered export format: its module, file suffix (``""`` for a directory)."""

    name: str
    module_name: str
    suffix: str

    @property
    def module(self) -> types.ModuleType:
        """The format's module (imported on first use)."""
        return importlib.import_module(self.module_name)

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions this format can write."""
        return tuple(self.module.PRECISIONS)


_FORMATS: dict[str, ExportFormat] = {}


def register_format(name: str, module_name: str, suffix: str) -> None:
    """Register an export format implemented by ``module_name`` (see the module docstring)."""
    _FORMATS[name] = ExportFormat(name, module_name, suffix)


register_format("saved_model", "ssdzoo.deploy.saved_model", "")
register_format("tflite", "ssdzoo.deploy.tflite", ".tflite")
register_format("onnx", "ssdzoo.deploy.onnx", ".onnx")

#: The registered format names.
FORMATS = tuple(_FORMATS)


def get_format(name: str) -> ExportFormat:
    """The registered format ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in _FORMATS:
        raise ValueError(f"unknown export format {name!r}; choose from {sorted(_FORMATS)}")
    return _FORMATS[name]


def format_of_path(path: str) -> ExportFormat:
    """The format of an exported artifact, from its suffix (a directory is a SavedModel)."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path!r} is a directory without saved_model.pb, not a SavedModel")
        return _FORMATS["saved_model"]
    for fmt in _FORMATS.values():
        if fmt.suffix and path.lower().endswith(fmt.suffix):
            return fmt
    raise ValueError(f"{path!r}: not an exported model (expected a SavedModel directory or one of "
                     f"{sorted(f.suffix for f in _FORMATS.values() if f.suffix)})")


def as_ssd(model: SSD | str | os.PathLike) -> SSD:
    """An :class:`ssdzoo.SSD` from a model or a ``.keras`` path; ``ValueError`` for anything else."""
    if isinstance(model, (str, os.PathLike)):
        from ssdzoo.models.builders import load

        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path!r} is not an SSD model file (.keras): not a zip archive")
        try:
            model = load(path, compile=False)
        except Exception as err:  # noqa: BLE001  (any reader failure means: not a model file)
            reason = (str(err).splitlines() or [""])[0].split(". ")[0]  # Keras' first sentence
            raise ValueError(f"{path!r} is not an SSD model file (.keras): {type(err).__name__}: {reason}") from err
    if not all(hasattr(model, a) for a in ("anchors", "box_coder", "class_names", "input_size")):
        raise ValueError(f"export needs an ssdzoo SSD model, not {type(model).__name__}")
    return model


def export(model: SSD | str | os.PathLike, path: str | os.PathLike, format: str = "saved_model",
           precision: str = "fp32", calibration: ImagesLike | Dataset | Sequence[Record] | None = None,
           score_threshold: float = 0.01, iou_threshold: float = 0.45,
           max_detections: int = 200, calibration_size: int = 100) -> str:
    """Export ``model`` (an SSD or a ``.keras`` path) with decoding and NMS inside; returns ``path``.

    Args:
        format: ``"saved_model"`` (a directory), ``"tflite"`` or ``"onnx"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (TFLite: all three; ONNX: fp32, int8; SavedModel: fp32).
        calibration: for int8, the user's images: a folder, a list of paths/arrays, or a dataset
            of records; up to ``calibration_size`` are used.
        score_threshold, iou_threshold, max_detections: the NMS baked into the artifact (the
            "evaluate" preset by default; a loaded artifact's ``detect`` can only filter further).
    """
    fmt = get_format(format)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    if precision not in fmt.precisions:
        raise ValueError(f"format {format!r} supports precision {list(fmt.precisions)}, not {precision!r}")
    if precision == "int8" and calibration is None:
        raise ValueError("int8 export needs calibration images (calibration=folder or images)")
    post = PostProcess(float(score_threshold), float(iou_threshold), int(max_detections))
    model = as_ssd(model)
    calib = None
    if precision == "int8":
        from ssdzoo.deploy.calibration import calibration_images

        calib = calibration_images(calibration, int(model.input_size), calibration_size)
    path = os.fspath(path)
    if fmt.suffix and not path.lower().endswith(fmt.suffix):
        raise ValueError(f"a {format} file must end with {fmt.suffix!r}: {path!r}")
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = metadata(model, post, format, precision)
    with (atomic_path if fmt.suffix else atomic_dir)(path) as tmp:
        fmt.module.write(model, tmp, post, precision, calib, meta)
    return path
