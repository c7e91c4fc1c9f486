"""A small bundled PyTorch model zoo (random weights, nothing downloaded).

Listing names does not import torch; ``create`` imports the model's module on demand.
"""

from __future__ import annotations

from autotune.zoo.base import (
    SEED,
    UnknownModelError,
    ZooModel,
    create,
    names,
    register,
    seeded,
)

__all__ = ["SEED", "UnknownModelError", "ZooModel", "create", "names", "register", "seeded"]
