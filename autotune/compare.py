"""How two measured things are compared, defined once for every backend and caller.

- Timing: two versions are timed interleaved (A B B A ...) in one process, so a slow phase
  of the machine hits both; the speedup is the median of the per-round ratios.
- Winning: a candidate beats the default only when that paired speedup is at least
  1 / (1 - `WIN_MARGIN`) (1.0204x) in such an interleaved comparison: the speedup that is
  reported and the rule that decides are one statistic.
- Same results: every float may differ from the reference by `RTOL` (0.1%) of its own value
  plus `RTOL` of the reference's largest magnitude (so outputs near zero do not fail on the
  rounding of a reordered reduction); NaN matches NaN; shapes, dtypes and integers must be
  equal. Both backends check candidates with this one policy.
- Enough rounds: an interleaved comparison stops after `CLEAR_ROUNDS` rounds when every
  sample of one side is at least `CLEAR_RATIO` (3x) slower than every sample of the other:
  more rounds of a baseline that is that far behind change no decision, and on a big
  untuned kernel they would cost most of a job's time. A side whose one run takes
  `LONG_RUN_S` or more and is that far behind is clear after the first round. A figure
  that is quoted as a magnitude (a baseline's "2.9x faster than PyTorch eager") runs all
  its rounds instead (`early_stop=False`): three rounds decide who wins, not by how much.
- A failed run: MetaSchedule marks one with run seconds of `FAILED_RUN_SECS` (1e10); any
  sample at or above 1e9 s, non-finite, zero or negative, or no sample at all, is a failure.

Example::

    a, b = interleaved(time_default, time_tuned, rounds=10)
    if wins(a, b):
        print(f"{paired_speedup(a, b):.2f}x")
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

#: A candidate must beat the default's median by this fraction to become the best.
WIN_MARGIN = 0.02
#: Relative tolerance of the output check (absolute slack scales with the reference).
RTOL = 1e-3
#: The run-seconds marker of a failed candidate in MetaSchedule's records.
FAILED_RUN_SECS = 1e10
_FAILED_AT = 1e9
#: An interleaved comparison whose sides are this far apart after CLEAR_ROUNDS rounds stops.
CLEAR_RATIO = 3.0
CLEAR_ROUNDS = 3
#: A run this long (seconds) is timed once: the untuned default of a big kernel, far behind
#: anything tuned. One run is its measurement, and one round of it is enough.
LONG_RUN_S = 0.5


def median(samples: Sequence[float]) -> float:
    """The median of a non-empty list of seconds."""
    return float(statistics.median(samples))


def paired_ratios(default: Sequence[float], tuned: Sequence[float]) -> list[float]:
    """The per-round ratios default / tuned of an interleaved comparison."""
    return [d / t for d, t in zip(default, tuned) if t > 0]


def paired_speedup(default: Sequence[float], tuned: Sequence[float]) -> float:
    """Median of the per-round ratios default / tuned (the two were timed interleaved)."""
    return float(statistics.median(paired_ratios(default, tuned)))


def paired_spread(default: Sequence[float], tuned: Sequence[float]) -> tuple[float, float] | None:
    """The lower and upper quartiles of the per-round ratios default / tuned: how far a
    paired speedup can be trusted on a noisy machine; None under 4 rounds."""
    ratios = paired_ratios(default, tuned)
    if len(ratios) < 4:
        return None
    q = statistics.quantiles(ratios, n=4, method="inclusive")
    return float(q[0]), float(q[2])


def wins(default: Sequence[float], tuned: Sequence[float], margin: float = WIN_MARGIN) -> bool:
    """The win rule: `tuned` beat `default` in an interleaved comparison when the paired
    speedup is at least 1 / (1 - margin) (1.0204x for 2%)."""
    if not any(t > 0 for t in tuned) or not default:
        return False
    return paired_speedup(default, tuned) * (1.0 - margin) > 1.0


def no_slower(base: Sequence[float], other: Sequence[float], tolerance: float) -> bool:
    """Whether `other` is at most `tolerance` slower than `base` (paired, interleaved samples)."""
    return bool(base) and any(t > 0 for t in other) and paired_speedup(base, other) * (1.0 + tolerance) >= 1.0


def interleaved(
    a: Callable[[], float], b: Callable[[], float], rounds: int = 15, early_stop: bool = True
) -> tuple[list[float], list[float]]:
    """Samples of two timers taken alternately (A B, B A, ...) so that slow phases hit both;
    at most `rounds` rounds, fewer when the outcome is already clear (`clear`) and
    `early_stop` allows it."""
    sa: list[float] = []
    sb: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            sa.append(a())
            sb.append(b())
        else:
            sb.append(b())
            sa.append(a())
        if early_stop and clear(sa, sb):
            break
    return sa, sb


def clear(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether CLEAR_ROUNDS or more paired samples (one, when the slower side's runs take
    LONG_RUN_S or more) already leave one side CLEAR_RATIO behind."""
    n = min(len(a), len(b))
    if n == 0 or min(min(a), min(b)) <= 0:
        return False
    if n < CLEAR_ROUNDS and max(min(a), min(b)) < LONG_RUN_S:
        return False
    return min(a) >= CLEAR_RATIO * max(b) or min(b) >= CLEAR_RATIO * max(a)


def failed_run(run_secs: Sequence[float] | None) -> bool:
    """Whether a runner's seconds mark a failed run (see the module docstring)."""
    secs = [float(s) for s in (run_secs or [])]
    return not secs or not all(math.isfinite(s) and 0 < s < _FAILED_AT for s in secs)


def mismatch(outputs: Sequence[Any], reference: Sequence[Any], rtol: float = RTOL) -> str:
    """'' when outputs match the reference under the tolerance policy, else what differs."""
    import numpy as np

    if len(outputs) != len(reference):
        return f"{len(outputs)} outputs, expected {len(reference)}"
    for i, (got, want) in enumerate(zip(outputs, reference)):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or got.dtype != want.dtype:
            return f"output {i}: {got.dtype}{list(got.shape)} vs {want.dtype}{list(want.shape)}"
        if want.dtype.kind not in "fc":
            if not np.array_equal(got, want):
                return f"output {i}: values differ"
            continue
        g64, w64 = got.astype(np.float64), want.astype(np.float64)
        finite = np.abs(w64[np.isfinite(w64)])
        scale = float(finite.max()) if finite.size else 0.0
        if not np.allclose(g64, w64, rtol=rtol, atol=rtol * max(scale, 1e-6), equal_nan=True):
            worst = float(np.nanmax(np.abs(g64 - w64))) if want.size else 0.0
            return f"output {i}: max abs difference {worst:.3g} (scale {scale:.3g}, rtol {rtol})"
    return ""
