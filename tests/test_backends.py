"""The model, anchors, encoder and loss are keras.ops code: the same model trains and
round-trips on the JAX backend (the lent GPU machines have JAX, not TensorFlow)."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import numpy as np, keras, ssdzoo
assert keras.backend.backend() == "jax"
m = ssdzoo.build("small", 3, weights=None, head_width=0.25)
x = np.random.default_rng(0).uniform(0, 255, (2, 300, 300, 3)).astype("float32")
boxes = np.array([[[0.1, 0.1, 0.4, 0.5]], [[0.5, 0.2, 0.9, 0.7]]], "float32")
y = np.asarray(ssdzoo.encode_targets(boxes, np.array([[0], [1]]), m.anchors))
assert (y[..., 4] > 0).sum() >= 2
m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ssdzoo.MultiBoxLoss())
h = m.fit(x, y, epochs=2, batch_size=2, verbose=0)
assert all(np.isfinite(h.history["loss"]))
m.save("{path}")
m2 = keras.models.load_model("{path}")
assert float(np.abs(np.asarray(m(x)) - np.asarray(m2(x))).max()) < 1e-5
print("ok")
"""


def test_model_trains_and_reloads_on_the_jax_backend(tmp_path):
    """About 25 s on 2 idle cores; skipped where JAX is not installed (it is not a dependency)."""
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = SCRIPT.replace("{path}", str(tmp_path / "jax.keras"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
