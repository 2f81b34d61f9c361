"""The video-conditioned transformer shared by the masked and the residual transformer (paper Sec. 3.3).

Conditioning, in the paper's terms:
- IIE (Eq. 3) turns the frame features v_l into the interaction intention e (or e = v_g without IIE);
- interaction-intention injection: Linear(d_vl -> d_l)(e) is prepended to the motion tokens as one extra token
  (position 0, no positional encoding) so self-attention mixes it into every token;
- DIE (Eq. 4): the same Linear applied to v_l gives a frame memory (no positional encoding) that every unit
  cross-attends to.
Classifier-free guidance replaces that condition by a null condition: e = 0 (official) and, with
cfg_null_memory="null", a learned null frame memory (see HeroConfig).

Module and parameter names (input_process.poseEmbedding, position_enc, global_local_crossatt_block,
seqTransDecoder, cond_emb, output_process.{dense,LayerNorm,poseFinal}) are the official ones so converted
checkpoints load with strict key matching; they are kept for that reason only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .attention import KeyValue, SplitMemory
from .config import HeroConfig
from .decoder import TransformerStack
from .iie import IntentionExtractor


@dataclass
class Condition:
    """Everything a transformer pass needs from the video, computed once per reaction and reused by all steps.

    intention: (B, d_l) the projected intention token.
    memory_kv: per-layer (K_f, V_f) of the frame memory for the DIE cross-attention (a SplitMemory when the
        unconditional half of a guidance batch sees the learned null memory); None without DIE.
    """

    intention: torch.Tensor
    memory_kv: list[KeyValue | SplitMemory] | None

    @property
    def batch_size(self) -> int:
        return self.intention.shape[0]


class InputProjection(nn.Module):
    """Token embeddings (code_dim) -> latent d_l. The attribute name poseEmbedding is the official one."""

    def __init__(self, code_dim: int, latent_dim: int):
        super().__init__()
        self.poseEmbedding = nn.Linear(code_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.poseEmbedding(x)


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal positional encoding + dropout. The table is recomputed, not stored in checkpoints
    (the official one is a [5000, 1, d] buffer of the same formula; the converter checks that)."""

    def __init__(self, latent_dim: int, max_len: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, latent_dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, n, d)
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(p / 10000^(2i/d)); (length, dim) float32."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


class OutputHead(nn.Module):
    """Linear, GELU, LayerNorm(eps 1e-12), Linear (BERT-style). Attribute names are the official ones."""

    def __init__(self, latent_dim: int, out_features: int):
        super().__init__()
        self.dense = nn.Linear(latent_dim, latent_dim)
        self.LayerNorm = nn.LayerNorm(latent_dim, eps=1e-12)
        self.poseFinal = nn.Linear(latent_dim, out_features)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.poseFinal(self.LayerNorm(nn.functional.gelu(self.dense(h))))


