"""ONNX export through tf2onnx (opset 17): the SavedModel's serving graph, any batch size.

tf2onnx converts ``CombinedNonMaxSuppression`` into the ONNX ``NonMaxSuppression`` op plus
TopK/gather ops (per-class NMS, then the best ``max_detections`` per image), so NMS is inside
the graph and the detections are the Keras model's. Class names and NMS settings: the model's
``metadata_props`` (key ``ssdzoo``, JSON; onnxruntime: ``get_modelmeta().custom_metadata_map``).

Precisions: ``fp32``; ``int8``: onnxruntime's static post-training quantisation (QDQ format,
per-channel int8 weights, uint8 activations) of the Conv/ConvTranspose layers, calibrated on the
user's images; decoding and NMS stay float.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ssdzoo.deploy.graph import PostProcess, serving_function
from ssdzoo.models.decoder import OUTPUT_KEYS

if TYPE_CHECKING:
    import onnx

    from ssdzoo.models.ssd import SSD

PRECISIONS = ("fp32", "int8")
OPSET = 17
METADATA_KEY = "ssdzoo"


def convert(model: SSD, post: PostProcess, meta: dict) -> onnx.ModelProto:
    """The ONNX ``ModelProto`` of the serving graph, with ``meta`` in its metadata_props."""
    try:
        import tf2onnx
    except ImportError as err:
        raise ValueError("ONNX export needs tf2onnx and onnx: pip install tf2onnx onnx onnxruntime") from err
    import onnx

    fn = serving_function(model, post)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    return proto


def write(model: SSD, path: str, post: PostProcess, precision: str, calibration: np.ndarray | None,
          meta: dict) -> None:
    """Convert (and for int8 quantise) and write the ``.onnx`` file to ``path``."""
    proto = convert(model, post, meta)
    if precision != "int8":
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
        return
    import os
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{"images": image[None]} for image in calibration])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="ssdzoo_onnx_") as folder:
        fp32 = os.path.join(folder, "fp32.onnx")
        with open(fp32, "wb") as f:
            f.write(proto.SerializeToString())
        quantize_static(fp32, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        op_types_to_quantize=["Conv", "ConvTranspose"], activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)


class Runner:
    """A loaded ``.onnx`` file on onnxruntime (CPU): ``runner(uint8 batch)`` → the detections dict."""

    batch_size = None

    def __init__(self, path: str, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(f"{path!r} has no ssdzoo metadata (not written by ssdzoo.export)")
        self.metadata = json.loads(meta[METADATA_KEY])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, images: np.ndarray) -> dict:
        out = self._session.run(list(OUTPUT_KEYS), {self._input: np.asarray(images, np.uint8)})
        return dict(zip(OUTPUT_KEYS, (np.asarray(v) for v in out)))
