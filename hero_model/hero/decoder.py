"""The transformer units of HERO: post-LN decoder layers (intention-conditioned self-attention, motion-frame
cross-attention = DIE, Eq. 4, and a GELU FFN).

Parameter names follow nn.TransformerDecoderLayer (self_attn, multihead_attn, linear1/2, norm1/2/3) so official
weights load unchanged. Without DIE a unit has no cross-attention and is exactly nn.TransformerEncoderLayer (its FFN
norm is then called norm2, as there).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import KeyValue, MultiHeadAttention, SplitMemory


class TransformerUnit(nn.Module):
    def __init__(self, d_model: int, n_heads: int, ff_size: int, dropout: float, cross_attention: bool):
        super().__init__()
        self.cross_attention = cross_attention
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        if cross_attention:
            self.multihead_attn = MultiHeadAttention(d_model, n_heads, dropout)
            self.norm2 = nn.LayerNorm(d_model)  # after the cross-attention
            self.norm3 = nn.LayerNorm(d_model)  # after the FFN
        else:
            self.norm2 = nn.LayerNorm(d_model)  # after the FFN (encoder-layer naming)
        self.linear1 = nn.Linear(d_model, ff_size)
        self.linear2 = nn.Linear(ff_size, d_model)
        self.dropout = nn.Dropout(dropout)  # inside the FFN
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    @property
    def ffn_norm(self) -> nn.LayerNorm:
        return self.norm3 if self.cross_attention else self.norm2

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None,
                memory_kv: KeyValue | SplitMemory | None) -> torch.Tensor:
        """x (B, L, d); key_padding_mask (B, L) True at padding; memory_kv from multihead_attn.project_kv."""
        # intention-conditioned self-attention over [intention; motion tokens] (post-LN)
        x = self.norm1(x + self.dropout1(self.self_attn(x, key_padding_mask=key_padding_mask)))
        if self.cross_attention:
            if memory_kv is None:
                raise ValueError("TransformerUnit: this unit has DIE cross-attention but no memory was given")
            # Eq. 4: Att_mf = softmax(Q_m K_f^T / sqrt(d_l)) V_f -- Q_m from the self-attention output,
            # K_f, V_f from the projected frame features (precomputed once per reaction)
            x = self.norm2(x + self.dropout2(self.multihead_attn(x, kv=memory_kv)))
        ffn = self.linear2(self.dropout(F.gelu(self.linear1(x))))
        return self.ffn_norm(x + self.dropout3(ffn))


class TransformerStack(nn.Module):
    """N_layers units; `layers` is named like nn.TransformerDecoder's / nn.TransformerEncoder's list."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, ff_size: int, dropout: float,
                 cross_attention: bool):
        super().__init__()
        self.cross_attention = cross_attention
        self.layers = nn.ModuleList(TransformerUnit(d_model, n_heads, ff_size, dropout, cross_attention)
                                    for _ in range(n_layers))

    def memory_kv(self, memory: torch.Tensor) -> list[KeyValue] | None:
        """Per-layer cross-attention keys/values of memory (B, T_v, d); None without DIE."""
        if not self.cross_attention:
            return None
        return [layer.multihead_attn.project_kv(memory) for layer in self.layers]

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None,
                memory_kv: list[KeyValue | SplitMemory] | None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, key_padding_mask, memory_kv[i] if memory_kv is not None else None)
        return x
