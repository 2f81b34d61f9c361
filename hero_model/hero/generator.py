"""HeroGenerator: the reaction generation module of HERO (paper Sec. 3.3) -- video features in, RVQ codes out."""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import HeroConfig
from .decoding import decode_base_layer, decode_residual_layers
from .guidance import GuidedLogits
from .length_head import LengthHead
from .masked_transformer import MaskedTransformer
from .residual_transformer import ResidualTransformer

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


class HeroGenerator(nn.Module):
    """Masked transformer (RVQ layer 0) + residual transformer (layers 1..Q-1) + optional length head.

    Consumes precomputed per-frame video features v_l (B, T_v, d_vl); v_g is their mean.
    """

    def __init__(self, config: HeroConfig):
        super().__init__()
        self.config = config
        self.masked = MaskedTransformer(config)
        self.residual = ResidualTransformer(config)
        self.length_head = LengthHead(config) if config.length_head else None
        # Low-precision inference copies of the transformers, made once and reused by every generate() call
        # (torch.autocast would re-cast every sliced weight -- in_proj rows, per-layer residual tables -- per pass).
        # A plain dict, not a submodule: it is not part of state_dict, .to() or parameters().
        self._precision_copies: dict[torch.dtype, tuple[tuple, HeroGenerator]] = {}

    # --- training -------------------------------------------------------------------------------------------
    def training_losses(self, frames: torch.Tensor, codes: torch.Tensor,
                        lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Losses of all parts for one batch.

        frames v_l (B, T_v, d_vl); codes (B, n, Q) from RVQVAE.encode (-1 beyond each length);
        lengths: optional (B,) in frames (token length = frames // unit_length); taken from codes when omitted.
        Returns masked_loss/acc, residual_loss/acc, length_loss/acc (with a length head) and their sum `loss`.
        """
        token_lengths = self._token_lengths_from_codes(codes) if lengths is None else self.token_lengths(lengths)
        if codes.dim() != 3 or codes.shape[0] != frames.shape[0]:
            raise ValueError(f"codes must be (B, n, Q) with B = {frames.shape[0]}, got {tuple(codes.shape)}")
        if int(token_lengths.max()) > codes.shape[1]:
            raise ValueError(f"lengths up to {int(token_lengths.max())} tokens exceed the codes' {codes.shape[1]}")
        out: dict[str, torch.Tensor] = {}
        out["masked_loss"], out["masked_acc"] = self.masked.loss(codes[..., 0], token_lengths, frames)
        out["residual_loss"], out["residual_acc"] = self.residual.loss(codes, token_lengths, frames)
        total = out["masked_loss"] + out["residual_loss"]
        if self.length_head is not None:
            out["length_loss"], out["length_acc"] = self.length_head.loss(frames, token_lengths)
            total = total + out["length_loss"]
        out["loss"] = total
        return out

    # --- inference ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, frames: torch.Tensor, lengths: torch.Tensor | None = None, steps: int = 10,
                 cond_scale: float = 4.0, res_cond_scale: float = 5.0, temperature: float = 1.0,
                 topk_filter_thres: float = 0.9, generator: torch.Generator | None = None,
                 sample_length: bool = True, naive: bool = False,
                 autocast_dtype: torch.dtype | None = None,
                 precision: str = "fp32", stage_times: dict[str, float] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate reaction codes for video features.

        frames: v_l (B, T_v, d_vl). lengths: (B,) in frames (floored to whole tokens), or None to use the
        length head (sampled from its softmax, or its argmax with sample_length=False).
        steps: masked-decoding iterations; cond_scale / res_cond_scale: guidance scales s (1 = no guidance);
        temperature: sampling temperature (<= 0: greedy); topk_filter_thres: keep the top (1 - thres) logits.
        generator: torch.Generator for reproducible sampling. naive: unbatched guidance, conditioning recomputed
        every step (benchmark reference; same tokens). autocast_dtype: e.g. torch.bfloat16 for torch.autocast
        mixed precision over the fp32 weights. precision: "fp32", or "bf16" to run both transformers on a bfloat16
        copy of their weights (made once, refreshed when the weights change; logits, guidance and sampling stay
        float32). bf16 pays off where the hardware has bf16 matrix units (CUDA, Intel AMX); on CPUs without them it
        is slower than fp32. Its tokens differ from fp32's where near-ties flip (tests/test_precision.py bounds it).
        stage_times: a dict to receive the seconds of "condition" (guidance conditioning of both transformers,
        including the bf16 weight copy when it is first made), "masked" and "residual" (for benchmarks).
        Returns codes (B, n, Q) int64 with -1 beyond each length, and the lengths in frames (B,).
        """
        c = self.config
        if frames.dim() != 3 or frames.shape[-1] != c.video_dim:
            raise ValueError(f"frames must be (B, T_v, {c.video_dim}), got {tuple(frames.shape)}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0.0 <= topk_filter_thres < 1.0:
            raise ValueError(f"topk_filter_thres must lie in [0, 1), got {topk_filter_thres}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        was_training = self.training
        self.eval()
        try:
            if lengths is None:
                if self.length_head is None:
                    raise ValueError("this generator has no length head (config.length_head=False): pass lengths")
                token_lengths = self.length_head.predict(frames, sample=sample_length, temperature=temperature,
                                                         generator=generator)
            else:
                token_lengths = self.token_lengths(torch.as_tensor(lengths, device=frames.device))
                if token_lengths.shape != (frames.shape[0],):
                    raise ValueError(f"lengths must have shape ({frames.shape[0]},), got {tuple(lengths.shape)}")
            autocast = (torch.autocast(frames.device.type, dtype=autocast_dtype) if autocast_dtype is not None
                        else contextlib.nullcontext())
            clock = _StageClock(frames.device, stage_times)
            dtype = PRECISIONS[precision]
            with autocast:
                nets = self if dtype == torch.float32 else self.precision_copy(dtype)
                x = frames.to(dtype)
                base_guide = GuidedLogits(nets.masked, x, cond_scale, naive=naive)
                res_guide = GuidedLogits(nets.residual, x, res_cond_scale, naive=naive)
                clock.lap("condition")
                base = decode_base_layer(nets.masked, base_guide, token_lengths, steps, temperature,
                                         topk_filter_thres, generator)
                clock.lap("masked")
                codes = decode_residual_layers(nets.residual, res_guide, base, token_lengths, temperature,
                                               topk_filter_thres, generator)
                clock.lap("residual")
        finally:
            self.train(was_training)
        return codes, token_lengths * c.unit_length

    def precision_copy(self, dtype: torch.dtype) -> "HeroGenerator":
        """An eval-mode copy of this generator with its floating-point weights in `dtype` (no length head), cached
        until a parameter of this model changes (in-place update, load_state_dict or .to())."""
        params = list(self.parameters())
        key = (params[0].device, params[0].data_ptr(), sum(p._version for p in params))
        cached = self._precision_copies.get(dtype)
        if cached is not None and cached[0] == key:
            return cached[1]
        state = {name: t.detach().to(dtype) if t.is_floating_point() else t.detach()
                 for name, t in self.state_dict().items() if not name.startswith("length_head.")}
        with torch.device("meta"):   # no random initialisation of weights that are replaced at once
            twin = HeroGenerator(dataclasses.replace(self.config, length_head=False))
        twin.load_state_dict(state, assign=True)
        for name, buffer in self.named_buffers():  # non-persistent buffers (positional tables) are not in state
            if name not in state and not name.startswith("length_head."):
                module_name, _, leaf = name.rpartition(".")
                twin.get_submodule(module_name)._buffers[leaf] = (buffer.to(dtype) if buffer.is_floating_point()
                                                                  else buffer)
        twin.eval().requires_grad_(False)
        self._precision_copies[dtype] = (key, twin)
        return twin

    # --- lengths --------------------------------------------------------------------------------------------
    def token_lengths(self, frame_lengths: torch.Tensor) -> torch.Tensor:
        """Frames -> tokens (floor by unit_length); rejects lengths outside 1..max_motion_tokens tokens."""
        c = self.config
        tokens = torch.div(frame_lengths.long(), c.unit_length, rounding_mode="floor")
        if (tokens < 1).any() or (tokens > c.max_motion_tokens).any():
            raise ValueError(f"lengths must lie in {c.unit_length}..{c.max_frames} frames, "
                             f"got {frame_lengths.tolist()}")
        return tokens

    def _token_lengths_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        tokens = (codes[..., 0] >= 0).sum(dim=1)
        if (tokens < 1).any():
            raise ValueError("codes: every sample needs at least one valid (non -1) token")
        return tokens

    # --- checkpoints ----------------------------------------------------------------------------------------
    def save(self, path: str | Path, **metadata: Any) -> Path:
        """Write `path.safetensors` + `path.json` (config under "config", plus metadata)."""
        return save_checkpoint(path, self.state_dict(), self.config.to_dict(), **metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> tuple["HeroGenerator", dict]:
        """Load a checkpoint written by save() or convert_official; returns (model in eval mode, metadata)."""
        state, meta = load_checkpoint(path, map_location)
        try:
            config = HeroConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {path}: bad or missing generator config: {exc}") from exc
        model = cls(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"checkpoint {path} does not match HeroGenerator({config.variant}): "
                                  f"missing {missing[:10]}{'...' if len(missing) > 10 else ''}, "
                                  f"unexpected {unexpected[:10]}{'...' if len(unexpected) > 10 else ''}")
        return model.to(map_location).eval(), meta


class _StageClock:
    """Seconds between successive lap() calls into `times` (None: does nothing); synchronises CUDA first."""

    def __init__(self, device: torch.device, times: dict[str, float] | None):
        self.device, self.times = device, times
        self.last = time.perf_counter() if times is not None else 0.0

    def lap(self, name: str) -> None:
        if self.times is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.times[name] = now - self.last
        self.last = now
