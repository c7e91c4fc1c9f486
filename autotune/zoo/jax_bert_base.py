"""``bert-base-layer`` (xla): one BERT-base encoder layer, x [1, 128, 768] -> [1, 128, 768].

Post-LN as in BERT: x = LN(x + self-attention(x)) with 12 heads over the whole sequence (no
mask, a fused qkv projection), then x = LN(x + dense(GELU(dense(x)))) with 3072 hidden units
and the exact (erf) GELU. The layer norms are the ones of ``gpt-block``
(autotune/zoo/jax_gpt.py).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from autotune.zoo.base import JaxModel, register
from autotune.zoo.jax_base import Params, Sampler, dense, dense_init
from autotune.zoo.jax_gpt import _ln_init, layer_norm

SEQ, D_MODEL, HEADS, D_FF = 128, 768, 12, 3072


def attention(p: Params, x: jax.Array, heads: int = HEADS) -> jax.Array:
    """Multi-head self-attention over every position."""
    b, s, d = x.shape
    hd = d // heads
    qkv = dense(p["qkv"], x).reshape(b, s, 3, heads, hd)
    q, k, v = (jnp.transpose(qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))  # (b, h, s, hd)
    probs = jax.nn.softmax(jnp.einsum("bhqd,bhkd->bhqk", q, k) * (1.0 / math.sqrt(hd)), axis=-1)
    ctx = jnp.einsum("bhqk,bhkd->bhqd", probs, v)
    return dense(p["proj"], jnp.transpose(ctx, (0, 2, 1, 3)).reshape(b, s, d))


def bert_layer_fn(params: Params, x: jax.Array) -> jax.Array:
    """Post-LN encoder layer: attention and feed-forward, each added and normalised."""
    x = layer_norm(params["ln1"], x + attention(params["attn"], x))
    h = jax.nn.gelu(dense(params["fc"], x), approximate=False)
    return layer_norm(params["ln2"], x + dense(params["fc_out"], h))


def init(s: Sampler, d: int = D_MODEL, d_ff: int = D_FF) -> Params:
    """Seeded float32 weights (numpy) for :func:`bert_layer_fn`."""
    return {
        "attn": {"qkv": dense_init(s, d, 3 * d), "proj": dense_init(s, d, d)},
        "ln1": _ln_init(s, d),
        "fc": dense_init(s, d, d_ff),
        "fc_out": dense_init(s, d_ff, d),
        "ln2": _ln_init(s, d),
    }


@register("bert-base-layer", backend="xla")
def bert_base_layer() -> JaxModel:
    """Build the ``bert-base-layer`` JAX zoo model: ``(params, x [1, 128, 768])``."""
    s = Sampler()
    args = Sampler.to_jax((init(s), s.normal((1, SEQ, D_MODEL))))
    return JaxModel(
        "bert-base-layer",
        bert_layer_fn,
        args,
        "BERT-base encoder layer: post-LN, MHA d768 h12, FF 3072, seq 128",
    )
