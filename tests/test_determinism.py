"""A run SIGKILLed mid-epoch and resumed should end with the weights of an uninterrupted run.

What it takes: the same seed (Python, NumPy, TensorFlow, and the stateless augmentation seeds
of the data stream), the optimizer, its step and the learning-rate schedule restored from
``last.keras``, the data stream resumed at the batch where the killed run stopped (the
``batches`` of ``state.json``, skipped by ``pipeline(skip=...)``: checked exactly by the fast
test below), and ``--deterministic``: TensorFlow's op determinism, its oneDNN CPU kernels
off (``TF_ENABLE_ONEDNN_OPTS=0``) and one inter-op thread.

Measured on an AMD EPYC (Zen 4, avx512, 2 cores shared with other jobs), this model, 12 steps,
mosaic, killed after the step-2 backup (max abs weight difference, resumed vs uninterrupted):
without ``--deterministic`` 1.76 (20 steps; two uninterrupted runs also differ: 0.063 after 6
steps); op determinism with oneDNN on 1.8e-4 (also between two uninterrupted runs); both:
0.0 in 2 of 4 runs, 0.023 and 0.53 in the other two. Later (issue 13), same machine kind:
0.0 in 4 of 4 tries with that code and 0.0 in 8 of 8 with one inter-op thread added
(``one_op_at_a_time``), all 12 uninterrupted runs bit-identical to each other; the same
12-step run started 5 times in a process that also saved all weights after each step: 4
identical, one parted at step 11 (momentum ~1e-10 apart from ``fc7`` down, weights 3e-7 after
step 12). So the source is not in resuming: an uninterrupted run can part too, rarely.

Ruled out: the data stream (the heads' weights and every BatchNorm moving statistic were still
identical at the step where runs parted, so the forward pass was too; the difference starts in
the backward pass at a feature map that feeds a head and the next layer); the traced train step
(its graph was byte-identical in 2 processes); the optimizer state and ``batches`` of a backup
(exact resumes above). Not reproduced in one process (without the one thread): 60 repeats of one batch's gradients, 10
repeats of 6 fitted steps from one state, and 27 repeats of the step-11 update that parted, from
its step-10 state, all exact. A mechanism that fits: TensorFlow's CPU ``AddN`` moves the input
whose buffer it reuses to the front, so a 3-input sum's rounding depends on which buffers other
ops still hold, i.e. on thread timing (shown in isolation); one inter-op thread takes that
timing out at no measured cost (6 fitted steps: median 11.7 s with it, 12.0 s without, back to
back), but with the rate this low its effect is not shown. Hence the exact test stays an
expected failure (not strict): ``pytest -m slow -rxX`` shows whether a run came out exact (XPASS).
"""

import csv
import json
import subprocess

import numpy as np
import pytest
from test_signals import WAIT_S, start_as_batch_job, train_args, wait_for_state

import ssdzoo
from ssdzoo.data.tfdata import pipeline

STEPS, EVERY, EPOCHS = 6, 2, 2  # a backup at steps 2 and 4 of each epoch: the kill comes mid-epoch
# (--mosaic: the per-batch seeds of the stream are resumed too, as the per-image ones)


def _args(data, out) -> list[str]:
    return [*train_args(data, out, EPOCHS, "--eval-every", "0", "--precise-bn", "0", "--mosaic", "0.5",
                        "--deterministic"),
            "--steps-per-epoch", str(STEPS), "--backup-every", str(EVERY)]


def _max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b))
    return max(float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.xfail(reason="exact in 12 of 12 tries lately but 2 of 4 before; uninterrupted runs "
                          "rarely part too: a nondeterminism source is left (module docstring)", strict=False)
def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(tiny_voc, tmp_path, cli_env):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = subprocess.run(_args(tiny_voc, whole), capture_output=True, text=True, timeout=WAIT_S, env=cli_env,
                          cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    log = tmp_path / "cut.log"
    proc = start_as_batch_job(_args(tiny_voc, cut), log, cli_env)
    wait_for_state(proc, cut, log, lambda s: s["step"] >= EVERY, "the first mid-epoch backup")
    proc.kill()
    proc.wait(timeout=WAIT_S)
    state = json.loads((cut / "state.json").read_text())
    assert 0 < state["step"] - state["epoch_step"] < STEPS, state  # killed mid-epoch, resumed mid-epoch
    assert state["batches"] == state["step"]

    resumed = subprocess.run([*_args(tiny_voc, cut), "--resume"], capture_output=True, text=True,
                             timeout=WAIT_S, env=cli_env, cwd=tmp_path)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert f"step {state['step']}" in resumed.stdout

    a, b = (ssdzoo.load(str(run / "last.keras")) for run in (whole, cut))
    assert int(a.optimizer.iterations.numpy()) == int(b.optimizer.iterations.numpy()) == STEPS * EPOCHS
    assert _max_abs_diff(a.get_weights(), b.get_weights()) == 0.0
    assert _max_abs_diff(*([v.numpy() for v in m.optimizer.variables] for m in (a, b))) == 0.0
    losses = []
    for run in (whole, cut):
        with open(run / "log.csv") as f:
            losses.append([row["loss"] for row in csv.DictReader(f)])
    assert losses[0][-1] == losses[1][-1]  # the last epoch, whole in both runs, saw the same batches


def test_a_skipped_stream_goes_on_with_the_batches_of_the_whole_one(bccd_three):
    records = list(ssdzoo.data.load(str(bccd_three), format="voc", split="trainval"))
    anchors = np.array([[0.0, 0.0, 0.5, 0.5], [0.2, 0.3, 1.0, 0.9]], np.float32)

    def batches(skip: int, count: int) -> list[np.ndarray]:
        stream = pipeline(records, anchors=anchors, input_size=64, batch_size=2, augment=True, seed=3,
                          repeat=True, skip=skip)
        return [np.concatenate([x.numpy().ravel(), y.numpy().ravel()]) for x, y in stream.take(count)]

    whole = batches(0, 4)  # 8 images: passes over the 3 records, each shuffled anew
    rest = batches(1, 3)
    assert len(rest) == 3 and all(np.array_equal(x, y) for x, y in zip(whole[1:], rest))
    assert not np.array_equal(whole[0], whole[1])
