"""Step-0 diagnosis of a from-scratch SSD on BCCD: what the loss and the head look like before
the first update (docs/LEARNING.md).

Builds the README demo's model (``mobilenet``, alpha 0.5, head width 0.25, no weights) with the
given seed, takes ``--batches`` augmented training batches of 8 (the demo's pipeline, seed 0)
and prints: the MultiBox loss split into classification (``MultiBoxLoss(alpha=0)``) and
localisation (the rest), the mean background probability over all anchors, the share of
positive anchors, and the mean absolute value and RMS of each source map (conv4_3_norm is the
L2Normalization(20) output). Extra ``key=value`` arguments are build options
(``head_norm=batch prior_probability=0.01``).

    python benchmarks/diagnose_init.py [--batches 4] [--seed 0] [key=value ...]
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import subprocess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import ssdzoo  # noqa: E402
from ssdzoo.core.loss import MultiBoxLoss  # noqa: E402
from ssdzoo.data.tfdata import pipeline  # noqa: E402


def _value(text: str):
    """A build option's value: a Python literal, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _cpu() -> str:
    """The CPU model from lscpu (platform's processor name otherwise)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def main() -> None:
    """Print the step-0 figures for the demo model (plus the given build options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("options", nargs="*", help="build options key=value")
    args = parser.parse_args()
    options = {k: _value(v) for k, _, v in (o.partition("=") for o in args.options)}

    keras.utils.set_random_seed(args.seed)
    train = ssdzoo.data.load("data/BCCD", format="voc", split="train")
    model = ssdzoo.build("mobilenet", len(train.class_names), weights=None, head_width=0.25,
                         alpha=0.5, **options)
    names = [layer.name.removesuffix("_mbox_conf") for layer in model.layers
             if layer.name.endswith("_mbox_conf")]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names] + [model.output])
    batches = list(pipeline(train, model, batch_size=8, augment=True, seed=0).take(args.batches))

    print(f"CPU: {_cpu()}; keras {keras.__version__} ({keras.backend.backend()}); "
          f"options {options or 'none'}; {args.batches} batches of 8, model seed {args.seed}")
    for training in (True, False):
        _report(probe, names, batches, training)


def _report(probe: keras.Model, names: list[str], batches, training: bool) -> None:
    """Print the figures of one mode (batch statistics or the BatchNorms' moving ones)."""
    total, cls, bg, bg_pos, pos_share = [], [], [], [], []
    maps = {n: [] for n in names}
    for images, targets in batches:
        *sources, pred = probe(images, training=training)
        total.append(float(MultiBoxLoss()(targets, pred)))
        cls.append(float(MultiBoxLoss(alpha=0.0)(targets, pred)))
        prob = keras.ops.convert_to_numpy(keras.ops.softmax(pred[..., 4:], axis=-1))
        positive = keras.ops.convert_to_numpy(targets)[..., 4] > 0
        bg.append(prob[..., 0].mean())
        bg_pos.append(prob[..., 0][positive].mean())
        pos_share.append(positive.mean())
        for n, s in zip(names, sources, strict=True):
            s = keras.ops.convert_to_numpy(s)
            maps[n].append((np.abs(s).mean(), np.sqrt((s * s).mean())))

    mode = "training=True (batch statistics)" if training else "training=False (moving statistics)"
    print(f"\n{mode}\n\n| figure | value |\n|---|---|")
    print(f"| loss (total) | {np.mean(total):.3f} |")
    print(f"| classification part | {np.mean(cls):.3f} |")
    print(f"| localisation part | {np.mean(total) - np.mean(cls):.3f} |")
    print(f"| mean p(background), all anchors | {np.mean(bg):.4f} |")
    print(f"| mean p(background), positive anchors | {np.mean(bg_pos):.4f} |")
    print(f"| positive anchors | {100 * np.mean(pos_share):.3f} % |")
    print("\n| source map | mean abs | RMS |\n|---|---|---|")
    for n in names:
        a, r = np.mean(maps[n], axis=0)
        print(f"| {n} | {a:.4f} | {r:.4f} |")


if __name__ == "__main__":
    main()
