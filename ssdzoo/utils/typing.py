"""Type aliases for annotations only (no runtime checks): what tensor and array arguments may be.

Shapes, dtypes, units and box formats are not in these types; each function's docstring gives
them, e.g. ``boxes (N, 4)`` normalised x1 y1 x2 y2 in [0, 1] or pixels of the original image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: Any backend tensor (a TensorFlow tensor or variable, a Keras symbolic tensor) or a numpy
#: array or nested list: whatever ``keras.ops`` / ``tf.convert_to_tensor`` accepts.
TensorLike: TypeAlias = Any

#: A numpy array or anything ``numpy.asarray`` accepts (nested lists, scalars, eager tensors).
ArrayLike: TypeAlias = npt.ArrayLike

#: Images as :func:`ssdzoo.detect` takes them: an image file path, an ``(H, W, 3)`` array or a
#: ``(B, H, W, 3)`` batch (RGB, 0-255), or a sequence of paths and/or ``(H, W, 3)`` arrays.
ImagesLike: TypeAlias = str | os.PathLike | np.ndarray | Sequence[str | os.PathLike | np.ndarray]
