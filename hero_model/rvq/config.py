"""Configuration of the residual VQ-VAE motion tokenizer (paper Sec. 3.2; MoMask's RVQ, fine-tuned by HERO)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class RVQConfig:
    """Every size and training constant of the RVQ-VAE. `paper()` gives the released HERO/MoMask model.

    input_dim: features per motion frame (263 for the HumanML3D representation).
    width: channels of every hidden conv layer of the encoder and the decoder (official `width`).
    code_dim: channels of the latent z and of each codebook entry (official `code_dim` = `output_emb_width`).
    down_t: number of stride-`stride_t` downsampling stages in the encoder (and x`stride_t` upsampling stages in the
        decoder). The time axis shrinks by stride_t ** down_t (4 for the paper).
    stride_t: stride of each downsampling conv; its kernel is 2*stride_t and its padding stride_t // 2. Must be even
        so that a stage maps T frames to exactly T // stride_t.
    depth: residual blocks per ResNet1D stage.
    dilation_growth_rate: block j of a stage (j = 0..depth-1) has dilation rate ** (depth-1-j), i.e. 9, 3, 1.
    dropout: dropout probability after the second conv of each residual block (MoMask's default 0.2).
    num_quantizers: residual quantisation layers Q (layer 0 = base tokens, 1..Q-1 = residual tokens).
    num_codes: entries K per codebook (codebooks are not shared between layers).
    quantize_dropout_prob: probability, per training batch, of keeping only the layers 0..k for a uniformly random
        k in [0, Q-1].
    ema_decay: decay of the exponential moving averages of code counts and code sums (official `mu`).
    dead_code_threshold: a code whose EMA count falls below this value is replaced by a random encoder output of the
        current batch (official: 1.0).
    gumbel_temperature: temperature of the Gumbel-max code assignment used while training (0 = plain argmin).
        Evaluation always uses argmin.
    commit_weight: weight beta of the commitment loss ||z - sg[q]||^2 in the total loss (paper Eq. 1).
    ric_loss_weight: weight of the extra SmoothL1 term on the joint-position ("ric") feature dims.
    ric_start, ric_end: the half-open feature range [ric_start, ric_end) of that extra term (4..67 for 22 joints).
    smooth_l1_beta: transition point of the SmoothL1 loss (PyTorch's default 1.0, as MoMask).
    """

    input_dim: int = 263
    width: int = 512
    code_dim: int = 512
    down_t: int = 2
    stride_t: int = 2
    depth: int = 3
    dilation_growth_rate: int = 3
    dropout: float = 0.2
    num_quantizers: int = 6
    num_codes: int = 512
    quantize_dropout_prob: float = 0.2
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0
    gumbel_temperature: float = 0.5
    commit_weight: float = 0.02
    ric_loss_weight: float = 0.5
    ric_start: int = 4
    ric_end: int = 67
    smooth_l1_beta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("input_dim", "width", "code_dim", "down_t", "depth", "dilation_growth_rate",
                     "num_quantizers", "num_codes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RVQConfig.{name} must be a positive int, got {value!r}")
        if isinstance(self.stride_t, bool) or not isinstance(self.stride_t, int) or self.stride_t < 2 \
                or self.stride_t % 2:
            raise ValueError(f"RVQConfig.stride_t must be an even int >= 2 (a stage must map T to T // stride_t), "
                             f"got {self.stride_t!r}")
        for f in dataclasses.fields(self):
            if f.type == "float":
                value = getattr(self, f.name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"RVQConfig.{f.name} must be a number, got {value!r}")
                setattr(self, f.name, float(value))
        for name in ("dropout", "quantize_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RVQConfig.{name} must lie in [0, 1], got {value!r}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"RVQConfig.ema_decay must lie in (0, 1), got {self.ema_decay!r}")
        if self.dead_code_threshold < 0:
            raise ValueError(f"RVQConfig.dead_code_threshold must be >= 0, got {self.dead_code_threshold!r}")
        if self.gumbel_temperature < 0:
            raise ValueError(f"RVQConfig.gumbel_temperature must be >= 0 (0 = argmin), got {self.gumbel_temperature!r}")
        for name in ("commit_weight", "ric_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"RVQConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.smooth_l1_beta <= 0:
            raise ValueError(f"RVQConfig.smooth_l1_beta must be > 0, got {self.smooth_l1_beta!r}")
        for name in ("ric_start", "ric_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"RVQConfig.{name} must be an int, got {value!r}")
        if not 0 <= self.ric_start < self.ric_end <= self.input_dim:
            raise ValueError(f"RVQConfig.ric_start={self.ric_start!r} / ric_end={self.ric_end!r} must satisfy "
                             f"0 <= ric_start < ric_end <= input_dim={self.input_dim}")

    @property
    def downsample_factor(self) -> int:
        """Motion frames per token (the paper's 1/alpha; 4 for the paper config)."""
        return self.stride_t ** self.down_t

    @property
    def dilations(self) -> tuple[int, ...]:
        """Dilation of residual block j = 0..depth-1 of every stage: largest first (9, 3, 1 for the paper)."""
        return tuple(self.dilation_growth_rate ** (self.depth - 1 - j) for j in range(self.depth))

    @classmethod
    def paper(cls) -> "RVQConfig":
        """The released HERO RVQ (MoMask's opt.txt values): 19,436,807 parameters + 6 codebooks of 512 x 512."""
        return cls()

    @classmethod
    def small(cls) -> "RVQConfig":
        """A CPU-sized model with the paper's structure (same depth, strides, 6 layers) for tests and quick runs."""
        return cls(width=128, code_dim=128, num_codes=256)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RVQConfig":
        """Rebuild from a JSON / YAML mapping; an unknown key raises naming the key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"RVQConfig: unknown field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**values)
