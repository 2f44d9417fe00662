"""Scale-out options of ``ssdzoo train``: ``--time-budget`` (and the revisable schedule it drives),
``--distribute`` (two real worker processes on localhost: one step in the default suite; mirrored on
2 logical CPUs, the loss curves and a killed worker under ``-m slow``),
``--mixed-precision`` and the checks of the new flags."""

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest

import ssdzoo
from ssdzoo.cli import main
from ssdzoo.core.schedules import RunSchedule
from ssdzoo.training.budget import TimeBudget
from ssdzoo.training.config import TrainConfig, parse_duration

ROOT = Path(__file__).parents[1]


def tiny_args(data: Path, out: Path, *extra: str) -> list[str]:
    """``ssdzoo train`` on the small backbone, 2 images a step."""
    return ["train", "--backbone", "small", "--head-width", "0.25", "--data", str(data), "--batch-size", "2",
            "--warmup-steps", "0", "--out", str(out), *extra]


@pytest.mark.parametrize("text, minutes", [("10", 10.0), ("10m", 10.0), ("90s", 1.5), ("1h30m", 90.0),
                                           ("1.5h", 90.0), ("2m30s", 2.5), (" 0.5 ", 0.5)])
def test_durations_read_as_minutes(text, minutes):
    assert parse_duration(text) == pytest.approx(minutes)
    assert TrainConfig.from_dict({"time_budget": text}).time_budget == pytest.approx(minutes)


