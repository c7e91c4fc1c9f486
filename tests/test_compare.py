"""The shared measurement rules (autotune/compare.py) every backend and caller uses."""

from __future__ import annotations

import numpy as np
import pytest

from autotune import compare


def test_win_needs_the_margin_on_the_paired_speedup():
    assert compare.WIN_MARGIN == 0.02
    assert compare.wins([1.0], [0.97]) and not compare.wins([1.0], [0.985]) and not compare.wins([1.0], [1.1])
    assert compare.wins([1.0, 1.0, 1.2], [0.9, 0.95, 0.9]) and not compare.wins([1.0], [0.99])
    assert not compare.wins([], [0.5]) and not compare.wins([1.0], []) and not compare.wins([1.0], [0.0])
    # Medians 1.10 vs 1.05 (4.8% apart), but slower in two rounds of three: the rounds decide.
    assert not compare.wins([1.0, 1.1, 1.2], [1.05, 1.2, 0.9])


def test_no_slower_within_a_tolerance():
    assert compare.no_slower([1.0], [1.02], 0.03) and not compare.no_slower([1.0], [1.05], 0.03)
    assert not compare.no_slower([], [1.0], 0.03)


def test_paired_speedup_is_the_median_of_round_ratios():
    # A slow phase in round 2 hits both: the paired ratio ignores it, a ratio of medians would not.
    assert compare.paired_speedup([2.0, 20.0, 2.0], [1.0, 10.0, 1.0]) == pytest.approx(2.0)
    assert compare.paired_speedup([2.0, 3.0], [1.0, 0.0]) == pytest.approx(2.0)  # a zero is skipped


def test_interleaved_alternates_the_order():
    calls: list[str] = []
    a, b = compare.interleaved(lambda: calls.append("a") or 1.0, lambda: calls.append("b") or 2.0, rounds=4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"] and a == [1.0] * 4 and b == [2.0] * 4


@pytest.mark.parametrize(
    "secs, failed",
    [
        ([1e-3, 2e-3], False),
        ([], True),
        (None, True),
        ([compare.FAILED_RUN_SECS], True),
        ([1e9], True),
        ([float("nan")], True),
        ([float("inf")], True),
        ([-1.0], True),
        ([0.0], True),
    ],
)
def test_failed_run_marker(secs, failed):
    assert compare.failed_run(secs) is failed


def test_one_output_tolerance_policy():
    ref = [np.array([1.0, -2.0, 1e-9, np.nan], np.float32), np.array([1, 2], np.int64)]
    same = [ref[0].copy(), ref[1].copy()]
    assert compare.mismatch(same, ref) == ""
    # A reordered reduction's rounding: within RTOL of the value plus RTOL of the largest magnitude.
    close = [ref[0] + np.float32(1e-3), ref[1]]
    assert compare.mismatch(close, ref) == ""
    off = [ref[0] * np.float32(1.01), ref[1]]
    assert "max abs difference" in compare.mismatch(off, ref)
    assert "values differ" in compare.mismatch([ref[0], ref[1] + 1], ref)
    assert "float32[3]" in compare.mismatch([ref[0][:3], ref[1]], ref)
    assert "outputs, expected" in compare.mismatch(ref[:1], ref)


def test_an_interleaved_comparison_stops_once_one_side_is_far_behind():
    """Three rounds of a baseline 3x behind decide as much as fifteen, one round when its
    runs take LONG_RUN_S or more; close ones run all."""
    from autotune.compare import CLEAR_ROUNDS, LONG_RUN_S, interleaved

    calls = {"slow": 0, "long": 0, "fast": 0}

    def timer(name: str, secs: float):
        def sample() -> float:
            calls[name] += 1
            return secs

        return sample

    a, b = interleaved(timer("slow", 0.1), timer("fast", 0.01), rounds=15)
    assert len(a) == len(b) == CLEAR_ROUNDS == calls["slow"]
    a, b = interleaved(timer("long", LONG_RUN_S), timer("fast", 0.01), rounds=15)
    assert len(a) == len(b) == 1 == calls["long"]
    a, b = interleaved(lambda: 1.0, lambda: 0.5, rounds=15)  # 2x apart: not clear enough
    assert len(a) == len(b) == 15


def test_a_quoted_magnitude_runs_all_its_rounds_and_shows_its_spread():
    """A baseline is quoted as 'Nx faster': it runs every round even when the winner is clear
    after three, and its line shows the middle half of the per-round ratios."""
    from autotune.compare import interleaved, paired_spread
    from autotune.tuning.report import baseline_text

    slow = iter([1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0])
    a, b = interleaved(lambda: next(slow), lambda: 0.1, rounds=10, early_stop=False)
    assert len(a) == len(b) == 10
    assert paired_spread(a[:3], b[:3]) is None  # too few rounds to say
    lo, hi = paired_spread(a, b)
    assert lo == pytest.approx(10.0) and hi == pytest.approx(10.0)
    lo, hi = paired_spread([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert (lo, hi) == (2.0, 4.0)
    view = {
        "label": "PyTorch eager",
        "status": "ok",
        "baseline_s": 3e-3,
        "speedup": 3.0,
        "rounds": 5,
        "spread": (lo, hi),
        "setup_s": None,
        "job_id": 1,
    }
    assert (
        baseline_text(view)
        == "PyTorch eager 3.000 ms: 3.00x faster than PyTorch eager (5 rounds, middle half 2.00-4.00x)"
    )
