"""Mean/Std normalisation of 263-d HumanML3D features, in the files HumanML3D and ViMo ship (Mean.npy, Std.npy).

HumanML3D computes a per-dimension mean, and replaces each dimension's std by the average std of its feature group,
so that e.g. all 63 "ric" dimensions share one scale. MoMask and HERO then divide the std of the root channels
(dims 0-3) and the foot contacts (last 4 dims) by `feat_bias` = 5, which up-weights those channels in the
reconstruction loss. Their training script applies that division twice by accident, so the std.npy saved next to
their checkpoints carries /25 on those channels; `apply_feat_bias(std, 5.0, times=2)` reproduces such a file and
`Normalizer.from_files` reads any of them unchanged (the file is the truth, whatever was applied to it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .skeleton import FEATURE_DIM

# Feature groups whose std is averaged (reference.md section 1, "Normalisation").
FEATURE_GROUPS: dict[str, slice] = {
    "root_rot_vel": slice(0, 1),
    "root_lin_vel": slice(1, 3),
    "root_y": slice(3, 4),
    "ric": slice(4, 67),
    "rot": slice(67, 193),
    "vel": slice(193, 259),
    "contacts": slice(259, 263),
}


def compute_mean_std(features: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (263,) and group-averaged std (263,) over all frames of all clips, HumanML3D style (no feat_bias)."""
    data = np.concatenate([np.asarray(f, dtype=np.float64).reshape(-1, FEATURE_DIM) for f in features], axis=0)
    if not np.isfinite(data).all():
        raise ValueError("compute_mean_std: features contain NaN or inf")
    mean = data.mean(axis=0)
    per_dim_std = data.std(axis=0)
    std = np.empty_like(per_dim_std)
    for group in FEATURE_GROUPS.values():
        std[group] = per_dim_std[group].mean()
    return mean.astype(np.float32), std.astype(np.float32)


def apply_feat_bias(std: np.ndarray, feat_bias: float = 5.0, times: int = 1) -> np.ndarray:
    """Divide the std of the root channels (dims 0-3) and the contacts (last 4) by feat_bias, `times` times.

    times=1 is MoMask/HERO's intent; times=2 reproduces the std.npy their training script actually saves.
    """
    std = np.array(std, dtype=np.float32, copy=True)
    factor = float(feat_bias) ** times
    std[0:4] /= factor
    std[-4:] /= factor
    return std


@dataclass
class Normalizer:
    """z-normalisation x_n = (x - mean) / std of 263-d features; works on numpy arrays and torch tensors."""

    mean: np.ndarray  # (263,)
    std: np.ndarray   # (263,)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        for name, arr in (("mean", self.mean), ("std", self.std)):
            if arr.shape != (FEATURE_DIM,):
                raise ValueError(f"Normalizer: {name} must have shape ({FEATURE_DIM},), got {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"Normalizer: {name} contains NaN or inf")
        if (self.std <= 0).any():
            bad = np.flatnonzero(self.std <= 0)[:5].tolist()
            raise ValueError(f"Normalizer: std must be positive; dims {bad} are not")

    def _like(self, arr: np.ndarray, x):
        if isinstance(x, np.ndarray):
            return arr.astype(x.dtype, copy=False)
        import torch  # local: keep this module importable without torch

        return torch.as_tensor(arr, dtype=x.dtype, device=x.device)

    def normalize(self, x):
        return (x - self._like(self.mean, x)) / self._like(self.std, x)

    def denormalize(self, x):
        return x * self._like(self.std, x) + self._like(self.mean, x)

    def save(self, directory: str | Path, mean_name: str = "Mean.npy", std_name: str = "Std.npy") -> None:
        """Write Mean.npy / Std.npy (float32, shape (263,)) as HumanML3D and ViMo ship them."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / mean_name, self.mean)
        np.save(directory / std_name, self.std)

    @classmethod
    def from_files(cls, mean_file: str | Path, std_file: str | Path) -> "Normalizer":
        arrays = []
        for f in (Path(mean_file), Path(std_file)):
            if not f.is_file():
                raise FileNotFoundError(f"normalisation file not found: {f}")
            try:
                arrays.append(np.load(f, allow_pickle=False))
            except ValueError as exc:
                raise ValueError(f"normalisation file {f} is not a plain .npy array: {exc}") from exc
        try:
            return cls(*arrays)
        except ValueError as exc:
            raise ValueError(f"{mean_file} / {std_file}: {exc}") from exc

    @classmethod
    def from_dir(cls, directory: str | Path) -> "Normalizer":
        """Read `Mean.npy`/`Std.npy` (HumanML3D, ViMo) or `mean.npy`/`std.npy` (checkpoint meta/ folders)."""
        directory = Path(directory)
        for mean_name, std_name in (("Mean.npy", "Std.npy"), ("mean.npy", "std.npy")):
            if (directory / mean_name).is_file():
                return cls.from_files(directory / mean_name, directory / std_name)
        raise FileNotFoundError(f"no Mean.npy/Std.npy (or mean.npy/std.npy) in {directory}")