def test_multiworker_without_tf_config_is_one_line(tiny_voc, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(tiny_args(tiny_voc, tmp_path / "run", "--distribute", "multiworker")) == 2
    assert capsys.readouterr().err.strip() == ("ssdzoo train: error: distribute multiworker needs the TF_CONFIG "
                                               "environment variable (cluster and this task; see README, GPU and "
                                               "several machines)")


def test_bool_flags_alone_mean_true(tiny_voc):
    from ssdzoo.cli import build_parser
    from ssdzoo.cli.train import config_from_args

    args = build_parser().parse_args(tiny_args(tiny_voc, Path("x"), "--mixed-precision", "--jit-compile", "--ema"))
    config = config_from_args(args)
    assert (config.mixed_precision, config.jit_compile, config.ema) == (True, True, True)
    args = build_parser().parse_args(tiny_args(tiny_voc, Path("x"), "--jit-compile", "false"))
    assert config_from_args(args).jit_compile is False
    assert TrainConfig().jit_compile is None  # Keras' auto: XLA with a GPU only


def test_run_schedule_follows_its_revised_total():
    schedule = RunSchedule(1e-3, 600, kind="step", decay_at=(2 / 3, 5 / 6))
    assert [float(schedule(s)) for s in (399, 400, 500)] == pytest.approx([1e-3, 1e-4, 1e-5], rel=1e-5)
    schedule.set_total_steps(300)  # the decay points move with the total
    assert [float(schedule(s)) for s in (199, 200, 250)] == pytest.approx([1e-3, 1e-4, 1e-5], rel=1e-5)
    again = RunSchedule.from_config(schedule.get_config())
    assert again.total_steps == 300 and float(again(250)) == pytest.approx(1e-5, rel=1e-5)
    cosine = RunSchedule(1e-3, 500, kind="cosine", warmup_steps=100)
    cosine.set_total_steps(300)
    np.testing.assert_allclose([float(cosine(s)) for s in (0, 100, 200, 300, 400)],
                               [1e-5, 1e-3, 0.5e-3, 0.0, 0.0], atol=1e-9)


class _FakeModel:
    """What TimeBudget reads of a model: the step counter and ``stop_training``."""

    def __init__(self):
        self.optimizer = type("Optimizer", (), {"iterations": keras.Variable(0, dtype="int64")})()
        self.stop_training = False


def test_time_budget_fits_the_schedule_to_the_measured_speed_and_stops(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    schedule = RunSchedule(1e-3, 10_000, decay_at=(0.5,))
    budget = TimeBudget(120.0, clock_start=100.0, schedule=schedule, measure_steps=10)
    model = _FakeModel()
    budget.set_model(model)
    budget.on_train_begin()

    def step(seconds: float) -> None:
        clock[0] += seconds
        model.optimizer.iterations.assign_add(1)
        budget.on_train_batch_end(0)

    step(20.0)  # the first step traces the graph: not part of the speed
    for _ in range(10):
        step(1.0)  # 1 step/s, 30 s spent: 90 s left
    assert schedule.total_steps == 11 + 90
    for _ in range(40):
        step(2.0)  # slower now: revised at the epoch end, still in the first half of the run
    budget.on_epoch_end(0)
    assert 51 < schedule.total_steps < 101 and not model.stop_training
    while not model.stop_training:
        step(1.0)
    assert budget.stopped_step == int(model.optimizer.iterations.numpy())
    assert budget.summary()["budget_stopped_at_step"] == budget.stopped_step
    assert "time budget" in budget.reason or "schedule" in budget.reason


def test_a_budget_limited_run_checkpoints_evaluates_and_reports(tiny_voc, tmp_path, capsys):
    out = tmp_path / "run"
    # 1 s: spent before the first step ends, so the run stops after it, cleanly
    assert main(tiny_args(tiny_voc, out, "--epochs", "5", "--steps-per-epoch", "3", "--time-budget", "1s",
                          "--jit-compile", "false", "--precise-bn", "0")) == 0
    text = capsys.readouterr().out
    assert "step 1: stopping, the time budget of 0.0166667 min was spent" in text
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 1 and state["epochs_done"] == 1
    results = json.loads((out / "results.json").read_text())
    assert results["budget_stopped_at_step"] == 1 and results["steps"] == 1  # best.keras: evaluated at the stop
    report = (out / "report.md").read_text()
    assert "**budget-limited**, stopped at step 1 (the time budget of 0.0166667 min was spent)" in report
    assert "Devices: 1 replica(s), distribute auto; precision float32" in report
    assert ssdzoo.load(str(out / "last.keras")).jit_compile is False


MIRRORED = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ssdzoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def curve_args(data: Path, out: Path, *extra: str) -> list[str]:
    """Two steps of global batch 4, one an epoch: log.csv holds each step's training loss."""
    return tiny_args(data, out, "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", "1", "--eval-every", "0",
                     "--backup-every", "1", "--time-budget", "30m", *extra)


def losses(out: Path) -> np.ndarray:
    """The training loss of each epoch in ``out/log.csv``."""
    with open(out / "log.csv") as f:
        return np.array([float(row["loss"]) for row in csv.DictReader(f)])


#: Relative tolerances of the one-device curve, step 1 (the initial weights' loss on the first
#: global batch) and step 2 (after one update). Measured: 1.0e-4 and 4.2e-3 (mirrored and
#: multiworker alike). The distributed runs take batch statistics with the one-pass formula of
#: synchronized BatchNorm: the one-device run with that formula alone differs from the plain
#: one by 4.2e-3 at step 2 too: a from-scratch step amplifies float rounding that much.
ONE_DEVICE_RTOL = (1e-3, 2e-2)
#: Mirrored and multiworker compute the same sums in the same order: measured to 2e-6 (4 steps).
REPLICAS_RTOL = 1e-4


def _train(args: list[str], cwd: Path, code: str | None = None) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    command = ["-c", code] if code else ["-m", "ssdzoo.cli"]
    proc = subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, timeout=900, env=env,
                          cwd=cwd)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def mirrored_run(tiny_voc, tmp_path_factory) -> Path:
    """The output folder of the two-step curve trained mirrored on 2 logical CPUs."""
    tmp = tmp_path_factory.mktemp("mirrored")
    _train(curve_args(tiny_voc, tmp / "out", "--distribute", "mirrored"), tmp, MIRRORED)
    return tmp / "out"


@pytest.fixture(scope="module")
def one_device_run(tiny_voc, tmp_path_factory) -> Path:
    """The output folder of the two-step curve trained on one device."""
    tmp = tmp_path_factory.mktemp("one_device")
    _train(curve_args(tiny_voc, tmp / "out", "--distribute", "none"), tmp)
    return tmp / "out"


def assert_one_device_curve(curve: np.ndarray, reference: np.ndarray) -> None:
    """``curve`` is the one-device ``reference`` within ONE_DEVICE_RTOL, step by step."""
    assert len(curve) == len(reference) == 2 and reference[1] < reference[0]
    for step, rtol in enumerate(ONE_DEVICE_RTOL):
        assert curve[step] == pytest.approx(reference[step], rel=rtol), (step, curve, reference)


@pytest.mark.slow  # ~55 s: the one-step two-worker run below covers distributed training in the default suite
def test_mirrored_on_two_logical_cpus_trains_with_the_global_batch(mirrored_run):
    results = json.loads((mirrored_run / "results.json").read_text())
    assert (results["replicas"], results["distribute"], results["steps"]) == (2, "mirrored", 2)
    assert len(losses(mirrored_run)) == 2


@pytest.mark.slow  # one more training run (with its report): about a minute on 2 shared cores
def test_mirrored_gives_the_one_device_curve(mirrored_run, one_device_run):
    assert_one_device_curve(losses(mirrored_run), losses(one_device_run))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_workers(tmp_path: Path, tag: str, args: Callable[[int], list[str]], env: dict) -> list[subprocess.Popen]:
    """Two ``ssdzoo`` worker processes on localhost (``TF_CONFIG``), each run in ``tmp_path/tag-cwd<i>``
    with its output in ``tmp_path/tag-<i>.log``; ``args(i)`` gives worker i's arguments."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    procs = []
    for index in range(2):
        cwd = tmp_path / f"{tag}-cwd{index}"
        cwd.mkdir()
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        with open(tmp_path / f"{tag}-{index}.log", "w") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "ssdzoo.cli", *args(index)], stdout=log,
                                          stderr=subprocess.STDOUT, env={**env, "TF_CONFIG": json.dumps(task)},
                                          cwd=cwd))
    return procs


def _wait(procs: list[subprocess.Popen], seconds: float) -> list[int | None]:
    """The exit codes after at most ``seconds`` in all (None: still running)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.5)
    return [p.poll() for p in procs]


