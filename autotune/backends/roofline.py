"""How fast this host's vendor libraries go: the floor a kernel's latency is measured against.

A tuned kernel is done when it runs as fast as the vendor's own code would. The host's peak
is measured, never assumed: the float32 GEMM rate of numpy's BLAS with all its threads, and
the rate of a large copy (memory bandwidth). A workload's floor is its roofline:
max(flops / peak flops, bytes / bandwidth). The tuning budget goes where the measured best
is furthest above that floor (autotune.tuning.model).

Example::

    peak = host_peak()                         # Peak(flops_per_s=1.9e11, bytes_per_s=2.4e10)
    floor_s(2 * 512**3, 3 * 512 * 512 * 4)     # ~1.4e-3 s for a 512 GEMM on this host
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

GEMM_N = 1024  # 2.1 GFLOP: long enough to reach the BLAS's peak, short enough to take ~10 ms
COPY_BYTES = 64 << 20  # past the last-level cache of the CPUs this runs on
REPEATS = 5


@dataclass(frozen=True)
class Peak:
    flops_per_s: float
    bytes_per_s: float


def _best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Fastest of `repeats` calls after one warm-up (a peak is the best the host does)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@lru_cache(maxsize=1)
def host_peak() -> Peak:
    """This host's float32 GEMM rate (numpy's BLAS) and copy bandwidth, measured once per
    process (~0.2 s)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    gemm_s = _best(lambda: a @ b)
    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    copy_s = _best(lambda: np.copyto(dst, src))
    # A copy reads and writes every byte.
    return Peak(2.0 * GEMM_N**3 / gemm_s, 2.0 * COPY_BYTES / copy_s)


def floor_s(flops: float, nbytes: float, peak: Peak | None = None) -> float:
    """The least time a kernel of `flops` floating-point operations that moves `nbytes`
    can take on this host: its roofline."""
    p = peak or host_peak()
    return max(flops / p.flops_per_s, nbytes / p.bytes_per_s)
