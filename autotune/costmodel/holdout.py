"""Leave-one-model-out evaluation: how a cost model ranks the candidates of a model it never
saw, which is how it is used (a user's model is new to it).

Each model of the database in turn is held out whole: every workload of it (a workload that
another model shares too) is left out of training, the cost models are fitted on the rest and
scored on it, for several seeds. Per held-out model and seed: Kendall's tau, top-1, and the
top-k score with k scaled to its candidates (`metrics.TOP_FRACTION` of them; a fixed top-5
says nothing at 30 candidates). The comparison with XGBoost is paired: the difference on the
same held-out model and seed, averaged over seeds per model, with a bootstrap interval over
the held-out models (resampled with replacement).

Example::

    data = load_dataset(db, "tvm")                 # data.models: group -> its models' names
    result = leave_one_model_out(data, featurizer.signature(), seeds=(0, 1, 2))
    print(result.table())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotune.costmodel import metrics
from autotune.costmodel.dataset import Dataset
from autotune.costmodel.ensemble import MEMBERS, EnsembleModel
from autotune.costmodel.train import train_model

#: The metrics compared, as `metrics.evaluate` names them.
METRICS = ("kendall_tau", "top1", "topk")
#: Bootstrap resamples of the held-out models for a paired interval.
BOOTSTRAP = 2000


@dataclass
class HoldoutResult:
    """Per (held-out model, seed, cost model) metrics, and the paired comparisons."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    kinds: tuple[str, ...] = ()
    baseline: str = "xgboost"

    def summary(self) -> list[dict[str, Any]]:
        """Per cost model: each metric's mean over held-out models (seeds averaged first) and,
        against the baseline, the paired mean difference with its 95% bootstrap interval."""
        out = []
        for kind in self.kinds:
            row: dict[str, Any] = {"model": kind, "held_out_models": len(self._by_model(kind, METRICS[0]))}
            for m in METRICS:
                mine = self._by_model(kind, m)
                row[m] = float(np.mean(list(mine.values()))) if mine else float("nan")
                if kind != self.baseline and self.baseline in self.kinds:
                    base = self._by_model(self.baseline, m)
                    common = sorted(set(mine) & set(base))
                    diffs = np.array([mine[k] - base[k] for k in common])
                    row[f"{m}_vs_{self.baseline}"] = paired_interval(diffs)
            out.append(row)
        return out

    def _by_model(self, kind: str, metric: str) -> dict[str, float]:
        """Held-out model -> the metric averaged over seeds (NaN seeds left out)."""
        values: dict[str, list[float]] = {}
        for r in self.rows:
            if r["model"] == kind and np.isfinite(r[metric]):
                values.setdefault(r["held_out"], []).append(r[metric])
        return {k: float(np.mean(v)) for k, v in values.items()}

    def table(self) -> str:
        """The summary as text: means, and paired differences against the baseline."""
        lines = [
            f"{'model':<10}{'tau':>8}{'top-1':>8}{'top-k':>8}   paired vs {self.baseline} (95% bootstrap)"
        ]
        for r in self.summary():
            vs = ""
            if f"kendall_tau_vs_{self.baseline}" in r:
                parts = []
                for m, label in zip(METRICS, ("tau", "top-1", "top-k")):
                    mean, lo, hi = r[f"{m}_vs_{self.baseline}"]
                    parts.append(f"{label} {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                vs = "   " + ", ".join(parts)
            lines.append(f"{r['model']:<10}{r['kendall_tau']:>8.3f}{r['top1']:>8.3f}{r['topk']:>8.3f}{vs}")
        return "\n".join(lines)


def paired_interval(diffs: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of paired differences and its 95% bootstrap interval."""
    if len(diffs) == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = rng.choice(diffs, size=(BOOTSTRAP, len(diffs)), replace=True).mean(axis=1)
    return float(diffs.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def held_out_models(data: Dataset) -> list[str]:
    """The models that can be held out: each of some group of the dataset."""
    return sorted({m for names in data.models.values() for m in names})


def leave_one_model_out(
    data: Dataset,
    signature: dict[str, Any],
    kinds: Sequence[str] = ("gnn", "ensemble", "xgboost", "random"),
    seeds: Sequence[int] = (0, 1, 2),
    fixed: dict[str, Any] | None = None,
    gnn_hp: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
) -> HoldoutResult:
    """Hold out each model (of `only`, if given) whole, fit each kind on the others' workloads
    (a kind in `fixed` is a trained model, used as is), and score it on the held-out model."""
    result = HoldoutResult(kinds=tuple(kinds))
    groups = set(data.groups)
    for name in only or held_out_models(data):
        test_groups = {g for g in groups if name in data.models.get(g, ())}
        train_groups = groups - test_groups
        if not test_groups or len(train_groups) < 2:
            continue
        train, test = data.subset(train_groups), data.subset(test_groups)
        for seed in seeds:
            fitted: dict[str, Any] = {}  # the kinds trained here for this seed
            # The ensemble's members are fitted first, so it is made of them, not fitted again.
            for kind in sorted(kinds, key=lambda k: k == "ensemble"):
                if fixed and kind in fixed:
                    model = fixed[kind]
                elif kind == "ensemble" and all(m in fitted for m in MEMBERS):
                    model = EnsembleModel.of({m: fitted[m] for m in MEMBERS})
                else:
                    hp = (gnn_hp or {}) if kind in ("gnn", "ensemble") else {}
                    model = fitted[kind] = train_model(kind, train, signature, seed, **hp)
                scores = model.predict(test.graphs)
                m = metrics.evaluate(scores, test.latency, test.groups)
                result.rows.append({"held_out": name, "seed": seed, "model": kind, **m})
    return result
