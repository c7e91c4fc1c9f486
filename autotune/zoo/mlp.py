"""``mlp``: a 3-layer perceptron, batch 8, 128 -> 256 -> 256 -> 10 with ReLU."""

from __future__ import annotations

import torch
from torch import nn

from autotune.zoo.base import ZooModel, register, seeded


class MLP(nn.Module):
    """Linear-ReLU-Linear-ReLU-Linear."""

    def __init__(self, d_in: int = 128, d_hidden: int = 256, d_out: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


@register("mlp")
def mlp() -> ZooModel:
    """Build the ``mlp`` zoo model with seeded weights."""
    with seeded():
        module = MLP().eval()
        x = torch.randn(8, 128)
    return ZooModel("mlp", module, (x,), "MLP 128-256-256-10, ReLU, batch 8")
