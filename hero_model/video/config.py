"""Configuration of the frozen video encoder (paper Sec. 3.1): which backbone, its weights, and frame preprocessing."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .sampling import NUM_SEGMENTS

BACKBONES = ("clip-vit-b16", "tcclip-vit-b16", "small-cnn")
VIT_BACKBONES = ("clip-vit-b16", "tcclip-vit-b16")

# Official HERO normalises frames with ImageNet statistics on the 0-255 scale for its TC-CLIP encoder, although CLIP
# itself was trained with the OpenAI statistics below. We keep ImageNet as the default for every backbone so that
# features match the official pipeline; CLIP_MEAN_255 / CLIP_STD_255 are there for anyone running plain CLIP as CLIP.
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)
CLIP_MEAN_255 = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD_255 = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)

DEFAULT_IMAGE_SIZE = {"clip-vit-b16": 224, "tcclip-vit-b16": 224, "small-cnn": 112}


@dataclass
class VideoEncoderConfig:
    """Everything needed to rebuild the frozen video encoder (a per-frame backbone, optionally with temporal context).

    backbone: "tcclip-vit-b16" (the paper's encoder: TC-CLIP K400 weights mapped onto an open_clip ViT-B/16, run
        per frame -- see README, Video encoder), "clip-vit-b16" (plain OpenAI CLIP ViT-B/16), or "small-cnn" (the
        project's ~1.5 M-parameter CPU backbone, trained on ViMo-Synth frames and then frozen).
    weights: path of the weights file. clip-vit-b16: OpenAI `ViT-B-16.pt` (TorchScript), an open_clip state dict
        (.pt/.bin) or a .safetensors file; None searches open_clip's download caches (nothing is ever downloaded).
        tcclip-vit-b16: `zero_shot_k400_tc_clip*.pth`. small-cnn: a checkpoint written by `save_small_cnn`
        (`<name>.safetensors` + `<name>.json`). None is only allowed with allow_random_init for these two.
    image_size: side of the square the frames are resized to, aspect ratio NOT kept (as official HERO). None picks
        the backbone's default: 224 for the ViT-B/16 backbones (their position table is fixed), 112 for small-cnn.
    mean, std: per-channel RGB normalisation on the 0-255 scale: x_norm = (x - mean) / std. Default ImageNet, which is
        what official HERO feeds TC-CLIP; we use the same for clip-vit-b16 and small-cnn (see module comment).
    num_segments: frames per clip; the encoder sees the centre frame of each of this many equal segments (16, HERO).
    feature_dim: d of v_l (B,T,d) and v_g (B,d); 512 for ViT-B/16 (the CLIP joint embedding after `proj`).
    cnn_widths: output channels of the small CNN's stride-2 conv blocks, one entry per block (each divisible by
        cnn_groups, the GroupNorm group count).
    cnn_groups: GroupNorm groups in the small CNN (GroupNorm, not BatchNorm, so a frame's feature never depends on
        which other frames share its batch -- the streaming path relies on this).
    temporal_layers: small-cnn only -- transformer layers of the TemporalContext applied to a clip's per-frame
        features (temporal.py; the analogue of TC-CLIP's temporal contextualization); 0: none, v_l is the per-frame
        features as they are. temporal_width, temporal_heads: its width and attention heads.
    clip_model: open_clip architecture name for the ViT backbones. TC-CLIP and OpenAI CLIP use QuickGELU, hence the
        `-quickgelu` config; plain `ViT-B-16` would silently switch to exact GELU.
    clip_vision_overrides: optional replacement values for open_clip's `vision_cfg` (e.g. a tiny width/layers for
        tests). None for the real model. An "image_size" entry here must agree with image_size.
    device: torch device string the encoder runs on ("cpu", "cuda", "cuda:1", ...).
    autocast_bf16: run the backbone under torch.autocast(bfloat16) (meant for CUDA); features come back as float32.
    max_frames_per_call: largest number of frames passed through the backbone in one call; longer inputs are split
        into chunks of this size to bound activation memory.
    allow_random_init: build the backbone with random weights when `weights` is None or (clip) nothing is cached.
        Only tests, timing and training of the small CNN should set it; inference must use real weights.
    """

    backbone: str = "small-cnn"
    weights: str | None = None
    image_size: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN_255
    std: tuple[float, float, float] = IMAGENET_STD_255
    num_segments: int = NUM_SEGMENTS
    feature_dim: int = 512
    cnn_widths: tuple[int, ...] = (32, 64, 128, 256, 384)
    cnn_groups: int = 8
    temporal_layers: int = 0
    temporal_width: int = 128
    temporal_heads: int = 4
    clip_model: str = "ViT-B-16-quickgelu"
    clip_vision_overrides: dict[str, Any] | None = field(default=None)
    device: str = "cpu"
    autocast_bf16: bool = False
    max_frames_per_call: int = 256
    allow_random_init: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"VideoEncoderConfig.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.weights is not None:
            self.weights = str(self.weights)
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        self.cnn_widths = tuple(int(w) for w in self.cnn_widths)
        if len(self.mean) != 3:
            raise ValueError(f"VideoEncoderConfig.mean needs 3 (RGB) values, got {self.mean}")
        if len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"VideoEncoderConfig.std needs 3 (RGB) positive values, got {self.std}")
        if self.num_segments < 1:
            raise ValueError(f"VideoEncoderConfig.num_segments must be >= 1, got {self.num_segments}")
        if self.feature_dim < 1:
            raise ValueError(f"VideoEncoderConfig.feature_dim must be >= 1, got {self.feature_dim}")
        if self.max_frames_per_call < 1:
            raise ValueError(f"VideoEncoderConfig.max_frames_per_call must be >= 1, got {self.max_frames_per_call}")
        if self.clip_vision_overrides is not None:
            if not isinstance(self.clip_vision_overrides, dict):
                raise ValueError("VideoEncoderConfig.clip_vision_overrides must be a dict or None, "
                                 f"got {type(self.clip_vision_overrides).__name__}")
            self.clip_vision_overrides = dict(self.clip_vision_overrides)
        if self.backbone == "small-cnn":
            if len(self.cnn_widths) < 1 or min(self.cnn_widths) < 1:
                raise ValueError(f"VideoEncoderConfig.cnn_widths must be positive channel counts, "
                                 f"got {self.cnn_widths}")
            if self.cnn_groups < 1 or any(w % self.cnn_groups for w in self.cnn_widths):
                raise ValueError(f"VideoEncoderConfig.cnn_widths {self.cnn_widths} must all be divisible by "
                                 f"cnn_groups={self.cnn_groups}")
        if self.temporal_layers < 0:
            raise ValueError(f"VideoEncoderConfig.temporal_layers must be >= 0, got {self.temporal_layers}")
        if self.temporal_layers and self.backbone != "small-cnn":
            raise ValueError(f"VideoEncoderConfig.temporal_layers applies to backbone 'small-cnn' only, got "
                             f"temporal_layers={self.temporal_layers} with backbone {self.backbone!r}")
        if self.temporal_width < 1 or self.temporal_heads < 1 or self.temporal_width % self.temporal_heads:
            raise ValueError(f"VideoEncoderConfig.temporal_width ({self.temporal_width}) must be a positive multiple "
                             f"of temporal_heads ({self.temporal_heads})")
        if self.image_size is None:
            override = (self.clip_vision_overrides or {}).get("image_size") if self.backbone in VIT_BACKBONES else None
            self.image_size = int(override) if override is not None else DEFAULT_IMAGE_SIZE[self.backbone]
        if self.image_size < 8:
            raise ValueError(f"VideoEncoderConfig.image_size must be >= 8 pixels, got {self.image_size}")
        if self.backbone in VIT_BACKBONES and self.clip_vision_overrides is not None:
            override = self.clip_vision_overrides.get("image_size")
            if override is not None and int(override) != self.image_size:
                raise ValueError(f"VideoEncoderConfig.image_size={self.image_size} disagrees with "
                                 f"clip_vision_overrides['image_size']={override}: a ViT's position table fixes it")
        if self.backbone == "tcclip-vit-b16" and self.weights is None and not self.allow_random_init:
            raise ValueError("VideoEncoderConfig.weights must name the TC-CLIP checkpoint "
                             "(zero_shot_k400_tc_clip*.pth) for backbone 'tcclip-vit-b16' "
                             "(or set allow_random_init=True for tests)")
        if self.backbone == "small-cnn" and self.weights is None and not self.allow_random_init:
            raise ValueError("VideoEncoderConfig.weights must name a small-cnn checkpoint (written by "
                             "hero_model.video.save_small_cnn) for backbone 'small-cnn' "
                             "(or set allow_random_init=True for tests / training)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VideoEncoderConfig:
        """Rebuild from a JSON / YAML mapping (lists become tuples); an unknown key raises naming the key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"VideoEncoderConfig: unknown field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**values)
