"""The joint search: a model's graph-level configs searched with the subgraphs under them.

A backend with graph-level decisions (`Session.graph_decisions`: TVM's conv layouts, ops
kept out of fusion, operator forms) offers the whole model as one more workload, its graph
workload, whose configs are graph-level configs. Once the subgraphs of the model's own
graph are tuned (`ModelTuner.tune`), `graph_pass`:

1. measures the graph workload's default: the model end to end under its own graph, as
   tuned so far;
2. searches graph-level configs, up to `Settings.graph_trials` of them, with a graph search
   (ask/tell, autotune/tuning/graph_loop.py; the job's strategy when it is a graph one,
   else 'auto'). Unless the job has no cost model, each config measured is the one of
   `rank_pool` proposals that the composition cost model (autotune/costmodel/composition.py:
   its subgraphs' measured best, or roofline floor times what their op family reached here)
   predicts fastest, so the others are neither built nor tuned. Before a config is built,
   the subgraphs it has that no earlier config had are recorded and tuned with the trials
   the model's own subgraphs they replace were given (`new_subgraph_trials`, split by
   default time), so a subgraph that recurs across configs (same fingerprint) is tuned
   once, and what a config is measured with is its best kernels (a job that searches the
   graph level only records them and leaves them at the compiler's default);
3. confirms the fastest against the model's own graph, interleaved, outputs checked against
   the compiler's default build (`confirm`, with `simplify` dropping the decisions that do
   not matter): only a confirmed winner becomes the model's graph config, the one the
   compile-time loader applies. The model's composition in the database becomes that
   config's subgraphs and the graph workload, which is what `autotune best` shows.

Everything is committed as it is measured; a killed job resumes (earlier configs are told
to the strategy, tuned subgraphs are not tuned again).

Example::

    plan = tuner.prepare("bert-tiny", "bert-tiny")
    tuner.tune(plan, trials=64, deadline=deadline)      # the default graph, then graph_pass
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from autotune.backends.base import GRAPH_KIND, Outcome, Workload
from autotune.costmodel.composition import CompositionRanker, Part, family
from autotune.db.recorder import Recorder
from autotune.db.records import canonical_json
from autotune.tuning.budget import MIN_TRIALS_PER_WORKLOAD, allot
from autotune.tuning.confirm import confirm
from autotune.tuning.graph_loop import search_graph
from autotune.tuning.plan import ModelPlan, WorkloadState

#: The tuner of the model (`autotune.tuning.model.ModelTuner`, which imports this module).
ModelTuner = Any


class ClockOut(Exception):
    """The job's clock ran out while a graph-level config's subgraphs were tuned: the config
    is not measured (a later job proposes it again and finishes their tuning)."""


def graph_state(tuner: ModelTuner, plan: ModelPlan, force: bool, trials: int = 0) -> WorkloadState | None:
    """The model's graph workload, recorded, with its allotment (`Settings.graph_trials`, else
    `trials`: a job that searches the graph level only gives it the model's trials), and the
    model's composition as it compiles (None without graph-level decisions, or with no
    graph-level trials for a model never searched at graph level)."""
    settings = tuner.ctx.settings
    trials = (settings.graph_trials or trials) if "graph" in settings.levels else 0
    db = tuner.db
    fp = tuner.session.graph_fingerprint(plan.model)
    if fp is None or (trials <= 0 and db.workload_id(fp) is None):
        return None  # nothing to search, and no earlier search of this model to show
    w = tuner.session.graph_workload(plan.model)
    if w is None:
        return None
    s = tuner.record_workload(w)
    s.done = db.count(s.workload_id, tuner.target_id, source="tune")
    s.base = s.done if force else 0
    s.trials = trials + s.base
    _compose(tuner, plan, s)  # `prepare` recorded the model's own graph: the best may be another
    return s


def graph_left(tuner: ModelTuner, plan: ModelPlan) -> int:
    """Graph-level configs the joint search has still to measure for the model."""
    s = plan.graph
    if s is None or tuner._met(s):
        return 0
    return max(0, s.trials - s.done)


def subgraph_trials(plan: ModelPlan) -> int:
    """Trials for each subgraph a graph-level config adds when it replaces none of the model's
    own: the mean those were given, at least `MIN_TRIALS_PER_WORKLOAD`."""
    open_ = [s for s in plan.workloads if not s.fixed]
    given = [max(0, s.trials - s.base) for s in open_]
    return max(MIN_TRIALS_PER_WORKLOAD, round(sum(given) / len(given)) if given else 0)


def new_subgraph_trials(plan: ModelPlan, fingerprints: set[str], new: list[WorkloadState]) -> list[int]:
    """Trials for the subgraphs a graph-level config adds: what the model's own subgraphs it
    replaces (those not among `fingerprints`, the config's) were given, split by the new
    ones' default time, at least `MIN_TRIALS_PER_WORKLOAD` each; so a config's kernels are
    searched as hard as the ones they stand in for. Without any replaced: `subgraph_trials`."""
    replaced = [s for s in plan.workloads if s.workload.fingerprint not in fingerprints and not s.fixed]
    given = sum(max(0, s.trials - s.base) for s in replaced)
    if not new:
        return []
    if given <= 0:
        return [subgraph_trials(plan)] * len(new)
    shares = [s.default_s * s.workload.weight if math.isfinite(s.default_s) else 0.0 for s in new]
    return [max(MIN_TRIALS_PER_WORKLOAD, n) for n in allot(given, shares)]


def graph_pass(tuner: ModelTuner, plan: ModelPlan, deadline: float, force: bool) -> bool:
    """Search, tune under and confirm the model's graph-level configs (module docstring);
    False when the clock ran out first."""
    s = plan.graph
    if s is None:
        return True
    if tuner._met(s) or s.trials <= s.done:
        return True  # `graph_state` composed the model as it compiles
    complete = _search(tuner, plan, s, deadline, force)
    _compose(tuner, plan, s)
    return complete


def _search(tuner: ModelTuner, plan: ModelPlan, s: WorkloadState, deadline: float, force: bool) -> bool:
    ctx = dataclasses.replace(
        tuner.ctx,
        record=Recorder(tuner.db, tuner.target_id, tuner.job_id, GRAPH_KIND),
        # The shipped cost models read a subgraph's TIR or a module's HLO: a whole model's
        # graph-level configs are ranked by the composition of their subgraphs instead.
        costmodel=None,
    )
    s.workload.handle.prepare = lambda config: _tune_config(tuner, plan, config, deadline, force)
    ranker = None
    if tuner.ctx.settings.cost_model != "none":
        ranker = CompositionRanker(lambda config: _parts(tuner, plan, config))
        ranker.predicted({})
        ranker.measured({})
    try:
        if math.isnan(s.default_s):  # not measured in this job yet
            s.default_s = tuner.default_latency(plan.name, s)
        tasks = tuner.ctx.settings.graph_tasks
        elsewhere = tasks.bind(tuner, plan, force) if tasks is not None else None
        complete = search_graph(ctx, plan, s, deadline, ranker=ranker, elsewhere=elsewhere)
        plan.graph_ranked += ranker.ranked if ranker is not None else 0
        if not complete:
            return False
        confirm(ctx, s)
    except ClockOut:
        return False
    finally:
        s.workload.handle.prepare = None
    tuner.db.mark_tuned(s.workload_id, tuner.target_id, max(s.trials, s.done), tuner.job_id)
    return True


def _workloads(tuner: ModelTuner, plan: ModelPlan, config: dict[str, Any]) -> list[Workload]:
    """The fused subgraphs of a graph-level config (fused once per config and job)."""
    key = canonical_json(config)
    if key not in plan.graph_workloads:
        plan.graph_workloads[key] = tuner.session.workloads(plan.model, config or None)
    return plan.graph_workloads[key]


def _parts(tuner: ModelTuner, plan: ModelPlan, config: dict[str, Any]) -> list[Part]:
    """A graph-level config's subgraphs as the composition cost model reads them: the fastest
    measured here (tuning runs or the default) of those the database has, and the roofline."""
    db, tid = tuner.db, tuner.target_id
    out = []
    for w in _workloads(tuner, plan, config):
        wid = db.workload_id(w.fingerprint)
        best = None
        if wid is not None:
            measured = [b.median for b in db.fastest(wid, tid, 1)] + [db.default_latency(wid, tid)]
            known = [m for m in measured if m is not None and math.isfinite(m)]
            best = min(known) if known else None
        out.append(Part(family(w.name), w.weight, best, tuner.floor(w), w.fingerprint))
    return out


def _tune_config(
    tuner: ModelTuner,
    plan: ModelPlan,
    config: dict[str, Any],
    deadline: float,
    force: bool,
    known: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> None:
    """Record and tune the subgraphs of a graph-level config that no earlier one had (record
    only, with their defaults measured, when the job searches no subgraph level)."""
    for st in new_subgraphs(tuner, plan, config, force, known, only):
        if not tuner.subgraph_level or (tuner._met(st) and not force):
            continue
        if time.time() >= deadline or tuner._search_one(plan, st, deadline) is None:
            raise ClockOut(f"{plan.name}: the clock ran out tuning {st.name}")
        tuner._finish(plan, st)


def new_subgraphs(
    tuner: ModelTuner,
    plan: ModelPlan,
    config: dict[str, Any],
    force: bool,
    known: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> list[WorkloadState]:
    """The subgraphs of a graph-level config that neither the model nor an earlier config had
    (nor `known`: fingerprints another process has them under; and of `only`, if given),
    recorded with their defaults measured and their trials allotted, added to
    `plan.graph_subgraphs`."""
    if not config:
        return []
    known = known | _fingerprints(plan)
    workloads = _workloads(tuner, plan, config)
    new = []
    for w in workloads:
        if w.fingerprint in known or (only is not None and w.fingerprint not in only):
            continue
        st = tuner.record_workload(w)
        st.default_s = tuner.default_latency(plan.name, st)
        st.done = tuner.db.count(st.workload_id, tuner.target_id, source="tune")
        st.base = st.done if force else 0
        new.append(st)
    for st, per in zip(new, new_subgraph_trials(plan, {w.fingerprint for w in workloads}, new)):
        size = tuner._fixed_size(st)
        st.fixed = size is not None
        st.trials = (min(size, per) if st.fixed else per) + st.base
        plan.graph_subgraphs.append(st)
    return new


def _fingerprints(plan: ModelPlan) -> frozenset[str]:
    """The subgraphs the model's search has: its own graph's and its configs' so far."""
    return frozenset(st.workload.fingerprint for st in plan.workloads + plan.graph_subgraphs)


def tune_shared(
    tuner: ModelTuner, plan: ModelPlan, configs: list[dict[str, Any]], deadline: float, force: bool
) -> frozenset[str]:
    """Before `configs` are measured at once, each in a process of its own (`measure_config`):
    the subgraphs that two or more of them add, recorded and tuned here, once, so that no two
    processes tune one subgraph. Returns every subgraph the model's search has now (what the
    processes are not to tune again); ClockOut when the clock runs out."""
    known = _fingerprints(plan)
    seen: dict[str, int] = {}
    for config in configs:
        for fp in {w.fingerprint for w in _workloads(tuner, plan, config)} - known:
            seen[fp] = seen.get(fp, 0) + 1
    shared = frozenset(fp for fp, n in seen.items() if n > 1)
    if shared:
        for config in configs:
            _tune_config(tuner, plan, config, deadline, force, only=shared)
    return _fingerprints(plan)


def measure_config(
    tuner: ModelTuner,
    plan: ModelPlan,
    config: dict[str, Any],
    deadline: float,
    force: bool,
    known: frozenset[str] = frozenset(),
) -> Outcome | None:
    """One graph-level config, as a process other than the model's own measures it (a Ray task,
    autotune/tuning/fanout.py): its new subgraphs (none of `known`) tuned, then the model under
    it measured and recorded; None when the clock ran out before it was measured."""
    s = plan.graph
    assert s is not None, "a model with graph-level decisions"
    try:
        _tune_config(tuner, plan, config, deadline, force, known)
    except ClockOut:
        return None
    out = tuner.session.measure(s.workload, config)
    Recorder(tuner.db, tuner.target_id, tuner.job_id, GRAPH_KIND)(
        s.workload_id, config, out.status, out.samples, out.error
    )
    return out


def _compose(tuner: ModelTuner, plan: ModelPlan, s: WorkloadState) -> None:
    """The model in the database as it compiles: its best graph-level config's subgraphs
    (the default graph's when none won) and the graph workload."""
    db = tuner.db
    best = db.best(s.workload_id, tuner.target_id)
    parts = [(st.workload_id, st.workload.weight) for st in plan.workloads]
    if best is not None and best.kind == GRAPH_KIND and isinstance(best.config, dict):
        chosen = tuner.session.workloads(plan.model, best.config)
        ids = [(db.workload_id(w.fingerprint), w.weight) for w in chosen]
        if all(wid is not None for wid, _ in ids):
            parts = [(int(wid), weight) for wid, weight in ids]
    db.set_model(plan.name, tuner.backend.name, plan.source, [*parts, (s.workload_id, 1)])


def summary(tuner: ModelTuner, plan: ModelPlan) -> str:
    """What the joint search found, in a line: the graph-level config kept and by how much it
    beat the model's own graph, or that the model's own graph stays."""
    s = plan.graph
    if s is None:
        return ""
    db, tid = tuner.db, tuner.target_id
    configs = sum(o["source"] == "tune" for o in db.outcomes(s.workload_id, tid))
    head = f"{configs} graph-level config(s) measured"
    notes = [f"{plan.graph_ranked} ranked by their subgraphs' composition"] if plan.graph_ranked else []
    if plan.graph_elsewhere:
        notes.append(f"{plan.graph_elsewhere} as parallel tasks")
    if notes:
        head += f" ({', '.join(notes)})"
    verb = "tuned" if tuner.subgraph_level else "left at the compiler's default schedules"
    head += f", {len(plan.graph_subgraphs)} new subgraph(s) {verb}"
    best = db.best(s.workload_id, tid)
    if best is not None and best.config:
        decisions = ", ".join(tuner.backend.describe_config(best.config))
        return f"{head}; kept {decisions}: {best.speedup:.2f}x over the model's own graph"
    last = db.confirmation(s.workload_id, tid)
    if last is not None and last.config:
        return (
            f"{head}; the model's own graph stays (the best measured {last.speedup:.2f}x, under the margin)"
        )
    return f"{head}; the model's own graph stays"
