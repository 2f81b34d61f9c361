"""Fixed-size motion windows for RVQ-VAE training (MoMask recipe: 64 frames on HumanML3D, HERO: 20 on ViMo).

Two ways to define an epoch:
- windows="all" (default): every window position of every clip once per epoch, N - window + 1 per clip, in the
  order the DataLoader shuffles. This is the official epoch (MoMask's and HERO's VQ datasets), so the paper's
  "10 epochs" fine-tuning schedule means the same number of optimiser steps here.
- windows="random": one window per clip per epoch, its start drawn from item_rng(seed, epoch, index): every clip
  weighs the same regardless of its length, and starts are fresh every epoch (set_epoch), reproducibly.
Clips shorter than the window cannot give a window: they are left out and counted in `too_short` (and logged).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..motion.normalization import Normalizer
from .cropping import item_rng, sample_window_start
from .validation import DataFileError, SkippedEntry, load_motion, resolve_problems

logger = logging.getLogger("hero_model.data")

WINDOW_MODES = ("all", "random")


def as_normalizer(normalizer: Normalizer | str | Path | None, root: Path) -> Normalizer:
    """A Normalizer as given, or read from a directory (None: the dataset root's Mean.npy / Std.npy)."""
    if isinstance(normalizer, Normalizer):
        return normalizer
    return Normalizer.from_dir(root if normalizer is None else Path(normalizer))


class MotionWindowDataset(torch.utils.data.Dataset):
    """Normalised (window, 263) float32 windows of a list of motion files; items are plain tensors.

    files: motion .npy paths; window: frames per item; normalizer: z-normalisation (training scripts pass the
    checkpoint's, e.g. with feat_bias applied); windows: "all" or "random" (module docstring); seed: crop seed;
    skip_bad: leave out unreadable/invalid files (counted in `skipped`) instead of raising; preload: keep the clips
    in memory (else re-read per item); name: what to call this dataset in errors and logs.
    """

    def __init__(self, files: Sequence[str | Path], window: int, normalizer: Normalizer, windows: str = "all",
                 seed: int = 0, skip_bad: bool = False, preload: bool = True, name: str = "motion windows"):
        if window < 1:
            raise ValueError(f"{name}: window must be >= 1 frame, got {window}")
        if windows not in WINDOW_MODES:
            raise ValueError(f"{name}: windows must be one of {WINDOW_MODES}, got {windows!r}")
        if seed < 0:
            raise ValueError(f"{name}: seed must be >= 0, got {seed}")
        self.window, self.windows, self.seed, self.preload, self.name = window, windows, seed, preload, name
        self.normalizer = normalizer
        self.epoch = 0

        problems: list[DataFileError] = []
        self.files: list[Path] = []
        self.num_frames: list[int] = []
        self._clips: list[np.ndarray] = []
        self.too_short: list[SkippedEntry] = []
        for f in files:
            try:
                motion = load_motion(f)
            except DataFileError as exc:
                problems.append(exc)
                continue
            if motion.shape[0] < window:
                self.too_short.append(SkippedEntry(str(f), f"{motion.shape[0]} frames < window {window}"))
                continue
            self.files.append(Path(f))
            self.num_frames.append(motion.shape[0])
            if preload:
                self._clips.append(motion)
        self.skipped = resolve_problems(problems, name, skip_bad)
        if self.too_short:
            logger.warning("%s: left out %d clip(s) shorter than the %d-frame window", name, len(self.too_short),
                           window)
        if not self.files:
            raise ValueError(f"{name}: no clip of at least {window} frames to draw windows from "
                             f"({len(self.too_short)} too short, {len(self.skipped)} bad)")
        # First global window index of each clip: clip c owns [starts[c], starts[c + 1]).
        self._window_starts = np.concatenate([[0], np.cumsum([n - window + 1 for n in self.num_frames])])

    def set_epoch(self, epoch: int) -> None:
        """Draw new random windows (windows="random"); call before each epoch's DataLoader iteration."""
        if epoch < 0:
            raise ValueError(f"{self.name}: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self._window_starts[-1]) if self.windows == "all" else len(self.files)

    def clip(self, c: int) -> np.ndarray:
        """The whole raw (not normalised) clip c, (N, 263) float32."""
        return self._clips[c] if self.preload else load_motion(self.files[c])

    def locate(self, index: int) -> tuple[int, int]:
        """(clip, start frame) of item `index` in the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self)} items")
        if self.windows == "all":
            c = int(np.searchsorted(self._window_starts, index, side="right")) - 1
            return c, int(index - self._window_starts[c])
        return index, sample_window_start(self.num_frames[index], self.window, item_rng(self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> torch.Tensor:
        c, start = self.locate(index)
        window = self.clip(c)[start:start + self.window]  # (window, 263)
        return torch.from_numpy(np.ascontiguousarray(self.normalizer.normalize(window), dtype=np.float32))
