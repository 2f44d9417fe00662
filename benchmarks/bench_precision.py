"""Train-step time with ``--mixed-precision`` and ``--jit-compile`` on and off, in one process.

For each model (the demo's MobileNet alpha 0.5 and the ``small`` backbone, both with head width
0.25, SSD300, batch 8 of BCCD images with full targets) it builds one variant per setting:
float32 (the baseline), mixed_bfloat16 (what ``--mixed-precision`` picks on a CPU with BF16),
float32 + XLA, mixed_bfloat16 + XLA. After 2 warm-up steps each (tracing, XLA compilation) the
variants take turns, one ``train_on_batch`` each per round, so that a shared CPU slows them
alike; the table gives the median step time and the median of the per-round ratios to the
baseline of the same round.

    python benchmarks/bench_precision.py [--repeats 9] [--backbones mobilenet small]

Prints a markdown table and writes it to benchmarks/results/precision.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ssdzoo  # noqa: E402
from ssdzoo.data.tfdata import pipeline  # noqa: E402

VARIANTS = [("float32", False), ("mixed_bfloat16", False), ("float32", True), ("mixed_bfloat16", True)]
OPTIONS = {"mobilenet": {"alpha": 0.5}, "small": {}}
BATCH = 8


def lscpu() -> tuple[str, str]:
    """The CPU's model name and its flags that matter here (vector width, BF16, VNNI, AMX)."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    keep = [f for f in flags if f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")
            or f.startswith("amx")]
    return fields.get("Model name", "?").strip(), " ".join(keep)


def build(backbone: str, policy: str, jit: bool, class_names: list[str]) -> keras.Model:
    """One compiled variant (the dtype policy must be set while the model is built)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = ssdzoo.build(backbone, len(class_names), weights=None, head_width=0.25,
                             class_names=class_names, **OPTIONS[backbone])
        model.compile(keras.optimizers.SGD(1e-3, momentum=0.9), loss=ssdzoo.MultiBoxLoss(), jit_compile=jit)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def measure(backbone: str, repeats: int) -> list[dict]:
    """Rows of the table for one backbone."""
    records = ssdzoo.data.load(ROOT / "data" / "BCCD", format="voc", split="train")
    models = [build(backbone, policy, jit, records.class_names) for policy, jit in VARIANTS]
    images, targets = next(iter(pipeline(records.records[:BATCH], models[0], batch_size=BATCH, augment=False)))
    for model in models:
        for _ in range(2):
            model.train_on_batch(images, targets)
    times = [[] for _ in models]
    for _ in range(repeats):
        for model, row in zip(models, times):
            start = time.perf_counter()
            model.train_on_batch(images, targets)
            row.append(time.perf_counter() - start)
    rows = []
    for (policy, jit), row in zip(VARIANTS, times):
        ratios = [base / t for base, t in zip(times[0], row)]
        rows.append({"backbone": backbone, "policy": policy, "jit": jit, "median_ms": statistics.median(row) * 1e3,
                     "speed_vs_float32": statistics.median(ratios)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--backbones", nargs="+", default=["mobilenet", "small"], choices=sorted(OPTIONS))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = [row for backbone in args.backbones for row in measure(backbone, args.repeats)]
    model_name, flags = lscpu()
    lines = [
        "# Train-step time: mixed precision and XLA on this CPU",
        "",
        f"`python benchmarks/bench_precision.py --repeats {args.repeats} --backbones {' '.join(args.backbones)}`",
        "",
        f"CPU: {model_name}, {os.cpu_count()} CPUs; flags: {flags}. Keras {keras.__version__}. "
        f"Load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (the CPU is shared: compare "
        "the ratio column, measured against the float32 step of the same round).",
        "",
        f"SSD300, head width 0.25, batch {BATCH}, SGD; median of {args.repeats} steps after 2 warm-up steps.",
        "",
        "| backbone | policy | XLA | median step (ms) | speed vs float32 (x) |",
        "|---|---|---|---:|---:|",
        *[f"| {r['backbone']} | {r['policy']} | {'on' if r['jit'] else 'off'} | {r['median_ms']:.0f} | "
          f"{r['speed_vs_float32']:.2f} |" for r in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "precision.md"
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
