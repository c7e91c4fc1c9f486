"""``bert-tiny``: a 2-layer BERT-style encoder (hidden 64, 2 heads, ffn 128), ids (1, 32).

Attention is written out explicitly (q/k/v/o Linear, reshape/transpose, matmul, scale,
softmax) so that it exports through ``torch.export`` into TVM's Relax frontend.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autotune.zoo.base import ZooModel, register, seeded


class SelfAttention(nn.Module):
    """Multi-head self-attention without a mask."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        assert hidden % heads == 0
        self.heads = heads
        self.head_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)  # (b, h, s, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, hidden = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, hidden)
        return self.o(ctx)


class EncoderLayer(nn.Module):
    """Post-LN transformer layer: attention + residual + LN, GELU FFN + residual + LN."""

    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.ffn_out(torch.nn.functional.gelu(self.ffn_in(x))))


class BertTiny(nn.Module):
    """Token + position + token-type embeddings, LayerNorm, encoder layers.

    Returns the last hidden state, shape (batch, seq, hidden).
    """

    def __init__(
        self,
        vocab: int = 1000,
        hidden: int = 64,
        heads: int = 2,
        ffn: int = 128,
        layers: int = 2,
        max_len: int = 64,
        type_vocab: int = 2,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_len, hidden)
        self.typ = nn.Embedding(type_vocab, hidden)
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.register_buffer("position_ids", torch.arange(max_len).unsqueeze(0), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.shape[1]
        pos_ids = self.position_ids[:, :seq]
        type_ids = torch.zeros_like(input_ids)
        x = self.tok(input_ids) + self.pos(pos_ids) + self.typ(type_ids)
        x = self.ln(x)
        for layer in self.layers:
            x = layer(x)
        return x


@register("bert-tiny")
def bert_tiny() -> ZooModel:
    """Build the ``bert-tiny`` zoo model with seeded weights."""
    with seeded():
        module = BertTiny().eval()
        ids = torch.randint(0, 1000, (1, 32), dtype=torch.int64)
    return ZooModel("bert-tiny", module, (ids,), "BERT-style encoder: 2 layers, hidden 64, 2 heads, seq 32")