class VideoConditionedTransformer(nn.Module):
    """Backbone + conditioning; subclasses add the token embedding and the output interpretation."""

    def __init__(self, config: HeroConfig, out_features: int, cond_drop_prob: float):
        super().__init__()
        self.config = config
        self.cond_drop_prob = cond_drop_prob
        c = config
        self.input_process = InputProjection(c.code_dim, c.latent_dim)
        self.position_enc = SinusoidalPositions(c.latent_dim, c.max_motion_tokens, c.dropout)
        if c.use_iie:
            self.global_local_crossatt_block = IntentionExtractor(c.video_dim, c.iie_heads, c.iie_mlp,
                                                                  c.iie_dropout)
        # Without DIE the stack is a transformer encoder and keeps nn.TransformerEncoder's (MoMask's) name.
        self._stack_name = "seqTransDecoder" if c.use_die else "seqTransEncoder"
        self.add_module(self._stack_name, TransformerStack(c.n_layers, c.latent_dim, c.n_heads, c.ff_size,
                                                           c.dropout, cross_attention=c.use_die))
        self.cond_emb = nn.Linear(c.video_dim, c.latent_dim)  # projects both e and v_l (official)
        if c.use_null_memory:
            self.null_memory = nn.Parameter(torch.empty(c.latent_dim))
        self.output_process = OutputHead(c.latent_dim, out_features)
        self.apply(_init_weights)
        if c.use_null_memory:
            nn.init.normal_(self.null_memory, std=0.02)

    @property
    def stack(self) -> TransformerStack:
        return getattr(self, self._stack_name)

    # --- conditioning ---------------------------------------------------------------------------------------
    def _check_frames(self, frames: torch.Tensor) -> None:
        if frames.dim() != 3 or frames.shape[-1] != self.config.video_dim:
            raise ValueError(f"video features must be (B, T_v, {self.config.video_dim}), "
                             f"got {tuple(frames.shape)}")

    def intention(self, frames: torch.Tensor) -> torch.Tensor:
        """e (B, d_vl) from v_l (B, T_v, d_vl): IIE (Eq. 3), or v_g itself for the no-IIE variants."""
        self._check_frames(frames)
        if self.config.use_iie:
            return self.global_local_crossatt_block(frames)
        return frames.mean(dim=1)  # v_g

    def condition(self, frames: torch.Tensor, drop: torch.Tensor | bool | None = None) -> Condition:
        """Condition for a batch; `drop` (B,) bool / True selects the null condition per sample.

        drop=None draws the classifier-free-guidance dropout (p = cond_drop_prob) in training mode and drops
        nothing in eval mode.
        """
        self._check_frames(frames)
        b = frames.shape[0]
        drop_all = drop is True
        if drop is None:
            drop = (torch.rand(b, device=frames.device) < self.cond_drop_prob) if self.training \
                else torch.zeros(b, dtype=torch.bool, device=frames.device)
        elif isinstance(drop, bool):
            drop = torch.full((b,), drop, dtype=torch.bool, device=frames.device)
        if drop_all:  # the null intention is e = 0 (official); IIE need not run
            e = torch.zeros_like(frames[:, 0])
        else:
            e = self.intention(frames) * (~drop).to(frames.dtype)[:, None]   # CFG dropout zeroes e
        intention = self.cond_emb(e)                                  # (B, d_l) intention token
        memory_kv = None
        if self.config.use_die:
            memory = self.cond_emb(frames)                            # (B, T_v, d_l) frame memory
            if self.config.use_null_memory:                           # null memory dropped jointly with e
                null = self.null_memory.to(memory.dtype).expand_as(memory)
                memory = torch.where(drop[:, None, None], null, memory)
            memory_kv = self.stack.memory_kv(memory)
        return Condition(intention, memory_kv)

    def guidance_condition(self, frames: torch.Tensor) -> Condition:
        """[conditional; unconditional] condition for one batched pass of 2B (e and the memory computed once)."""
        e = self.intention(frames)
        intention = self.cond_emb(torch.cat([e, torch.zeros_like(e)]))   # (2B, d_l)
        memory_kv = None
        if self.config.use_die:
            memory = self.cond_emb(frames)                                # (B, T_v, d_l)
            if self.config.use_null_memory:
                # The null memory is one learned token repeated: the unconditional rows' cross-attention output is
                # that token's projected value, one vector per layer (SplitMemory) -- the same numbers as attending.
                null = self.null_memory.to(memory.dtype)
                memory_kv = [SplitMemory(kv, layer.multihead_attn.constant_output(null))
                             for kv, layer in zip(self.stack.memory_kv(memory), self.stack.layers)]
            else:  # official: the unconditional pass still attends to the frames
                memory_kv = self.stack.memory_kv(torch.cat([memory, memory]))
        return Condition(intention, memory_kv)

    # --- backbone -------------------------------------------------------------------------------------------
    def hidden_states(self, tokens: torch.Tensor, prefix: list[torch.Tensor], key_padding_mask: torch.Tensor,
                      condition: Condition) -> torch.Tensor:
        """tokens (B, n, code_dim) embedded motion tokens; prefix: extra (B, d_l) tokens after the intention;
        key_padding_mask (B, n) True at padding. Returns the head output at the n motion positions."""
        if condition.batch_size != tokens.shape[0]:
            raise ValueError(f"condition batch {condition.batch_size} != token batch {tokens.shape[0]}")
        x = self.position_enc(self.input_process(tokens))             # (B, n, d_l) with PE
        lead = torch.stack([condition.intention.to(x.dtype), *[p.to(x.dtype) for p in prefix]], dim=1)
        seq = torch.cat([lead, x], dim=1)                              # (B, P + n, d_l), prefix has no PE
        mask = torch.cat([key_padding_mask.new_zeros(x.shape[0], lead.shape[1]), key_padding_mask], dim=1)
        out = self.stack(seq, mask, condition.memory_kv)
        return self.output_process(out[:, lead.shape[1]:])             # drop the prefix positions


def _init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for linear and embedding weights, zero biases, unit LayerNorms (MoMask/HERO initialisation);
    the fused attention in-projections keep their xavier initialisation like nn.MultiheadAttention."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def lengths_to_padding_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """(B,) token lengths -> (B, n) bool, True at padding."""
    return torch.arange(n, device=lengths.device)[None, :] >= lengths[:, None]
