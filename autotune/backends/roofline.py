"""How fast this host's vendor libraries go: the floor a kernel's latency is measured against.

A tuned kernel is done when it runs as fast as the vendor's own code would. The host's peak
is measured, never assumed: the float32 GEMM rate of numpy's BLAS with all its threads, and
the rate of a large copy (memory bandwidth). A workload's floor is its roofline:
max(flops / peak flops, bytes / bandwidth), the bandwidth being the cache's for a workload
that moves at most `CACHE_BYTES`. The tuning budget goes where the measured best
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
#: A kernel moving at most this many bytes runs from the caches: its floor is at the cache's
#: copy rate (~4x memory's here: 90 against 24 GB/s), else a small kernel tuned well "beats"
#: its roofline and the gain pass gives it nothing more.
CACHE_BYTES = 2 << 20
REPEATS = 5


@dataclass(frozen=True)
class Peak:
    flops_per_s: float
    bytes_per_s: float  # memory
    cache_bytes_per_s: float = 0.0  # a copy of `CACHE_BYTES` or less (0: not measured)


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
    small, into = src[: CACHE_BYTES // 8], dst[: CACHE_BYTES // 8]  # both halves in the cache
    times = COPY_BYTES // CACHE_BYTES

    def copies() -> None:
        for _ in range(times):
            np.copyto(into, small)

    cache_s = _best(copies) / times
    # A copy reads and writes every byte.
    return Peak(2.0 * GEMM_N**3 / gemm_s, 2.0 * COPY_BYTES / copy_s, 2.0 * (CACHE_BYTES // 2) / cache_s)


def floor_s(flops: float, nbytes: float, peak: Peak | None = None) -> float:
    """The least time a kernel of `flops` floating-point operations that moves `nbytes`
    can take on this host: its roofline."""
    p = peak or host_peak()
    cached = nbytes <= CACHE_BYTES and p.cache_bytes_per_s > p.bytes_per_s
    return max(flops / p.flops_per_s, nbytes / (p.cache_bytes_per_s if cached else p.bytes_per_s))
