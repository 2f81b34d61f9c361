"""The frozen video encoder of paper Sec. 3.1: T sampled frames -> local features v_l (B,T,d) and v_g = AvgPool(v_l).

Every backbone here is per-frame (a frame's feature does not depend on the other frames), which is what lets
streaming.py encode frames one by one as they arrive and still match this batch path. The small CNN may add a light
temporal context over the 16 sampled frames (temporal.py); it runs in `contextualize`, after the per-frame part,
when a clip's features are assembled -- the batch path, streaming and the feature caches all call it there.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn

from .config import VideoEncoderConfig
from .preprocess import FrameArray, as_uint8_frames, preprocess_frames
from .sampling import NUM_SEGMENTS, segment_indices

log = logging.getLogger(__name__)


class VideoFeatures(NamedTuple):
    """v_l: (B,T,d) per-frame ("local") features; v_g: (B,d) their mean ("global"), both float32."""

    v_l: torch.Tensor
    v_g: torch.Tensor


def sample_clip(frames_or_num_frames: int | FrameArray | Sequence[FrameArray], num_segments: int = NUM_SEGMENTS):
    """The frames the encoder sees: the centre frame of each of `num_segments` equal segments (TSN / HERO).

    An int n returns the (num_segments,) indices; an array (n,H,W,3) returns the (num_segments,H,W,3) sub-array;
    a list of n frames returns the list of selected frames.
    """
    if isinstance(frames_or_num_frames, (int, np.integer)):
        return segment_indices(int(frames_or_num_frames), num_segments)
    if isinstance(frames_or_num_frames, (np.ndarray, torch.Tensor)):
        return frames_or_num_frames[segment_indices(len(frames_or_num_frames), num_segments)]
    frames = list(frames_or_num_frames)
    if not frames:
        raise ValueError("sample_clip: the video has no frames")
    return [frames[i] for i in segment_indices(len(frames), num_segments)]


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class FrozenVideoEncoder(nn.Module):
    """uint8 RGB frames -> VideoFeatures, with the backbone frozen (eval mode, no grads, inference_mode).

    load_summary: one line saying where the weights came from (for TC-CLIP: which tensors were left unmapped).
    tcclip_summary: the TCCLIPConversionSummary when the weights came from a TC-CLIP checkpoint, else None.
    """

    # The expensive part of every implemented backbone encodes frames independently (TC-CLIP's temporal part is not
    # kept); the small CNN's optional temporal context is applied to the assembled clip (contextualize).
    per_frame = True

    def __init__(self, config: VideoEncoderConfig):
        super().__init__()
        self.config = config
        self.tcclip_summary = None
        self.backbone, self.load_summary = self._build_backbone(config)
        _freeze(self.backbone.to(config.device))
        self.eval()
        log.info("video encoder %s: %s", config.backbone, self.load_summary)

    def _build_backbone(self, config: VideoEncoderConfig) -> tuple[nn.Module, str]:
        if config.backbone == "small-cnn":
            from .small_cnn import build_small_cnn, load_small_cnn
            if config.weights is None:  # config validation guarantees allow_random_init here
                return build_small_cnn(config), "small-cnn: RANDOM weights (allow_random_init)"
            return load_small_cnn(config.weights, config), f"small-cnn: {config.weights}"

        from .clip_vit import OPENAI_CLIP_INSTRUCTIONS, build_clip_visual, clip_visual_state, load_visual_state
        from .clip_vit import read_state_dict, resolve_clip_weights
        # Read the weights before building the 86 M-parameter tower, so a missing file fails at once.
        state, source = None, None
        if config.backbone == "tcclip-vit-b16":
            if config.weights is not None:
                from .tcclip import load_tcclip_checkpoint
                state, self.tcclip_summary = load_tcclip_checkpoint(config.weights)
                source, description = config.weights, str(self.tcclip_summary)
        else:
            path = resolve_clip_weights(config.weights, config.clip_model)
            if path is not None:
                source = str(path)
                state, description = clip_visual_state(read_state_dict(path), source), f"clip-vit-b16: {path}"
            elif not config.allow_random_init:
                raise FileNotFoundError("CLIP ViT-B/16 weights: VideoEncoderConfig.weights is None and open_clip's "
                                        f"caches hold no OpenAI {config.clip_model} file. {OPENAI_CLIP_INSTRUCTIONS}")
        visual = build_clip_visual(config.clip_model, config.clip_vision_overrides)
        if visual.output_dim != config.feature_dim:
            raise ValueError(f"VideoEncoderConfig.feature_dim={config.feature_dim}, but {config.clip_model} "
                             f"outputs {visual.output_dim}-d features")
        if visual.image_size[0] != config.image_size:
            raise ValueError(f"VideoEncoderConfig.image_size={config.image_size}, but {config.clip_model} is built "
                             f"for {visual.image_size[0]} px")
        if state is None:  # config validation / the check above guarantee allow_random_init here
            return visual, f"{config.backbone}: RANDOM weights (allow_random_init)"
        load_visual_state(visual, state, source)
        return visual, description

    def train(self, mode: bool = True) -> FrozenVideoEncoder:
        # Frozen by design: a parent model's .train() must not switch the backbone (e.g. its dropout) to training.
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device  # follows a later .to(device) of the whole model

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def _autocast(self):
        if not self.config.autocast_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def encode_frames(self, frames: FrameArray | Sequence[FrameArray]) -> torch.Tensor:
        """(N,H,W,3) uint8 frames (array, or a list of (H,W,3) of any sizes) -> (N,d) float32 features.

        All frames go through the backbone in one call (chunks of max_frames_per_call bound the memory).
        """
        features = self._encode_frames(frames)
        # Inference tensors cannot enter autograd graphs ("cannot be saved for backward"); the generator trains on
        # these features, so hand back an ordinary tensor unless the caller is itself in inference mode.
        return features if torch.is_inference_mode_enabled() else features.clone()

    @torch.inference_mode()
    def _encode_frames(self, frames: FrameArray | Sequence[FrameArray]) -> torch.Tensor:
        cfg = self.config
        pixels = preprocess_frames(frames, cfg.image_size, cfg.mean, cfg.std, self.device)  # (N,3,S,S)
        chunks = []
        with self._autocast():
            for start in range(0, len(pixels), cfg.max_frames_per_call):
                chunks.append(self.backbone(pixels[start:start + cfg.max_frames_per_call]).float())
        return torch.cat(chunks)  # (N,d)

    @property
    def temporal_context(self) -> bool:
        """True when v_l is more than the per-frame features (contextualize changes them)."""
        return getattr(self.backbone, "temporal", None) is not None

    def contextualize(self, per_frame: torch.Tensor) -> torch.Tensor:
        """(B, T, d) per-frame features of T sampled frames (encode_frames) -> v_l (B, T, d) float32.

        Identity for a backbone without temporal context; otherwise its TemporalContext over the T frames.
        """
        if not self.temporal_context:
            return per_frame
        features = self._contextualize(per_frame)
        return features if torch.is_inference_mode_enabled() else features.clone()

    @torch.inference_mode()
    def _contextualize(self, per_frame: torch.Tensor) -> torch.Tensor:
        return self.backbone.contextualize(per_frame.to(self.device, torch.float32)).float()

    def forward(self, frames: FrameArray | Sequence[FrameArray]) -> VideoFeatures:
        """Already-sampled clips (B,T,H,W,3) uint8, or one clip as a list of T (H,W,3) frames -> VideoFeatures.

        v_l = [v_1..v_T] (B,T,d), contextualised when the backbone has temporal context; v_g = AvgPool(v_l) (B,d)
        (paper Sec. 3.1).
        """
        if isinstance(frames, (np.ndarray, torch.Tensor)):
            clips = as_uint8_frames(frames)
            if clips.ndim != 5:
                raise ValueError(f"frames: expected clips (B,T,H,W,3), got {tuple(clips.shape)}; "
                                 "use encode_video for one whole video")
            b, t = clips.shape[:2]
            flat = clips.reshape(b * t, *clips.shape[2:])
        else:
            flat = list(frames)
            b, t = 1, len(flat)
            if t == 0:
                raise ValueError("frames: got an empty list of frames")
        v_l = self.contextualize(self.encode_frames(flat).reshape(b, t, -1))  # (B,T,d)
        return VideoFeatures(v_l, v_l.mean(dim=1))  # v_g = AvgPool([v_1..v_T]) (B,d)

    def encode_video(self, frames: FrameArray | Sequence[FrameArray]) -> VideoFeatures:
        """A whole video (n,H,W,3) or list of n frames -> VideoFeatures (1,num_segments,d) of its sampled frames."""
        sampled = sample_clip(frames, self.config.num_segments)  # (S,H,W,3) array or list of S frames
        return self(sampled[None] if isinstance(sampled, (np.ndarray, torch.Tensor)) else sampled)


def build_video_encoder(config: VideoEncoderConfig | None = None, **overrides) -> FrozenVideoEncoder:
    """FrozenVideoEncoder from a config (or VideoEncoderConfig(**overrides))."""
    if config is None:
        config = VideoEncoderConfig(**overrides)
    elif overrides:
        raise ValueError("build_video_encoder: pass either a config or keyword overrides, not both")
    return FrozenVideoEncoder(config)


__all__ = ["FrozenVideoEncoder", "VideoFeatures", "build_video_encoder", "sample_clip"]
