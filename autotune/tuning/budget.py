"""How a job's budgets are spent: trials over a model's workloads, time over the job's models.

Example::

    allot(64, [3.0, 1.0])                          # [40, 24]: a floor each, the rest by share
    expected_gain([9e-3, 5e-3, 4e-3], weight=2, unit=1, floor_s=1e-3)  # 3.2e-3 s: 0.8 x 2 x 4 ms / 2 rounds
    model_deadline(deadline, 32, 96)               # this model's share of the time left
"""

from __future__ import annotations

import time
from collections.abc import Sequence

#: Every workload searched gets at least this many trials (when the budget allows).
MIN_TRIALS_PER_WORKLOAD = 8


def allot(budget: int, shares: list[float], minimum: int = MIN_TRIALS_PER_WORKLOAD) -> list[int]:
    """Split a trial budget: a small floor each, the rest by share (sums to budget)."""
    n = len(shares)
    if n == 0:
        return []
    floor = min(minimum, budget // n)
    rest = budget - floor * n
    total = sum(shares) or 1.0
    raw = [rest * s / total for s in shares]
    out = [floor + int(r) for r in raw]
    order = sorted(range(n), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: budget - sum(out)]:
        out[i] += 1
    return out


#: The gain pass follows the task scheduler of Ansor (Zheng et al., OSDI 2020, sec. 6): the
#: next round goes to the workload whose round is expected to save the most model time, a
#: mix of what its last rounds bought (weight ALPHA) and an optimistic forward estimate.
ALPHA = 0.2
#: Rounds the measured slope looks back over.
WINDOW = 3


def expected_gain(curve: Sequence[float], weight: float, unit: int, floor_s: float | None = None) -> float:
    """Seconds per model run that one more round of `unit` trials of a workload is expected to
    save. `curve` is its default's latency followed by its candidates' in the order measured
    (a failure as inf). After n rounds, the forward estimate is best / n (returns diminish
    as rounds accrue), never more than the best is above its roofline `floor_s`; the slope is
    what its last WINDOW rounds bought per round (0 before it has that many)."""
    best = min(curve)
    rounds = max(1.0, (len(curve) - 1) / max(1, unit))
    before = curve[: len(curve) - WINDOW * unit]
    slope = (min(before) - best) / WINDOW if rounds > WINDOW else 0.0
    forward = best / rounds
    if floor_s is not None:
        forward = min(forward, max(0.0, best - floor_s))
        slope = min(slope, max(0.0, best - floor_s))
    return weight * (ALPHA * slope + (1 - ALPHA) * forward)


def model_deadline(deadline: float, trials: int, trials_after: int, now: float | None = None) -> float:
    """When one model must stop: its share of the time left, by trial budget, so that models
    late in the job are not starved by an early one that overruns (time a model leaves
    unused flows to the ones after it)."""
    now = time.time() if now is None else now
    left = max(0.0, deadline - now)
    return now + left * trials / max(1, trials + trials_after)
