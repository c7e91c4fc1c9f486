"""What a zoo factory returns: a PyTorch model for TVM or a JAX function for XLA, and the
error for a model that cannot be found. Kept apart from the registry (`base.py`) and the
user-model loader (`user.py`) so that both import it and neither imports the other back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class UnknownModelError(ValueError):
    """Raised when a model name, backend or user spec cannot be resolved to a model."""


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


@dataclass
class JaxModel:
    """A JAX model: a pure (not jitted) function and the arguments to call it with.

    By convention ``example_args`` is ``(params, x)`` with ``params`` a dict pytree of
    float32 weights. Example::

        m = JaxModel("double", lambda x: 2 * x, (jnp.ones((4,), jnp.float32),), "x -> 2x")
        out = jax.jit(m.fn)(*m.example_args)
    """

    name: str
    fn: Callable[..., Any]
    example_args: tuple[Any, ...]
    description: str = ""
