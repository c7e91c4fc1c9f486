"""Sweep: one decision changed at a time from the best config told so far (greedy coordinate
descent). Few trials find what a single decision is worth, so it suits a space whose
decisions mostly do nothing alone and are measured on few trials: the staged search's second
stage (the subgraph-level decisions under the best graph-level config). The neighbours of the
current best are walked in the decisions' order (the passes list the largest tensors first);
when every one is seen, the base class falls back to random unseen configs.

Example::

    s = create("sweep", decisions, seed=0)
    s.tell({}, 1.0)
    cfg = s.ask()            # the first decision's first non-default choice
"""

from __future__ import annotations

from typing import Any

from autotune.search.graph import GraphSearch, register


@register("sweep")
class SweepSearch(GraphSearch):
    """Single changes from the best config told so far, in the decisions' order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.best: tuple[float, dict[str, Any]] = (float("inf"), {})
        self.pending: set[str] = set()  # asked, neither told nor discarded

    def propose(self) -> dict[str, Any] | None:
        base = self.best[1]
        for d in self.decisions:
            for choice in d.choices:
                if choice == base.get(d.name, d.default):
                    continue
                cfg = {**base, d.name: choice}
                key = self.key(cfg)
                if key not in self.seen and key not in self.pending:
                    self.pending.add(key)
                    return cfg
        return None

    def discard(self, config: dict[str, Any]) -> None:
        self.pending.discard(self.key(config))

    def observe(self, config: dict[str, Any], relative: float | None) -> None:
        self.pending.discard(self.key(config))
        if relative is not None and relative < self.best[0]:
            self.best = (relative, dict(config))
