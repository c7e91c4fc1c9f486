"""Our cost models inside MetaSchedule: a `PyCostModel` over any score model and the TIR graphs.

MetaSchedule's evolutionary search asks the cost model to score thousands of candidate
schedules per round and tells it the measured run times of the few it picked. This
adapter featurizes each candidate's scheduled module (`TIRFeaturizer`), asks the wrapped
model for scores and feeds measurements back as latencies relative to a per-workload
reference.

Scores: the search clamps scores below 0 to 0, samples parents with probability
proportional to the score and keeps a best-of heap across rounds, so a model's raw score
``s`` (any real, higher = faster) becomes ``softplus(s)``: positive, order-preserving and
the same for the same ``s`` in every round. A candidate that cannot be featurized scores 0.

Relative latency: a candidate's latency (mean of its run_secs) divided by its workload's
reference: ``reference(mod)`` when given (e.g. the default schedule's latency from our
database, as the offline training data is normalised), else the median latency of the
workload's first measured batch, kept fixed so that batches compare.

Example::

    model = autotune.costmodel.base.load("gnn.pt")
    cost_model = ScoreModelCostModel(model)
    ms.tune_tasks(..., cost_model=cost_model, measure_callbacks=[..., UpdateCostModel()])
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import tvm_ffi
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.cost_model import PyCostModel

from autotune.compare import failed_run
from autotune.costmodel.features.tir import TIRFeaturizer

FAILED_SCORE = 0.0  # a candidate we cannot read: never sampled as a parent, never picked first


class ScoreModel(Protocol):
    """What the adapter needs from a model (autotune.costmodel.base.CostModel has it)."""

    def predict(self, graphs: Sequence[Any]) -> np.ndarray: ...

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None: ...


def latency(result: Any) -> float | None:
    """Mean of a RunnerResult's valid run_secs; None for a failed or empty run."""
    if getattr(result, "error_msg", None):
        return None
    secs = [float(s) for s in (result.run_secs or [])]
    if failed_run(secs) or min(secs) <= 0:
        return None
    return float(np.mean(secs))


def positive_scores(raw: np.ndarray) -> np.ndarray:
    """softplus: a monotone map of any real score onto (0, inf); non-finite -> FAILED_SCORE."""
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    out = np.logaddexp(0.0, np.where(np.isfinite(raw), raw, 0.0))
    return np.where(np.isfinite(raw), out, FAILED_SCORE)


