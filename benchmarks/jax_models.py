"""Two JAX models that are not in the zoo nor in the cost model's training data, for the
benchmarks (as user models: ``benchmarks/jax_models.py:mixer``).

- ``mixer``: one MLP-Mixer block, x [4, 64, 128] (tokens x channels): LayerNorm, token-mixing
  MLP (64 -> 256 -> 64 across tokens, GELU), residual; LayerNorm, channel MLP (128 -> 512 ->
  128, GELU), residual.
- ``sepconv``: two depthwise-separable blocks in NHWC, x [4, 32, 32, 32]: depthwise 3x3
  (`feature_group_count`), folded BatchNorm, ReLU6, pointwise 1x1 to 64, then 64 channels
  with stride 2; global average pool, dense to 10.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from autotune.zoo.jax_base import Params, Sampler, dense, dense_init


def _ln(x: jax.Array) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(jnp.var(x, axis=-1, keepdims=True) + 1e-5)


def mixer_fn(p: Params, x: jax.Array) -> jax.Array:
    y = jnp.swapaxes(_ln(x), 1, 2)  # (b, channels, tokens)
    y = dense(p["tok2"], jax.nn.gelu(dense(p["tok1"], y)))
    x = x + jnp.swapaxes(y, 1, 2)
    return x + dense(p["ch2"], jax.nn.gelu(dense(p["ch1"], _ln(x))))


def mixer():
    s = Sampler(seed=11)
    p = {
        "tok1": dense_init(s, 64, 256),
        "tok2": dense_init(s, 256, 64),
        "ch1": dense_init(s, 128, 512),
        "ch2": dense_init(s, 512, 128),
    }
    return mixer_fn, Sampler.to_jax((p, s.normal((4, 64, 128))))


DIMS = ("NHWC", "HWIO", "NHWC")


def _sep_block(p: Params, x: jax.Array, stride: int) -> jax.Array:
    c = x.shape[-1]
    y = jax.lax.conv_general_dilated(
        x, p["dw"], (stride, stride), ((1, 1), (1, 1)), dimension_numbers=DIMS, feature_group_count=c
    )
    y = jnp.clip(y * p["scale"] + p["bias"], 0.0, 6.0)
    return jax.lax.conv_general_dilated(y, p["pw"], (1, 1), ((0, 0), (0, 0)), dimension_numbers=DIMS)


def sepconv_fn(p: Params, x: jax.Array) -> jax.Array:
    x = jax.nn.relu(_sep_block(p["b1"], x, 1))
    x = jax.nn.relu(_sep_block(p["b2"], x, 2))
    return dense(p["fc"], jnp.mean(x, axis=(1, 2)))


def _sep_init(s: Sampler, c_in: int, c_out: int) -> Params:
    return {
        "dw": s.normal((3, 3, 1, c_in), math.sqrt(2.0 / 9)),
        "scale": s.uniform((c_in,), 0.5, 1.5),
        "bias": s.uniform((c_in,), -0.1, 0.1),
        "pw": s.normal((1, 1, c_in, c_out), math.sqrt(2.0 / c_in)),
    }


def sepconv():
    s = Sampler(seed=12)
    p = {"b1": _sep_init(s, 32, 64), "b2": _sep_init(s, 64, 64), "fc": dense_init(s, 64, 10)}
    return sepconv_fn, Sampler.to_jax((p, s.normal((4, 32, 32, 32))))
