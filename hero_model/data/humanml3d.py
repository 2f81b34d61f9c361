"""HumanML3D motions for RVQ-VAE pre-training (MoMask: 64-frame windows).

Layout read: ROOT/new_joint_vecs/<id>.npy (N, 263) float32, ROOT/Mean.npy, ROOT/Std.npy, and one list per split,
ROOT/<split>.txt (train / val / test, also train_val / all), with one bare id per line (relpaths are accepted too).
HumanML3D's own Mean/Std carry no feat_bias; MoMask-style training passes a normaliser with it applied.
"""
from __future__ import annotations

from pathlib import Path

from ..motion.normalization import Normalizer
from .motion_windows import MotionWindowDataset, as_normalizer
from .split_files import read_motion_list

MOTION_DIR = "new_joint_vecs"


class HumanML3DMotionDataset(MotionWindowDataset):
    """(window, 263) normalised windows of the clips listed in ROOT/<split>.txt; see MotionWindowDataset."""

    def __init__(self, root: str | Path, split: str = "train", window: int = 64,
                 normalizer: Normalizer | str | Path | None = None, windows: str = "all", seed: int = 0,
                 skip_bad: bool = False, preload: bool = True):
        root = Path(root)
        refs = read_motion_list(root / f"{split}.txt", MOTION_DIR)
        super().__init__([root / ref for ref in refs], window=window, normalizer=as_normalizer(normalizer, root),
                         windows=windows, seed=seed, skip_bad=skip_bad, preload=preload,
                         name=f"HumanML3D {split} ({root})")
        self.root, self.split = root, split
