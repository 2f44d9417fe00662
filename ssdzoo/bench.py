"""Speed measurements shared by ``ssdzoo bench``, training reports and ``benchmarks/``:
medians over repeated runs after warm-up, on whatever device TensorFlow uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def median_seconds(fn: Callable[[], object], repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_seconds(model, batch_size: int = 1, repeats: int = 10) -> float:
    """Median seconds of ``model.detect`` (forward + decode + NMS) on a batch of random
    images at the model's input size."""
    size = model.input_shape[1:3]
    images = np.random.default_rng(0).integers(0, 255, (batch_size, *size, 3), dtype=np.uint8)
    return median_seconds(lambda: model.detect(images, preset="evaluate", batch_size=batch_size),
                          repeats=repeats)


def train_step_seconds(model, batch_size: int = 8, repeats: int = 5) -> float:
    """Median seconds of one SGD training step with the MultiBox loss on random data."""
    import keras

    from .box_coder import encode_targets
    from .loss import MultiBoxLoss

    rng = np.random.default_rng(0)
    size = model.input_shape[1:3]
    images = rng.uniform(0, 255, (batch_size, *size, 3)).astype("float32")
    xy = rng.uniform(0.05, 0.6, (batch_size, 5, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.35, (batch_size, 5, 2))], -1).astype("float32")
    targets = np.asarray(encode_targets(boxes, rng.integers(0, model.num_classes, (batch_size, 5)),
                                        model.anchors))
    model.compile(optimizer=keras.optimizers.SGD(1e-4, momentum=0.9), loss=MultiBoxLoss())
    return median_seconds(lambda: model.train_on_batch(images, targets), repeats=repeats)
