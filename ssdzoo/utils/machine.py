"""What a figure was measured on: CPU model, vector extensions, core count."""

from __future__ import annotations

import os
import platform


def cpu_description() -> str:
    """E.g. ``"AMD EPYC, AVX-512 + BF16, 2 CPUs"`` (Linux: from /proc/cpuinfo; else the machine)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    if "avx512f" in flags:
        vector = "AVX-512" + (" + BF16" if "avx512_bf16" in flags else "")
    elif "avx2" in flags:
        vector = "AVX2 only"
    else:
        vector = ""
    return ", ".join(part for part in (model, vector, f"{os.cpu_count()} CPUs") if part)
