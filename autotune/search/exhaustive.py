"""Exhaustive search: every config of a small space, defaults first, in a fixed order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from autotune.search.graph import GraphSearch, register


@register("exhaustive")
class ExhaustiveSearch(GraphSearch):
    """Walks the product of all choices (each decision's default first)."""

    prunable = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        orders = [[d.default, *[c for c in d.choices if c != d.default]] for d in self.decisions]
        self._it: Iterator[tuple] = itertools.product(*orders)

    def propose(self) -> dict[str, Any] | None:
        for values in self._it:
            cfg = dict(zip((d.name for d in self.decisions), values))
            if self.key(cfg) not in self.seen:
                return cfg
        return None
