"""Iterative decoding of motion tokens (paper Sec. 3.3: masked decoding with remasking, then residual layers).

All randomness comes from an optional torch.Generator, so the same seed reproduces the same tokens.
"""
from __future__ import annotations

import math

import torch

from .backbone import lengths_to_padding_mask
from .guidance import GuidedLogits
from .masked_transformer import MaskedTransformer, mask_ratio
from .residual_transformer import ResidualTransformer


def top_k_filter(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Keep the ceil((1 - threshold) * C) largest logits of the last dim (threshold 0.9 keeps the top 10%),
    set the rest to -inf."""
    k = max(1, math.ceil((1.0 - threshold) * logits.shape[-1]))
    values, indices = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter_(-1, indices, values)


def sample_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Categorical sample from softmax(logits / temperature) via the Gumbel-max trick; argmax at temperature <= 0.

    (The official base decoder divides the probabilities, not the logits, by the temperature -- which has no
    effect; here the temperature is applied as intended.)
    """
    if temperature <= 0:
        return logits.argmax(dim=-1)
    device = generator.device if generator is not None else logits.device
    u = torch.rand(logits.shape, generator=generator, device=device).to(logits.device)
    gumbel = -torch.log(-torch.log(u.clamp(min=torch.finfo(u.dtype).tiny)))
    return (logits / temperature + gumbel).argmax(dim=-1)


def decode_base_layer(model: MaskedTransformer, guide: GuidedLogits, token_lengths: torch.Tensor, steps: int,
                      temperature: float, topk_filter_thres: float,
                      generator: torch.Generator | None) -> torch.Tensor:
    """Masked decoding of RVQ layer 0. token_lengths (B,) >= 1. Returns ids (B, n) with [PAD] beyond lengths.

    Start from an all-[MASK] canvas; at step t (t on linspace(0, 1, steps)) the round(cos(pi t / 2) * length)
    least confident positions (min 1) are [MASK]ed again and re-predicted; positions predicted earlier with
    higher confidence stay locked, padding is never masked.
    """
    c = model.config
    n = int(token_lengths.max())
    pad = lengths_to_padding_mask(token_lengths, n)                                # (B, n)
    ids = torch.where(pad, c.pad_id, c.mask_id)
    confidence = torch.zeros(pad.shape, device=pad.device).masked_fill(pad, float("inf"))

    def forward(x, padding, condition):
        return model.logits(x, padding, condition)

    for t in torch.linspace(0, 1, steps):
        num_masked = torch.round(mask_ratio(t) * token_lengths.float()).clamp(min=1)   # (B,)
        ranks = confidence.argsort(dim=1).argsort(dim=1)
        is_masked = ranks < num_masked[:, None]                                    # lowest confidence first
        ids = torch.where(is_masked, c.mask_id, ids)
        logits = guide(forward, ids, pad)                                          # (B, n, K) guided
        predicted = sample_tokens(top_k_filter(logits, topk_filter_thres), temperature, generator)
        ids = torch.where(is_masked, predicted, ids)
        # confidence = probability of the sampled token under the guided, unfiltered distribution
        probs = logits.softmax(dim=-1)
        confidence = probs.gather(-1, predicted[..., None]).squeeze(-1).masked_fill(~is_masked, float("inf"))
    return ids


def decode_residual_layers(model: ResidualTransformer, guide: GuidedLogits, base_ids: torch.Tensor,
                           token_lengths: torch.Tensor, temperature: float, topk_filter_thres: float,
                           generator: torch.Generator | None) -> torch.Tensor:
    """Layers 1..Q-1, one pass each, layer q conditioned on the summed embeddings of layers 0..q-1.

    base_ids (B, n) from decode_base_layer. Returns codes (B, n, Q) with -1 beyond each length.
    """
    c = model.config
    pad = lengths_to_padding_mask(token_lengths, base_ids.shape[1])
    current = torch.where(pad, model.pad_id, base_ids)
    layers = [current]
    history = None

    for q in range(1, c.num_quantizers):
        embedded = model.embed_layer(current, q - 1)                               # (B, n, code_dim)
        history = embedded if history is None else history + embedded

        def forward(h, padding, condition, q=q):
            return model.logits(h, q, padding, condition)

        # The [PAD] class (index K) is never a training target; excluding it keeps the output valid codes.
        logits = guide(forward, history, pad)[..., : c.num_codes]
        predicted = sample_tokens(top_k_filter(logits, topk_filter_thres), temperature, generator)
        current = torch.where(pad, model.pad_id, predicted)
        layers.append(current)
    codes = torch.stack(layers, dim=-1)                                            # (B, n, Q)
    return codes.masked_fill(pad[..., None], -1)
