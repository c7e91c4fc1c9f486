"""How a job's budgets are spent: trials over a model's workloads, time over the job's models.

Example::

    allot(64, [3.0, 1.0])                          # [40, 24]: a floor each, the rest by share
    allot_by_gap(40, [0.3, 0.0, 0.1], unit=16)     # [24, 0, 16]: whole batches, the odd 8 to the largest gap
    model_deadline(deadline, 32, 96)               # this model's share of the time left
"""

from __future__ import annotations

import time

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


def allot_by_gap(budget: int, gaps: list[float], unit: int) -> list[int]:
    """Split a trial budget by measured gap (how far each workload's best is above what it
    could reach), in whole units of a search batch; a workload with no gap gets none, the
    part under one unit goes to the largest gap (sums to budget when any gap is positive)."""
    n, unit = len(gaps), max(1, unit)
    if budget <= 0 or not any(g > 0 for g in gaps):
        return [0] * n
    units, rest = divmod(budget, unit)
    out = [k * unit for k in allot(units, gaps, minimum=0)]
    out[max(range(n), key=gaps.__getitem__)] += rest
    return out


def model_deadline(deadline: float, trials: int, trials_after: int, now: float | None = None) -> float:
    """When one model must stop: its share of the time left, by trial budget, so that models
    late in the job are not starved by an early one that overruns (time a model leaves
    unused flows to the ones after it)."""
    now = time.time() if now is None else now
    left = max(0.0, deadline - now)
    return now + left * trials / max(1, trials + trials_after)
