"""``gpt2-block``: one decoder block of GPT-2 (small) from Hugging Face transformers
(``GPT2Config()``: hidden 768, 12 heads, MLP 3072, gelu_new), random weights, eager causal
attention; input and output hidden states (1, 128, 768). Needs ``autotune[models]``.
"""

from __future__ import annotations

import torch
from torch import nn

from autotune.zoo import hf
from autotune.zoo.base import ZooModel, register, seeded

SEQ = 128


class GPT2BlockModel(nn.Module):
    """A ``GPT2Block`` as ``hidden_states -> hidden_states``, causal.

    A lone block gets no mask from a ``GPT2Model`` and eager attention applies only the
    mask it is given, so the additive causal mask (0 on and below the diagonal, the float
    minimum above) is a constant buffer of the wrapper.
    """

    def __init__(self, block: nn.Module, seq: int) -> None:
        super().__init__()
        self.block = block
        mask = torch.full((seq, seq), torch.finfo(torch.float32).min).triu(1)
        self.register_buffer("causal_mask", mask[None, None], persistent=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hf.first_output(self.block(hidden_states, attention_mask=self.causal_mask))


@register("gpt2-block")
def gpt2_block() -> ZooModel:
    """Build the ``gpt2-block`` zoo model with seeded weights."""
    tf = hf.transformers("gpt2-block")
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    with seeded():
        config = tf.GPT2Config(attn_implementation="eager")
        module = GPT2BlockModel(GPT2Block(config, layer_idx=0), SEQ).eval()
        x = torch.randn(1, SEQ, config.n_embd)
    return ZooModel(
        "gpt2-block", module, (x,), f"one GPT-2 block (transformers): 768 hidden, 12 heads, causal, seq {SEQ}"
    )
