"""Compile-time entry point for JAX: `autotune.jax.jit(fn, db=...)` is `jax.jit` with the
database's best XLA config (the loader lives in autotune/backends/xla/loader.py).

Example::

    import autotune.jax
    f = autotune.jax.jit(model_fn, db="tuning.sqlite")   # any jax.jit keyword works too
    y = f(params, x)
    f.last                                                # what the lookup found and applied
"""

from __future__ import annotations

from autotune.backends.xla.loader import Lookup, TunedFunction, jit

__all__ = ["Lookup", "TunedFunction", "jit"]
