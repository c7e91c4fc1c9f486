"""Shared pieces of the zoo's models of real size, taken from Hugging Face ``transformers``
(``resnet18``, ``mobilenet-v2``, ``bert-base-layer``, ``gpt2-block``).

They are built from config objects with seeded random weights (never ``from_pretrained``:
nothing is downloaded) and wrapped so that ``forward`` takes tensors and returns one tensor,
which is what ``torch.export`` and TVM's Relax frontend need. ``transformers`` is the
optional extra ``autotune[models]``: it is imported only when such a model is created, and
its absence is a one-line :class:`~autotune.errors.UserError`.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from autotune.errors import UserError, first_line

#: What to run when ``transformers`` is missing.
INSTALL_HINT = "pip install 'autotune[models]'"


def transformers(model: str) -> ModuleType:
    """The ``transformers`` package; a UserError naming ``model`` and the extra when it is
    not installed (or does not import)."""
    try:
        import transformers as tf
    except ImportError as exc:
        # Not installed: just the hint; installed but broken: why, too.
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "transformers"
        why = "" if missing else f" (it does not import: {first_line(exc, 120)})"
        raise UserError(f"{model} needs Hugging Face transformers{why}: {INSTALL_HINT}") from None
    return tf


class ImageLogits(nn.Module):
    """An ``*ForImageClassification`` model as ``pixel_values -> logits``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values, return_dict=True).logits


def first_output(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A layer's hidden states, whether it returns a tensor or (as older transformers
    releases do) a tuple that starts with them."""
    return out[0] if isinstance(out, (tuple, list)) else out


def init_conv_like_torchvision(module: nn.Module) -> None:
    """torchvision's initialization of conv nets (Kaiming-normal convolutions, fan out; small
    normal classifier). transformers' generic one (normal, std 0.02) makes a deep net without
    residuals, such as MobileNetV2, output ~1e-21."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def randomize_batch_norm(module: nn.Module) -> None:
    """Give BatchNorm layers non-trivial running statistics and affine parameters, as a
    trained net has (transformers initializes them to the identity)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
