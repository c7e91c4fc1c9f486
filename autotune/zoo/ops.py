"""Single-operator PyTorch models named by their shapes: extra TVM workloads.

The cost model learns from many workload shapes, more than the zoo's models contain; these
one-operator models give MetaSchedule one task each (plus trivial glue). Names:

- ``op-dense-BxIxO``            Linear(I, O) + ReLU on (B, I)
- ``op-conv2d-NxCxHxWxCOxK``    Conv2d(C, CO, K, padding=K//2) + ReLU on (N, C, H, W)
- ``op-bmm-BxMxKxN``            torch.bmm of (B, M, K) and (B, K, N)
- ``op-layernorm-NxD``          LayerNorm(D) on (N, D)
- ``op-softmax-NxD``            softmax over the last axis of (N, D)

Usage::

    from autotune import zoo
    m = zoo.create("op-dense-8x512x256")      # routed here by the "op-" prefix
    out = m.module(*m.example_inputs)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from autotune.zoo.base import OP_PREFIX, UnknownModelError, ZooModel, seeded

#: Op name -> (number of dimensions in the name, description of them).
FORMS: dict[str, tuple[int, str]] = {
    "dense": (3, "BATCHxINxOUT"),
    "conv2d": (6, "NxCxHxWxCOUTxK"),
    "bmm": (4, "BxMxKxN"),
    "layernorm": (2, "NxD"),
    "softmax": (2, "NxD"),
    "pool": (5, "NxCxHxWxK"),
    "reduce": (2, "NxD"),
    "eltwise": (2, "NxD"),
}

#: Extra shapes for the cost model's data collection: varied, each small enough that one
#: TVM trial builds and runs in about a second or two on this machine.
DATA_OPS: list[str] = [
    "op-dense-8x512x256",
    "op-dense-1x1024x1024",
    "op-dense-32x256x512",
    "op-dense-64x128x128",
    "op-dense-16x768x192",
    "op-conv2d-1x32x28x28x64x3",
    "op-conv2d-1x16x56x56x32x3",
    "op-conv2d-1x64x14x14x64x3",
    "op-conv2d-1x64x14x14x128x1",
    "op-conv2d-1x3x64x64x16x5",
    "op-bmm-4x64x64x32",
    "op-bmm-8x128x32x128",
    "op-bmm-2x256x64x64",
    "op-layernorm-16x512",
    "op-layernorm-128x256",
    "op-softmax-32x256",
    "op-softmax-8x1024",
    # kinds added for transfer to kinds never seen, and more of the others (no eltwise:
    # MetaSchedule's design space for it has a single schedule, nothing to rank)
    "op-pool-1x32x56x56x2",
    "op-pool-4x16x32x32x2",
    "op-pool-1x64x28x28x3",
    "op-reduce-512x256",
    "op-reduce-64x2048",
    "op-reduce-2048x64",
    "op-dense-24x384x768",
    "op-layernorm-64x768",
    "op-softmax-256x128",
]


class DenseReLU(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


class Conv2dReLU(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class BatchMatmul(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.bmm(a, b)


class Softmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


class Reduce(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=0)


class Eltwise(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(x) * torch.tanh(x) + 0.1 * x * x


def _dense(b: int, i: int, o: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return DenseReLU(i, o), (torch.randn(b, i),), f"Linear {i}->{o} + ReLU, batch {b}"


def _conv2d(
    n: int, c: int, h: int, w: int, co: int, k: int
) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    desc = f"Conv2d {c}->{co} {k}x{k} pad {k // 2} + ReLU on {n}x{c}x{h}x{w}"
    return Conv2dReLU(c, co, k), (torch.randn(n, c, h, w),), desc


def _bmm(b: int, m: int, k: int, n: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return BatchMatmul(), (torch.randn(b, m, k), torch.randn(b, k, n)), f"bmm {b}x{m}x{k} @ {b}x{k}x{n}"


def _layernorm(n: int, d: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return nn.LayerNorm(d), (torch.randn(n, d),), f"LayerNorm({d}) on {n}x{d}"


def _softmax(n: int, d: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return Softmax(), (torch.randn(n, d),), f"softmax over the last axis of {n}x{d}"


def _pool(n: int, c: int, h: int, w: int, k: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return nn.MaxPool2d(k, k), (torch.randn(n, c, h, w),), f"MaxPool2d {k}x{k} stride {k} on {n}x{c}x{h}x{w}"


def _reduce(n: int, d: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return Reduce(), (torch.randn(n, d),), f"sum over the first axis of {n}x{d}"


def _eltwise(n: int, d: int) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    return Eltwise(), (torch.randn(n, d),), f"silu(x) * tanh(x) + 0.1 * x * x on {n}x{d}"


_BUILDERS: dict[str, Callable[..., tuple[nn.Module, tuple[torch.Tensor, ...], str]]] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "bmm": _bmm,
    "layernorm": _layernorm,
    "softmax": _softmax,
    "pool": _pool,
    "reduce": _reduce,
    "eltwise": _eltwise,
}


def _usage(spec: str, why: str) -> UnknownModelError:
    forms = ", ".join(f"op-{op}-{dims}" for op, (_, dims) in FORMS.items())
    return UnknownModelError(f"unknown op model {spec!r} ({why}); forms: {forms}")


def parse(spec: str) -> tuple[str, list[int]]:
    """Split ``op-NAME-AxBx...`` into the op name and its positive dimensions."""
    body = spec[len(OP_PREFIX) :] if spec.startswith(OP_PREFIX) else ""
    op, _, dims_text = body.partition("-")
    if op not in FORMS:
        raise _usage(spec, f"no op {op!r}" if op else "no op name")
    want, _ = FORMS[op]
    try:
        dims = [int(d) for d in dims_text.split("x")]
    except ValueError:
        raise _usage(spec, "dimensions must be integers joined by 'x'") from None
    if len(dims) != want:
        raise _usage(spec, f"{op} takes {want} dimensions, got {len(dims)}")
    if any(d <= 0 for d in dims):
        raise _usage(spec, "dimensions must be positive")
    return op, dims


def build(spec: str) -> ZooModel:
    """The single-operator model a name describes, weights and inputs seeded."""
    op, dims = parse(spec)
    with seeded():
        module, inputs, desc = _BUILDERS[op](*dims)
    return ZooModel(spec, module.eval(), inputs, desc)
