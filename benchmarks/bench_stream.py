"""Streaming TFRecord shards vs the in-memory pipeline: images/s and peak resident memory.

Generates ``--images`` synthetic JPEGs (300-500 px, random shapes on textured backgrounds, one box
per shape, 3 classes) as a VOC folder under ``--work`` (default /tmp, never the repository),
converts them with ``ssdzoo convert --to tfrecord``, and converts BCCD's train split too. Then,
each in a fresh child process, it times the training input pipeline
(``ssdzoo.data.pipeline(augment=True, repeat=True)``, batch 8, 300x300, the 8732 SSD300 anchors
encoded, as ``ssdzoo train`` feeds ``model.fit``) over ``--batches`` batches after a warm-up
that fills the in-memory cache, and reads the child's peak resident memory (``ru_maxrss``):

- in memory, BCCD: decoded images cached (what ``ssdzoo train`` does on BCCD, ``cache auto``);
- BCCD, files: records in memory, each image read from its file every time (``cache false``);
- streamed, BCCD: the same images from TFRecord shards;
- streamed, synthetic: the ``--images`` images from TFRecord shards.

Rows run in turn, ``--repeats`` times; the table gives medians. A last child streams every
synthetic record once (no augmentation) to show that memory stays flat over a whole pass.

    python benchmarks/bench_stream.py [--images 20000] [--repeats 3] [--batches 100]

"vs in memory (CPU)" compares CPU time per image (this process, all threads), which other jobs on
a shared machine disturb much less than wall-clock images/s.

Prints a markdown table and writes benchmarks/results/stream.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCH, SIZE, CLASSES = 8, 300, ("box", "disc", "wedge")
SSD300_MAPS = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]


# --------------------------------------------------------------------------- synthetic data

def _synthetic_image(index: int, folder: str) -> None:
    """One JPEG (smooth blotches plus grain) with 1-6 shapes and its VOC annotation (boxes: the shapes' bounds)."""
    import numpy as np
    from PIL import Image, ImageChops, ImageDraw

    rng = np.random.default_rng(index)
    width, height = (int(v) for v in rng.integers(300, 501, 2))
    coarse = rng.uniform(40, 200, 3) + rng.normal(0, 25, (height // 16 + 2, width // 16 + 2, 3))
    image = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    grain = Image.effect_noise((width, height), 5).convert("RGB")  # Gaussian around 128
    image = ImageChops.add(image, grain, offset=-128)
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, 7))):
        w, h = (int(v) for v in rng.integers(20, min(width, height) // 2, 2))
        x1, y1 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        kind, colour = int(rng.integers(0, 3)), tuple(int(c) for c in rng.integers(0, 256, 3))
        if kind == 0:
            draw.rectangle([x1, y1, x1 + w, y1 + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x1, y1, x1 + w, y1 + h], fill=colour)
        else:
            draw.polygon([(x1, y1 + h), (x1 + w // 2, y1), (x1 + w, y1 + h)], fill=colour)
        objects.append((CLASSES[kind], x1, y1, x1 + w, y1 + h))
    name = f"synth_{index:06d}"
    image.save(os.path.join(folder, "JPEGImages", name + ".jpg"), quality=90)
    boxes = "".join(f"<object><name>{c}</name><difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                    f"<xmax>{d}</xmax><ymax>{e}</ymax></bndbox></object>" for c, a, b, d, e in objects)
    with open(os.path.join(folder, "Annotations", name + ".xml"), "w") as f:
        f.write(f"<annotation><filename>{name}.jpg</filename><size><width>{width}</width><height>{height}</height>"
                f"<depth>3</depth></size>{boxes}</annotation>")


def make_synthetic(folder: Path, count: int, workers: int) -> float:
    """A VOC folder of ``count`` synthetic images, split ``train``; returns the seconds it took (0: there already)."""
    ids = folder / "ImageSets" / "Main" / "train.txt"
    if ids.is_file() and len(ids.read_text().split()) == count:
        return 0.0
    start = time.perf_counter()
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(workers) as pool:
        pool.starmap(_synthetic_image, ((i, str(folder)) for i in range(count)), chunksize=64)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    ids.write_text("".join(f"synth_{i:06d}\n" for i in range(count)))
    return time.perf_counter() - start


def convert(source: Path, out: Path, count: int) -> float:
    """``ssdzoo convert SOURCE OUT --split train --to tfrecord``; returns seconds (0: there already)."""
    meta = out / "ssdzoo-tfrecord.json"
    if meta.is_file() and json.loads(meta.read_text())["splits"]["train"]["records"] == count:
        return 0.0
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ssdzoo.cli", "convert", str(source), str(out), "--split", "train",
                    "--to", "tfrecord"], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


# --------------------------------------------------------------------------- measurement (child)

def child(kind: str, data: str, warmup: int, batches: int, full_pass: bool) -> dict:
    """Time the pipeline in this process; images/s, CPU ms per image and peak RSS (MiB)."""
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np

    from ssdzoo.core.anchors import SSD300_ANCHORS, generate_anchors
    from ssdzoo.data import load, pipeline
    from ssdzoo.data.tfrecord import open_shards

    source = open_shards(data, "train") if kind == "stream" else load(data, format="voc", split="train")
    if full_pass:  # every record once, decode + resize, one anchor: memory over a whole pass
        ds = pipeline(source, anchors=np.array([[0.25, 0.25, 0.75, 0.75]], np.float32), input_size=SIZE,
                      batch_size=64)
        start, n = time.perf_counter(), sum(len(images) for images, _ in ds)
        return {"images": n, "seconds": time.perf_counter() - start,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    anchors = generate_anchors(SSD300_MAPS, (SIZE, SIZE), SSD300_ANCHORS)
    ds = pipeline(source, anchors=anchors, input_size=SIZE, batch_size=BATCH, augment=True, repeat=True,
                  seed=0, cache=kind == "cache")
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    wall, cpu = time.perf_counter(), time.process_time()
    n = sum(len(next(it)[0]) for _ in range(batches))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images_per_s": n / wall, "cpu_ms": cpu * 1e3 / n, "images": len(source),
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(kind: str, data: Path, args: argparse.Namespace, full_pass: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--data", str(data), "--warmup", str(args.warmup),
                          "--batches", str(args.batches), *(["--full-pass"] if full_pass else [])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def machine() -> str:
    """CPU model, core count and whether the flags include avx512f (from /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        avx512 = " avx512f" in next(line for line in info.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        model, avx512 = platform.processor() or "unknown CPU", False
    return f"{model}, {os.cpu_count()} CPUs, avx512f {'in' if avx512 else 'not in'} the flags"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="synthetic images (>= 20000 for the goal)")
    parser.add_argument("--work", default="/tmp/ssdzoo-bench-stream", help="folder for the generated data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=30, help="batches before timing (fills BCCD's cache)")
    parser.add_argument("--batches", type=int, default=100, help="timed batches per run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating images")
    parser.add_argument("--child", choices=("cache", "files", "stream"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--full-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.warmup, args.batches, args.full_pass)))
        return

    work, bccd = Path(args.work), ROOT / "data" / "BCCD"
    load_before = os.getloadavg()[0]
    generated = make_synthetic(work / "synthetic-voc", args.images, args.workers)
    converted = convert(work / "synthetic-voc", work / "synthetic-tfrecord", args.images)
    convert(bccd, work / "bccd-tfrecord", 205)
    print(f"generated in {generated:.0f} s, converted in {converted:.0f} s (0: reused)", flush=True)
    rows = [("in memory, BCCD train (decoded images cached)", "cache", bccd),
            ("BCCD train, images read from files", "files", bccd),
            ("streamed, BCCD train as TFRecord shards", "stream", work / "bccd-tfrecord"),
            (f"streamed, synthetic {args.images} as TFRecord shards", "stream", work / "synthetic-tfrecord")]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in rows}
    for repeat in range(args.repeats):
        for name, kind, data in rows:
            results[name].append(run_child(kind, data, args))
            print(f"repeat {repeat + 1}: {name}: {results[name][-1]}", flush=True)
    full = run_child("stream", work / "synthetic-tfrecord", args, full_pass=True)
    load_after = os.getloadavg()[0]

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    reference, reference_cpu = median(rows[0][0], "images_per_s"), median(rows[0][0], "cpu_ms")
    lines = []
    for name, _, _ in rows:
        lines.append(f"| {name} | {results[name][0]['images']} | {median(name, 'images_per_s'):.1f} | "
                     f"{max(r['images_per_s'] for r in results[name]):.1f} | {median(name, 'cpu_ms'):.2f} | "
                     f"{median(name, 'images_per_s') / reference:.2f} | {reference_cpu / median(name, 'cpu_ms'):.2f} | "
                     f"{max(r['rss_mib'] for r in results[name]):.0f} |")
    ratio = median(rows[-1][0], "images_per_s") / reference
    peak = max(r["rss_mib"] for r in results[rows[-1][0]] + [full])
    verdict = (f"Goal (streaming >= 0.80 x in-memory images/s, peak RSS < 3 GB): ratio {ratio:.2f} "
               f"(by CPU time {reference_cpu / median(rows[-1][0], 'cpu_ms'):.2f}; the same BCCD images streamed: "
               f"{median(rows[2][0], 'images_per_s') / reference:.2f}, by CPU time "
               f"{reference_cpu / median(rows[2][0], 'cpu_ms'):.2f}), peak RSS {peak:.0f} MiB -> "
               f"{'met' if ratio >= 0.8 and peak < 3000 else 'NOT met'}.")
    command = (f"python benchmarks/bench_stream.py --images {args.images} --repeats {args.repeats} "
               f"--warmup {args.warmup} --batches {args.batches}")
    import tensorflow as tf

    table = "\n".join([
        f"Training input pipeline (`ssdzoo.data.pipeline`, SSD augmentation, {SIZE}x{SIZE}, batch {BATCH}, "
        f"8732 anchors encoded), each run in a fresh process: {args.warmup} warm-up batches, then "
        f"{args.batches} timed; medians of {args.repeats} runs per row, rows interleaved. "
        f"`{command}`; Python {platform.python_version()}, TensorFlow {tf.__version__}; {machine()}; "
        f"load average {load_before:.1f} before, {load_after:.1f} after (machine shared with other jobs).",
        "",
        "| input | images | median images/s | best images/s | CPU ms per image | vs in memory (wall) "
        "| vs in memory (CPU) | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
        "",
        f"A full pass over all {full['images']} synthetic records (decode + resize, no augmentation, batch 64) "
        f"took {full['seconds']:.0f} s ({full['images'] / full['seconds']:.0f} images/s) with peak RSS "
        f"{full['rss_mib']:.0f} MiB. Held decoded in memory they would take "
        f"{_decoded_gib(work / 'synthetic-tfrecord'):.1f} GiB.",
        "",
        verdict,
    ]) + "\n"
    print(table)
    out = ROOT / "benchmarks" / "results" / "stream.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)


def _decoded_gib(folder: Path) -> float:
    """GiB the decoded RGB images of a TFRecord folder's train split would take (from their sizes)."""
    import tensorflow as tf

    total = 0
    for shard in sorted(folder.glob("train-*.tfrecord")):
        for serialized in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
            feature = tf.train.Example.FromString(serialized).features.feature
            total += feature["image/width"].int64_list.value[0] * feature["image/height"].int64_list.value[0] * 3
    return total / 2**30


if __name__ == "__main__":
    main()
