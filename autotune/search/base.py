"""The search-strategy extension point: a small base class and a `create(kind)` registry."""

from __future__ import annotations

import abc
from typing import Any

from autotune.registry import Registry


class SubgraphSearch(abc.ABC):
    """Searches the schedule of one subgraph (workload) for a number of measured trials.

    Unlike a graph search (ask/tell, autotune/search/graph.py), it owns its loop: it
    measures candidates through the backend session and commits every outcome to the
    tuning database as it happens; `run` returns the number of trials measured.
    """

    @abc.abstractmethod
    def run(self, task: Any, trials: int) -> int: ...

    def space_size(self, task: Any) -> int | None:
        """How many distinct candidates the subgraph has, when small and known; else None."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release worker processes."""


REGISTRY: Registry[type[SubgraphSearch]] = Registry(
    "search strategy", {"evolutionary": "autotune.search.metaschedule"}, set_name=False
)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(kind: str, **kwargs: Any) -> SubgraphSearch:
    """A strategy by name, e.g. create("evolutionary", session=..., record=...)."""
    return REGISTRY.create(kind, **kwargs)
