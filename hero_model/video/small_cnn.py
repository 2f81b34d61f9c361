"""A small per-frame CNN: the CPU stand-in for TC-CLIP in the project's embedded default model.

It plays TC-CLIP's role -- a frame -> d-dim feature map pretrained on action-like data (ViMo-Synth frames here, K400
for TC-CLIP) and then frozen -- at ~1.5 M parameters instead of 86 M. Architecture: `len(widths)` blocks of
[3x3 conv stride 2 -> GroupNorm -> SiLU], global average pool, Linear(widths[-1] -> feature_dim).
At 112 px with the default widths: 112 -> 56 -> 28 -> 14 -> 7 -> 4 spatial, then pool.
With temporal_layers > 0 it also holds a TemporalContext (temporal.py), applied by `contextualize` to a clip's
per-frame features; `forward` stays per-frame so that streaming can encode frames one by one.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .temporal import TemporalContext

CHECKPOINT_KIND = "hero-video-small-cnn"
# Fields of VideoEncoderConfig that fix the weights' meaning: a checkpoint is only valid with the same values.
ARCH_FIELDS = ("cnn_widths", "cnn_groups", "feature_dim", "image_size", "mean", "std", "num_segments",
               "temporal_layers", "temporal_width", "temporal_heads")
# Fields added after the first checkpoints were written: a checkpoint without them was trained with these values.
ARCH_DEFAULTS = {"num_segments": 16, "temporal_layers": 0, "temporal_width": 128, "temporal_heads": 4}


class SmallFrameCNN(nn.Module):
    """(N,3,S,S) normalised frames -> (N,feature_dim) features; each frame is processed independently."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256, 384), feature_dim: int = 512, groups: int = 8,
                 temporal_layers: int = 0, temporal_width: int = 128, temporal_heads: int = 4, num_frames: int = 16):
        super().__init__()
        blocks, c_in = [], 3
        for c_out in widths:
            blocks += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=False),
                       nn.GroupNorm(groups, c_out),  # batch-independent: a frame's feature ignores its batch-mates
                       nn.SiLU()]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.proj = nn.Linear(c_in, feature_dim)
        self.temporal = (TemporalContext(feature_dim, temporal_width, temporal_layers, temporal_heads, num_frames)
                         if temporal_layers else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x)  # (N,C,S/32,S/32) for 5 blocks
        return self.proj(h.mean(dim=(2, 3)))  # global average pool -> (N,C) -> (N,feature_dim)

    def contextualize(self, v_l: torch.Tensor) -> torch.Tensor:
        """(B, T, d) per-frame features of a clip -> its v_l: unchanged without a temporal module."""
        return v_l if self.temporal is None else self.temporal(v_l)


def build_small_cnn(config) -> SmallFrameCNN:
    """A randomly initialised SmallFrameCNN shaped by a VideoEncoderConfig."""
    return SmallFrameCNN(config.cnn_widths, config.feature_dim, config.cnn_groups, config.temporal_layers,
                         config.temporal_width, config.temporal_heads, config.num_segments)


def save_small_cnn(path: str | Path, model: SmallFrameCNN, config, **metadata) -> Path:
    """Write `<path>.safetensors` + `<path>.json` (hero_model/checkpoint.py format). Returns the .safetensors path.

    `config` (a VideoEncoderConfig) goes into the JSON so that a loader can check the preprocessing and widths match.
    """
    return save_checkpoint(path, model.state_dict(), config=config, kind=CHECKPOINT_KIND, **metadata)


def load_small_cnn(path: str | Path, config) -> SmallFrameCNN:
    """Load a checkpoint written by save_small_cnn into a new SmallFrameCNN shaped by `config`.

    Raises CheckpointError naming the file when it is missing, is not a small-cnn checkpoint, was trained with
    different architecture / preprocessing values (ARCH_FIELDS) or its tensors do not fit.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    if not stem.with_suffix(".safetensors").is_file():
        raise CheckpointError(
            f"small-cnn video encoder weights not found: {stem.with_suffix('.safetensors')} (+ .json). Train them "
            "with the project's video-encoder pretraining step, or set allow_random_init=True for tests only.")
    state, meta = load_checkpoint(stem)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{stem}.json: kind is {meta.get('kind')!r}, expected {CHECKPOINT_KIND!r}")
    saved = meta.get("config") or {}
    for name in ARCH_FIELDS:
        want, got = getattr(config, name), saved.get(name, ARCH_DEFAULTS.get(name))
        if got is None:
            raise CheckpointError(f"{stem}.json: config has no field {name!r}")
        if (list(want) if isinstance(want, tuple) else want) != got:  # JSON stores tuples as lists
            raise CheckpointError(f"{stem}: trained with {name}={got}, but the encoder config has {name}={want}")
    model = build_small_cnn(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{stem}.safetensors does not fit SmallFrameCNN{config.cnn_widths} with "
                              f"temporal_layers={config.temporal_layers}: {exc}") from exc
    return model
