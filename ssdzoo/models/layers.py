"""Custom Keras layers of the SSD model, written with ``keras.ops`` and registered for
``.keras`` save/load."""

from __future__ import annotations

import keras
from keras import ops

# Per-channel means of ImageNet in BGR order (Caffe models: VGG, ResNet50).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
PREPROCESSING_MODES = ("caffe", "tf", "torch", "none")


@keras.saving.register_keras_serializable("ssdzoo")
class Preprocess(keras.layers.Layer):
    """A backbone's ``preprocess_input`` inside the model: RGB 0-255 in, network input out.

    Modes as in ``keras.applications``: ``"caffe"`` (RGB→BGR, minus ImageNet mean),
    ``"tf"`` (scale to [-1, 1]), ``"torch"`` (scale to [0, 1], ImageNet mean/std),
    ``"none"`` (identity).
    """

    def __init__(self, mode: str = "caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(f"Preprocess: unknown mode {mode!r}; choose from {PREPROCESSING_MODES}")
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, x.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, x.dtype)
            return (x / 255.0 - mean) / std
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable("ssdzoo")
class L2Normalization(keras.layers.Layer):
    """L2-normalise each position over channels, then multiply by a learnable per-channel scale.

    The scale is initialised to ``scale`` (20 in SSD); it keeps conv4_3's large activations in range."""

    def __init__(self, scale: float = 20.0, epsilon: float = 1e-10, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.scale),
        )

    def call(self, x):
        # float32 inside: under mixed_float16 the sum of squares overflows (-> 0 output) and
        # epsilon underflows (all-zero positions -> NaN).
        x32 = ops.cast(x, "float32")
        norm = ops.sqrt(ops.sum(ops.square(x32), axis=-1, keepdims=True) + self.epsilon)
        return ops.cast(x32 / norm * ops.cast(self.gamma, "float32"), x.dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "epsilon": self.epsilon}
