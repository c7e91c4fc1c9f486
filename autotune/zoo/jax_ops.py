"""Single-operator JAX models named by their shapes: the extra XLA workloads of the cost
model's data collection.

``zoo.create("op-<kind>-<AxBx...>", backend="xla")`` builds one (see `FORMS`); weights
and inputs are seeded through :class:`~autotune.zoo.jax_base.Sampler`, so a name always
gives the same HLO and the same outputs. ``fn(params, x)`` as for every JAX zoo model.

Example::

    m = build("op-dense-8x512x256")          # relu(x [8, 512] @ w [512, 256] + b)
    out = jax.jit(m.fn)(*m.example_args)     # [8, 256]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax

from autotune.zoo.base import OP_PREFIX, JaxModel, UnknownModelError
from autotune.zoo.jax_base import Params, Sampler, dense, dense_init
from autotune.zoo.jax_convnet import DIMS
from autotune.zoo.jax_gpt import causal_attention, layer_norm

#: kind -> (the dimensions its name gives, what it computes).
FORMS: dict[str, tuple[str, str]] = {
    "dense": ("MxKxN", "relu(x[M,K] @ w[K,N] + b)"),
    "conv2d": ("NxHxWxCinxCoutxK", "NHWC conv KxK, stride 1, SAME, + bias, relu"),
    "attention": ("BxSxDxH", "causal multi-head self-attention, qkv and output projections"),
    "layernorm": ("RxD", "LayerNorm over the last axis of x[R,D]"),
    "softmax": ("RxD", "softmax over the last axis of x[R,D]"),
    "mlp2": ("MxDxF", "dense D->F, tanh GELU, dense F->D"),
    "pool": ("NxHxWxCxK", "NHWC max pool KxK, stride K, VALID"),
    "reduce": ("RxD", "sum over the first axis of x[R,D]"),
    "eltwise": ("RxD", "silu(x) * tanh(x) + 0.1 * x * x, elementwise on x[R,D]"),
}

#: Largest array (elements) an op may have: data collection wants small, fast workloads.
MAX_ELEMENTS = 1 << 24

#: Varied single-op workloads for the cost model's data collection (each call ~0.02-2 ms here).
DATA_OPS: list[str] = [
    "op-dense-8x512x256",
    "op-dense-1x1024x1024",
    "op-dense-64x256x256",
    "op-dense-128x128x512",
    "op-dense-256x64x64",
    "op-conv2d-4x32x32x16x32x3",
    "op-conv2d-1x64x64x8x16x3",
    "op-conv2d-8x16x16x32x32x1",
    "op-conv2d-2x28x28x3x16x5",
    "op-attention-2x64x128x4",
    "op-attention-1x128x64x2",
    "op-attention-4x32x256x8",
    "op-layernorm-16x512",
    "op-layernorm-256x128",
    "op-layernorm-64x1024",
    "op-softmax-32x1024",
    "op-softmax-512x64",
    "op-softmax-8x4096",
    "op-mlp2-32x256x1024",
    "op-mlp2-8x128x512",
    "op-mlp2-128x64x256",
    "op-dense-4x2048x512",
    "op-dense-32x512x1024",
    "op-dense-512x128x128",
    "op-dense-16x64x2048",
    "op-conv2d-1x32x32x32x64x3",
    "op-conv2d-2x16x16x64x64x3",
    "op-conv2d-4x8x8x128x128x1",
    "op-attention-1x256x64x4",
    "op-attention-2x128x128x8",
    "op-layernorm-8x2048",
    "op-layernorm-1024x64",
    "op-softmax-128x512",
    "op-softmax-16x2048",
    "op-mlp2-16x512x2048",
    "op-mlp2-64x128x512",
    "op-mlp2-4x1024x1024",
    "op-dense-2x256x768",
    "op-dense-96x384x128",
    "op-dense-8x2048x256",
    "op-dense-1x512x4096",
    "op-dense-48x768x768",
    "op-conv2d-1x56x56x16x16x3",
    "op-conv2d-2x32x32x8x8x3",
    "op-conv2d-1x14x14x256x256x1",
    "op-conv2d-4x16x16x16x16x5",
    "op-conv2d-1x28x28x64x32x3",
    "op-attention-1x64x256x4",
    "op-attention-8x32x64x2",
    "op-attention-1x512x64x1",
    "op-attention-2x96x192x6",
    "op-layernorm-32x768",
    "op-layernorm-4096x32",
    "op-layernorm-2x8192",
    "op-softmax-64x256",
    "op-softmax-1024x32",
    "op-softmax-4x8192",
    "op-mlp2-1x256x1024",
    "op-mlp2-32x64x128",
    "op-mlp2-256x128x256",
    "op-mlp2-8x768x3072",
    # kinds added for transfer to kinds never seen, and more of the others
    "op-pool-4x32x32x16x2",
    "op-pool-1x64x64x8x2",
    "op-pool-8x16x16x32x2",
    "op-pool-2x28x28x64x3",
    "op-pool-1x56x56x32x2",
    "op-reduce-512x256",
    "op-reduce-64x2048",
    "op-reduce-4096x64",
    "op-reduce-1024x512",
    "op-reduce-32x8192",
    "op-eltwise-256x1024",
    "op-eltwise-64x4096",
    "op-eltwise-1024x256",
    "op-eltwise-16x16384",
    "op-eltwise-512x512",
    "op-dense-24x384x1536",
    "op-dense-160x96x320",
    "op-conv2d-2x24x24x24x48x3",
    "op-conv2d-1x40x40x32x16x1",
    "op-attention-2x48x96x3",
    "op-attention-1x192x128x4",
    "op-layernorm-128x384",
    "op-layernorm-48x1536",
    "op-softmax-256x128",
    "op-softmax-12x3072",
]


def _dense_relu(p: Params, x: jax.Array) -> jax.Array:
    return jax.nn.relu(dense(p, x))


def _conv2d(p: Params, x: jax.Array) -> jax.Array:
    y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "SAME", dimension_numbers=DIMS)
    return jax.nn.relu(y + p["b"])


def _softmax(p: Params, x: jax.Array) -> jax.Array:
    return jax.nn.softmax(x, axis=-1)


def _mlp2(p: Params, x: jax.Array) -> jax.Array:
    return dense(p["fc2"], jax.nn.gelu(dense(p["fc1"], x), approximate=True))


def _pool(k: int, p: Params, x: jax.Array) -> jax.Array:
    return jax.lax.reduce_window(x, -jax.numpy.inf, jax.lax.max, (1, k, k, 1), (1, k, k, 1), "VALID")


def _reduce(p: Params, x: jax.Array) -> jax.Array:
    return x.sum(axis=0)


def _eltwise(p: Params, x: jax.Array) -> jax.Array:
    return jax.nn.silu(x) * jax.numpy.tanh(x) + 0.1 * x * x


def _make(kind: str, d: list[int], s: Sampler) -> tuple[Callable[..., Any], Params, tuple[int, ...]]:
    """(fn, numpy params, input shape) of an op."""
    if kind == "dense":
        m, k, n = d
        return _dense_relu, dense_init(s, k, n), (m, k)
    if kind == "conv2d":
        n, h, w, cin, cout, k = d
        std = math.sqrt(2.0 / (k * k * cin))
        return (
            _conv2d,
            {"w": s.normal((k, k, cin, cout), std), "b": s.uniform((cout,), -0.1, 0.1)},
            (n, h, w, cin),
        )
    if kind == "attention":
        b, seq, dm, heads = d
        if dm % heads:
            raise ValueError(f"d_model {dm} is not a multiple of heads {heads}")
        params = {"qkv": dense_init(s, dm, 3 * dm), "proj": dense_init(s, dm, dm)}
        return functools.partial(causal_attention, heads=heads), params, (b, seq, dm)
    if kind == "layernorm":
        r, dm = d
        return layer_norm, {"scale": s.uniform((dm,), 0.8, 1.2), "bias": s.uniform((dm,), -0.1, 0.1)}, (r, dm)
    if kind == "softmax":
        return _softmax, {}, tuple(d)
    if kind == "pool":
        n, h, w, c, k = d
        if k > min(h, w):
            raise ValueError(f"window {k} is larger than the image {h}x{w}")
        return functools.partial(_pool, k), {}, (n, h, w, c)
    if kind in ("reduce", "eltwise"):
        return (_reduce if kind == "reduce" else _eltwise), {}, tuple(d)
    m, dm, f = d  # mlp2
    return _mlp2, {"fc1": dense_init(s, dm, f), "fc2": dense_init(s, f, dm)}, (m, dm)


def _sizes(kind: str, d: list[int]) -> list[int]:
    """Element counts of an op's inputs, weights and largest intermediate (checked before drawing)."""
    if kind == "dense":
        return [d[0] * d[1], d[1] * d[2], d[0] * d[2]]
    if kind == "conv2d":
        n, h, w, cin, cout, k = d
        return [n * h * w * cin, k * k * cin * cout, n * h * w * cout]
    if kind == "attention":
        b, seq, dm, heads = d
        return [b * seq * 3 * dm, 3 * dm * dm, b * heads * seq * seq]
    if kind == "mlp2":
        return [d[0] * d[1], d[1] * d[2], d[0] * d[2]]
    if kind == "pool":
        return [math.prod(d[:4])]
    return [math.prod(d)]


