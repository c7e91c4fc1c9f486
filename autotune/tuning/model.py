"""Tuning one model: the composer that joins a backend session, the passes' decisions, a search
strategy, the cost model and the database.

The steps, in order, each committed to the database as it happens so that a killed job
resumes where it stopped:

1. `prepare`: load the model, find its workloads (the backend fingerprints them), record
   them and the model's composition, and measure each workload's default once per target;
2. `pending`: spread the first half of the model's trial budget (`Settings.first_pass`, at least
   `MIN_TRIALS_PER_WORKLOAD` each) over its workloads by their share of default time (a
   workload whose schedule space is fixed gets exactly its size) and keep those whose
   earlier tuning did not meet it;
3. `tune`: search each pending workload until its trials are spent or the clock runs out
   (a graph-level search is driven here, ask/tell with the cost model pruning its
   proposals; a subgraph search such as MetaSchedule's runs its own loop), then confirm
   its best (autotune/tuning/confirm.py): only a confirmed winner becomes the best.
   Then the gain pass (`gain_pass`): the rest of the budget, a round at a time, to the
   workload whose next round is expected to save the most model time (Ansor's task
   scheduler: its weighted best over the rounds it had, and what its last rounds bought,
   never more than it is above its roofline, `Session.floor`), searched and confirmed the
   same way. Then, where the backend has graph-level decisions and the job asks for them
   (`Settings.graph_trials`), the joint search (autotune/tuning/joint.py): graph-level
   configs of the whole model, each with the subgraphs it makes tuned, the best confirmed
   against the model's own graph end to end;
4. `end_to_end`: time the whole model as the compile-time loader builds it against the
   compiler's default, interleaved; a model that is one workload and lost this comparison
   keeps the default (the comparison is recorded as its latest confirmation). Then
   `baselines`: what users would run instead (a TVM model's PyTorch eager and
   torch.compile), each timed interleaved with the tuned build, kept in the database.

Example::

    be = backends.get("xla")
    with be.open(be.resolve_target("cpu"), db, job_id) as session:
        tuner = ModelTuner(be, session, db, job_id, Settings())
        plan = tuner.prepare("mlp", "mlp")
        tuner.tune(plan, trials=32, deadline=time.time() + 300)
        print(tuner.end_to_end(plan))
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from autotune import compare
from autotune.backends.base import Backend, Session, Workload
from autotune.db.base import TuningDatabase
from autotune.db.recorder import Recorder
from autotune.tuning.budget import MIN_TRIALS_PER_WORKLOAD, allot, expected_gain
from autotune.tuning.confirm import confirm
from autotune.tuning.graph_loop import search_graph
from autotune.tuning.joint import graph_left, graph_pass, graph_state
from autotune.tuning.plan import Context, GainShare, ModelPlan, OnOutcome, Settings, WorkloadState
from autotune.tuning.report import baseline_view


class ModelTuner:
    """Tunes models of one backend on one target into one database, for one job."""

    def __init__(
        self,
        backend: Backend,
        session: Session,
        db: TuningDatabase,
        job_id: int | None,
        settings: Settings | None = None,
        costmodel: Any = None,
    ) -> None:
        """`costmodel`: the loaded cost model of `settings.cost_model` (loaded here if None)."""
        from autotune.costmodel.ranker import load_model

        settings = settings or Settings()
        if costmodel is None:
            costmodel = load_model(backend.name, settings.cost_model)
        record = Recorder(db, session.target_id, job_id, backend.config_kind)
        self.ctx = Context(backend, session, record, settings, costmodel)
        self.job_id = job_id
        self._subgraph: Any = None
        self._floors: dict[str, float | None] = {}  # fingerprint -> Session.floor

    @property
    def db(self) -> TuningDatabase:
        return self.ctx.db

    @property
    def target_id(self) -> int:
        return self.ctx.target_id

    @property
    def backend(self) -> Backend:
        return self.ctx.backend

    @property
    def session(self) -> Session:
        return self.ctx.session

    @property
    def graph_level(self) -> bool:
        """Whether this backend's search is a graph-level (ask/tell) one driven here."""
        from autotune.search import graph

        kind = self.ctx.search_kind
        return kind == "auto" or kind in graph.kinds()

    @property
    def subgraph_level(self) -> bool:
        """Whether subgraph-level decisions are searched: a graph-level search filters its
        decisions by `Settings.levels` itself; a backend whose own search owns its subgraphs'
        spaces (MetaSchedule) leaves them at the compiler's default without "subgraph"."""
        return self.graph_level or "subgraph" in self.ctx.settings.levels

    @property
    def subgraph_search(self) -> Any:
        """The subgraph search (started on first use: a job with nothing to tune needs none)."""
        if self._subgraph is None:
            from autotune.search import base as search_base

            ctx = self.ctx
            self._subgraph = search_base.create(
                ctx.search_kind,
                session=ctx.session,
                record=ctx.record,
                trials_per_iter=ctx.settings.trials_per_iter,
                on_outcome=ctx.outcome,
                model=ctx.costmodel,
                rank_pool=ctx.rank_pool,
                seed=ctx.settings.seed,
            )
        return self._subgraph

    def close(self) -> None:
        if self._subgraph is not None:
            self._subgraph.close()

    def _search_model_seconds(self) -> float:
        """Seconds our cost model has spent inside the subgraph search (TVM: MetaSchedule's
        PyCostModel, featurizing included; 0 without one, or with MetaSchedule's own)."""
        model = getattr(self._subgraph, "cost_model", None)
        return float(getattr(model, "seconds", 0.0) or 0.0)

    @contextmanager
    def timed(self, plan: ModelPlan) -> Iterator[None]:
        """Adds the time of a step, and the session's share of it, to the model's profile."""
        t0, before = time.perf_counter(), dict(vars(self.session.timing))
        model_s = self._search_model_seconds()
        try:
            yield
        finally:
            after = vars(self.session.timing)
            p = plan.profile
            p.total += time.perf_counter() - t0
            p.costmodel += self._search_model_seconds() - model_s
            p.startup += after["startup"] - before["startup"]
            p.compile += after["compile"] - before["compile"]
            p.run += after["run"] - before["run"]
            p.default += after["default"] - before["default"]

    # --- 1 ------------------------------------------------------------------------
    def prepare(self, name: str, source: str, model: Any = None) -> ModelPlan:
        """Load a model (`model`: `Backend.load_model(source)`, if already built), record its
        workloads, and measure their default latency."""
        plan = ModelPlan(name, source, None, 0)
        with self.timed(plan):
            plan.model = self.session.load(source, model)
            for w in self.session.workloads(plan.model):
                plan.workloads.append(self.record_workload(w))
            parts = [(s.workload_id, s.workload.weight) for s in plan.workloads]
            plan.model_id = self.db.set_model(name, self.backend.name, source, parts)
            for s in plan.workloads:
                s.default_s = self.default_latency(name, s)
                s.done = self.db.count(s.workload_id, self.target_id, source="tune")
        return plan

    def record_workload(self, w: Workload) -> WorkloadState:
        """A workload recorded in the database (under its own compiler name, if it has one),
        as a state with nothing allotted or measured yet."""
        wid = self.db.add_workload(w.fingerprint, w.compiler or self.backend.name, w.name, w.ir, w.meta)
        levels = self.ctx.settings.levels
        return WorkloadState(w, wid, [d for d in self.session.decisions(w) if d.level in levels])

    def default_latency(self, model: str, s: WorkloadState) -> float:
        """The default's median latency: measured once per target, then read back."""
        known = self.db.default_latency(s.workload_id, self.target_id)
        if known is not None:
            return known
        out = self.session.measure(s.workload, {})
        if out.status != "ok":
            raise RuntimeError(f"{model}: the default config fails: {out.error or out.status}")
        self.ctx.record(s.workload_id, {}, "ok", out.samples, source="default")
        return compare.median(out.samples)

    # --- 2 ------------------------------------------------------------------------
    def _fixed_size(self, s: WorkloadState) -> int | None:
        """How many candidates a workload has when its schedule space is fixed and small."""
        if self.graph_level:
            return None
        return self.subgraph_search.space_size(s.workload.handle)

    def pending(self, plan: ModelPlan, trials: int, force: bool) -> list[WorkloadState]:
        """Allot the first pass of the model's budget and return the workloads that still need
        work (a model of one open workload gets its whole budget here)."""
        if not self.subgraph_level:  # graph level only: the kernels keep the compiler's default
            for s in plan.workloads:
                s.base = s.done if force else 0
                s.trials = s.base
            plan.graph = graph_state(self, plan, force, trials)
            return []
        sizes = [self._fixed_size(s) for s in plan.workloads]
        plan.budget = max(0, trials - sum(min(z, trials) for z in sizes if z is not None))
        open_ = [s for s, z in zip(plan.workloads, sizes) if z is None]
        # The first pass: at least each workload's floor of trials, at least `first_pass` of it.
        floors = min(plan.budget, MIN_TRIALS_PER_WORKLOAD * len(open_))
        share = round(plan.budget * self.ctx.settings.first_pass)
        plan.first = plan.budget if len(open_) < 2 else max(floors, share)
        by_default = allot(plan.first, [s.default_s * s.workload.weight for s in open_])
        shares = dict(zip(map(id, open_), by_default))
        for s, size in zip(plan.workloads, sizes):
            s.fixed = size is not None
            s.base = s.done if force else 0
            s.trials = (size if s.fixed else shares[id(s)]) + s.base
        plan.graph = graph_state(self, plan, force)
        return [s for s in plan.workloads if force or not self._met(s)]

    def _met(self, s: WorkloadState) -> bool:
        """Whether a finished tuning of this workload already met its allotment."""
        met = self.db.tuned_trials(s.workload_id, self.target_id)
        return met is not None and met >= s.trials

    def _given(self, s: WorkloadState, force: bool) -> int:
        """Trials of this job's budget a workload has had: allotted, measured, or (unforced)
        allotted by an earlier job, whichever is most."""
        earlier = 0 if force else (self.db.tuned_trials(s.workload_id, self.target_id) or 0)
        return max(s.trials, s.done, earlier) - s.base

    def _open_given(self, plan: ModelPlan, force: bool) -> tuple[list[WorkloadState], list[int], int]:
        """The workloads the gain pass may give to (none for a model of one), what each has
        had (`_given`), and the trials of the model's budget left to give (after `pending`)."""
        open_ = [s for s in plan.workloads if not s.fixed]
        if len(open_) < 2:
            return [], [], 0
        given = [self._given(s, force) for s in open_]
        return open_, given, max(0, plan.budget - sum(given))

    def gain_left(self, plan: ModelPlan, force: bool) -> int:
        """Trials of the model's budget the gain pass has to give (after `pending`)."""
        return self._open_given(plan, force)[2]

    def _best_s(self, s: WorkloadState) -> float:
        """The fastest the search has measured the workload (its default when nothing beat it)."""
        fastest = [b.median for b in self.db.fastest(s.workload_id, self.target_id, 2) if b.kind != "default"]
        return min([s.default_s, *fastest])

    def gain(self, s: WorkloadState) -> float:
        """Seconds per model run the workload's next round of trials is expected to save
        (`budget.expected_gain` on its measured curve, bounded by its roofline)."""
        curve = [s.default_s] + [
            float(o["median"]) if o["status"] == "ok" else math.inf
            for o in self.db.outcomes(s.workload_id, self.target_id)
            if o["source"] == "tune" and o["kind"] != "default"
        ]
        unit = self.ctx.settings.trials_per_iter
        return expected_gain(curve, s.workload.weight, unit, self.floor(s.workload))

    def floor(self, w: Workload) -> float | None:
        """The workload's roofline floor (`Session.floor`), computed once per job."""
        if w.fingerprint not in self._floors:
            self._floors[w.fingerprint] = self.session.floor(w)
        return self._floors[w.fingerprint]

    def gain_pass(self, plan: ModelPlan, force: bool, deadline: float) -> bool:
        """The rest of the budget, a round (`trials_per_iter` trials) at a time, each to the
        workload whose round is expected to save the most model time (`gain`); then each
        workload searched beyond what was confirmed is confirmed. False when the clock ran out
        (a later job resumes it: what was measured counts as given)."""
        open_, given, left = self._open_given(plan, force)
        unit = self.ctx.settings.trials_per_iter
        start = {id(s): self._best_s(s) for s in open_}
        had = dict(zip(map(id, open_), given))
        rounds: dict[int, int] = {}
        live = list(open_)
        complete = True
        while left > 0 and live:
            if time.time() >= deadline:
                complete = False
                break
            gains = [self.gain(s) for s in live]
            s = live[max(range(len(live)), key=gains.__getitem__)]
            if gains[live.index(s)] <= 0:  # every best at its floor
                break
            n = min(unit, left)
            had[id(s)] += n
            s.trials = s.base + had[id(s)]
            ran = self._search_one(plan, s, deadline)
            rounds[id(s)] = rounds.get(id(s), 0) + n
            left -= n
            if ran is None:  # cut by the clock
                complete = False
                break
            if ran == 0:  # its space has nothing new left
                live.remove(s)
        shares = {g.name: g for g in plan.by_gain}  # a model the clock cut goes on where it was
        for s in open_:
            if id(s) in rounds:
                g = shares.setdefault(s.name, GainShare(s.name, 0, 0.0))
                g.trials += rounds[id(s)]
                g.saved_s += s.workload.weight * (start[id(s)] - self._best_s(s))
        plan.by_gain = sorted(shares.values(), key=lambda g: -g.trials)
        for s in open_:
            if s.done > (self.db.tuned_trials(s.workload_id, self.target_id) or 0):
                self._finish(plan, s)
        return complete

    # --- 3 ------------------------------------------------------------------------
    def tune(
        self,
        plan: ModelPlan,
        trials: int,
        deadline: float,
        force: bool = False,
        on_outcome: OnOutcome | None = None,
    ) -> bool:
        """Search and confirm every pending workload, then give the rest of the budget by
        expected gain (`gain_pass`); True when all of it finished in time."""
        plan.todo = self.pending(plan, trials, force)
        plan.finished = set()  # a new budget: what an earlier `tune` of this plan finished may get more
        return self.go_on(plan, deadline, force, on_outcome)

    def go_on(
        self, plan: ModelPlan, deadline: float, force: bool = False, on_outcome: OnOutcome | None = None
    ) -> bool:
        """Search what `tune` left unfinished (all of it, the first time), then the gain pass;
        a job calls it again, with time that other models left, for a model its clock cut."""
        self.ctx.on_outcome = on_outcome
        try:
            with self.timed(plan):
                todo = [s for s in plan.todo if s.workload_id not in plan.finished]
                complete = self._search(plan, todo, deadline)
                if complete:
                    complete = self.gain_pass(plan, force, deadline)
                if complete:
                    complete = graph_pass(self, plan, deadline, force)
        finally:
            self.ctx.on_outcome = None
        return complete

    def left(self, plan: ModelPlan, force: bool = False) -> int:
        """Trials `go_on` has still to run: the unfinished first pass, the gain pass's and the
        joint search's graph-level configs."""
        todo = [s for s in plan.todo if s.workload_id not in plan.finished]
        first = sum(max(0, s.trials - s.done) for s in todo)
        return first + self.gain_left(plan, force) + graph_left(self, plan)

    def _search(self, plan: ModelPlan, todo: list[WorkloadState], deadline: float) -> bool:
        """Search each workload up to its allotment and confirm its best, the costliest (by
        default time x weight) first; False when the clock cut one short (a later job resumes)."""
        complete = True
        for s in sorted(todo, key=lambda s: -s.default_s * s.workload.weight):
            if time.time() >= deadline:
                return False
            if self._search_one(plan, s, deadline) is None:  # cut by the clock: the next run resumes it
                complete = False
                continue
            self._finish(plan, s)
        return complete

    def _search_one(self, plan: ModelPlan, s: WorkloadState, deadline: float) -> int | None:
        """Search one workload up to its allotment: the trials measured, None when the clock
        cut it short."""
        before = s.done
        if self.graph_level:
            if not search_graph(self.ctx, plan, s, deadline):
                return None
        elif s.trials > s.done:
            # MetaSchedule stops early by itself when its design space has nothing new left,
            # which then counts as tuned.
            s.done += self.subgraph_search.run(s.workload.handle, s.trials - s.done)
        return s.done - before

    def _finish(self, plan: ModelPlan, s: WorkloadState) -> None:
        """Confirm the workload's best and mark it tuned to what it was given."""
        confirm(self.ctx, s)
        self.db.mark_tuned(s.workload_id, self.target_id, max(s.trials, s.done), self.job_id)
        plan.finished.add(s.workload_id)

    # --- 4 ------------------------------------------------------------------------
    def end_to_end(self, plan: ModelPlan, force: bool = False) -> dict[str, Any]:
        """Whole-model latency as compiled with the database vs the compiler's default,
        interleaved; stored as a model measurement and returned, with the model's baselines
        (`baselines`: the cheap ones timed again, the tuned build having changed)."""
        with self.timed(plan):
            c = self.session.end_to_end(plan.model, self.backend.confirm_rounds)
        if c.status != "ok":
            raise RuntimeError(f"{plan.name}: {c.error or c.status}")
        tuned, speedup, kept = c.tuned, compare.paired_speedup(c.default, c.tuned), True
        if c.config == {}:
            # The default applied: "tuned" is the same executable, its speedup 1 by definition.
            tuned, speedup = c.default, 1.0
        elif c.config is not None and not compare.wins(c.default, c.tuned):
            # The job's own end-to-end comparison did not confirm the best: it is not kept.
            (s,) = plan.workloads
            self.ctx.record.pair(s.workload_id, c.config, c.default, c.tuned)
            tuned, speedup, kept = c.default, 1.0, False
        self.db.add_model_measurement(plan.model_id, self.target_id, tuned, c.default, speedup, self.job_id)
        return {
            "default_s": compare.median(c.default),
            "tuned_s": compare.median(tuned),
            "speedup": speedup,
            "config": c.config,
            "kept": kept,
            "lost_speedup": None if kept else compare.paired_speedup(c.default, c.tuned),
            "baselines": self.baselines(plan, force=force, fresh=True),
        }

    # --- 5 ------------------------------------------------------------------------
    def baselines(self, plan: ModelPlan, force: bool = False, fresh: bool = False) -> list[dict[str, Any]]:
        """The model's baselines on this target (those of `Backend.baselines` the job picks),
        as `report.baseline_view`s. One is timed now, interleaved with the tuned build, when
        forced, when this host has no measurement of its current version yet, or, `fresh`
        (the tuned build just changed), when it is cheap (not in `Backend.costly_baselines`):
        torch.compile's compile is paid once per model and target. Else it is read back."""
        be = self.backend
        picked = self.ctx.settings.baselines
        wanted = [n for n in (be.baselines if picked is None else picked) if n in be.baselines]
        if not wanted:
            return []
        known = self.db.baselines(plan.model_id, self.target_id)

        def due(name: str) -> bool:
            row = known.get(name)
            stale = row is None or row["version"] != be.baseline_version(name)
            return force or stale or (fresh and name not in be.costly_baselines)

        todo = [n for n in wanted if due(n)]
        if todo:
            t0 = time.perf_counter()
            with self.timed(plan):
                measured = self.session.baselines(plan.model, be.confirm_rounds, todo)
            plan.profile.baselines += time.perf_counter() - t0
            for name, b in measured.items():
                self.db.add_baseline(
                    plan.model_id,
                    self.target_id,
                    name,
                    b.status,
                    b.samples,
                    b.tuned,
                    error=b.error,
                    version=b.version,
                    setup_s=b.setup_s,
                    job_id=self.job_id,
                )
            known = self.db.baselines(plan.model_id, self.target_id)
        return [baseline_view(known[n], be.baselines[n]) for n in wanted if n in known]
