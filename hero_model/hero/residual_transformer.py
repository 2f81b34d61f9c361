"""Residual transformer: predicts RVQ layers 1..Q-1 from the sum of the lower layers' token embeddings
(paper Sec. 3.3, "Residual Motion Refinement")."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Condition, VideoConditionedTransformer, lengths_to_padding_mask
from .config import HeroConfig


class ResidualTransformer(VideoConditionedTransformer):
    """Token ids per layer: codes 0..K-1, [PAD] = K (no [MASK]: nothing is masked here).

    token_embed_weight[i] (K+1, code_dim) embeds layer i's codes (i = 0..Q-2) as input for the layers above it;
    output_proj_weight[q-1] (K+1, code_dim) and output_proj_bias[q-1] (K+1,) read out layer q's logits.
    """

    def __init__(self, config: HeroConfig):
        super().__init__(config, out_features=config.code_dim, cond_drop_prob=config.res_cond_drop_prob)
        c = config
        q, vocab = c.num_quantizers, c.num_codes + 1
        self.quant_emb = nn.Linear(q, c.latent_dim)  # layer-id token: Linear(one_hot(q, Q))
        nn.init.normal_(self.quant_emb.weight, std=0.02)
        nn.init.zeros_(self.quant_emb.bias)
        self.token_embed_weight = nn.Parameter(torch.randn(q - 1, vocab, c.code_dim) * 0.02)
        self.output_proj_weight = nn.Parameter(torch.randn(q - 1, vocab, c.code_dim) * 0.02)
        # Official shape [Q, K+1] although only rows 0..Q-2 are ever used; kept so checkpoints load unchanged.
        self.output_proj_bias = nn.Parameter(torch.zeros(q, vocab))

    @property
    def pad_id(self) -> int:
        return self.config.num_codes

    def embed_layer(self, ids: torch.Tensor, layer: int) -> torch.Tensor:
        """Embedding (B, n, code_dim) of layer `layer`'s ids (pad = K); indexes the weight, copies nothing."""
        return F.embedding(ids, self.token_embed_weight[layer])

    def logits(self, history: torch.Tensor, layer: int | torch.Tensor, key_padding_mask: torch.Tensor,
               condition: Condition) -> torch.Tensor:
        """Logits (B, n, K+1) of quantizer layer q given history (B, n, code_dim) = sum of the embeddings of
        layers 0..q-1. `layer` is q (1..Q-1): one int for the batch, or a (B,) tensor during training."""
        b = history.shape[0]
        q = torch.as_tensor(layer, device=history.device).expand(b) if not torch.is_tensor(layer) else layer
        quant_token = self.quant_emb(F.one_hot(q, self.config.num_quantizers).to(history.dtype))  # (B, d_l)
        h = self.hidden_states(history, [quant_token], key_padding_mask, condition)   # (B, n, code_dim)
        if not torch.is_tensor(layer):
            return self._project(h, layer)
        out = h.new_empty(*h.shape[:2], self.config.num_codes + 1)
        for value in layer.unique().tolist():     # training: one readout per distinct layer, no weight gather
            rows = layer == value
            out[rows] = self._project(h[rows], value).to(out.dtype)
        return out

    def _project(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        weight = self.output_proj_weight[layer - 1]   # (K+1, code_dim) view, no copy
        bias = self.output_proj_bias[layer - 1]
        # Official quirk kept for checkpoint parity: MoMask/HERO compute `output += output + bias`, i.e. the logits
        # are 2 (W h) + b. Trained weights absorb the factor, so dropping it would change converted models.
        return 2 * F.linear(h, weight) + bias

    def loss(self, codes: torch.Tensor, lengths: torch.Tensor, frames: torch.Tensor,
             drop: torch.Tensor | None = None, layer: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy of layer q's tokens given layers 0..q-1, on all non-pad positions.

        codes (B, n, Q) (values beyond each length ignored); lengths (B,) in tokens; frames v_l (B, T_v, d_vl);
        layer: optional (B,) q in 1..Q-1, drawn as round((1 - cos(u pi / 2)) (Q - 2)) + 1, u ~ U(0, 1) (official
        schedule: the lower residual layers, which carry more information, are drawn more often).
        Returns (mean cross-entropy, token accuracy).
        """
        c = self.config
        b, n, num_q = codes.shape
        if num_q != c.num_quantizers:
            raise ValueError(f"codes have {num_q} quantizer layers, config.num_quantizers={c.num_quantizers}")
        pad = lengths_to_padding_mask(lengths, n)
        ids = torch.where(pad[..., None], self.pad_id, codes.clamp(min=0))       # (B, n, Q)
        if layer is None:
            u = torch.rand(b, device=codes.device)
            layer = torch.round((1 - torch.cos(u * math.pi / 2)) * (num_q - 2)).long() + 1
        # history of layer q = sum_{i<q} embed_i(ids_i); cumulative sums of all Q-1 input layers, then pick q-1
        per_layer = torch.stack([self.embed_layer(ids[..., i], i) for i in range(num_q - 1)], dim=-1)
        history = per_layer.cumsum(dim=-1).gather(
            -1, (layer - 1)[:, None, None, None].expand(b, n, per_layer.shape[2], 1)).squeeze(-1)
        target = ids.gather(-1, layer[:, None, None].expand(b, n, 1)).squeeze(-1)   # (B, n)

        cond = self.condition(frames, drop)
        logits = self.logits(history, layer, pad, cond)                  # (B, n, K+1)
        valid = ~pad
        loss = F.cross_entropy(logits[valid].float(), target[valid])
        accuracy = (logits[valid].argmax(-1) == target[valid]).float().mean()
        return loss, accuracy
