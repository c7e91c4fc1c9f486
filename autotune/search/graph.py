"""The graph-level search extension point: strategies that propose whole configs (ask/tell).

A graph-level space is flat: one choice per `Decision`. A strategy proposes configs
(dicts holding the non-default choices only) and is told each outcome: the latency
relative to the default config, or None for a failed candidate (compile error, crash,
wrong result). No strategy proposes the same config twice; `ask` returns None when the
space is exhausted. Every strategy runs the same contract tests (tests/search/).

Example::

    s = create("tpe", decisions=decisions, seed=0)
    while (cfg := s.ask()) is not None:
        s.tell(cfg, measure(cfg))          # seconds relative to the default, or None
"""

from __future__ import annotations

import abc
import random
from collections.abc import Sequence
from typing import Any

from autotune.db.records import canonical_json
from autotune.passes.base import Decision, normalize, space_size
from autotune.registry import Registry


class GraphSearch(abc.ABC):
    """Proposes configs of a flat decision space and learns from their outcomes."""

    #: Whether a cost model may prune its proposals (an exhaustive walk measures everything).
    prunable = True

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, budget: int = 0) -> None:
        self.decisions = list(decisions)
        self.budget = budget  # trials the caller means to measure (0: not known)
        self.rng = random.Random(seed)
        self.seen: dict[str, float | None] = {}

    @property
    def size(self) -> int:
        return space_size(self.decisions)

    def key(self, config: dict[str, Any]) -> str:
        return canonical_json(normalize(config, self.decisions))

    def exhausted(self) -> bool:
        return len(self.seen) >= self.size

    def ask(self) -> dict[str, Any] | None:
        """The next config to measure (never one already told), or None when none is left."""
        if self.exhausted():
            return None
        config = self.propose()
        if config is None or self.key(config) in self.seen:
            config = self.random_unseen()
        return None if config is None else normalize(config, self.decisions)

    def tell(self, config: dict[str, Any], relative: float | None) -> None:
        """The outcome of a config: latency over the default's, or None when it failed."""
        self.seen[self.key(config)] = relative
        self.observe(normalize(config, self.decisions), relative)

    def discard(self, config: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """A proposal that will not be measured (a cost model ranked it out); it may come again."""

    @abc.abstractmethod
    def propose(self) -> dict[str, Any] | None:
        """A config, preferably unseen (the base class replaces a seen one by a random one)."""

    def observe(self, config: dict[str, Any], relative: float | None) -> None:  # noqa: B027
        """Learn from an outcome (optional)."""

    def random_unseen(self, tries: int = 200) -> dict[str, Any] | None:
        for _ in range(tries):
            cfg = {d.name: self.rng.choice(d.choices) for d in self.decisions}
            if self.key(cfg) not in self.seen:
                return cfg
        return None


REGISTRY: Registry[type[GraphSearch]] = Registry(
    "graph search",
    {
        "exhaustive": "autotune.search.exhaustive",
        "random": "autotune.search.random_search",
        "staged": "autotune.search.staged",
        "sweep": "autotune.search.sweep",
        "tpe": "autotune.search.tpe",
    },
    set_name=False,
)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(kind: str, decisions: Sequence[Decision], seed: int = 0, **kwargs: Any) -> GraphSearch:
    """A strategy by name: 'tpe', 'exhaustive', 'random', 'staged', 'sweep'; 'auto' picks exhaustive
    for spaces no larger than `budget` (a keyword argument), else 'staged' when the
    decisions span both levels, else TPE."""
    budget = int(kwargs.pop("budget", 0))
    if kind == "auto":
        levels = {d.level for d in decisions}
        kind = (
            "exhaustive"
            if space_size(decisions) <= max(budget, 1)
            else "staged"
            if len(levels) > 1
            else "tpe"
        )
    if kind not in kinds():
        raise ValueError(f"unknown graph search {kind!r}; known: auto, {', '.join(kinds())}")
    return REGISTRY.create(kind, decisions, seed=seed, budget=budget, **kwargs)
