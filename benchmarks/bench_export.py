"""Agreement and speed of the exported artifacts against the Keras model they came from.

The shipped ``bccd`` model (``ssdzoo.build("small", 3, weights="bccd", head_width=0.25)``) is
exported to every format and precision (int8 calibrated on up to 100 BCCD *train* images), each
artifact is loaded with ``ssdzoo.load_exported`` and evaluated with ``ssdzoo.evaluate`` on the
BCCD test split (72 images), next to the Keras model. Latency: median ms of one forward pass +
decoding + NMS on one 300x300 uint8 image (the artifact's own runtime; Keras: ``model.detect``),
after warm-up, in this process (threads as each runtime picks).

    python benchmarks/bench_export.py [--repeats 30] [--out benchmarks/results/export.md]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = [("saved_model", "fp32"), ("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "fp16"),
           ("tflite", "int8")]


def median_ms(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` in ms after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def size_mb(path: str) -> float:
    """Size of a file or directory in MB."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6
    return os.path.getsize(path) / 1e6


def main() -> None:
    """Export, evaluate and time each configuration; print and write the markdown table."""
    import ssdzoo
    from ssdzoo.deploy.calibration import calibration_images
    from ssdzoo.utils.machine import cpu_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "export.md"))
    args = parser.parse_args()

    model = ssdzoo.build("small", 3, weights="bccd", head_width=0.25)
    bccd = str(ROOT / "data" / "BCCD")
    test = list(ssdzoo.data.load(bccd, format="voc", split="test"))
    train = list(ssdzoo.data.load(bccd, format="voc", split="train"))
    one = calibration_images([test[0].image_path], model.input_size)
    rows = [("Keras (TF " + __import__("tensorflow").__version__ + ")", "fp32", "-",
             ssdzoo.evaluate(model, test, verbose=False),
             median_ms(lambda: model.detect(one, preset="evaluate"), args.repeats))]
    with tempfile.TemporaryDirectory() as folder:
        for fmt, precision in CONFIGS:
            suffix = {"saved_model": "", "onnx": ".onnx"}.get(fmt, ".tflite")
            path = os.path.join(folder, f"bccd_{fmt}_{precision}{suffix}")
            ssdzoo.export(model, path, format=fmt, precision=precision,
                          calibration=train if precision == "int8" else None)
            det = ssdzoo.load_exported(path)
            rows.append((fmt, precision, f"{size_mb(path):.2f}", ssdzoo.evaluate(det, test, verbose=False),
                         median_ms(lambda det=det: det.runner(one), args.repeats)))
    ref = rows[0][3]
    lines = [f"Exported bccd model vs Keras, BCCD test split ({len(test)} images); {cpu_description()}",
             "", "| format | precision | size MB | mAP VOC07 | Δ vs Keras | AP50 area | COCO AP | ms / image |",
             "|---|---|---|---|---|---|---|---|"]
    for name, precision, size, res, ms in rows:
        lines.append(f"| {name} | {precision} | {size} | {res.map:.4f} | {res.map - ref.map:+.4f} | "
                     f"{res.voc_area['map']:.4f} | {res.coco['map']:.4f} | {ms:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
