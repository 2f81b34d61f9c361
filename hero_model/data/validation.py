"""Checking dataset files on load: one error that names every bad file, or an explicit, counted skip.

A dataset either loads every entry of its list or says which ones it could not use and why: nothing is dropped
silently. `DataFileError` names one file and its problem; `DatasetValidationError` gathers all of them for one split,
so a user fixing a dataset sees the whole list at once instead of one file per run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion.skeleton import FEATURE_DIM

logger = logging.getLogger("hero_model.data")


class DataFileError(ValueError):
    """One dataset file (motion, video, list) that cannot be used; `path` and `problem` say which and why."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetValidationError(ValueError):
    """Every bad entry of one dataset split, found at construction (pass skip_bad=True to leave them out)."""

    def __init__(self, what: str, problems: list[DataFileError], shown: int = 20):
        self.problems = list(problems)
        lines = [f"  {p}" for p in self.problems[:shown]]
        if len(self.problems) > shown:
            lines.append(f"  ... and {len(self.problems) - shown} more")
        super().__init__(f"{what}: {len(self.problems)} bad entr{'y' if len(self.problems) == 1 else 'ies'} "
                         f"(pass skip_bad=True to skip them):\n" + "\n".join(lines))


@dataclass(frozen=True)
class SkippedEntry:
    """An entry a dataset left out (skip_bad=True, or a clip too short for a window), with the reason."""

    path: str
    problem: str


def resolve_problems(problems: list[DataFileError], what: str, skip_bad: bool) -> list[SkippedEntry]:
    """Raise one DatasetValidationError for all problems, or (skip_bad) log their count and return them as skips."""
    if not problems:
        return []
    if not skip_bad:
        raise DatasetValidationError(what, problems)
    logger.warning("%s: skipped %d bad entr%s (skip_bad=True); first: %s", what, len(problems),
                   "y" if len(problems) == 1 else "ies", problems[0])
    return [SkippedEntry(p.path, p.problem) for p in problems]


def load_motion(path: str | Path, min_length: int = 1, feature_dim: int = FEATURE_DIM) -> np.ndarray:
    """Read one HumanML3D-format motion (N, 263) as float32, or raise DataFileError saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "motion file not found")
    try:
        motion = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # pickled object arrays, truncated or non-npy bytes
        raise DataFileError(path, f"not a readable .npy array ({exc})") from exc
    if motion.ndim != 2 or motion.shape[1] != feature_dim:
        raise DataFileError(path, f"expected shape (frames, {feature_dim}), got {motion.shape}")
    if not np.issubdtype(motion.dtype, np.floating):
        raise DataFileError(path, f"expected a float array, got dtype {motion.dtype}")
    finite = np.isfinite(motion)
    if not finite.all():
        frame, dim = np.argwhere(~finite)[0]
        raise DataFileError(path, f"contains NaN/inf (first at frame {frame}, dim {dim})")
    if motion.shape[0] < min_length:
        raise DataFileError(path, f"{motion.shape[0]} frames, shorter than the minimum of {min_length}")
    return motion.astype(np.float32, copy=False)
