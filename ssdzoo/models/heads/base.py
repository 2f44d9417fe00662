"""The :class:`Head` base class: width scaling, the predictor wiring shared by every head."""

from __future__ import annotations

import keras

#: Extra feature layers after the 19x19 (32x32) source, per input size:
#: (1x1 filters, 3x3 filters, stride, padding, kernel) of ``conv8``, ``conv9``, …
EXTRA_LAYERS = {
    300: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 1, "valid", 3), (128, 256, 1, "valid", 3)),
    512: ((256, 512, 2, "same", 3), (128, 256, 2, "same", 3), (128, 256, 2, "same", 3),
          (128, 256, 2, "same", 3), (128, 256, 1, "valid", 2)),
}


class Head:
    """An SSD head: extra layers giving named source maps, and the box and class predictors.

    :meth:`sources` (extra layers → named source maps) and :meth:`predictor` (one box or class
    predictor on a source map). Subclasses implement :meth:`sources` and may override
    :meth:`predictor`; :meth:`predictions` wires them into the model output.

    Args:
        width: multiplier of the head's filter counts (1.0 = the paper's), see :meth:`filters`.
    """

    def __init__(self, width: float = 1.0):
        self.width = width

    def filters(self, n: int) -> int:
        """``n`` filters scaled by the head width (at least 8)."""
        return max(8, int(round(n * self.width)))

    def sources(self, x: keras.KerasTensor, input_size: int) -> list[tuple[str, keras.KerasTensor]]:
        """``(name, map)`` of each source map, largest first, one per anchor map (``input_size`` in pixels).

        The names prefix the predictor layers (``<name>_mbox_loc``, ``<name>_mbox_conf``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sources()")

    def predictor(self, x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
        """A box or class predictor with ``filters`` outputs per cell: the SSD paper's 3x3 convolution.

        The layer whose output channels are the predictions is named ``name``."""
        return keras.layers.Conv2D(filters, 3, padding="same", name=name)(x)

    def predictions(self, sources: list[tuple[str, keras.KerasTensor]], boxes_per_cell: list[int],
                    num_classes: int) -> keras.KerasTensor:
        """Per-source box and class predictors, flattened and concatenated → ``(B, A, 4 + num_classes + 1)``."""
        locs, confs = [], []
        for (name, src), k in zip(sources, boxes_per_cell, strict=True):
            loc = self.predictor(src, k * 4, f"{name}_mbox_loc")
            conf = self.predictor(src, k * (num_classes + 1), f"{name}_mbox_conf")
            locs.append(keras.layers.Reshape((-1, 4), name=f"{name}_mbox_loc_flat")(loc))
            confs.append(keras.layers.Reshape((-1, num_classes + 1), name=f"{name}_mbox_conf_flat")(conf))
        loc = keras.layers.Concatenate(axis=1, name="mbox_loc")(locs)
        conf = keras.layers.Concatenate(axis=1, name="mbox_conf")(confs)
        return keras.layers.Concatenate(axis=-1, name="predictions", dtype="float32")([loc, conf])
