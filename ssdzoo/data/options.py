"""Checks of augmentation options that need no TensorFlow: a config is validated before it loads."""

from __future__ import annotations

import math


def check_zoom_out(zoom_out: float) -> float:
    """``zoom_out`` (largest zoom-out canvas side / image side) if it is a finite number >= 1, else ``ValueError``."""
    if not (isinstance(zoom_out, int | float) and math.isfinite(zoom_out) and zoom_out >= 1):
        raise ValueError(f"zoom_out is a canvas/image ratio >= 1 (1 = off), got {zoom_out}")
    return float(zoom_out)
