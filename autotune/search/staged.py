"""Staged search over two levels: graph-level decisions first, then the subgraph-level ones on
top of the best graph-level config found.

Searching both levels as one flat space spreads a small budget thin: at 32 trials over
~35 decisions, TPE's sparse random start rarely tries the one compiler option that pays.
Here the budget is split by the levels' space sizes (their log, each stage at least a
quarter): stage 1 searches the graph-level decisions alone ('auto': exhaustive when small,
else TPE); stage 2 searches the subgraph-level decisions with stage 1's best graph-level
config fixed under every proposal, so what a tensor layout or a fusion cut is worth is
measured in the program as the graph-level config compiles it (one direction of the
interaction; the winner is then simplified and confirmed like any other). A resumed search
is told its earlier outcomes and picks up in the stage they reached.

Example::

    s = create("staged", decisions, seed=0, budget=32)    # 'auto' picks it for mixed levels
    cfg = s.ask()                                          # graph-level decisions only, first
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autotune.passes.base import Decision, space_size
from autotune.search.graph import GraphSearch, register

#: The least share of the budget each stage gets.
MIN_SHARE = 0.25


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

    def first_stage_trials(self, budget: int) -> int:
        """Stage 1's share of `budget`, by the log of each level's space size."""
        if not self.sub_level:
            return budget
        if not self.graph_level:
            return 0
        g, s = math.log(space_size(self.graph_level)), math.log(space_size(self.sub_level))
        share = min(1 - MIN_SHARE, max(MIN_SHARE, g / (g + s)))
        return round(budget * share)

    def _parts(self, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        graph = {k: v for k, v in config.items() if k in self._graph_names}
        return graph, {k: v for k, v in config.items() if k not in self._graph_names}

    def _in_stage1(self) -> bool:
        if self.stage2 is not None or not self.graph_level:
            return False
        if not self.sub_level:
            return True
        return not self.stage1.exhausted() and (self.first <= 0 or self._told1 < self.first)

    def _start_stage2(self) -> GraphSearch:
        from autotune.search.graph import create

        self.base = dict(self._best[1])
        stage2 = create("auto", self.sub_level, seed=self._seed + 1, budget=max(1, self.budget - self.first))
        stage2.tell({}, self._best[0])
        for graph, sub, relative in self._later:
            if graph == self.base and sub:
                stage2.tell(sub, relative)
        self.stage2 = stage2
        return stage2

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
            self.stage2.tell(sub, relative)
        else:
            self._later.append((graph, sub, relative))

    def discard(self, config: dict[str, Any]) -> None:
        graph, sub = self._parts(config)
        if not sub:
            self.stage1.discard(graph)
        elif self.stage2 is not None:
            self.stage2.discard(sub)
