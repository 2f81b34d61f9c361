"""How a training motion is cut to a length and padded (ViMo / MoMask rules, reference section 4).

    length = floor(min(N, max_length) / unit) * unit          # a whole number of RVQ tokens (4 frames each)
    with p = 1/3: length -= unit                               # one more unit off, so clip ends vary
    start ~ U{0, ..., N - length}                              # random crop inside the clip
    motion -> z-normalised, zero-padded to max_length

Every random choice takes an explicit np.random.Generator. `item_rng(seed, epoch, index)` gives each (epoch, item)
its own stream, so crops are fresh every epoch (unlike the official code, which materialises its loader once and
reuses the same crops) yet reproducible from (seed, epoch, index) alone, in any DataLoader worker.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropRule:
    """Length rule for variable-length motion crops.

    max_length: longest crop, and the padded length, in frames (ViMo: 200 = 10 s at 20 fps = 50 tokens).
    unit_length: crop lengths are multiples of this many frames (the RVQ-VAE downsamples time by 4).
    drop_unit_prob: probability of removing one more unit after flooring (MoMask/HERO: 1/3). The unit is only
        removed when at least one unit remains.
    """

    max_length: int = 200
    unit_length: int = 4
    drop_unit_prob: float = 1.0 / 3.0

    def __post_init__(self) -> None:
        if self.unit_length < 1:
            raise ValueError(f"CropRule.unit_length must be >= 1, got {self.unit_length}")
        if self.max_length < self.unit_length:
            raise ValueError(f"CropRule.max_length must be >= unit_length ({self.unit_length}), got {self.max_length}")
        if not 0.0 <= self.drop_unit_prob <= 1.0:
            raise ValueError(f"CropRule.drop_unit_prob must be in [0, 1], got {self.drop_unit_prob}")


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """An independent generator per (seed, epoch, item): the same triple always gives the same draws."""
    if min(seed, epoch, index) < 0:
        raise ValueError(f"item_rng: seed, epoch and index must be >= 0, got {seed}, {epoch}, {index}")
    return np.random.default_rng([seed, epoch, index])  # SeedSequence entropy; no collisions between triples


def floored_length(num_frames: int, rule: CropRule) -> int:
    """min(N, max_length) floored to a multiple of unit_length: the crop length before the random unit drop."""
    units = min(num_frames, rule.max_length) // rule.unit_length
    if units < 1:
        raise ValueError(f"a motion of {num_frames} frames is shorter than one unit ({rule.unit_length} frames)")
    return units * rule.unit_length


def sample_crop_length(num_frames: int, rule: CropRule, rng: np.random.Generator) -> int:
    """Crop length for a clip of N frames: floored to whole units, then with p=drop_unit_prob one unit shorter."""
    length = floored_length(num_frames, rule)
    # MoMask/HERO draw 'single' / 'single' / 'double' uniformly: one extra unit removed with p = 1/3.
    if length > rule.unit_length and rng.random() < rule.drop_unit_prob:
        length -= rule.unit_length
    return length


def sample_crop(num_frames: int, rule: CropRule, rng: np.random.Generator) -> tuple[int, int]:
    """(start, length) of a random crop: the length rule above, then a uniform start in [0, N - length]."""
    length = sample_crop_length(num_frames, rule, rng)
    start = int(rng.integers(0, num_frames - length + 1))
    return start, length


def sample_window_start(num_frames: int, window: int, rng: np.random.Generator) -> int:
    """Uniform start of a fixed-size window (RVQ training), in [0, N - window]."""
    if num_frames < window:
        raise ValueError(f"a motion of {num_frames} frames is shorter than the window ({window})")
    return int(rng.integers(0, num_frames - window + 1))


def pad_motion(motion: np.ndarray, length: int) -> np.ndarray:
    """(T, D) -> (length, D), zeros after the last frame (padding is zero in the normalised space)."""
    if motion.shape[0] > length:
        raise ValueError(f"pad_motion: {motion.shape[0]} frames do not fit in {length}")
    padded = np.zeros((length, motion.shape[1]), dtype=motion.dtype)
    padded[: motion.shape[0]] = motion
    return padded
