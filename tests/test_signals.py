"""``ssdzoo train`` stopped by SIGINT / SIGTERM, started as a batch job would be, then resumed.

(SIGKILL's and SIGTERM's cases are one preempted job's life, resumed after each; SIGINT's,
without validation, is in ``pytest -m slow``.)

A process started in the background without job control inherits SIGINT as *ignored*; each
run here is started that way (``preexec_fn`` ignores SIGINT in the child), so the CLI's own
handlers are what is tested. No test can race the run: the run is given 1000 epochs, far
more than it can reach before the test signals it, and every wait has a bound and a message.
"""

import csv
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ssdzoo

STEPS = 2          # steps per epoch
EPOCHS = 1000      # what the interrupted run asks for: it cannot finish before it is signalled
WAIT_S = 300       # bound on the wait for the first epoch (the slower CPU kind needs ~30 s)


def train_args(data: Path, out: Path, epochs: int = EPOCHS, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ssdzoo.cli", "train", "--backbone", "small", "--head-width",
            "0.25", "--data", str(data), "--epochs", str(epochs), "--steps-per-epoch", str(STEPS),
            "--batch-size", "2", "--warmup-steps", "0", "--precise-bn", "0", "--out", str(out), *extra]


def start_as_batch_job(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """Start ``args`` with SIGINT ignored, as ``cmd &`` in a script (no job control) does."""
    with open(log, "w") as f:
        return subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=log.parent,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def wait_until(proc: subprocess.Popen, log: Path, ready, what: str):
    """The first true value of ``ready()`` while the run goes on (bounded wait); ``what`` names it in failures."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}:\n" + log.read_text()[-3000:])
        value = ready()
        if value:
            return value
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"not {what} within {WAIT_S} s:\n" + log.read_text()[-3000:])


def wait_for_state(proc: subprocess.Popen, out: Path, log: Path, ready, what: str) -> dict:
    """The run's state.json once ``ready(state)`` holds (bounded wait); ``what`` names it in failures."""
    def state_if_ready():
        try:
            state = json.loads((out / "state.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return state if ready(state) else None

    return wait_until(proc, log, state_if_ready, what)


def wait_for_epochs(proc: subprocess.Popen, out: Path, log: Path, epochs: int = 1) -> dict:
    """The run's state.json once it records ``epochs`` finished epochs (bounded wait)."""
    return wait_for_state(proc, out, log, lambda state: state["epochs_done"] >= epochs,
                          f"finishing {epochs} epoch(s)")


def wait_for_training(proc: subprocess.Popen, log: Path) -> None:
    """Wait (bounded) until ``fit`` has started: the run's signal handlers are installed by then."""
    wait_until(proc, log, lambda: "Epoch 1/" in log.read_text(), "starting to train")


def stop(proc: subprocess.Popen, *signals: signal.Signals) -> int:
    """Send ``signals`` in order and wait (bounded) for the exit code."""
    for sig in signals:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()


def assert_interrupted(log: Path, out: Path, sig: signal.Signals, *hint: str) -> dict:
    """The log says ``sig`` saved last.keras and how to resume (``hint``: flags before --resume); the state."""
    text = log.read_text()
    assert re.search(rf"interrupted by {sig.name}: checkpoint saved to {out}/last\.keras \(step \d+, "
                     rf"\d+ epochs done\)", text), text[-3000:]
    assert f"--out {out}{''.join(' ' + h for h in hint)} --resume" in text.splitlines()[-1], text[-500:]
    assert text.splitlines()[-1].startswith("resume with: ssdzoo train --backbone small")
    assert "Traceback" not in text
    state = json.loads((out / "state.json").read_text())
    assert 1 <= state["epochs_done"] < EPOCHS and state["step"] >= STEPS * state["epochs_done"]
    assert int(ssdzoo.load(str(out / "last.keras")).optimizer.iterations.numpy()) == state["step"]
    return state


@pytest.mark.slow  # SIGTERM's case, with a resume, is test_killed_then_terminated_... below
def test_sigint_saves_a_checkpoint_and_says_how_to_resume(tiny_voc, tmp_path, cli_env):
    out, log = tmp_path / "run", tmp_path / "run.log"
    proc = start_as_batch_job(train_args(tiny_voc, out, EPOCHS, "--eval-every", "0"), log, cli_env)
    wait_for_epochs(proc, out, log)
    assert stop(proc, signal.SIGINT) == 130, log.read_text()[-3000:]
    assert_interrupted(log, out, signal.SIGINT, "--eval-every", "0")
    assert not (out / "best.keras").exists()  # --eval-every 0: no validation, no best checkpoint


def test_a_second_signal_stops_at_once(tiny_voc, tmp_path, cli_env):
    out, log = tmp_path / "run", tmp_path / "run.log"
    proc = start_as_batch_job(train_args(tiny_voc, out, EPOCHS, "--eval-every", "0"), log, cli_env)
    wait_for_training(proc, log)  # during the first step's trace: the second signal must not wait for it
    # Both arrive before Python runs either handler; Python then runs them in signal-number
    # order, so whichever is handled second decides the code (130 or 143).
    code = stop(proc, signal.SIGTERM, signal.SIGINT)
    text = log.read_text()
    assert code in (130, 143), text[-3000:]
    assert f"{signal.Signals(code - 128).name} again: stopping at once" in text, text[-3000:]


def test_killed_then_terminated_run_resumes_each_time_without_losing_or_repeating_a_step(tiny_voc, tmp_path,
                                                                                          cli_env):
    """A preempted job's life: SIGKILL (no handler runs) loses at most the backup interval;
    the resumed run, stopped by SIGTERM, saves its step; the second resume finishes the run
    with the steps, the log and the best checkpoint of the whole run."""
    out, steps, every = tmp_path / "run", 4, 2
    hint = ("--steps-per-epoch", str(steps), "--backup-every", str(every))  # after train_args' own
    args = train_args(tiny_voc, out, EPOCHS, *hint)

    # 1. SIGKILL after a mid-epoch backup in the second epoch or later: nothing is saved at the kill
    log = tmp_path / "killed.log"
    proc = start_as_batch_job(args, log, cli_env)
    wait_for_state(proc, out, log, lambda s: s["step"] > steps and s["step"] % steps == every, "a mid-epoch backup")
    proc.kill()
    proc.wait(timeout=WAIT_S)
    killed = json.loads((out / "state.json").read_text())  # the newest backup, perhaps newer than the one seen
    done = killed["epochs_done"]
    assert killed["step"] % every == 0 and killed["epoch_step"] == done * steps
    assert (out / "previous.keras").is_file()  # the pair before it is kept

    # 2. resumed (as a batch job again), then SIGTERM once it has finished the killed epoch
    log = tmp_path / "terminated.log"
    proc = start_as_batch_job([*args, "--resume"], log, cli_env)
    wait_for_epochs(proc, out, log, done + 1)
    assert stop(proc, signal.SIGTERM) == 143, log.read_text()[-3000:]
    assert f"resuming from {out}/last.keras: {done} epochs done, step {killed['step']}" in log.read_text()
    interrupted = assert_interrupted(log, out, signal.SIGTERM, *hint)
    done = interrupted["epochs_done"]
    assert steps * done <= interrupted["step"] < steps * (done + 1)  # at most the current epoch's steps
    assert interrupted["weights"].startswith("none: small has no ImageNet weights")
    assert not (out / "report.md").exists()
    with open(out / "log.csv") as f:
        before = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in before] == list(range(done))  # the killed epoch's row is written once
    assert interrupted["best_map"] == pytest.approx(max(float(r["val_map"]) for r in before))
    assert interrupted["best_step"] in [steps * (e + 1) for e in range(done)]
    best_before = (out / "best.keras").read_bytes()
    # Pretend the best epoch so far scored a perfect 1.0: no resumed epoch may replace best.keras
    # (the mAP of this little training run only grows, so it would always overwrite it otherwise).
    (out / "state.json").write_text(json.dumps({**interrupted, "best_map": 1.0}))

    # 3. resumed to the end: the rest of the unfinished epoch, then a whole one
    epochs = done + 2
    proc = subprocess.run([*train_args(tiny_voc, out, epochs, *hint), "--resume"], capture_output=True,
                          text=True, timeout=WAIT_S, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert f"resuming from {out}/last.keras: {done} epochs done, step {interrupted['step']}" in proc.stdout
    final = json.loads((out / "state.json").read_text())
    assert final["epochs_done"] == epochs
    assert final["step"] == epochs * steps  # the optimizer went on from each stop: no step lost or twice

    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))  # appended, not restarted
    assert rows[:done] == before
    assert all(0.0 <= float(r["val_map"]) <= 1.0 for r in rows)

    # best.keras is still the best epoch from before the interrupt, and the state says so
    assert (out / "best.keras").read_bytes() == best_before
    assert "(best, saved to" not in proc.stdout
    assert final["best_map"] == 1.0 and final["best_step"] == interrupted["best_step"]
    assert int(ssdzoo.load(str(out / "best.keras")).optimizer.iterations.numpy()) == interrupted["best_step"]

    report = (out / "report.md").read_text()
    assert re.search(r"Test mAP@0\.5 \(VOC07 11-point\): (0\.\d{4}|1\.0000)\*\* on 2 images", report), report
    assert "Backbone weights: none: small has no ImageNet weights" in report
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == interrupted["best_step"] and results["test_images"] == 2
