"""Masked transformer: predicts the base-layer (RVQ layer 0) motion tokens (paper Sec. 3.3, Eq. 2)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Condition, VideoConditionedTransformer, lengths_to_padding_mask
from .config import HeroConfig

# BERT-style corruption of the positions chosen for masking (official values): 10% become a random code, 88% of
# the rest become [MASK] (79.2% overall), the remaining 10.8% keep their true code.
RANDOM_TOKEN_PROB = 0.1
MASK_TOKEN_PROB = 0.88


def mask_ratio(t: torch.Tensor) -> torch.Tensor:
    """Cosine masking schedule gamma(t) = cos(pi t / 2), t in [0, 1] (shared by training and decoding)."""
    return torch.cos(t * math.pi / 2)


class MaskedTransformer(VideoConditionedTransformer):
    def __init__(self, config: HeroConfig):
        super().__init__(config, out_features=config.num_codes, cond_drop_prob=config.cond_drop_prob)
        # codes 0..K-1, [MASK] = K, [PAD] = K+1 (both learnable, paper Sec. 3.3)
        self.token_emb = nn.Embedding(config.num_codes + 2, config.code_dim)
        nn.init.normal_(self.token_emb.weight, std=0.02)

    def logits(self, ids: torch.Tensor, key_padding_mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        """ids (B, n) in 0..K+1, key_padding_mask (B, n) True at [PAD] -> logits (B, n, K) over the codes."""
        return self.hidden_states(self.token_emb(ids), [], key_padding_mask, condition)

    def loss(self, codes: torch.Tensor, lengths: torch.Tensor, frames: torch.Tensor,
             drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 2: L_mask = E[ sum over [MASK]ed i of -log p(m_i | m~, c) ].

        codes (B, n) base-layer tokens (values beyond each length are ignored); lengths (B,) in tokens (>= 1);
        frames v_l (B, T_v, d_vl); drop: optional (B,) CFG dropout (drawn when None).
        Returns (mean cross-entropy over the corrupted positions, their token accuracy).
        """
        c = self.config
        b, n = codes.shape
        device = codes.device
        pad = lengths_to_padding_mask(lengths, n)                          # (B, n) True at padding
        ids = torch.where(pad, c.pad_id, codes.clamp(min=0))

        # mask ratio gamma(t) = cos(pi t / 2), t ~ U(0, 1)
        ratio = mask_ratio(torch.rand(b, device=device))
        # Deviation from the official count round(padded_len * ratio) (then intersected with non-pad positions,
        # which can leave a short sample with no target at all): the count is taken over each sample's own
        # length, so the expected ratio is unchanged and every sample has >= 1 target.
        num_masked = torch.round(lengths.float() * ratio).clamp(min=1)       # (B,)
        scores = torch.rand(b, n, device=device).masked_fill(pad, 2.0)       # padding ranks last
        ranks = scores.argsort(dim=1).argsort(dim=1)
        target = ranks < num_masked[:, None]                                # (B, n) positions to predict

        corrupted = ids.clone()
        random_pos = target & (torch.rand(b, n, device=device) < RANDOM_TOKEN_PROB)
        corrupted = torch.where(random_pos, torch.randint_like(ids, c.num_codes), corrupted)
        mask_pos = target & ~random_pos & (torch.rand(b, n, device=device) < MASK_TOKEN_PROB)
        corrupted = torch.where(mask_pos, torch.full_like(ids, c.mask_id), corrupted)

        cond = self.condition(frames, drop)
        logits = self.logits(corrupted, pad, cond)                        # (B, n, K)
        loss = F.cross_entropy(logits[target].float(), ids[target])
        accuracy = (logits[target].argmax(-1) == ids[target]).float().mean()
        return loss, accuracy
