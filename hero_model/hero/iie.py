"""Interaction-intention extraction (IIE, paper Sec. 3.3, Eq. 3).

The global representation v_g (mean of the frame features) queries the frame features v_l, so key-frames that
reveal the intention get more weight than the plain average gives them; an FFN turns the result into e.
Parameter names (ln1, ln2, ln3, attn.{query,key,value,proj}, mlp.0, mlp.2) are the official block's, so its
weights load unchanged. Which LayerNorm normalises what follows the official block: ln1 the query, ln3 the frames,
ln2 the MLP input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GlobalLocalAttention(nn.Module):
    """Multi-head cross-attention with separate q/k/v projections (the official layout, unlike the fused one of
    the transformer units)."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"GlobalLocalAttention: dim {dim} not divisible by n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.resid_drop = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape  # (B, S, d) -> (B, heads, S, d / heads)
        return x.view(b, s, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, global_query: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        # Eq. 3: Att_gl = softmax(Q_g K_l^T / sqrt(d)) V_l with Q_g = v_g W_q, K_l = v_l W_k, V_l = v_l W_v.
        # Split into heads, SDPA scales by sqrt(head dim) (the official block does the same).
        q = self._heads(self.query(global_query))          # (B, h, 1, d/h)
        k, v = self._heads(self.key(frames)), self._heads(self.value(frames))  # (B, h, T, d/h)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        b, _, length, _ = out.shape
        return self.resid_drop(self.proj(out.transpose(1, 2).reshape(b, length, -1)))


class IntentionExtractor(nn.Module):
    """e = IIE(v_g, v_l): pre-LN cross-attention with a residual, then a pre-LN GELU MLP with a residual."""

    def __init__(self, dim: int, n_heads: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)  # query (v_g)
        self.ln2 = nn.LayerNorm(dim)  # MLP input
        self.ln3 = nn.LayerNorm(dim)  # keys / values (v_l)
        self.attn = GlobalLocalAttention(dim, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, frames: torch.Tensor, global_feature: torch.Tensor | None = None) -> torch.Tensor:
        """frames v_l (B, T, d); global_feature v_g (B, d), the frame mean when omitted. Returns e (B, d)."""
        if global_feature is None:
            global_feature = frames.mean(dim=1)  # v_g: average pooling of v_l (paper Sec. 3.1)
        x = global_feature.unsqueeze(1)                          # (B, 1, d)
        x = x + self.attn(self.ln1(x), self.ln3(frames))         # Att_gl, Eq. 3
        x = x + self.mlp(self.ln2(x))                            # "we input Att_gl into an FFN to obtain e"
        return x.squeeze(1)
