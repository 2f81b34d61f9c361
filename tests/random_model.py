"""The small random-weight model folder the node, pipeline and replay tests run on (the project's format: a small
CNN video encoder, a 3-layer RVQ of 64 codes, a 1-layer generator). Random weights: these tests check plumbing,
shapes and timing behaviour, not reaction quality (tests/test_training.py trains real ones)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hero_model.checkpoint import save_checkpoint
from hero_model.hero import HeroConfig, HeroGenerator
from hero_model.motion import FEATURE_DIM, Normalizer
from hero_model.rvq import RVQConfig, RVQVAE
from hero_model.video import VideoEncoderConfig
from hero_model.video.small_cnn import build_small_cnn, save_small_cnn


def random_normalizer(seed: int = 0) -> Normalizer:
    rng = np.random.default_rng(seed)
    return Normalizer(rng.normal(size=FEATURE_DIM) * 0.1, rng.uniform(0.5, 1.5, size=FEATURE_DIM))


def write_random_model(directory: Path, model_id: str = "random-test-model") -> Path:
    """video_encoder.*, rvq.*, generator.* with seeded random weights in `directory`; returns it."""
    torch.manual_seed(0)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    video_config = VideoEncoderConfig(backbone="small-cnn", cnn_widths=(8, 16, 16, 32, 32), feature_dim=64,
                                      allow_random_init=True)
    save_small_cnn(directory / "video_encoder", build_small_cnn(video_config), video_config)
    rvq_config = RVQConfig(width=32, code_dim=32, num_codes=64, num_quantizers=3)
    normalizer = random_normalizer()
    save_checkpoint(directory / "rvq", RVQVAE(rvq_config).state_dict(), rvq_config,
                    normalizer_mean=normalizer.mean, normalizer_std=normalizer.std)
    generator = HeroGenerator(HeroConfig(num_codes=64, code_dim=32, num_quantizers=3, video_dim=64, latent_dim=32,
                                         ff_size=64, n_layers=1, n_heads=2, iie_heads=2, iie_mlp=64,
                                         length_hidden=(32,)))
    generator.save(directory / "generator", model_id=model_id)
    return directory
