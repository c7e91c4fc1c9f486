"""The loop of a graph-level search: ask, let the cost model prune, measure, record, tell.

A graph-level strategy (autotune/search/graph.py) only proposes configs and learns from
outcomes; this loop owns the measuring. With a cost model, after `warmup` trials measured
as proposed, each trial measures the best-ranked of `rank_pool` proposals (the others are
handed back unmeasured), and every measurement is fed back to the model (`Ranker.learn`).
Earlier outcomes of the workload (a killed or finished job) are told first, so none repeats.

Example::

    finished = search_graph(ctx, plan, state, deadline)   # True: budget met or space exhausted
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from autotune import compare

if TYPE_CHECKING:
    from autotune.backends.base import Outcome
    from autotune.search.graph import GraphSearch
    from autotune.tuning.plan import Context, ModelPlan, WorkloadState

#: Sources of earlier outcomes a strategy is told about when it resumes.
REPLAYED = ("tune", "simplify")


def search_graph(
    ctx: Context,
    plan: ModelPlan,
    s: WorkloadState,
    deadline: float,
    ranker: Any = None,
    elsewhere: MeasureMany | None = None,
) -> bool:
    """Search one workload until its trials, the space or the clock run out; `ranker`: the
    cost model's ranker to use instead of `ctx.costmodel`'s (it may set its own `warmup`);
    `elsewhere`: measures (and records) a batch of configs at once in other processes, as
    many as its `width`; else each config is measured here, one at a time."""
    from autotune.search import graph

    seed = ctx.settings.seed or 0
    # A backend whose own search owns its subgraphs' spaces (MetaSchedule) searches the
    # graph-level configs of the joint search with the default graph strategy.
    kind = ctx.search_kind if ctx.search_kind in graph.kinds() else "auto"
    strategy = graph.create(kind, s.decisions, seed=seed, budget=s.trials)
    replay(ctx, s, strategy)
    if not strategy.prunable or ctx.rank_pool <= 1:
        ranker = None
    elif ranker is None:
        ranker = _ranker(ctx, s, strategy)
    warmup = getattr(ranker, "warmup", ctx.settings.warmup)
    width = max(1, elsewhere.width) if elsewhere is not None else 1
    n = s.done
    try:
        while n < s.trials and time.time() < deadline:
            configs: list[dict[str, Any]] = []
            while len(configs) < min(width, s.trials - n):
                config = propose(strategy, ranker, n + len(configs), warmup, ctx.rank_pool)
                if config is None or any(strategy.key(c) == strategy.key(config) for c in configs):
                    break
                configs.append(config)
            if not configs:
                break
            if elsewhere is not None:
                t0 = time.perf_counter()
                outs = elsewhere.measure(configs, deadline)
                plan.profile.tasks += time.perf_counter() - t0
                plan.graph_elsewhere += sum(out is not None for out in outs)
            else:
                outs = [ctx.session.measure(s.workload, configs[0])]
                ctx.record(s.workload_id, configs[0], outs[0].status, outs[0].samples, outs[0].error)
            for config, out in zip(configs, outs):
                if out is None:  # not measured: the clock ran out first
                    continue
                secs = compare.median(out.samples) if out.status == "ok" and out.samples else None
                relative = secs / s.default_s if secs else None
                strategy.tell(config, relative)
                if ranker is not None:
                    ranker.learn(config, relative)
                n += 1
                ctx.outcome(s.workload_id, out.status, secs)
    finally:
        s.done = n
        if ranker is not None:
            plan.profile.costmodel += ranker.seconds
            plan.profile.ranked += ranker.ranked
    return n >= s.trials or strategy.exhausted()


class MeasureMany(Protocol):
    """Measures a batch of graph-level configs at once, elsewhere, and records each outcome;
    None for a config the clock ran out on before it was measured."""

    width: int  # how many configs it measures at once

    def measure(self, configs: list[dict[str, Any]], deadline: float) -> list[Outcome | None]: ...


def _ranker(ctx: Context, s: WorkloadState, strategy: GraphSearch) -> Any:
    """The cost model's ranker for this workload, when there is a model."""
    if ctx.costmodel is None:
        return None
    from autotune.costmodel.features.base import for_backend
    from autotune.costmodel.ranker import Ranker

    return Ranker(ctx.costmodel, for_backend(ctx.backend.name), ctx.db.workload_by_id(s.workload_id))


def propose(strategy: GraphSearch, ranker: Any, n: int, warmup: int, pool_size: int) -> dict[str, Any] | None:
    """The next config to measure: the strategy's proposal, or with a cost model the best
    ranked of `pool_size` proposals (the others are discarded unmeasured)."""
    if ranker is None or n < warmup:
        return strategy.ask()
    pool: list[dict[str, Any]] = []
    keys: set[str] = set()
    while len(pool) < pool_size:
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


def replay(ctx: Context, s: WorkloadState, strategy: GraphSearch) -> None:
    """Tell the strategy what earlier jobs measured (the default first), so none repeats."""
    strategy.tell({}, 1.0)
    names = {d.name for d in s.decisions}
    for o in ctx.db.outcomes(s.workload_id, ctx.target_id):
        config = json.loads(o["config"])
        if (
            o["source"] not in REPLAYED
            or not isinstance(config, dict)
            or not config
            or not set(config) <= names
        ):
            continue
        try:
            strategy.tell(config, o["median"] / s.default_s if o["median"] else None)
        except ValueError:  # a stored config whose choices this compiler no longer offers
            continue
