"""Small PyTorch models with every kind of TVM graph-level decision (tests only).

`conv_gelu`: two 3x3 convolutions (a layout decision each, and one for all), a GELU that
FuseOps puts into the first one's kernel (a fusion decision) and that has a tanh and a
fast-erf form, and a softmax over the channels with a fast form (code-generation decisions).
"""

from __future__ import annotations

import torch


class ConvGelu(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(torch.relu(self.b(torch.nn.functional.gelu(self.a(x)))), dim=1)


def conv_gelu() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    return ConvGelu().eval(), (torch.randn(1, 3, 16, 16),)
