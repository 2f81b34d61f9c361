"""Configuration of the HERO reaction generator (paper Sec. 3.3; reference.md section 3).

One dataclass describes both transformers (masked base-layer model and residual model) and the optional length
head, because the official release trains them with the same backbone settings. `variant` selects the paper's
ablations on one code path: each ablation removes modules, it never adds a second implementation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

VARIANTS = ("hero", "no_iie", "no_die", "momask")
NULL_MEMORY_CHOICES = ("frames", "null")


@dataclass
class HeroConfig:
    """Hyper-parameters of the HERO generator. Defaults are the paper / official release values (paper Table 3).

    Token vocabulary
        num_codes: codebook size K of every RVQ layer (official 512). Token ids 0..K-1 are codes; the masked
            transformer adds [MASK] = K and [PAD] = K+1, the residual transformer uses [PAD] = K.
        code_dim: width of the token embeddings (official: the RVQ code_dim, 512).
        num_quantizers: RVQ layers Q (official 6): the masked model predicts layer 0, the residual model 1..Q-1.
        max_motion_tokens: longest reaction in tokens (official 200 frames / unit_length 4 = 50).
        unit_length: frames per token, the RVQ's temporal down-sampling (4).

    Video condition
        video_dim: width d_vl of the per-frame features v_l (TC-CLIP projection, 512).
        iie_heads, iie_mlp, iie_dropout: the interaction-intention extraction block (Eq. 3): 8 heads, an MLP
            512-2048-512 and dropout 0.1 in the official code.

    Transformer backbone (identical for both transformers)
        latent_dim d_l (384), ff_size (1024), n_layers N_layers (6), n_heads (6), dropout (0.2): post-LN
            transformer decoder units with GELU; dropout also follows the positional encoding.

    Classifier-free guidance
        cond_drop_prob: probability that the masked transformer sees the null condition during training
            (official opt.txt: 0.1; the README says 0.2).
        res_cond_drop_prob: the same for the residual transformer (MoMask's residual default, 0.2).
        cfg_null_memory: what the unconditional pass sees in the motion-frame cross-attention (DIE, Eq. 4).
            "frames" -- the official behaviour: only the intention e is zeroed; the frame memory is never dropped,
                so the "unconditional" logits still attend to the video and guidance only amplifies the
                intention token. Required for converted official checkpoints (they were trained that way and hold
                no null-memory parameter).
            "null" -- the project default: during training the frame memory is replaced by a learned null memory
                token jointly with zeroing e, and the unconditional pass uses that null memory. Guidance
                uncond + s(cond - uncond) then amplifies the whole video condition, which is what classifier-free
                guidance is meant to do; with "frames" the DIE path is outside the guidance entirely.
            Ignored (and no parameter is created) for variants without DIE.

    Ablations
        variant: "hero" -- IIE + intention token + DIE cross-attention (the paper's model);
            "no_iie" -- the intention token is the global feature v_g itself (no IIE parameters);
            "no_die" -- no motion-frame cross-attention (layers have no multihead_attn / norm3);
            "momask" -- the MoMask-style baseline: v_g as the first token of a transformer encoder, no IIE, no DIE.

    Length head (the paper's stated future work; the official code always uses the ground-truth length)
        length_head: build a reaction-length classifier over 1..max_motion_tokens tokens from v_g.
        length_hidden: its MLP widths (MoMask's text length estimator uses 512-256-128-50).
        length_dropout: dropout inside that MLP.
    """

    num_codes: int = 512
    code_dim: int = 512
    num_quantizers: int = 6
    max_motion_tokens: int = 50
    unit_length: int = 4
    video_dim: int = 512
    iie_heads: int = 8
    iie_mlp: int = 2048
    iie_dropout: float = 0.1
    latent_dim: int = 384
    ff_size: int = 1024
    n_layers: int = 6
    n_heads: int = 6
    dropout: float = 0.2
    cond_drop_prob: float = 0.1
    res_cond_drop_prob: float = 0.2
    cfg_null_memory: str = "null"
    variant: str = "hero"
    length_head: bool = True
    length_hidden: tuple[int, ...] = field(default=(256, 128))
    length_dropout: float = 0.2

    def __post_init__(self) -> None:
        self.length_hidden = tuple(int(h) for h in self.length_hidden)  # JSON gives lists back
        positive = ("num_codes", "code_dim", "max_motion_tokens", "unit_length", "video_dim", "iie_heads",
                    "iie_mlp", "latent_dim", "ff_size", "n_layers", "n_heads")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"HeroConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.num_quantizers, int) or self.num_quantizers < 2:
            raise ValueError(f"HeroConfig.num_quantizers must be an int >= 2 (base + residual layers), "
                             f"got {self.num_quantizers!r}")
        for name in ("iie_dropout", "dropout", "cond_drop_prob", "res_cond_drop_prob", "length_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"HeroConfig.{name} must be a probability in [0, 1), got {value!r}")
        if self.latent_dim % self.n_heads:
            raise ValueError(f"HeroConfig.latent_dim ({self.latent_dim}) must be divisible by "
                             f"n_heads ({self.n_heads})")
        if self.video_dim % self.iie_heads:
            raise ValueError(f"HeroConfig.video_dim ({self.video_dim}) must be divisible by "
                             f"iie_heads ({self.iie_heads})")
        if self.latent_dim % 2:
            raise ValueError(f"HeroConfig.latent_dim must be even (sinusoidal encoding), got {self.latent_dim}")
        if self.variant not in VARIANTS:
            raise ValueError(f"HeroConfig.variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.cfg_null_memory not in NULL_MEMORY_CHOICES:
            raise ValueError(f"HeroConfig.cfg_null_memory must be one of {NULL_MEMORY_CHOICES}, "
                             f"got {self.cfg_null_memory!r}")
        if not isinstance(self.length_head, bool):
            raise ValueError(f"HeroConfig.length_head must be a bool, got {self.length_head!r}")
        if any(h <= 0 for h in self.length_hidden):
            raise ValueError(f"HeroConfig.length_hidden must hold positive widths, got {self.length_hidden}")

    # --- derived switches: the single place where `variant` is interpreted -------------------------------------
    @property
    def use_iie(self) -> bool:
        """Interaction-intention extraction (Eq. 3) builds e; otherwise e = v_g."""
        return self.variant in ("hero", "no_die")

    @property
    def use_die(self) -> bool:
        """Motion-frame cross-attention (Eq. 4) in every transformer unit."""
        return self.variant in ("hero", "no_iie")

    @property
    def use_null_memory(self) -> bool:
        """A learned null frame memory exists (guidance drops DIE too)."""
        return self.use_die and self.cfg_null_memory == "null"

    @property
    def mask_id(self) -> int:
        return self.num_codes

    @property
    def pad_id(self) -> int:
        """[PAD] of the masked transformer (num_codes + 1). The residual transformer's pad is num_codes."""
        return self.num_codes + 1

    @property
    def max_frames(self) -> int:
        return self.max_motion_tokens * self.unit_length

    # --- presets / serialisation --------------------------------------------------------------------------------
    @classmethod
    def paper(cls, **overrides: Any) -> "HeroConfig":
        """The paper / official release size (masked 15,993,472 and residual 18,362,630 parameters)."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> "HeroConfig":
        """Same interfaces as paper() (512 codes, 6 quantizers, 512-d video), a 4x cheaper backbone for CPU work."""
        base = dict(latent_dim=256, ff_size=512, n_layers=4, n_heads=4, iie_mlp=1024)
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HeroConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"HeroConfig: unknown fields {unknown}")
        return cls(**data)
