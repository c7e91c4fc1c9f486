"""The host CPU as the database names it: model name and the ISA flags that matter to codegen.

Shared by every backend so that TVM and XLA targets describe one machine the same way.
"""

from __future__ import annotations

import platform
from functools import lru_cache

# The CPU flags that change what code a compiler may emit (others are left out of the key).
ISA_FLAGS = (
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "avx_vnni",
    "neon",
    "asimd",
    "sve",
    "sve2",
)


@lru_cache(maxsize=1)
def cpu_description() -> tuple[str, tuple[str, ...]]:
    """(CPU model name, sorted ISA flags of ISA_FLAGS this CPU has)."""
    model, flags = platform.processor() or platform.machine(), ()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    have = set(value.split())
                    flags = tuple(sorted(f for f in ISA_FLAGS if f in have))
    except OSError:
        pass
    return model, flags
