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

The first batch: a model trained elsewhere can be sure of one schedule family and wrong
about it on a workload it never saw, and an evolutionary search that starts from its picks
alone never leaves that family (a ViT-B dense 197x768x2304 stayed at 1.4x the best that
MetaSchedule's near-random search found in 64 trials, whatever the population). Within one
sketch (design space: which rules made the schedule) the model compares tile sizes and
annotations, what it learned; across sketches it compares different programs. So in a
workload's first batch (before any of its candidates was measured in this search):
each candidate scores the score at its rank within its sketch (`by_sketch_scores`): the
picks and the parents of the evolution cover every sketch, and the later batches, the model
updated by the first, start from a database that does. On that dense, 32 trials then found
3.4 ms where 28 of 32 had stayed in one sketch, the best at 7.24 ms (benchmarks/README.md). (A random
share of the first batch instead did not leave the family: what is random there is drawn from
a population the model already evolved.)

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
import zlib
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
BY_SKETCH = True  # a workload's first batch ranks each candidate within its sketch (see above)


def sketch_key(trace: Any) -> int:
    """Which design space (sketch) a candidate's trace was sampled from: its instructions,
    their attributes and which earlier instruction defined each input, without the sampled
    decisions or constant inputs (a mutation changes those, never the sketch)."""
    where: dict[int, tuple[int, int]] = {}
    out = []
    for k, inst in enumerate(trace.insts):
        name = inst.kind.name
        if name == "EnterPostproc":
            break
        ins = []
        for x in inst.inputs:  # a random variable: where it was defined; a constant: its type
            handle = x.__chandle__() if hasattr(x, "__chandle__") else None
            ins.append(where.get(handle, type(x).__name__))
        for j, o in enumerate(inst.outputs):
            where[o.__chandle__()] = (k, j)
        out.append((name, str(inst.attrs), tuple(ins)))
    return zlib.crc32(repr(out).encode())


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


def by_sketch_scores(scores: np.ndarray, sketches: np.ndarray) -> np.ndarray:
    """Each candidate's score replaced by the score at its rank within its sketch: every
    sketch's best candidate scores the best score of all, every sketch's second the
    second-best quantile, and so on, so the picks and the parents cover every sketch."""
    quantile = np.empty(len(scores))
    for sk in np.unique(sketches):
        idx = np.nonzero(sketches == sk)[0]
        order = idx[np.argsort(-scores[idx], kind="stable")]
        quantile[order] = 1.0 - np.arange(len(idx)) / len(idx)
    return np.quantile(scores, quantile)


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
        by_sketch: bool | None = None,
    ) -> None:
        """`reference(workload_mod)` gives a workload's reference latency in seconds (or None);
        before `warmup` measurements the model is not asked and scores are random (as
        MetaSchedule's XGBoost model does before it has data); `replay_all` hands the model
        every measurement of this session at each update, for models whose update refits;
        `by_sketch`: a workload's first batch ranks candidates within their sketch (default
        `BY_SKETCH`)."""
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
        self.by_sketch = BY_SKETCH if by_sketch is None else bool(by_sketch)
        self._sketches: dict[tuple[int, int], int] = {}  # first batch: candidate -> sketch key
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
        return self._timed_predict(context, candidates, self.by_sketch)

    def scores(self, context: Any, candidates: Sequence[Any]) -> np.ndarray:
        """The model's own scores (as `predict`, never by sketch): to order candidates that
        did not come from the search, e.g. the warm start's replays."""
        return self._timed_predict(context, candidates, by_sketch=False)

    def _timed_predict(self, context: Any, candidates: Sequence[Any], by_sketch: bool) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self._predict(context, candidates, by_sketch)
        finally:
            self.seconds += time.perf_counter() - t0

    def _predict(self, context: Any, candidates: Sequence[Any], by_sketch: bool) -> np.ndarray:
        n = len(candidates)
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        if self.measured < self.warmup:
            return self._rng.uniform(0.0, 1.0, size=n)
        wkey = self._workload_key(context)
        keys = self._keys(wkey, candidates)
        graphs = self.graphs(context, candidates, keys)
        scores = np.full(n, FAILED_SCORE, dtype=np.float64)
        ok = [i for i, g in enumerate(graphs) if g is not None]
        if ok:
            raw = np.asarray(self.model.predict([graphs[i] for i in ok]), dtype=np.float64).reshape(-1)
            if raw.shape[0] != len(ok):
                raise ValueError(f"model gave {raw.shape[0]} scores for {len(ok)} candidates")
            scores[ok] = positive_scores(raw)
            if by_sketch and self._first_batch(wkey):
                sketches = np.array([self._sketch(keys[i], candidates[i]) for i in ok])
                scores[ok] = by_sketch_scores(scores[ok], sketches)
        if not np.any(scores > 0):  # nothing readable: let the search sample uniformly
            scores[:] = 1.0
        return scores

    def _first_batch(self, wkey: int) -> bool:
        """No candidate of the workload measured yet (its reference is set by the first)."""
        return wkey not in self._refs

    def _sketch(self, key: tuple[int, int], candidate: Any) -> int:
        if key not in self._sketches:
            self._sketches[key] = sketch_key(candidate.sch.trace)
        return self._sketches[key]

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
        self._sketches = {k: v for k, v in self._sketches.items() if k[0] != wkey}  # first batch over
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

    def _keys(self, wkey: int, candidates: Sequence[Any]) -> list[tuple[int, int]]:
        """(workload hash, candidate module hash) per candidate: a candidate's identity."""
        return [(wkey, int(tvm_ffi.structural_hash(c.sch.mod))) for c in candidates]

    def graphs(
        self, context: Any, candidates: Sequence[Any], keys: list[tuple[int, int]] | None = None
    ) -> list[Any]:
        """The graph of each candidate (None where it cannot be read), cached by module."""
        if keys is None:
            keys = self._keys(self._workload_key(context), candidates)
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
