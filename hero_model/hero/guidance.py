"""Classifier-free guidance (training: condition dropout in VideoConditionedTransformer.condition; inference: here).

    logits = uncond + s * (cond - uncond)      s = 4 for the masked transformer, 5 for the residual one.

The null condition is e = 0 and -- with cfg_null_memory="null" -- the learned null frame memory (see HeroConfig).

Two execution paths give the same numbers:
- fast (default): the conditioning (IIE e, projected memory, every layer's cross-attention K/V) is computed once per
  reaction, and the conditional and unconditional passes run as ONE batch of 2B;
- naive: separate conditional / unconditional passes that recompute the conditioning at every call -- the
  straightforward implementation, kept so a benchmark can measure what the fast path saves.
"""
from __future__ import annotations

from typing import Callable

import torch

from .backbone import Condition, VideoConditionedTransformer


def apply_guidance(cond_logits: torch.Tensor, uncond_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """The classifier-free guidance formula: uncond + s (cond - uncond)."""
    return uncond_logits + scale * (cond_logits - uncond_logits)


class GuidedLogits:
    """Guided logits of one transformer for one batch of video features, over many decoding calls.

    `forward(*inputs, condition)` must return logits for batched inputs; every input has the batch first.
    """

    def __init__(self, model: VideoConditionedTransformer, frames: torch.Tensor, scale: float,
                 naive: bool = False):
        self.model, self.frames, self.scale, self.naive = model, frames, float(scale), naive
        self.cache: Condition | None = None
        if not naive:
            self.cache = model.guidance_condition(frames) if self.guided else model.condition(frames, False)

    @property
    def guided(self) -> bool:
        return self.scale != 1.0  # s = 1 gives the conditional logits: no unconditional pass (as official)

    def __call__(self, forward: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        if self.naive:
            cond = forward(*inputs, self.model.condition(self.frames, False)).float()
            if not self.guided:
                return cond
            uncond = forward(*inputs, self.model.condition(self.frames, True)).float()
            return apply_guidance(cond, uncond, self.scale)
        if not self.guided:
            return forward(*inputs, self.cache).float()
        both = forward(*(torch.cat([x, x]) for x in inputs), self.cache).float()   # (2B, ...)
        cond, uncond = both.chunk(2)
        return apply_guidance(cond, uncond, self.scale)
