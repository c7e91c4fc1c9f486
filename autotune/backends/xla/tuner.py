"""Tune the graph-level XLA decisions of one JAX model: the XLA half of a tuning job.

Steps (the driver calls them in order): `prepare` starts an isolated worker, records the
workload (fingerprint, HLO before and after optimization, the decisions' inputs) and the
default's latency; `pending` says whether the trial budget is already met; `tune` runs a
graph-level search (exhaustive for small spaces, else Optuna TPE) where each candidate is
compiled, checked against the default's outputs and timed in the worker, every outcome
committed as it happens; then the best few are re-timed interleaved with the default
(`confirm`) and only a winner of that comparison becomes the workload's best;
`end_to_end` stores the model's tuned-vs-default latency.

Example::

    tuner = XlaModelTuner(db, "cpu", job_id)
    plan = tuner.prepare("mlp", "mlp")
    if tuner.pending(plan, 40, force=False):
        tuner.tune(plan, 40, deadline=time.time() + 300)
    print(tuner.end_to_end(plan))
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune.backends.xla.build import XLA_PASSES
from autotune.backends.xla.runner import IsolatedWorker
from autotune.backends.xla.workload import target_info
from autotune.search import graph

#: Workload info kept in the database (what the passes need to apply a config at compile time).
#: A candidate must beat the default's median by this fraction to become the best.
WIN_MARGIN = 0.02
#: Simplification drops a decision unless removing it slows the config by more than this
#: (timings here vary by several percent round to round; the result is confirmed after).
SIMPLIFY_TOLERANCE = 0.03
META_KEYS = ("args", "results", "changed_passes", "options", "cost", "optimized_hlo", "platform")


@dataclass
class Graph:
    """The one workload of a JAX model (the driver counts trials per workload)."""

    workload_id: int
    name: str
    trials: int = 0
    done: int = 0


@dataclass
class Profile:
    """Where tuning time went, in seconds (`ours` = everything not spent in the worker)."""

    total: float = 0.0
    startup: float = 0.0
    compile: float = 0.0
    run: float = 0.0
    costmodel: float = 0.0  # featurizing and ranking proposals, online updates
    ranked: int = 0  # proposals the cost model scored

    @property
    def ours(self) -> float:
        return max(0.0, self.total - self.startup - self.compile - self.run - self.costmodel)

    def as_dict(self) -> dict[str, float]:
        return {
            "total_s": self.total,
            "worker_startup_s": self.startup,
            "compile_s": self.compile,
            "run_s": self.run,
            "costmodel_s": self.costmodel,
            "ranked": self.ranked,
            "ours_s": self.ours,
        }


@dataclass
class XlaPlan:
    name: str
    source: str
    model_id: int
    worker: IsolatedWorker
    info: dict[str, Any]
    decisions: list[Any]
    subgraphs: list[Graph]
    default_s: float
    profile: Profile = field(default_factory=Profile)


def decisions_for(info: dict[str, Any]) -> list[Any]:
    """Every graph-level decision the XLA passes offer for a workload."""
    from autotune import passes

    return [d for name in XLA_PASSES for d in passes.create(name).decisions(info)]


class XlaModelTuner:
    """Tunes JAX models' XLA decisions into the database, one isolated worker per model."""

    def __init__(
        self,
        db: Any,
        platform: str,
        job_id: int | None,
        search: str = "auto",
        timeout_s: float = 120.0,
        seed: int = 0,
        repeat: int = 15,
        cost_model: str | None = "pretrained",
        pool: int = 4,
        warmup: int = 4,
    ) -> None:
        from autotune.costmodel.ranker import load_model

        self.db, self.platform, self.job_id = db, platform, job_id
        self.search, self.timeout_s, self.seed, self.repeat = search, timeout_s, seed, repeat
        # With a cost model, each measured trial is the best ranked of `pool` proposals
        # (after `warmup` trials measured as proposed).
        self.model = load_model("xla", cost_model)
        self.pool, self.warmup = pool, warmup
        self.target_id = db.target_id(target_info(platform))
        self._tmp = tempfile.TemporaryDirectory(prefix="autotune-xla-")
        self._plans: list[XlaPlan] = []

    def close(self) -> None:
        for plan in self._plans:
            plan.worker.close()
        self._tmp.cleanup()

    def _record(
        self,
        plan: XlaPlan,
        config: dict,
        status: str,
        samples: Any = (),
        error: str = "",
        source: str = "tune",
    ) -> None:
        kind = "default" if not config else "options"
        wid = plan.subgraphs[0].workload_id
        self.db.record(wid, kind, config, self.target_id, status, samples, error, self.job_id, source)

    def _measure(self, plan: XlaPlan, config: dict) -> dict[str, Any]:
        r = plan.worker.request({"op": "measure", "config": config, "repeat": self.repeat}, self.timeout_s)
        plan.profile.compile += float(r.get("compile_s", 0.0))
        plan.profile.run += float(r.get("run_s", 0.0))
        return r

    # --- 1 ------------------------------------------------------------------------
    def prepare(self, name: str, source: str) -> XlaPlan:
        from autotune.passes import xla_options

        t0 = time.perf_counter()
        options = xla_options.available()
        tmp = Path(self._tmp.name)
        worker = IsolatedWorker(
            source,
            self.platform,
            options,
            tmp / f"{len(self._plans)}-ref.npz",
            self.timeout_s,
            log_path=tmp / "worker.log",
        )
        info = worker.info
        wid = self.db.add_workload(
            info["fingerprint"], "xla", info["name"], info["hlo"], {k: info[k] for k in META_KEYS}
        )
        model_id = self.db.set_model(name, "xla", source, [(wid, 1)])
        plan = XlaPlan(
            name, source, model_id, worker, info, decisions_for(info), [Graph(wid, info["name"])], 0.0
        )
        plan.profile.startup = worker.startup_s
        self._plans.append(plan)
        known = self.db.default_latency(wid, self.target_id)
        if known is None:
            r = self._measure(plan, {})
            if r["status"] != "ok":
                raise RuntimeError(f"{name}: the default config fails: {r.get('error', r['status'])}")
            self._record(plan, {}, "ok", r["samples"], source="default")
            known = statistics.median(r["samples"])
        plan.default_s = known
        plan.subgraphs[0].done = self.db.count(wid, self.target_id, source="tune")
        plan.profile.total += time.perf_counter() - t0
        return plan

    # --- 2 ------------------------------------------------------------------------
    def pending(self, plan: XlaPlan, trials: int, force: bool) -> list[Graph]:
        g = plan.subgraphs[0]
        g.trials = trials + (g.done if force else 0)
        met = self.db.tuned_trials(g.workload_id, self.target_id)
        return [g] if force or met is None or met < g.trials else []

    # --- 3 ------------------------------------------------------------------------
    def tune(
        self,
        plan: XlaPlan,
        trials: int,
        deadline: float,
        force: bool = False,
        on_outcome: Callable[[int, str, float | None], None] | None = None,
    ) -> bool:
        """Search until the trial budget, the space or the clock runs out; True when complete."""
        t0 = time.perf_counter()
        g = plan.subgraphs[0]
        strategy = graph.create(self.search, plan.decisions, seed=self.seed, budget=g.trials)
        self._replay(plan, strategy)
        ranker = self._ranker(plan, strategy)
        n = g.done
        try:
            while n < g.trials and time.time() < deadline:
                config = self._propose(strategy, ranker, n)
                if config is None:
                    break
                r = self._measure(plan, config)
                status = r["status"] if r["status"] != "error" else "run_error"
                samples = r.get("samples", []) if status == "ok" else []
                self._record(plan, config, status, samples, r.get("error", ""))
                secs = statistics.median(samples) if samples else None
                strategy.tell(config, secs / plan.default_s if secs else None)
                if ranker is not None:
                    ranker.learn(config, secs / plan.default_s if secs else None)
                n += 1
                if on_outcome:
                    on_outcome(g.workload_id, status, secs)
            g.done = n
            complete = n >= g.trials or strategy.exhausted()
            if time.time() < deadline:
                self.confirm(plan)
                if complete:
                    self.db.mark_tuned(g.workload_id, self.target_id, max(g.trials, n), self.job_id)
            return complete
        finally:
            if ranker is not None:
                plan.profile.costmodel += ranker.seconds
                plan.profile.ranked += ranker.ranked
            plan.profile.total += time.perf_counter() - t0

    def _ranker(self, plan: XlaPlan, strategy: graph.GraphSearch) -> Any:
        """The cost model's ranker for this workload, when there is a model and a space to prune."""
        if self.model is None or type(strategy).__name__ == "ExhaustiveSearch" or self.pool <= 1:
            return None
        from autotune.costmodel.features.base import for_backend
        from autotune.costmodel.ranker import Ranker

        row = self.db.workload_by_id(plan.subgraphs[0].workload_id)
        return Ranker(self.model, for_backend("xla"), row)

    def _propose(self, strategy: graph.GraphSearch, ranker: Any, n: int) -> dict[str, Any] | None:
        """The next config to measure: the strategy's proposal, or with a cost model the best
        ranked of `pool` proposals (the others are discarded unmeasured)."""
        if ranker is None or n < self.warmup:
            return strategy.ask()
        pool: list[dict[str, Any]] = []
        keys: set[str] = set()
        while len(pool) < self.pool:
            config = strategy.ask()
            if config is None or strategy.key(config) in keys:
                break
            pool.append(config)
            keys.add(strategy.key(config))
        if not pool:
            return None
        pick = ranker.best(pool)
        for i, config in enumerate(pool):
            if i != pick:
                strategy.discard(config)
        return pool[pick]

    def _replay(self, plan: XlaPlan, strategy: graph.GraphSearch) -> None:
        """Tell the strategy what earlier (killed or finished) jobs measured, so none repeats."""
        strategy.tell({}, 1.0)
        names = {d.name for d in plan.decisions}
        for o in self.db.outcomes(plan.subgraphs[0].workload_id, self.target_id):
            config = _parse(o["config"])
            if o["source"] not in ("tune", "simplify") or not config or not set(config) <= names:
                continue
            try:
                strategy.tell(config, o["median"] / plan.default_s if o["median"] else None)
            except ValueError:  # a stored config whose choices this jaxlib no longer offers
                continue

    # --- 4 ------------------------------------------------------------------------
    def confirm(self, plan: XlaPlan, candidates: int = 3, rounds: int = 20) -> float | None:
        """Re-time the best candidates interleaved with the default; the first that wins is kept,
        reduced to the decisions that matter (`simplify`) and confirmed once more.

        Returns the winner's paired speedup, or None when the default stays the best.
        """
        wid = plan.subgraphs[0].workload_id
        for rec in [b for b in self.db.best(wid, self.target_id, candidates + 1) if b.kind != "default"]:
            d, t = self._compare(plan, {}, rec.config, rounds)
            if d is None:
                continue
            if statistics.median(t) >= statistics.median(d) * (1.0 - WIN_MARGIN):
                self._record(plan, {}, "ok", d, source="confirm")
                self._record(plan, rec.config, "ok", t, source="confirm")
                continue
            config = self.simplify(plan, rec.config)
            d, t = self._compare(plan, {}, config, rounds) if config != rec.config else (d, t)
            if d is None:  # the simpler config failed after all: keep the one that won
                config, (d, t) = rec.config, self._compare(plan, {}, rec.config, rounds)
                if d is None:
                    continue
            self._record(plan, {}, "ok", d, source="confirm")
            self._record(plan, config, "ok", t, source="confirm")
            if statistics.median(t) < statistics.median(d) * (1.0 - WIN_MARGIN):
                return paired_speedup(d, t)
        return None

    def simplify(self, plan: XlaPlan, config: dict[str, Any], rounds: int = 10) -> dict[str, Any]:
        """Drop, one at a time, each decision whose removal costs under SIMPLIFY_TOLERANCE (timed
        interleaved against the current config, outputs checked), so a best names what matters."""
        current = dict(config)
        for name in sorted(config, key=lambda n: (not n.startswith("layout:"), n)):
            trial = {k: v for k, v in current.items() if k != name}
            if not trial:
                continue
            r = self._measure(plan, trial)
            self._record(
                plan,
                trial,
                _failed(r) if r["status"] != "ok" else "ok",
                r.get("samples", []),
                r.get("error", ""),
                source="simplify",
            )
            if r["status"] != "ok":
                continue
            a, b = self._compare(plan, current, trial, rounds)
            if a is not None and statistics.median(b) <= statistics.median(a) * (1.0 + SIMPLIFY_TOLERANCE):
                current = trial
        return current

    def _compare(
        self, plan: XlaPlan, base: dict, config: dict, rounds: int
    ) -> tuple[list[float] | None, list[float]]:
        """Samples of `base` and `config` timed interleaved in the worker (None on failure)."""
        msg = {"op": "compare", "configs": [base, config], "rounds": rounds}
        r = plan.worker.request(msg, self.timeout_s)
        plan.profile.compile += float(r.get("compile_s", 0.0))
        plan.profile.run += float(r.get("run_s", 0.0))
        if r.get("status") != "ok":
            self._record(plan, config, _failed(r), error=f"confirm: {r.get('error', '')}", source="confirm")
            return None, []
        return r["samples"][0], r["samples"][1]

    # --- 5 ------------------------------------------------------------------------
    def end_to_end(self, plan: XlaPlan, rounds: int = 20) -> dict[str, float]:
        """The model tuned (its confirmed best, or the default) vs XLA's default, interleaved;
        stored as a model measurement and returned."""
        t0 = time.perf_counter()
        wid = plan.subgraphs[0].workload_id
        best = self.db.confirmed_best(wid, self.target_id)
        config = best.config if best else {}
        d, t = self._compare(plan, {}, config, rounds)
        plan.profile.total += time.perf_counter() - t0
        if d is None:
            raise RuntimeError(f"{plan.name}: the tuned config no longer runs")
        # With the default kept, "tuned" is the same executable: its speedup is 1 by definition
        # (the samples still show the timing noise of this run).
        speedup = paired_speedup(d, t) if config else 1.0
        self.db.add_model_measurement(plan.model_id, self.target_id, t, d, speedup, self.job_id)
        return {
            "default_s": statistics.median(d),
            "tuned_s": statistics.median(t),
            "speedup": speedup,
            "config": config,
        }


def paired_speedup(default: list[float], tuned: list[float]) -> float:
    """Median of the per-round ratios default/tuned (the two were timed interleaved)."""
    return statistics.median(d / t for d, t in zip(default, tuned) if t > 0)


def _failed(reply: dict[str, Any]) -> str:
    s = reply.get("status", "run_error")
    return s if s in ("build_error", "run_error", "timeout", "wrong_result") else "run_error"


def _parse(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    return value if isinstance(value, dict) else {}
