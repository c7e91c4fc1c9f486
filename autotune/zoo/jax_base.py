"""Shared pieces of the JAX zoo models: a seeded float32 sampler and dense layers.

Every JAX zoo model draws its weights and inputs from one :class:`Sampler` rooted at
``jax.random.PRNGKey(SEED)``, so the arrays, the lowered HLO and the outputs are the same
in every process and run.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from autotune.zoo.base import SEED

#: A dict pytree of weights, e.g. ``{"fc1": {"w": ..., "b": ...}}``.
Params = dict[str, Any]

F32 = jnp.float32


def _host() -> jax.Device | None:
    """The CPU device when the CPU backend is on, so weights do not depend on the accelerator."""
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:
        return None


class Sampler:
    """float32 random arrays from ``PRNGKey(SEED)``, drawn in fixed-size chunks.

    Every chunk has the same shape, so building a model costs two tiny XLA compiles
    however many arrays it has (one key per array would compile a large threefry
    program: seconds on a small CPU). Draws run on the CPU where it is available, so
    the weights are the same with or without an accelerator. Arrays come back as numpy;
    see :meth:`to_jax`.

    Example::

        s = Sampler()
        w, b = s.normal((3, 3, 16, 32), std=0.1), s.uniform((32,), -0.1, 0.1)
        params = Sampler.to_jax({"w": w, "b": b})
    """

    CHUNK = 1 << 16

    def __init__(self, seed: int = SEED) -> None:
        with jax.default_device(_host()):
            self._key = jax.random.PRNGKey(seed)
        self._chunks = 0
        self._buf: dict[str, np.ndarray] = {
            "uniform": np.empty(0, np.float32),
            "normal": np.empty(0, np.float32),
        }

    def _take(self, kind: str, shape: tuple[int, ...]) -> np.ndarray:
        n, buf = math.prod(shape), self._buf[kind]
        while buf.size < n:
            key = jax.random.fold_in(self._key, self._chunks)
            self._chunks += 1
            draw = jax.random.uniform if kind == "uniform" else jax.random.normal
            with jax.default_device(_host()):
                buf = np.concatenate([buf, np.asarray(draw(key, (self.CHUNK,), F32))])
        self._buf[kind] = buf[n:]
        return buf[:n].reshape(shape)

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
        """float32 samples in ``[low, high)``."""
        return np.float32(low) + np.float32(high - low) * self._take("uniform", shape)

    def normal(self, shape: tuple[int, ...], std: float = 1.0) -> np.ndarray:
        """float32 normal samples with standard deviation ``std``."""
        return np.float32(std) * self._take("normal", shape)

    @staticmethod
    def to_jax(tree: Any) -> Any:
        """The pytree with every numpy leaf as a float32 jax array."""
        return jax.tree.map(lambda a: jnp.asarray(a, F32), tree)


def dense_init(s: Sampler, d_in: int, d_out: int) -> Params:
    """``torch.nn.Linear``-style init: ``w`` [d_in, d_out] and ``b`` [d_out], U(+-1/sqrt(d_in))."""
    bound = 1.0 / math.sqrt(d_in)
    return {"w": s.uniform((d_in, d_out), -bound, bound), "b": s.uniform((d_out,), -bound, bound)}


def dense(p: Params, x: jax.Array) -> jax.Array:
    """``x @ w + b`` over the last axis of ``x``."""
    return x @ p["w"] + p["b"]
