"""Reaction-length estimator: a classifier over 1..max_motion_tokens tokens from the global video feature v_g.

The paper leaves length prediction to future work and the official code evaluates with the ground-truth length;
this follows MoMask's text length estimator (an MLP 512-256-128-50 whose softmax is sampled at inference) with the
video's v_g in place of the text embedding. An explicit length always overrides it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeroConfig


class LengthHead(nn.Module):
    def __init__(self, config: HeroConfig):
        super().__init__()
        self.num_classes = config.max_motion_tokens  # class k <-> a reaction of k + 1 tokens
        layers: list[nn.Module] = []
        width = config.video_dim
        for hidden in config.length_hidden:
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
                       nn.Dropout(config.length_dropout)]
            width = hidden
        layers.append(nn.Linear(width, self.num_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames v_l (B, T_v, d_vl) -> logits (B, max_motion_tokens)."""
        return self.mlp(frames.mean(dim=1))  # v_g

    def loss(self, frames: torch.Tensor, token_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy against the true length in tokens (1..max_motion_tokens); returns (loss, accuracy)."""
        if (token_lengths < 1).any() or (token_lengths > self.num_classes).any():
            raise ValueError(f"token lengths must lie in 1..{self.num_classes}, got {token_lengths.tolist()}")
        logits = self(frames)
        target = token_lengths - 1
        return F.cross_entropy(logits.float(), target), (logits.argmax(-1) == target).float().mean()

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, sample: bool = True, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Reaction lengths in tokens (B,), sampled from the softmax (MoMask's practice) or its argmax."""
        logits = self(frames).float()
        if not sample or temperature <= 0:
            return logits.argmax(-1) + 1
        probs = F.softmax(logits / temperature, dim=-1)
        device = generator.device if generator is not None else probs.device
        draws = torch.multinomial(probs.to(device), 1, generator=generator).squeeze(-1)
        return draws.to(probs.device) + 1
