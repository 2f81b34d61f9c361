"""Temporal context over a clip's frame features: the small CNN's analogue of TC-CLIP's temporal contextualization.

TC-CLIP (the paper's encoder, Sec. 3.1) lets every frame's tokens attend to context tokens gathered from the whole
clip, so a frame's feature says what happens over time, not only what one frame shows. A per-frame CNN cannot tell
a wave (the hand moves) from a point (the hand holds still) in one frame, and the generator cannot learn that from
a few hundred video-reaction pairs. This module adds the context after the per-frame backbone:

    v_l' = v_l + W_up Transformer(W_down LN(v_l) + P)          (B, T, d) -> (B, T, d)

with a learned position table P over the T = 16 segment positions and W_up initialised to zero, so an untrained
module is the identity. It is trained with the backbone's classifier heads on labelled clips (training/stages/
encoder.py) and frozen with it. Because it runs after the per-frame backbone, streaming still encodes each camera
frame once on arrival and applies this (~0.1 M parameters, 16 tokens) when a clip is assembled.
"""
from __future__ import annotations

import torch
from torch import nn


class TemporalContext(nn.Module):
    """(B, T, d) per-frame features of T segment-centre frames, in time order -> (B, T, d) contextualised features."""

    def __init__(self, dim: int, width: int, layers: int, heads: int, num_frames: int, dropout: float = 0.1):
        super().__init__()
        if width % heads:
            raise ValueError(f"TemporalContext: width {width} not divisible by heads {heads}")
        self.num_frames = num_frames
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, width)
        self.position = nn.Parameter(torch.randn(num_frames, width) * 0.02)  # P: one row per segment position
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)
        self.up = nn.Linear(width, dim)
        nn.init.zeros_(self.up.weight)  # identity at initialisation: the per-frame features pass unchanged
        nn.init.zeros_(self.up.bias)

    def forward(self, v_l: torch.Tensor) -> torch.Tensor:
        if v_l.dim() != 3 or v_l.shape[1] != self.num_frames:
            raise ValueError(f"TemporalContext expects (B, {self.num_frames}, d) features of the {self.num_frames} "
                             f"segment-centre frames, got {tuple(v_l.shape)}")
        h = self.down(self.norm(v_l)) + self.position      # (B, T, w)
        return v_l + self.up(self.blocks(h))              # (B, T, d)
