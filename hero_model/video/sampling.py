"""Which frames of a clip the video encoder sees: the centre frame of each of N equal segments (TSN-style)."""
from __future__ import annotations

import numpy as np

NUM_SEGMENTS = 16  # HERO / TC-CLIP sample 16 frames per clip


def segment_indices(num_frames: int, num_segments: int = NUM_SEGMENTS) -> np.ndarray:
    """(num_segments,) int64 indices: the centre frame of each of `num_segments` equal segments of the clip.

    Segment k covers [k*n/S, (k+1)*n/S); its centre is floor((k + 0.5) * n / S). A clip shorter than S frames
    repeats frames (indices are non-decreasing), so any clip with at least one frame gives S indices.
    """
    if num_frames < 1:
        raise ValueError(f"segment_indices: a clip needs at least one frame, got num_frames={num_frames}")
    if num_segments < 1:
        raise ValueError(f"segment_indices: num_segments must be >= 1, got {num_segments}")
    centres = (np.arange(num_segments) + 0.5) * (num_frames / num_segments)
    return np.minimum(np.floor(centres).astype(np.int64), num_frames - 1)


def segment_times(t_start: float, t_end: float, num_segments: int = NUM_SEGMENTS) -> np.ndarray:
    """(num_segments,) the centre times of S equal segments of [t_start, t_end] -- for time-stamped streams."""
    if not t_end >= t_start:
        raise ValueError(f"segment_times: t_end ({t_end}) must not precede t_start ({t_start})")
    return t_start + (np.arange(num_segments) + 0.5) * ((t_end - t_start) / num_segments)