@derived_object
class ScoreModelCostModel(PyCostModel):
    """A MetaSchedule cost model that ranks candidates with one of our score models.

    Example::

        cm = ScoreModelCostModel(autotune.costmodel.base.create("gnn"))
        ctx = ms.TuneContext(mod, target=target, space_generator="post-order-apply",
                             search_strategy="evolutionary")
        scores = cm.predict(ctx, candidates)        # float64, higher = faster
    """

    def __init__(
        self,
        model: ScoreModel,
        featurizer: TIRFeaturizer | None = None,
        reference: Callable[[Any], float | None] | None = None,
        warmup: int = 0,
        replay_all: bool = False,
        cache_size: int = 16384,
        seed: int = 0,
    ) -> None:
        """`reference(workload_mod)` gives a workload's reference latency in seconds (or None);
        before `warmup` measurements the model is not asked and scores are random (as
        MetaSchedule's XGBoost model does before it has data); `replay_all` hands the model
        every measurement of this session at each update, for models whose update refits."""
        super().__init__()
        self.featurizer = featurizer or TIRFeaturizer()
        self.model = model
        self._check_signature()
        self.replay_all = replay_all
        self._seen: tuple[list[Any], list[float], list[int]] = ([], [], [])
        self.reference = reference
        self.warmup = warmup
        self.measured = 0
        self._cache: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._cache_size = cache_size
        self._groups: dict[int, int] = {}  # workload hash -> group id
        self._refs: dict[int, float] = {}  # workload hash -> reference latency
        self._rng = np.random.default_rng(seed)
        self.seconds = 0.0  # time spent in predict and update (featurizing included)

    # --- MetaSchedule's interface -------------------------------------------------
    def load(self, path: str) -> None:
        """Replace the model by a checkpoint (refused when made for other features)."""
        if hasattr(self.model, "load"):
            self.model.load(path)
        else:
            from autotune.costmodel import base

            self.model = base.load(path, signature=self.featurizer.signature())
        self._check_signature()

    def save(self, path: str) -> None:
        self.model.save(path)  # type: ignore[attr-defined]

    def predict(self, context: Any, candidates: Sequence[Any]) -> np.ndarray:
        """One score per candidate, float64, higher = faster, never negative."""
        t0 = time.perf_counter()
        try:
            return self._predict(context, candidates)
        finally:
            self.seconds += time.perf_counter() - t0

    def _predict(self, context: Any, candidates: Sequence[Any]) -> np.ndarray:
        n = len(candidates)
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        if self.measured < self.warmup:
            return self._rng.uniform(0.0, 1.0, size=n)
        graphs = self.graphs(context, candidates)
        scores = np.full(n, FAILED_SCORE, dtype=np.float64)
        ok = [i for i, g in enumerate(graphs) if g is not None]
        if ok:
            raw = np.asarray(self.model.predict([graphs[i] for i in ok]), dtype=np.float64).reshape(-1)
            if raw.shape[0] != len(ok):
                raise ValueError(f"model gave {raw.shape[0]} scores for {len(ok)} candidates")
            scores[ok] = positive_scores(raw)
        if not np.any(scores > 0):  # nothing readable: let the search sample uniformly
            scores[:] = 1.0
        return scores

    def update(self, context: Any, candidates: Sequence[Any], results: Sequence[Any]) -> None:
        """Learn from measured candidates; failed runs and unreadable candidates are skipped."""
        t0 = time.perf_counter()
        try:
            self._update(context, candidates, results)
        finally:
            self.seconds += time.perf_counter() - t0

    def _update(self, context: Any, candidates: Sequence[Any], results: Sequence[Any]) -> None:
        if len(candidates) != len(results):
            raise ValueError(f"{len(candidates)} candidates but {len(results)} results")
        lats = [latency(r) for r in results]
        keep = [i for i, lat in enumerate(lats) if lat is not None]
        if not keep:
            return
        wkey = self._workload_key(context)
        ref = self._reference(context, wkey, [lats[i] for i in keep])  # type: ignore[misc]
        graphs = self.graphs(context, [candidates[i] for i in keep])
        pairs = [(g, lats[i] / ref) for g, i in zip(graphs, keep) if g is not None]  # type: ignore[operator]
        self.measured += len(keep)
        if not pairs:
            return
        group = self._groups.setdefault(wkey, len(self._groups))
        graphs_, relative, groups = [g for g, _ in pairs], [r for _, r in pairs], [group] * len(pairs)
        if self.replay_all:
            for seen, new in zip(self._seen, (graphs_, relative, groups)):
                seen.extend(new)
            graphs_, relative, groups = (list(seen) for seen in self._seen)
        self.model.update(graphs_, relative, groups)

    # --- helpers ------------------------------------------------------------------
    def _check_signature(self) -> None:
        """A trained model must read these features (same featurizer and vocabulary)."""
        have = getattr(self.model, "signature", None)
        want = self.featurizer.signature()
        if isinstance(have, dict) and have and have != want:
            raise ValueError(
                f"cost model trained for {have.get('featurizer')}/{have.get('vocab_version')} features, "
                f"candidates here are {want['featurizer']}/{want['vocab_version']}"
            )

    def graphs(self, context: Any, candidates: Sequence[Any]) -> list[Any]:
        """The graph of each candidate (None where it cannot be read), cached by module."""
        wkey = self._workload_key(context)
        keys = [(wkey, int(tvm_ffi.structural_hash(c.sch.mod))) for c in candidates]
        out: list[Any] = [self._cache.get(k) for k in keys]
        missing = [i for i, g in enumerate(out) if g is None and keys[i] not in self._cache]
        if missing:
            fresh = self.featurizer.graphs_of_modules([(candidates[i], False) for i in missing], context)
            for i, g in zip(missing, fresh):
                out[i] = g
                self._cache[keys[i]] = g
        for k in keys:
            if k in self._cache:
                self._cache.move_to_end(k)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def _workload_key(self, context: Any) -> int:
        mod = context.mod
        return int(tvm_ffi.structural_hash(mod)) if mod is not None else 0

    def _reference(self, context: Any, wkey: int, lats: list[float]) -> float:
        if wkey not in self._refs:
            ref = self.reference(context.mod) if self.reference is not None else None
            if ref is None or not (math.isfinite(ref) and ref > 0):
                ref = float(np.median(lats))
            self._refs[wkey] = float(ref)
        return self._refs[wkey]
