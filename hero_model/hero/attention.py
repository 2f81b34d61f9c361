"""Multi-head attention on top of torch's fused scaled_dot_product_attention.

The parameters use nn.MultiheadAttention's layout (in_proj_weight [3d, d] holding W_q, W_k, W_v stacked in that
order, in_proj_bias [3d], out_proj) so the official transformer weights load unchanged. Unlike nn.MultiheadAttention
the key/value projection of a fixed memory can be computed once (`project_kv`) and reused by every decoding step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

KeyValue = tuple[torch.Tensor, torch.Tensor]  # (B, heads, S, head_dim) each


@dataclass
class SplitMemory:
    """Cross-attention memory of a guidance batch whose trailing rows all see copies of ONE memory token.

    kv: keys/values (B_attend, heads, S, head_dim) of the leading rows, which attend normally.
    constant: (d,) the attention output of every trailing row. Attention over copies of a single token returns that
        token's value whatever the query (all scores are equal, so the weights average identical values), so the
        query projection, the attention and the output projection of those rows reduce to one vector per reaction.
    Inference only (there is no attention dropout on the constant rows).
    """

    kv: KeyValue
    constant: torch.Tensor


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model {d_model} not divisible by n_heads {n_heads}")
        self.d_model, self.n_heads, self.dropout = d_model, n_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's own initialisation
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape  # (B, S, d) -> (B, heads, S, head_dim)
        return x.view(b, s, self.n_heads, self.d_model // self.n_heads).transpose(1, 2)

    def project_kv(self, memory: torch.Tensor) -> KeyValue:
        """Keys and values of `memory` (B, S, d); slices of in_proj are views, so no weight is copied."""
        d = self.d_model
        w_kv, b_kv = self.in_proj_weight[d:], self.in_proj_bias[d:]
        k, v = F.linear(memory, w_kv, b_kv).chunk(2, dim=-1)
        return self._split_heads(k), self._split_heads(v)

    def constant_output(self, token: torch.Tensor) -> torch.Tensor:
        """(d,) attention output of any query over a memory made of copies of `token` (d,): out_proj(W_v token)."""
        d = self.d_model
        return self.out_proj(F.linear(token, self.in_proj_weight[2 * d:], self.in_proj_bias[2 * d:]))

    def forward(self, query: torch.Tensor, memory: torch.Tensor | None = None,
                kv: KeyValue | SplitMemory | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention of `query` (B, L, d) over `memory` (self-attention when both memory and kv are None).

        kv: keys/values precomputed by project_kv (takes precedence over memory).
        key_padding_mask: (B, S) bool, True where a key is padding (nn.MultiheadAttention's convention).
        """
        d = self.d_model
        if isinstance(kv, SplitMemory):
            n = kv.kv[0].shape[0]
            attended = self.forward(query[:n], kv=kv.kv)
            constant = kv.constant.to(attended.dtype).expand(query.shape[0] - n, query.shape[1], d)
            return torch.cat([attended, constant])
        if kv is None and memory is None:  # self-attention: one fused projection for q, k, v
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        else:
            q = self._split_heads(F.linear(query, self.in_proj_weight[:d], self.in_proj_bias[:d]))
            k, v = kv if kv is not None else self.project_kv(memory)
        attn_mask = None
        if key_padding_mask is not None:
            attn_mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S), True = may attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        b, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, length, d))