def _error(spec: str, why: str) -> UnknownModelError:
    forms = ", ".join(f"{OP_PREFIX}{k}-{dims}" for k, (dims, _) in FORMS.items())
    return UnknownModelError(f"bad op model {spec!r} ({why}); forms: {forms}")


def parse(spec: str) -> tuple[str, list[int]]:
    """('dense', [8, 512, 256]) from 'op-dense-8x512x256'; raises UnknownModelError."""
    body = spec.removeprefix(OP_PREFIX)
    kind, _, dims_txt = body.rpartition("-")
    if not spec.startswith(OP_PREFIX) or kind not in FORMS:
        raise _error(spec, f"unknown op kind {kind or body!r}")
    want = FORMS[kind][0].count("x") + 1
    try:
        dims = [int(x) for x in dims_txt.split("x")]
    except ValueError:
        raise _error(spec, f"dimensions {dims_txt!r} are not integers") from None
    if len(dims) != want or min(dims) < 1:
        raise _error(spec, f"{kind} takes {want} positive dimensions {FORMS[kind][0]}")
    return kind, dims


def build(spec: str) -> JaxModel:
    """The single-op JaxModel a name describes: ``(params, x)`` float32, seeded."""
    kind, dims = parse(spec)
    biggest = max(_sizes(kind, dims))
    if biggest > MAX_ELEMENTS:
        raise _error(spec, f"an array of {biggest} elements is over {MAX_ELEMENTS}")
    s = Sampler()
    try:
        fn, params, x_shape = _make(kind, dims, s)
    except ValueError as exc:
        raise _error(spec, str(exc)) from None
    args = Sampler.to_jax((params, s.normal(x_shape)))
    desc = f"{kind} {'x'.join(map(str, dims))}: {FORMS[kind][1]}"
    return JaxModel(spec, fn, args, desc)
