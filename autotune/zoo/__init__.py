"""A small bundled model zoo (random weights, nothing downloaded): PyTorch models for the
``"tvm"`` backend, pure JAX functions for ``"xla"``.

Listing names imports neither torch nor jax; ``create`` imports the model's module on demand.
"""

from __future__ import annotations

from autotune.zoo.base import (
    BACKENDS,
    OP_PREFIX,
    SEED,
    JaxModel,
    UnknownModelError,
    ZooModel,
    create,
    names,
    register,
    seeded,
)

__all__ = [
    "BACKENDS",
    "OP_PREFIX",
    "SEED",
    "JaxModel",
    "UnknownModelError",
    "ZooModel",
    "create",
    "names",
    "register",
    "seeded",
]
