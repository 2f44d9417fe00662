"""torchvision's SSD models as speed peers of the per-format benchmark (when torch is installed:
``pip install "ssdzoo[peers]"``).

``ssdlite320_mobilenet_v3_large`` and ``ssd300_vgg16`` are built with ``weights=None,
weights_backbone=None`` (nothing is downloaded) and the benchmark's class count, in eval mode
under ``torch.inference_mode()`` on ``torch.set_num_threads(threads)``. Each call runs the whole
model: torchvision's transform (normalise, resize to 320 / 300), the network, box decoding and
NMS (``torchvision.ops.batched_nms``). Random weights: speed only — the network's latency does not
depend on the weights; the NMS work does a little (it is capped per class by the models' top-k).
"""

from __future__ import annotations

import importlib.util

import numpy as np

PEERS = ("ssdlite320_mobilenet_v3_large", "ssd300_vgg16")
MARK = "peer (random weights: speed only)"


def available() -> bool:
    """Whether torch and torchvision can be imported."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "torchvision"))


def peer_rows(images: np.ndarray, num_classes: int, repeats: int = 15, threads: int = 2) -> list[dict]:
    """Speed rows (the benchmark's columns) of :data:`PEERS` on uint8 ``(B, S, S, 3)`` RGB ``images``."""
    import torch
    from torchvision.models import detection

    from ssdzoo.deploy.benchmark import speed

    torch.set_num_threads(int(threads))
    rows = []
    for name in PEERS:
        model = getattr(detection, name)(weights=None, weights_backbone=None, num_classes=num_classes + 1).eval()

        def detect(batch: np.ndarray, model=model) -> list[dict]:
            tensors = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float().div_(255) for im in batch]
            with torch.inference_mode():
                return model(tensors)

        ms, img_s = speed(detect, images, repeats)
        print(f"{name} (torchvision): {ms:.1f} ms b1, {img_s:.1f} img/s b8", flush=True)
        rows.append({"model": name, "format": f"torchvision {name}", "precision": "fp32",
                     "runtime": f"torch {torch.__version__}, {threads} threads; {MARK}", "size_mb": None,
                     "map_voc07": None, "coco_ap": None, "ms_b1": ms, "img_s_b8": img_s})
    return rows
