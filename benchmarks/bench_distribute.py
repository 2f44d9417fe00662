"""Train-step time of ``ssdzoo train`` with one device, ``--distribute mirrored`` over 2 logical CPU
devices and ``--distribute multiworker`` with 2 worker processes on localhost.

Each run trains the small backbone (head width 0.25) on BCCD with global batch 4 for 2 epochs of
``--steps`` steps, no validation; the step time is the second epoch's wall time (from the
train_seconds of the two checkpoints' state files, so the first epoch's tracing is excluded)
divided by its steps. On a 2-core CPU the replicas share the same cores: the point is the code
path, not a speed-up.

    python benchmarks/bench_distribute.py [--steps 10]

Prints a markdown table and writes it to benchmarks/results/distribute.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssdzoo.utils.machine import cpu_description  # noqa: E402

LOGICAL_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ssdzoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def train_args(out: pathlib.Path, steps: int, *extra: str) -> list[str]:
    """The benchmarked ``ssdzoo train`` arguments."""
    return ["train", "--backbone", "small", "--head-width", "0.25", "--data", str(ROOT / "data" / "BCCD"),
            "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", str(steps), "--eval-every", "0",
            "--warmup-steps", "0", "--precise-bn", "0", "--out", str(out), *extra]


def step_ms(out: pathlib.Path, steps: int) -> float:
    """The second epoch's milliseconds per step, from the two newest checkpoints' state files."""
    first = json.loads((out / "previous-state.json").read_text())
    second = json.loads((out / "state.json").read_text())
    assert (first["epochs_done"], second["epochs_done"]) == (1, 2), (first, second)
    return (second["train_seconds"] - first["train_seconds"]) / steps * 1e3


def run(commands: list[tuple[list[str], dict]], log: pathlib.Path) -> None:
    """Start the processes together and wait for all; fail with the log's end."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as f:
        procs = [subprocess.Popen(cmd, env={**env, **extra}, stdout=f, stderr=subprocess.STDOUT)
                 for cmd, extra in commands]
        codes = [p.wait(timeout=1800) for p in procs]
    if any(codes):
        raise SystemExit(f"exit codes {codes}:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        cli = [sys.executable, "-m", "ssdzoo.cli"]
        run([(cli + train_args(tmp / "single", args.steps, "--distribute", "none"), {})], tmp / "single.log")
        rows.append(("one device", 1, step_ms(tmp / "single", args.steps)))
        run([([sys.executable, "-c", LOGICAL_CPUS, *train_args(tmp / "mirrored", args.steps, "--distribute",
                                                                "mirrored")], {})], tmp / "mirrored.log")
        rows.append(("mirrored, 2 logical CPUs", 2, step_ms(tmp / "mirrored", args.steps)))
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        run([(cli + train_args(tmp / f"worker{i}", args.steps, "--distribute", "multiworker"),
              {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
             for i in range(2)], tmp / "multiworker.log")
        rows.append(("multiworker, 2 processes on localhost", 2, step_ms(tmp / "worker0", args.steps)))
    base = rows[0][2]
    lines = [
        "# Train-step time: one device, mirrored, multi-worker (code path on a shared 2-core CPU)",
        "",
        f"`python benchmarks/bench_distribute.py --steps {args.steps}`; {cpu_description()}; "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "small backbone, head width 0.25, SSD300, global batch 4, second epoch's steps (tracing excluded).",
        "",
        "| setting | replicas | ms per step | vs one device (x) |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {replicas} | {ms:.0f} | {base / ms:.2f} |" for name, replicas, ms in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results" / "distribute.md").write_text(text)


if __name__ == "__main__":
    main()
