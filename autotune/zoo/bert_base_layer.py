"""``bert-base-layer``: one encoder layer of BERT-base from Hugging Face transformers
(``BertConfig()``: hidden 768, 12 heads, feed-forward 3072, GELU), random weights, eager
attention without a mask; input and output hidden states (1, 128, 768). Needs
``autotune[models]``.
"""

from __future__ import annotations

import torch
from torch import nn

from autotune.zoo import hf
from autotune.zoo.base import ZooModel, register, seeded

SEQ = 128


class BertBaseLayer(nn.Module):
    """A ``BertLayer`` as ``hidden_states -> hidden_states``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hf.first_output(self.layer(hidden_states))


@register("bert-base-layer")
def bert_base_layer() -> ZooModel:
    """Build the ``bert-base-layer`` zoo model with seeded weights."""
    tf = hf.transformers("bert-base-layer")
    from transformers.models.bert.modeling_bert import BertLayer

    with seeded():
        config = tf.BertConfig(attn_implementation="eager")
        module = BertBaseLayer(BertLayer(config)).eval()
        x = torch.randn(1, SEQ, config.hidden_size)
    return ZooModel(
        "bert-base-layer",
        module,
        (x,),
        f"one BERT-base layer (transformers): 768 hidden, 12 heads, seq {SEQ}",
    )
