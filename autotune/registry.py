"""One registry for every extension point (databases, searches, passes, cost models,
featurizers): implementations register under a name, built-in ones are imported on first
use (so `autotune --help` and compile-time lookups import nothing heavy), and an unknown
name is a one-line error that lists the known ones.

Example::

    MODELS = Registry("cost model", {"gnn": "autotune.costmodel.gnn"})

    @MODELS.register("gnn")          # in autotune/costmodel/gnn.py
    class GNNModel(CostModel): ...

    MODELS.get("gnn")                # the class; its module is imported on first use
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> implementation class of one extension point."""

    def __init__(self, what: str, builtin: Mapping[str, str] | None = None, set_name: bool = True) -> None:
        """`what` names the extension point in errors; `builtin` maps names to the modules that
        register them; with `set_name`, a registered class gets its name as `cls.name`."""
        self.what = what
        self.builtin = dict(builtin or {})
        self.set_name = set_name
        self._classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator that makes an implementation available under `name`."""

        def deco(cls: T) -> T:
            if self.set_name:
                cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return deco

    def kinds(self) -> list[str]:
        """The known names, built-in or registered, without importing anything."""
        return sorted(set(self.builtin) | set(self._classes))

    def get(self, name: str) -> T:
        """The implementation registered under `name`; ValueError when there is none."""
        if name not in self._classes and name in self.builtin:
            importlib.import_module(self.builtin[name])
        if name not in self._classes:
            raise ValueError(f"unknown {self.what} {name!r}; known: {', '.join(self.kinds())}")
        return self._classes[name]

    def classes(self) -> dict[str, T]:
        """Every implementation, importing all built-in modules."""
        for module in self.builtin.values():
            importlib.import_module(module)
        return dict(self._classes)

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """An instance of the implementation registered under `name`."""
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]