def _kill(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _two_workers(tmp_path: Path, cli_env: dict, args: Callable[[int], list[str]], tag: str = "worker") -> list[str]:
    """Run two workers to the end (``args(i)``: worker i's arguments); assert both exit 0, return their logs."""
    procs = _start_workers(tmp_path, tag, args, cli_env)
    try:
        codes = _wait(procs, 900)
    finally:
        _kill(procs)
    logs = [(tmp_path / f"{tag}-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], [log[-3000:] for log in logs]
    return logs


def test_two_workers_on_localhost_train_one_step_and_only_the_chief_writes(tiny_voc, tmp_path, cli_env):
    _two_workers(tmp_path, cli_env, lambda i: tiny_args(
        tiny_voc, tmp_path / f"out{i}", "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "1",
        "--eval-every", "0", "--precise-bn", "0", "--distribute", "multiworker"))
    results = json.loads((tmp_path / "out0" / "results.json").read_text())
    assert (results["replicas"], results["distribute"], results["steps"]) == (2, "multiworker", 1)
    assert len(losses(tmp_path / "out0")) == 1
    assert not (tmp_path / "out1").exists()  # worker 1 wrote nothing: no output folder,
    assert list((tmp_path / "worker-cwd1").iterdir()) == []  # nothing where it ran


@pytest.mark.slow  # two TensorFlow processes on 2 shared cores: about 2 minutes
def test_two_workers_on_localhost_give_the_one_device_curve_and_only_the_chief_writes(
        tiny_voc, tmp_path, cli_env, mirrored_run, one_device_run):
    logs = _two_workers(tmp_path, cli_env, lambda i: curve_args(
        tiny_voc, tmp_path / f"out{i}", "--distribute", "multiworker", "--eval-every", "1"))
    out = tmp_path / "out0"
    assert json.loads((out / "results.json").read_text())["replicas"] == 2
    assert json.loads((out / "state.json").read_text())["step"] == 2  # results.json: best.keras's step
    for name in ("last.keras", "state.json", "log.csv", "report.md", "best.keras", "config.json"):
        assert (out / name).is_file(), name
    assert not (tmp_path / "out1").exists()  # worker 1 wrote nothing: no output folder,
    assert list((tmp_path / "worker-cwd1").iterdir()) == []  # nothing where it ran
    assert "val mAP" in logs[0] and "val mAP" not in logs[1]  # evaluation ran once, on the chief
    np.testing.assert_allclose(losses(out), losses(mirrored_run), rtol=REPLICAS_RTOL)
    assert_one_device_curve(losses(out), losses(one_device_run))


@pytest.mark.slow  # two runs of two TensorFlow processes on 2 shared cores: about 6 minutes
def test_a_worker_killed_mid_epoch_and_both_resumed_finish_the_run_from_the_step_backup(tiny_voc, tmp_path, cli_env):
    out = tmp_path / "out"  # one folder for both workers, as on a shared file system: only the chief writes it

    def args(*extra: str) -> Callable[[int], list[str]]:
        return lambda index: tiny_args(tiny_voc, out, "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", "4",
                                       "--eval-every", "0", "--backup-every", "2", "--distribute", "multiworker",
                                       *extra)

    procs = _start_workers(tmp_path, "first", args(), cli_env)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if (out / "state.json").is_file() and json.loads((out / "state.json").read_text())["step"] >= 2:
                break
            time.sleep(0.2)
        backup = json.loads((out / "state.json").read_text())
        assert (backup["step"], backup["epochs_done"]) == (2, 0), backup  # the step backup, mid-epoch
        procs[1].send_signal(signal.SIGKILL)
        codes = _wait(procs, 300)  # the chief's collectives fail on the lost peer: no hang
    finally:
        _kill(procs)
    chief_log = (tmp_path / "first-0.log").read_text()
    assert codes[1] == -signal.SIGKILL and codes[0] not in (None, 0), (codes, chief_log[-3000:])
    state = json.loads((out / "state.json").read_text())
    assert state["step"] in (2, 4), state  # the chief may have finished the epoch's step 4 before it noticed

    logs = _two_workers(tmp_path, cli_env, args("--resume"), tag="resumed")
    assert f"step {state['step']}" in logs[0]
    assert json.loads((out / "results.json").read_text())["steps"] == 8
    with open(out / "log.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]  # no epoch missing or twice


def test_mixed_bfloat16_keeps_the_head_outputs_and_the_loss_float32(tiny_voc):
    from ssdzoo.data.tfdata import pipeline
    from ssdzoo.training.distribute import cpu_has_bf16, precision_policy

    policy, note = precision_policy(True)
    if not cpu_has_bf16():
        assert policy == "float32" and "no BF16" in note
        pytest.skip("this CPU has no BF16 instructions: --mixed-precision keeps float32 here")
    assert policy == "mixed_bfloat16"
    records = ssdzoo.data.load(tiny_voc, format="voc", split="train").records[:2]
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = ssdzoo.build("small", 3, weights=None, head_width=0.25)
        images, targets = next(iter(pipeline(records, model, batch_size=2, augment=False)))
        out = model(images)
        assert model.get_layer("conv4_3").compute_dtype == "bfloat16"
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        loss = ssdzoo.MultiBoxLoss()(targets, out)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32" and math.isfinite(float(loss))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_torn_last_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    from ssdzoo.training.checkpoints import Checkpoints

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    checkpoints = Checkpoints(str(tmp_path))
    for epoch in range(3):
        model.fit(np.ones((2, 2)), np.ones((2, 1)), epochs=1, verbose=0)
        checkpoints.save(model, {"epochs_done": epoch + 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.keras", "previous-state.json", "previous.keras",
                                                          "state.json"]  # no temporary file left
    last = tmp_path / "last.keras"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a kill during the write
    loaded, state, path = checkpoints.load_latest(keras.saving.load_model)
    assert path == str(tmp_path / "previous.keras") and state == {"epochs_done": 2, "step": 2}
    assert int(loaded.optimizer.iterations.numpy()) == 2
    assert f"warning: {last} is unreadable (" in capsys.readouterr().out
    (tmp_path / "previous.keras").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="nothing to resume in .*no readable last.keras or previous.keras"):
        checkpoints.load_latest(keras.saving.load_model)


def test_cache_auto_keeps_decoded_images_only_within_the_memory_budget(tiny_voc, monkeypatch):
    from ssdzoo.training import memory

    records = list(ssdzoo.data.load(tiny_voc, format="voc", split="train"))
    assert memory.decoded_bytes(records) == 8 * 640 * 480 * 3  # BCCD: 640x480 RGB
    on, note = memory.resolve_cache("auto", records)
    assert on and note.startswith("cache auto: on, decoded images 7 MiB (8 images) within the budget")
    monkeypatch.setattr(memory, "total_memory", lambda: 4 * 2**20)  # a 4 MiB machine: budget 1 MiB
    assert memory.resolve_cache("auto", records) == (
        False, "cache auto: off, decoded images 7 MiB (8 images) over the budget 0.0 GiB (25% of 0.0 GiB RAM)")
    assert memory.resolve_cache(False, records) == (False, "cache: off (as configured)")
    assert TrainConfig().cache == "auto" and TrainConfig.from_dict({"cache": True}).cache is True
    with pytest.raises(ValueError, match="cache must be true, false or auto, got 'sometimes'"):
        TrainConfig(data=str(tiny_voc), cache="sometimes").validate()
