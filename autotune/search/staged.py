"""Staged search over two levels: graph-level decisions first, then the subgraph-level ones on
top of the best graph-level config found.

Searching both levels as one flat space spreads a small budget thin: at 32 trials over
~35 decisions, TPE's sparse random start rarely tries the one compiler option that pays.
Here stage 1 searches the graph-level decisions alone ('auto': exhaustive when small, else
TPE) and stage 2 sweeps the subgraph-level decisions one change at a time ('sweep') with
stage 1's best graph-level config fixed under every proposal, so what a tensor layout or a
fusion cut is worth is measured in the program as the graph-level config compiles it (one
direction of the interaction; the winner is then simplified and confirmed like any other).
Stage 2 gets one trial per single change of a subgraph-level decision, at most a quarter of
the budget (`MAX_SECOND_SHARE`), and gives the rest back to stage 1 after `PATIENCE` probes
in a row that do not win: measured on the XLA zoo and two held-out models
(benchmarks/joint_xla.py), subgraph-level decisions alone never won, while the graph level
found 1.03-1.22x, so the graph level keeps most of the budget. A resumed search is told its
earlier outcomes and picks up in the stage they reached.

Example::

    s = create("staged", decisions, seed=0, budget=32)    # 'auto' picks it for mixed levels
    cfg = s.ask()                                          # graph-level decisions only, first
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autotune.passes.base import Decision
from autotune.search.graph import GraphSearch, register

#: The most of the budget stage 2 (the subgraph-level sweep) gets.
MAX_SECOND_SHARE = 0.25
#: Stage 2 gives the rest of its share back to stage 1 after this many probes in a row that
#: beat the best config by less than `WIN` (a relative latency under best / (1 + WIN)).
PATIENCE = 4
WIN = 0.02


def split(decisions: Sequence[Decision]) -> tuple[list[Decision], list[Decision]]:
    """(graph-level, subgraph-level) decisions."""
    return [d for d in decisions if d.level == "graph"], [d for d in decisions if d.level != "graph"]


@register("staged")
class StagedSearch(GraphSearch):
    """Graph-level decisions first, then subgraph-level ones under the best of them."""

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, budget: int = 0) -> None:
        super().__init__(decisions, seed=seed, budget=budget)
        from autotune.search.graph import create

        self.graph_level, self.sub_level = split(self.decisions)
        self._graph_names = {d.name for d in self.graph_level}
        self.first = self.first_stage_trials(budget)
        self._seed = seed
        self.stage1 = create("auto", self.graph_level, seed=seed, budget=self.first)
        self.stage2: GraphSearch | None = None
        self.base: dict[str, Any] = {}  # stage 2's fixed graph-level config
        self._told1 = 0
        self._best: tuple[float, dict[str, Any]] = (1.0, {})
        self._later: list[tuple[dict[str, Any], dict[str, Any], float | None]] = []
        self._stale = 0  # stage 2's probes in a row that did not win
        self._best2 = 1.0  # the best relative latency stage 2 knows (its base's, then its own)
        self.closed = False  # stage 2 gave its share back

    def first_stage_trials(self, budget: int) -> int:
        """Stage 1's share of `budget`: all but one trial per single change of a
        subgraph-level decision, those at most `MAX_SECOND_SHARE` of it (at least one)."""
        if not self.sub_level:
            return budget
        if not self.graph_level:
            return 0
        singles = sum(len(d.choices) - 1 for d in self.sub_level)
        return max(0, budget - min(singles, max(1, round(budget * MAX_SECOND_SHARE))))

    def _parts(self, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        graph = {k: v for k, v in config.items() if k in self._graph_names}
        return graph, {k: v for k, v in config.items() if k not in self._graph_names}

    def _in_stage1(self) -> bool:
        if not self.graph_level:
            return False
        if not self.sub_level or self.closed:
            return not self.stage1.exhausted() or not self.sub_level
        if self.stage2 is not None:
            return False
        return not self.stage1.exhausted() and (self.first <= 0 or self._told1 < self.first)

    def _start_stage2(self) -> GraphSearch:
        from autotune.search.graph import create

        self.base = dict(self._best[1])
        stage2 = create("sweep", self.sub_level, seed=self._seed + 1, budget=max(1, self.budget - self.first))
        stage2.tell({}, self._best[0])
        self.stage2, self._best2 = stage2, self._best[0]
        for graph, sub, relative in self._later:
            if graph == self.base and sub:
                self._observe2(sub, relative)
        return stage2

    def _observe2(self, sub: dict[str, Any], relative: float | None) -> None:
        """A stage-2 outcome; after `PATIENCE` probes in a row without a win, stage 1 gets
        the rest of the budget back."""
        assert self.stage2 is not None
        self.stage2.tell(sub, relative)
        if relative is not None and relative < self._best2 / (1 + WIN):
            self._best2, self._stale = relative, 0
        else:
            self._stale += 1
        self.closed = self.closed or self._stale >= PATIENCE

    def propose(self) -> dict[str, Any] | None:
        if self._in_stage1():
            return self.stage1.ask()
        stage2 = self.stage2 or self._start_stage2()
        sub = stage2.ask()
        return None if sub is None else {**self.base, **sub}

    def observe(self, config: dict[str, Any], relative: float | None) -> None:
        graph, sub = self._parts(config)
        if relative is not None and relative < self._best[0] and not sub:
            self._best = (relative, graph)
        if not sub:
            self.stage1.tell(graph, relative)
            self._told1 += 1 if graph else 0
        elif self.stage2 is not None and graph == self.base:
            self._observe2(sub, relative)
        else:
            self._later.append((graph, sub, relative))

    def discard(self, config: dict[str, Any]) -> None:
        graph, sub = self._parts(config)
        if not sub:
            self.stage1.discard(graph)
        elif self.stage2 is not None:
            self.stage2.discard(sub)
