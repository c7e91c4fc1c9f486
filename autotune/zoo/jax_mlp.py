"""``mlp`` (xla): a 3-layer perceptron, x [8, 128] -> 256 -> 256 -> 10 with ReLU.

The same shape as the PyTorch ``mlp``; ``fn(params, x)`` returns logits [8, 10].
"""

from __future__ import annotations

import jax

from autotune.zoo.base import JaxModel, register
from autotune.zoo.jax_base import Params, Sampler, dense, dense_init


def mlp_fn(params: Params, x: jax.Array) -> jax.Array:
    """Dense-ReLU-Dense-ReLU-Dense."""
    x = jax.nn.relu(dense(params["fc1"], x))
    x = jax.nn.relu(dense(params["fc2"], x))
    return dense(params["fc3"], x)


def init(s: Sampler, d_in: int = 128, d_hidden: int = 256, d_out: int = 10) -> Params:
    """Seeded float32 weights (numpy) for :func:`mlp_fn`."""
    return {
        "fc1": dense_init(s, d_in, d_hidden),
        "fc2": dense_init(s, d_hidden, d_hidden),
        "fc3": dense_init(s, d_hidden, d_out),
    }


@register("mlp", backend="xla")
def mlp() -> JaxModel:
    """Build the ``mlp`` JAX zoo model: ``(params, x [8, 128])``."""
    s = Sampler()
    args = Sampler.to_jax((init(s), s.normal((8, 128))))
    return JaxModel("mlp", mlp_fn, args, "MLP 128-256-256-10, ReLU, batch 8")
