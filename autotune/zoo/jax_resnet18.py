"""``resnet18`` (xla): ResNet-18 at ImageNet size in NHWC, x [1, 224, 224, 3] -> logits [1, 1000].

Stem conv7x7/2 3->64 + BN + ReLU and max pool 3x3/2; four stages of two basic blocks
(64, 128, 256, 512 channels; the first block of stages 2-4 has stride 2 and a 1x1 projection
on the skip); global average pool; dense 512->1000. BatchNorm is in its folded inference
form, as in ``convnet`` (autotune/zoo/jax_convnet.py, whose blocks it reuses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from autotune.zoo.base import JaxModel, register
from autotune.zoo.jax_base import Params, Sampler, dense, dense_init
from autotune.zoo.jax_convnet import _block_init, basic_block, conv_bn, conv_bn_init

#: Channels of the four stages; each has two basic blocks.
STAGES = (64, 128, 256, 512)


def max_pool(x: jax.Array, k: int = 3, stride: int = 2) -> jax.Array:
    """k x k max pool with padding k//2 over the H and W axes of NHWC."""
    pad = k // 2
    return jax.lax.reduce_window(
        x,
        -jnp.inf,
        jax.lax.max,
        (1, k, k, 1),
        (1, stride, stride, 1),
        ((0, 0), (pad, pad), (pad, pad), (0, 0)),
    )


def resnet18_fn(params: Params, x: jax.Array) -> jax.Array:
    """Stem, max pool, four stages, global average pool, dense."""
    x = max_pool(jax.nn.relu(conv_bn(params["stem"], x, stride=2)))
    for i in range(len(STAGES)):
        x = basic_block(params[f"stage{i}"][0], x, stride=1 if i == 0 else 2)
        x = basic_block(params[f"stage{i}"][1], x)
    return dense(params["fc"], jnp.mean(x, axis=(1, 2)))


def init(s: Sampler, num_classes: int = 1000) -> Params:
    """Seeded float32 weights (numpy) for :func:`resnet18_fn`."""
    params: Params = {"stem": conv_bn_init(s, 7, 3, STAGES[0])}
    c_in = STAGES[0]
    for i, c in enumerate(STAGES):
        params[f"stage{i}"] = [_block_init(s, c_in, c), _block_init(s, c, c)]
        c_in = c
    params["fc"] = dense_init(s, c_in, num_classes)
    return params


@register("resnet18", backend="xla")
def resnet18() -> JaxModel:
    """Build the ``resnet18`` JAX zoo model: ``(params, x [1, 224, 224, 3])``."""
    s = Sampler()
    args = Sampler.to_jax((init(s), s.normal((1, 224, 224, 3))))
    return JaxModel("resnet18", resnet18_fn, args, "ResNet-18, NHWC 1x224x224x3, 1000 classes")
