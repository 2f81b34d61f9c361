"""Video in, reaction out: the frozen video encoder, the HERO generator and the RVQ-VAE decoder behind one object.

A model folder holds three checkpoints in the project's format (hero_model/checkpoint.py):
  video_encoder.json (+ .safetensors for the small CPU backbone; CLIP / TC-CLIP configs name their weight file)
  generator.{safetensors,json}   the masked + residual transformers and the length head
  rvq.{safetensors,json}         the RVQ-VAE, with the normalisation statistics its features use
The embedded default model lives in hero_model/assets/default/.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint
from .hero import HeroGenerator
from .hero.generator import PRECISIONS
from .motion import Normalizer, features_to_joints
from .rvq import RVQConfig, RVQVAE
from .video import FrozenVideoEncoder, VideoEncoderConfig
from .video.sampling import NUM_SEGMENTS

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default"
MODEL_FILES = ("video_encoder.json", "generator.safetensors", "generator.json", "rvq.safetensors", "rvq.json")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when torch sees a GPU, else CPU; 'cuda' without a GPU is refused with a message."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but torch sees no CUDA device")
    return device


def check_model_dir(directory: str | Path) -> Path:
    """The model folder, or one CheckpointError naming the first missing file (and the embedded-default hint)."""
    directory = Path(directory)
    for name in MODEL_FILES:
        if not (directory / name).is_file():
            hint = (" -- the embedded default model has not been trained yet; train it with "
                    "`python training/train.py` or pass --checkpoint DIR" if directory == DEFAULT_MODEL_DIR else "")
            raise CheckpointError(f"model file not found: {directory / name}{hint}")
    return directory


def load_rvq(path: str | Path, device: torch.device | str = "cpu") -> tuple[RVQVAE, Normalizer]:
    """The RVQ-VAE at <path>.{safetensors,json} and the normaliser its features use (stored in the JSON)."""
    weights, meta = load_checkpoint(path, map_location=device)
    try:
        config = RVQConfig.from_dict(meta["config"])
        normalizer = Normalizer(np.asarray(meta["normalizer_mean"]), np.asarray(meta["normalizer_std"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{Path(path).with_suffix('.json')}: bad RVQ config or normaliser: {exc}") from exc
    model = RVQVAE(config).to(device).eval()
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).with_suffix('.safetensors')} does not fit {config}: {exc}") from exc
    return model, normalizer


def load_video_encoder(directory: Path, device: torch.device, weights: str | None = None) -> FrozenVideoEncoder:
    """The frozen video encoder described by <directory>/video_encoder.json."""
    meta_file = directory / "video_encoder.json"
    try:
        values = dict(json.loads(meta_file.read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{meta_file}: cannot read the video encoder config: {exc}") from exc
    if values.get("backbone") == "small-cnn":
        values["weights"] = str(directory / "video_encoder")  # the weights travel with the model folder
    elif weights is not None:
        values["weights"] = weights
    values["device"] = str(device)
    values["allow_random_init"] = False
    try:
        return FrozenVideoEncoder(VideoEncoderConfig.from_dict(values))
    except (ValueError, FileNotFoundError) as exc:
        raise CheckpointError(f"{meta_file}: {exc}") from exc


@dataclass
class Reaction:
    """One generated reaction.

    features: (N, 263) de-normalised HumanML3D features; joints: (N, 22, 3) metres, HumanML3D axes (Y up, the
    reactor faces +Z at frame 0); length: N frames at 20 fps; codes: (N/4, Q) RVQ tokens; seconds: generation time.
    """

    features: np.ndarray
    joints: np.ndarray
    length: int
    codes: np.ndarray
    seconds: float


class ReactionPipeline:
    """frames -> v_l (video encoder) -> codes (HERO generator) -> motion (RVQ decoder) -> joints."""

    def __init__(self, encoder: FrozenVideoEncoder, generator: HeroGenerator, rvq: RVQVAE, normalizer: Normalizer,
                 model_id: str = "custom", device: torch.device | str = "cpu",
                 autocast_dtype: torch.dtype | None = None, precision: str = "fp32"):
        """precision: "fp32", or "bf16" -- the transformers run on a bfloat16 copy of their weights made once
        (fast on CUDA and on CPUs with AMX; SLOWER than fp32 on CPUs without bf16 matrix units). The video encoder
        and the RVQ decoder stay fp32. autocast_dtype: torch.autocast over the fp32 weights instead (older option).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.device = torch.device(device)
        self.encoder = encoder
        self.generator = generator.to(self.device).eval()
        self.rvq = rvq.to(self.device).eval()
        self.normalizer = normalizer
        self.model_id = model_id
        self.autocast_dtype = autocast_dtype
        for field in ("num_codes", "num_quantizers"):
            if getattr(generator.config, field) != getattr(rvq.config, field):
                raise ValueError(f"generator and RVQ-VAE disagree on {field}: {getattr(generator.config, field)} "
                                 f"vs {getattr(rvq.config, field)}")
        if generator.config.video_dim != encoder.config.feature_dim:
            raise ValueError(f"video encoder gives {encoder.config.feature_dim}-d features but the generator "
                             f"expects video_dim={generator.config.video_dim}")

    @classmethod
    def from_dir(cls, directory: str | Path = DEFAULT_MODEL_DIR, device: str = "auto",
                 video_weights: str | None = None, bf16: bool = False,
                 precision: str = "fp32") -> "ReactionPipeline":
        """Load a model folder. bf16=True is the older spelling of precision="bf16"."""
        directory = check_model_dir(directory)
        dev = resolve_device(device)
        encoder = load_video_encoder(directory, dev, video_weights)
        generator, meta = HeroGenerator.load(directory / "generator", map_location=dev)
        rvq, normalizer = load_rvq(directory / "rvq", dev)
        model_id = str(meta.get("model_id") or directory.name)
        pipeline = cls(encoder, generator, rvq, normalizer, model_id, dev, precision="bf16" if bf16 else precision)
        if pipeline.precision != "fp32":
            generator.precision_copy(PRECISIONS[pipeline.precision])   # made at load time, not at the first reaction
        return pipeline

    # --- video ---------------------------------------------------------------------------------------------
    def encode_frames(self, frames) -> torch.Tensor:
        """uint8 RGB frames (N, H, W, 3) -> per-frame features (N, d) on the pipeline's device."""
        return self.encoder.encode_frames(frames)

    def clip_features(self, per_frame: torch.Tensor) -> torch.Tensor:
        """Per-frame features of the 16 segment-centre frames, (16, d) or (B, 16, d) -> v_l (B, 16, d): through the
        encoder's temporal context when it has one (streaming callers encode frames on arrival, then call this)."""
        per_frame = torch.as_tensor(per_frame, dtype=torch.float32, device=self.device)
        return self.encoder.contextualize(per_frame[None] if per_frame.dim() == 2 else per_frame)

    def encode_clip(self, frames) -> torch.Tensor:
        """All frames of a clip (T, H, W, 3) -> v_l (1, 16, d) from the 16 segment-centre frames."""
        return self.encoder.encode_video(frames).v_l

    # --- generation ----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, v_l: torch.Tensor, length: int | None = None, seed: int | None = None,
                 **decoding) -> list[Reaction]:
        """Reactions for video features v_l (B, 16, d) or (16, d).

        length: frames (floored to a multiple of 4), or None to let the length head predict it. seed: same seed,
        same reaction (None: fresh randomness). decoding: steps, cond_scale, res_cond_scale, temperature,
        topk_filter_thres, naive, stage_times -- passed to HeroGenerator.generate (precision: the pipeline's).
        """
        v_l = torch.as_tensor(v_l, dtype=torch.float32, device=self.device)
        if v_l.dim() == 2:
            v_l = v_l[None]
        if v_l.dim() != 3 or v_l.shape[1] != NUM_SEGMENTS:
            raise ValueError(f"v_l must be (B, {NUM_SEGMENTS}, d) or ({NUM_SEGMENTS}, d), got {tuple(v_l.shape)}")
        rng = None
        if seed is not None:
            rng = torch.Generator(device=self.device)
            rng.manual_seed(int(seed))
        lengths = None if length is None else torch.full((len(v_l),), int(length), device=self.device)
        t0 = time.perf_counter()
        decoding.setdefault("precision", self.precision)
        codes, frame_lengths = self.generator.generate(v_l, lengths, generator=rng,
                                                       autocast_dtype=self.autocast_dtype, **decoding)
        motion = self.rvq.decode(codes.clamp(min=-1)).float()                      # (B, 4n, 263) normalised
        features = self.normalizer.denormalize(motion.double())                    # (B, 4n, 263)
        joints = features_to_joints(features)                                      # (B, 4n, 22, 3)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        out = []
        for b, n in enumerate(frame_lengths.tolist()):
            out.append(Reaction(features=features[b, :n].float().cpu().numpy(),
                                joints=joints[b, :n].float().cpu().numpy(), length=int(n),
                                codes=codes[b, : n // self.generator.config.unit_length].cpu().numpy(),
                                seconds=seconds))
        return out

    def react_to_frames(self, frames, length: int | None = None, seed: int | None = None, **decoding) -> Reaction:
        """All frames of one clip (T, H, W, 3) uint8 RGB -> one Reaction."""
        return self.generate(self.encode_clip(frames), length, seed, **decoding)[0]
