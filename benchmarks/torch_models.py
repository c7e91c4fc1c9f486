"""Two PyTorch models that are not in the zoo nor in the cost model's training data, for the
TVM benchmarks (as user models: ``benchmarks/torch_models.py:vit_block``).

- ``vit_block``: one ViT encoder block on 64 patch tokens of width 96 (3 heads): LayerNorm,
  attention written out (q/k/v/o Linear, matmul, softmax), residual; LayerNorm, MLP
  96 -> 384 -> 96 with GELU, residual. Batch 1.
- ``sepconv``: a depthwise-separable CNN, input 1x16x32x32: 3x3 conv stem to 32 channels
  with BatchNorm and ReLU6, two blocks of depthwise 3x3 (the second with stride 2) +
  BatchNorm + ReLU6 + pointwise 1x1 + BatchNorm, global average pool, linear to 10.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, dim = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim), dim=-1)
        return self.o(torch.matmul(probs, v).transpose(1, 2).reshape(b, s, dim))


class ViTBlock(nn.Module):
    def __init__(self, dim: int = 96, heads: int = 3, mlp: int = 384) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads)
        self.fc1, self.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


def vit_block() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(21)
    return ViTBlock().eval(), (torch.randn(1, 64, 96),)


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():  # statistics of a trained net, not the identity
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.1, 0.1)
    return bn


class _SepBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.bn1 = _bn(c_in)
        self.pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.pw(nn.functional.relu6(self.bn1(self.dw(x)))))


class SepConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn = _bn(32)
        self.b1, self.b2 = _SepBlock(32, 64, 1), _SepBlock(64, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu6(self.bn(self.stem(x)))
        x = self.b2(self.b1(x))
        return self.fc(x.mean(dim=(2, 3)))


def sepconv() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(22)
    return SepConv().eval(), (torch.randn(1, 16, 32, 32),)
