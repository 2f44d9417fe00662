"""TFLite / LiteRT export with builtin ops only (no Flex, no custom op).

``combined_non_max_suppression`` is not a TFLite builtin, so the graph uses the ``"offset"`` NMS of
:mod:`ssdzoo.deploy.graph`: class-shifted boxes and one ``NonMaxSuppressionV5`` per image, which
converts to the builtin ``NON_MAX_SUPPRESSION_V5``. Chosen over the ``TFLite_Detection_PostProcess``
custom op because that op decodes boxes with its own (centre-size, y-first) coder and anchor
layout and scores classes its own way; the builtin keeps our decoder and the SavedModel's
detections. Batch size 1 (NMS V5 is per image); ``load_exported`` loops over a batch.

Precisions: ``fp32``; ``fp16`` (float16 weights, float compute); ``int8`` (post-training
quantisation of weights and activations calibrated on the user's images; ops without an int8
kernel, NMS among them, stay float).

Class names and NMS settings: a flatbuffer metadata entry named ``ssdzoo`` holding JSON, in the
``.tflite`` file itself (one atomic file; no sidecar). Read it with :func:`read_metadata`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.deploy.graph import PostProcess, serving_function
from ssdzoo.models.decoder import OUTPUT_KEYS

if TYPE_CHECKING:
    from ssdzoo.models.ssd import SSD

PRECISIONS = ("fp32", "fp16", "int8")
METADATA_NAME = "ssdzoo"


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def add_metadata(tflite: bytes, meta: dict) -> bytes:
    """``tflite`` with a metadata entry :data:`METADATA_NAME` holding ``meta`` as JSON."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers)
    model.buffers.append(buffer)
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_metadata(tflite: bytes) -> dict:
    """The ``ssdzoo`` metadata JSON of a ``.tflite`` file's bytes; ``ValueError`` if absent."""
    model = _schema().Model.GetRootAsModel(tflite, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
    raise ValueError("this .tflite file has no ssdzoo metadata (not written by ssdzoo.export)")


def convert(model: SSD, post: PostProcess, precision: str, calibration: np.ndarray | None = None) -> bytes:
    """The ``.tflite`` bytes of the serving graph (batch 1, builtin ops only)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = serving_function(model, post, nms="offset", batch_size=1).get_concrete_function()
    # weights as constants: left as resource variables (what from_concrete_functions and
    # from_saved_model do with Keras 3 models in TF 2.21) they read as zeros in the interpreter
    frozen = convert_variables_to_constants_v2(fn)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return _configure(converter, precision, calibration).convert()


def _configure(converter, precision: str, calibration: np.ndarray | None):
    import tensorflow as tf

    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    return converter


def write(model: SSD, path: str, post: PostProcess, precision: str, calibration: np.ndarray | None,
          meta: dict) -> None:
    """Convert and write the ``.tflite`` file (with its metadata) to ``path``."""
    with open(path, "wb") as f:
        f.write(add_metadata(convert(model, post, precision, calibration), meta))


def op_names(path: str) -> list[str]:
    """The operator names of a ``.tflite`` file (builtins by name; custom/Flex ops as named)."""
    from ai_edge_litert.interpreter import Interpreter

    return sorted({op["op_name"] for op in Interpreter(model_path=path)._get_ops_details()})


class Runner:
    """A loaded ``.tflite`` file on the LiteRT interpreter: ``runner(uint8 (1, S, S, 3))`` → dict.

    ``threads``: the interpreter's threads (None: LiteRT's default, one)."""

    batch_size = 1

    def __init__(self, path: str, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        with open(path, "rb") as f:
            self.metadata = read_metadata(f.read())
        self._interpreter = Interpreter(model_path=path, num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._outputs = output_indices(self._interpreter.get_output_details())

    def __call__(self, images: np.ndarray) -> dict:
        self._interpreter.set_tensor(self._input, np.asarray(images, np.uint8))
        self._interpreter.invoke()
        return {k: self._interpreter.get_tensor(i).reshape((1, -1, 4) if k == "boxes" else (1, -1))
                for k, i in self._outputs.items()} | {
            "num_detections": self._interpreter.get_tensor(self._outputs["num_detections"]).reshape(1)}


def output_indices(details: list[dict]) -> dict[str, int]:
    """Output name → tensor index of the interpreter's outputs, told apart by shape and type.

    A frozen graph's outputs are unnamed: boxes ``(1, K, 4)`` float, scores ``(1, K)`` float,
    classes ``(1, K)`` int, num_detections ``(1,)`` int.
    """
    found = {}
    for d in details:
        shape, floating = tuple(d["shape"]), np.issubdtype(d["dtype"], np.floating)
        key = ("boxes" if len(shape) == 3 else "scores") if floating else (
            "classes" if len(shape) == 2 else "num_detections")
        found[key] = d["index"]
    if sorted(found) != sorted(OUTPUT_KEYS) or len(details) != len(OUTPUT_KEYS):
        raise ValueError(f"unexpected .tflite outputs {[(d['shape'], d['dtype']) for d in details]}")
    return found
