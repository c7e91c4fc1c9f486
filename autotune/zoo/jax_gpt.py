"""``gpt-block`` (xla): one GPT-style pre-LN decoder block, x [2, 64, 128] -> [2, 64, 128].

LayerNorm -> causal multi-head self-attention (d_model 128, 4 heads, fused qkv) ->
residual; LayerNorm -> MLP 128 -> 512 -> 128 with (tanh) GELU -> residual; final LayerNorm.
The input is embeddings (float32), so there is no gather.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from autotune.zoo.base import JaxModel, register
from autotune.zoo.jax_base import F32, Params, Sampler, dense, dense_init

BATCH, SEQ, D_MODEL, HEADS, D_FF = 2, 64, 128, 4, 512


def layer_norm(p: Params, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """LayerNorm over the last axis with learned ``scale`` and ``bias``."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def causal_attention(p: Params, x: jax.Array, heads: int = HEADS) -> jax.Array:
    """Multi-head self-attention where position i attends to positions <= i."""
    b, s, d = x.shape
    hd = d // heads
    qkv = dense(p["qkv"], x).reshape(b, s, 3, heads, hd)
    q, k, v = (jnp.transpose(qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))  # (b, h, s, hd)
    scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) * (1.0 / math.sqrt(hd))
    mask = jnp.tril(jnp.ones((s, s), dtype=bool))
    scores = jnp.where(mask, scores, jnp.finfo(F32).min)
    probs = jax.nn.softmax(scores, axis=-1)
    ctx = jnp.einsum("bhqk,bhkd->bhqd", probs, v)
    return dense(p["proj"], jnp.transpose(ctx, (0, 2, 1, 3)).reshape(b, s, d))


def gpt_block_fn(params: Params, x: jax.Array) -> jax.Array:
    """Pre-LN decoder block plus final LayerNorm."""
    x = x + causal_attention(params["attn"], layer_norm(params["ln1"], x))
    h = jax.nn.gelu(dense(params["fc"], layer_norm(params["ln2"], x)), approximate=True)
    x = x + dense(params["fc_out"], h)
    return layer_norm(params["ln_f"], x)


def _ln_init(s: Sampler, d: int) -> Params:
    return {"scale": s.uniform((d,), 0.8, 1.2), "bias": s.uniform((d,), -0.1, 0.1)}


def init(s: Sampler, d: int = D_MODEL, d_ff: int = D_FF) -> Params:
    """Seeded float32 weights (numpy) for :func:`gpt_block_fn`."""
    return {
        "ln1": _ln_init(s, d),
        "attn": {"qkv": dense_init(s, d, 3 * d), "proj": dense_init(s, d, d)},
        "ln2": _ln_init(s, d),
        "fc": dense_init(s, d, d_ff),
        "fc_out": dense_init(s, d_ff, d),
        "ln_f": _ln_init(s, d),
    }


@register("gpt-block", backend="xla")
def gpt_block() -> JaxModel:
    """Build the ``gpt-block`` JAX zoo model: ``(params, x [2, 64, 128])``."""
    s = Sampler()
    args = Sampler.to_jax((init(s), s.normal((BATCH, SEQ, D_MODEL))))
    return JaxModel(
        "gpt-block", gpt_block_fn, args, "GPT decoder block: pre-LN, causal MHA d128 h4, MLP 512, seq 64, b2"
    )
