"""A loss that becomes NaN or infinite stops the run at once, nothing diverged is saved or
evaluated, and the user gets one clear error (issue 13)."""

import keras
import pytest

import ssdzoo
from ssdzoo.training.checkpoints import Checkpoints, SaveCheckpoints
from ssdzoo.training.config import TrainConfig
from ssdzoo.training.run import train


def test_a_non_finite_loss_stops_and_saves_nothing_from_then_on(tmp_path):
    model = ssdzoo.build("small", 2, weights=None, head_width=0.25)
    model.compile(optimizer="adam", loss=ssdzoo.MultiBoxLoss())
    callback = SaveCheckpoints(Checkpoints(str(tmp_path), write=True), lambda: {})
    callback.set_model(model)
    callback.on_train_batch_end(0, {"loss": 3.2})
    assert callback.non_finite_step is None and not model.stop_training
    callback.on_train_batch_end(1, {"loss": float("nan")})
    assert callback.non_finite_step == 0 and model.stop_training  # optimizer.iterations: no update ran
    callback.on_epoch_end(0, {"loss": float("nan")})
    callback.save()                                               # the interrupt path too
    assert not list(tmp_path.iterdir())
    evaluate = ssdzoo.EvaluateMAP([], filepath=str(tmp_path / "best.keras"))
    evaluate.set_model(model)
    evaluate.on_epoch_end(0, {"loss": float("inf")})              # nothing evaluated (no records needed)
    assert evaluate.history == [] and not (tmp_path / "best.keras").exists()


@pytest.mark.slow  # a real diverging run: ~1 min here; the callback test above covers the logic
def test_a_diverging_run_ends_with_one_clear_error(tiny_voc, tmp_path):
    config = TrainConfig(backbone="small", data=str(tiny_voc), weights=None, head_width=0.25, batch_size=2,
                         epochs=2, steps_per_epoch=3, warmup_steps=0, optimizer="adam", lr=1e30, cache=False,
                         out=str(tmp_path / "run"))
    keras.utils.set_random_seed(0)
    with pytest.raises(ValueError, match=r"became NaN or infinite at step \d+; nothing was saved"):
        train(config)
    assert not (tmp_path / "run" / "best.keras").exists()
