"""StagedUnfreeze: trainable state per epoch, training after unfreezing, backbone learning rate."""

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.training.callbacks import StagedUnfreeze


def _model():
    model = ssdzoo.build("small", 2, weights=None, head_width=0.25)
    model.compile(optimizer=keras.optimizers.SGD(1e-4, momentum=0.9), loss=ssdzoo.MultiBoxLoss())
    return model


def _data(model, n=2):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, 300, 300, 3)).astype("float32")
    boxes = np.tile(np.array([[[0.1, 0.1, 0.5, 0.6]]], "float32"), (n, 1, 1))
    labels = np.arange(n).reshape(n, 1) % 2
    return x, np.asarray(ssdzoo.encode_targets(boxes, labels, model.anchors))


def _values(layer):
    return [w.numpy().copy() for w in layer.weights]


class _Recorder(keras.callbacks.Callback):
    """Per epoch: trainable tensor count at its start, backbone values at its start and end."""

    def __init__(self):
        super().__init__()
        self.counts, self.begin, self.end = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.counts.append(len(self.model.trainable_weights))
        self.begin.append(_values(self.model.get_layer("backbone")))

    def on_epoch_end(self, epoch, logs=None):
        self.end.append(_values(self.model.get_layer("backbone")))


def _changed(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


def test_backbone_frozen_for_n_epochs_then_trained_with_a_fresh_train_function():
    model = _model()
    backbone = model.get_layer("backbone")
    n_all, n_backbone = len(model.trainable_weights), len(backbone.trainable_weights)
    n_bn = 12  # 6 BatchNorm x (gamma, beta), kept frozen by default
    staged, recorder = StagedUnfreeze(frozen_epochs=2), _Recorder()
    x, y = _data(model)
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[staged, recorder])

    assert staged.unfrozen_epoch == 2
    assert recorder.counts == [n_all - n_backbone, n_all - n_backbone, n_all - n_bn]
    assert not _changed(recorder.begin[0], recorder.end[1])    # frozen: BN statistics included
    assert _changed(recorder.begin[2], recorder.end[2])        # trained after unfreezing
    assert not _changed(recorder.begin[2][-4:], recorder.end[2][-4:])  # last BN layer: frozen
    assert np.all(np.isfinite(history.history["loss"]))
    # The optimizer was built up front for the backbone too; the wrapper is gone after fit.
    assert len(model.optimizer._trainable_variables) == n_all - n_bn
    assert "update_step" not in vars(model.optimizer)


def test_backbone_learning_rate_scale_and_from_layer():
    model = _model()
    backbone = model.get_layer("backbone")
    staged = StagedUnfreeze(0, from_layer="block3_conv1", train_batchnorm=True,
                            backbone_lr_scale=0.0)
    before, head = _values(backbone), _values(model.get_layer("conv4_1"))
    x, y = _data(model)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[staged])
    assert staged.unfrozen_epoch == 0
    assert not backbone.get_layer("block2_conv2").trainable
    assert backbone.get_layer("block3_conv1").trainable
    assert backbone.get_layer("block3_conv1_bn").trainable
    names = [w.path for w in backbone.weights]
    after = _values(backbone)
    for name, a, b in zip(names, before, after):
        if "moving" not in name:  # trainable BN updates its statistics outside the optimizer
            np.testing.assert_array_equal(a, b, err_msg=name)  # learning rate x 0
    assert _changed(head, _values(model.get_layer("conv4_1")))


def test_optimizer_built_for_a_frozen_backbone_is_rebuilt_with_its_state():
    model = _model()
    x, y = _data(model)
    ssdzoo.freeze(model)
    old = model.optimizer
    old.build(model.trainable_variables)  # the head only, as when loading a model saved frozen
    old.iterations.assign(5)
    for i, v in enumerate(old.variables):
        if v.path.endswith("_momentum"):
            v.assign(np.full(v.shape, 1e-6 * i, "float32"))
    state = {v.path: v.numpy().copy() for v in old.variables}

    class Capture(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.state = {v.path: v.numpy().copy() for v in self.model.optimizer.variables}

    capture = Capture()
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[StagedUnfreeze(1), capture])
    assert model.optimizer is not old
    assert len(model.optimizer._trainable_variables) > len(old._trainable_variables)
    assert set(state) < set(capture.state)  # new slots for the backbone
    for path, value in state.items():     # iterations and head momentum carried over
        np.testing.assert_array_equal(capture.state[path], value, err_msg=path)
    assert int(model.optimizer.iterations.numpy()) == 5 + 2


def test_negative_frozen_epochs_is_an_error():
    with pytest.raises(ValueError, match="frozen_epochs"):
        StagedUnfreeze(-1)
