"""The search-strategy extension point: a small base class and a `create(kind)` registry."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, type[SubgraphSearch]] = {}


class SubgraphSearch(abc.ABC):
    """Searches the schedule of one subgraph (workload) for a number of measured trials.

    Implementations measure candidates through the backend and commit every outcome to
    the tuning database as it happens; `run` returns the number of trials measured.
    """

    @abc.abstractmethod
    def run(self, task: Any, trials: int) -> int: ...

    @abc.abstractmethod
    def measure(self, mod: Any) -> tuple[str, list[float], str]:
        """Time one module the way candidates are timed: (status, seconds, error text)."""

    def space_size(self, task: Any) -> int | None:
        """How many distinct candidates the subgraph has, when small and known; else None."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release worker processes."""


def register(kind: str) -> Callable[[type[SubgraphSearch]], type[SubgraphSearch]]:
    def deco(cls: type[SubgraphSearch]) -> type[SubgraphSearch]:
        _REGISTRY[kind] = cls
        return cls

    return deco


def kinds() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def create(kind: str, **kwargs: Any) -> SubgraphSearch:
    """A strategy by name, e.g. create("evolutionary", msdb=..., target=...)."""
    _load()
    if kind not in _REGISTRY:
        raise ValueError(f"unknown search strategy {kind!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[kind](**kwargs)


def _load() -> None:
    import autotune.search.metaschedule  # noqa: F401  (registers "evolutionary")
