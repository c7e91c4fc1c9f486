"""The roofline: a kernel that moves little is held to the cache's copy rate, not memory's."""

from __future__ import annotations

import pytest

from autotune.backends.roofline import CACHE_BYTES, Peak, floor_s, host_peak


def test_small_kernels_are_held_to_the_cache_rate_large_ones_to_memory():
    p = Peak(flops_per_s=1e11, bytes_per_s=2e10, cache_bytes_per_s=8e10)
    assert floor_s(0, CACHE_BYTES, p) == pytest.approx(CACHE_BYTES / 8e10)
    assert floor_s(0, CACHE_BYTES + 1, p) == pytest.approx((CACHE_BYTES + 1) / 2e10)
    assert floor_s(1e9, 1e3, p) == pytest.approx(1e-2)  # compute-bound: the flops decide
    # A peak without a measured cache rate (or a slower one) uses memory's for all.
    assert floor_s(0, 1e3, Peak(1e11, 2e10)) == pytest.approx(1e3 / 2e10)


def test_the_host_peak_is_measured_here():
    p = host_peak()
    assert p.flops_per_s > 1e9 and p.bytes_per_s > 1e9 and p.cache_bytes_per_s > 1e9
