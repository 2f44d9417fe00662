#!/usr/bin/env bash
# Every benchmark of the project; each writes its table to benchmarks/results/.
# Run on a quiet machine: figures drift up to 2x when the CPU is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
python benchmarks/bench_encode.py --repeats 30
python benchmarks/bench_pipeline.py --batches 10 --repeats 5
python benchmarks/bench_decode.py --repeats 21
python benchmarks/bench_voc_eval.py --repeats 15
python benchmarks/bench_precision.py --repeats 7
python benchmarks/bench_distribute.py --steps 8
ssdzoo bench --out benchmarks/results/backbones --repeats 10 \
    --results runs/bccd_small_long/results.json
ssdzoo bench --head-width 0.25 --out benchmarks/results/backbones_head025 --repeats 10
