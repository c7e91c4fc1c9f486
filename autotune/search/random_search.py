"""Random search: uniform over the choices of each decision; the baseline for the others."""

from __future__ import annotations

from typing import Any

from autotune.search.graph import GraphSearch, register


@register("random")
class RandomSearch(GraphSearch):
    """Uniform random configs, never repeating one."""

    def propose(self) -> dict[str, Any] | None:
        return self.random_unseen()
