"""Ranking quality on held-out workloads: Kendall's tau and top-k score, per workload.

top-k score = best true latency of the workload / true latency of the best among the
model's k highest-scored candidates (1.0 = the model's top k contains the true best).
`topk` scales k to the workload's candidates (`TOP_FRACTION` of them, at least 1): at 30
candidates a fixed top-5 finds the best by chance most of the time.

Example::

    report = evaluate(scores, latencies, groups)  # {"kendall_tau": .., "top1": .., "top5": .., "topk": ..}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: The share of a workload's candidates `topk` looks at.
TOP_FRACTION = 0.05


def kendall_tau(scores: Sequence[float], latencies: Sequence[float]) -> float:
    """Kendall's tau-b between scores and speed (-latency): 1 = perfect order."""
    from scipy.stats import kendalltau

    if len(scores) < 2:
        return float("nan")
    tau = kendalltau(np.asarray(scores), -np.asarray(latencies)).statistic
    return float(tau) if np.isfinite(tau) else 0.0


def topk_score(scores: Sequence[float], latencies: Sequence[float], k: int) -> float:
    lat = np.asarray(latencies, dtype=np.float64)
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return float(lat.min() / lat[top].min())


def evaluate(scores: Sequence[float], latencies: Sequence[float], groups: Sequence[int]) -> dict[str, float]:
    """Mean over workloads (each workload counts once) of tau, top-1, top-5 and scaled top-k
    scores."""
    s, lat, g = np.asarray(scores), np.asarray(latencies), np.asarray(groups)
    taus, t1, t5, tk = [], [], [], []
    for grp in dict.fromkeys(g.tolist()):
        idx = np.nonzero(g == grp)[0]
        if len(idx) < 2:
            continue
        taus.append(kendall_tau(s[idx], lat[idx]))
        t1.append(topk_score(s[idx], lat[idx], 1))
        t5.append(topk_score(s[idx], lat[idx], 5))
        tk.append(topk_score(s[idx], lat[idx], max(1, math.ceil(TOP_FRACTION * len(idx)))))
    mean = lambda xs: float(np.nanmean(xs)) if xs else float("nan")
    return {
        "kendall_tau": mean(taus),
        "top1": mean(t1),
        "top5": mean(t5),
        "topk": mean(tk),
        "workloads": len(taus),
    }
