"""``convnet`` (xla): a tiny ResNet in NHWC, x [4, 32, 32, 3] -> logits [4, 10].

Stem conv3x3 3->16 + BN + ReLU; basic block 16->16; basic block 16->32 with stride 2 and
a 1x1 projection on the skip; global average pool; dense 32->10. BatchNorm is in its
folded inference form (per-channel ``scale`` and ``bias``). Convolutions use
``jax.lax.conv_general_dilated`` with dimension numbers ("NHWC", "HWIO", "NHWC").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from autotune.zoo.base import JaxModel, register
from autotune.zoo.jax_base import Params, Sampler, dense, dense_init

DIMS = ("NHWC", "HWIO", "NHWC")


def conv_bn(p: Params, x: jax.Array, stride: int = 1) -> jax.Array:
    """Convolution (padding k//2, no bias) followed by folded BatchNorm ``x * scale + bias``."""
    pad = p["w"].shape[0] // 2
    y = jax.lax.conv_general_dilated(
        x, p["w"], (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=DIMS
    )
    return y * p["scale"] + p["bias"]


def basic_block(p: Params, x: jax.Array, stride: int = 1) -> jax.Array:
    """conv-BN-ReLU-conv-BN plus the (projected) input, then ReLU."""
    skip = conv_bn(p["proj"], x, stride) if "proj" in p else x
    y = jax.nn.relu(conv_bn(p["conv1"], x, stride))
    return jax.nn.relu(conv_bn(p["conv2"], y) + skip)


def convnet_fn(params: Params, x: jax.Array) -> jax.Array:
    """Stem, two basic blocks (the second with stride 2), global average pool, dense."""
    x = jax.nn.relu(conv_bn(params["stem"], x))
    x = basic_block(params["block1"], x)
    x = basic_block(params["block2"], x, stride=2)
    return dense(params["fc"], jnp.mean(x, axis=(1, 2)))


def conv_bn_init(s: Sampler, k: int, c_in: int, c_out: int, eps: float = 1e-5) -> Params:
    """He-normal HWIO kernel and a random BatchNorm folded into ``scale`` and ``bias``."""
    w = s.normal((k, k, c_in, c_out), math.sqrt(2.0 / (k * k * c_in)))
    gamma, beta = s.uniform((c_out,), 0.5, 1.5), s.uniform((c_out,), -0.1, 0.1)
    mean, var = s.uniform((c_out,), -0.1, 0.1), s.uniform((c_out,), 0.5, 1.5)
    scale = gamma / np.sqrt(var + np.float32(eps))
    return {"w": w, "scale": scale, "bias": beta - mean * scale}


def _block_init(s: Sampler, c_in: int, c_out: int) -> Params:
    p = {"conv1": conv_bn_init(s, 3, c_in, c_out), "conv2": conv_bn_init(s, 3, c_out, c_out)}
    if c_in != c_out:
        p["proj"] = conv_bn_init(s, 1, c_in, c_out)
    return p


def init(s: Sampler, channels: int = 16, num_classes: int = 10) -> Params:
    """Seeded float32 weights (numpy) for :func:`convnet_fn`."""
    return {
        "stem": conv_bn_init(s, 3, 3, channels),
        "block1": _block_init(s, channels, channels),
        "block2": _block_init(s, channels, 2 * channels),
        "fc": dense_init(s, 2 * channels, num_classes),
    }


@register("convnet", backend="xla")
def convnet() -> JaxModel:
    """Build the ``convnet`` JAX zoo model: ``(params, x [4, 32, 32, 3])``."""
    s = Sampler()
    args = Sampler.to_jax((init(s), s.normal((4, 32, 32, 3))))
    return JaxModel("convnet", convnet_fn, args, "ResNet-style NHWC: stem + 2 basic blocks, 4x32x32x3")
