"""The model zoo registry: named factories that build small, deterministic models.

Usage::

    from autotune import zoo
    m = zoo.create("mlp")            # or a user spec "pkg.module:function"
    out = m.module(*m.example_inputs)
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["SEED", "UnknownModelError", "ZooModel", "create", "names", "register", "seeded"]

#: Built-in model name -> module that registers it (imported on first use, so that
#: listing names does not import torch).
_BUILTIN: dict[str, str] = {
    "mlp": "autotune.zoo.mlp",
    "convnet": "autotune.zoo.convnet",
    "bert-tiny": "autotune.zoo.bert_tiny",
}

_FACTORIES: dict[str, Callable[[], ZooModel]] = {}

#: Fixed seed every built-in factory uses, so weights (and IR fingerprints) are stable.
SEED = 0


@contextlib.contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    """Seed torch's CPU RNG inside the block and restore the caller's RNG state after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class UnknownModelError(ValueError):
    """Raised when a model name or user spec cannot be resolved to a model."""


@dataclass
class ZooModel:
    """A model ready to export: a module in eval mode and its example inputs.

    Example::

        m = ZooModel("tiny", torch.nn.Linear(4, 2).eval(), (torch.ones(1, 4),), "a linear")
    """

    name: str
    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    description: str = ""


def register(name: str) -> Callable[[Callable[[], ZooModel]], Callable[[], ZooModel]]:
    """Decorator registering a factory ``() -> ZooModel`` under ``name``."""

    def deco(factory: Callable[[], ZooModel]) -> Callable[[], ZooModel]:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"zoo model {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return deco


def names() -> list[str]:
    """All known model names (built-in and registered), sorted."""
    return sorted(set(_BUILTIN) | set(_FACTORIES))


def create(spec: str) -> ZooModel:
    """Build a model by zoo name, or from a user spec ``"pkg.module:function"``
    or ``"path/to/file.py:function"`` (see :mod:`autotune.zoo.user`)."""
    if ":" in spec and spec not in _FACTORIES:
        from autotune.zoo.user import load_user_model

        return load_user_model(spec)
    if spec not in _FACTORIES and spec in _BUILTIN:
        importlib.import_module(_BUILTIN[spec])
    factory = _FACTORIES.get(spec)
    if factory is None:
        raise UnknownModelError(
            f"unknown model {spec!r}; known models: {', '.join(names())} "
            "(or a user spec 'pkg.module:function')"
        )
    model = factory()
    model.module.eval()
    return model
