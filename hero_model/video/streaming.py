"""Streaming video encoding: encode each camera frame once, when it arrives, and assemble v_l from cached features.

With a per-frame backbone, a clip's features are the features of its 16 sampled frames (passed through the encoder's
light temporal context when it has one), so caching per-frame features (with their timestamps, in a bounded buffer)
gives the same v_l as re-encoding the clip -- at one backbone call per incoming frame instead of 16 per request.

Frame selection matches the batch path: a frame stamped t covers [t, t_next), so for a segment centre c the frame
shown at c is the latest one stamped <= c. For n frames at a constant rate this is frame floor((k+0.5) n / S),
exactly segment_indices.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch

from .encoder import FrozenVideoEncoder, VideoFeatures
from .preprocess import FrameArray
from .sampling import segment_indices, segment_times

TIME_TOLERANCE = 1e-6  # seconds; absorbs float rounding of t0 + k/fps against the computed segment centres


class StreamingVideoEncoder:
    """Per-frame feature cache in front of a FrozenVideoEncoder.

    capacity: frames kept (oldest dropped first); it must cover the longest window you will request
        (e.g. 10 s at 30 fps = 300).
    """

    def __init__(self, encoder: FrozenVideoEncoder, capacity: int = 512):
        if not getattr(encoder, "per_frame", False):
            raise ValueError(f"StreamingVideoEncoder supports per-frame backbones only; {type(encoder).__name__} "
                             "does not declare per_frame=True (a temporal mode such as TC-CLIP's temporal "
                             "contextualization mixes tokens across the 16 frames, so cached per-frame features "
                             "would not reproduce it -- encode whole clips with encoder(clips) instead)")
        if capacity < 1:
            raise ValueError(f"StreamingVideoEncoder.capacity must be >= 1, got {capacity}")
        self.encoder = encoder
        self.capacity = capacity
        self.num_segments = encoder.config.num_segments
        self._times: deque[float] = deque(maxlen=capacity)
        self._features: deque[torch.Tensor] = deque(maxlen=capacity)  # each (d,)
        self._dropped_until = -np.inf  # newest timestamp evicted from the buffer

    def __len__(self) -> int:
        return len(self._times)

    @property
    def timestamps(self) -> np.ndarray:
        """(n,) float64 timestamps of the buffered frames, oldest first."""
        return np.fromiter(self._times, dtype=np.float64, count=len(self._times))

    def reset(self) -> None:
        self._times.clear()
        self._features.clear()
        self._dropped_until = -np.inf

    def push(self, frame: FrameArray, timestamp: float) -> torch.Tensor:
        """Encode one (H,W,3) uint8 frame stamped `timestamp` (seconds, strictly increasing); returns its (d,) feature.
        """
        return self.push_many([frame], [timestamp])[0]

    def push_many(self, frames: FrameArray | Sequence[FrameArray], timestamps: Sequence[float]) -> torch.Tensor:
        """Encode several newly arrived frames in one backbone call; returns their (n,d) features."""
        stamps = [float(t) for t in timestamps]
        if len(stamps) != len(frames):
            raise ValueError(f"push_many: {len(frames)} frames but {len(stamps)} timestamps")
        previous = self._times[-1] if self._times else -np.inf
        for t in stamps:
            if not np.isfinite(t) or t <= previous:
                raise ValueError(f"StreamingVideoEncoder: timestamp {t} must be finite and later than the previous "
                                 f"frame's {previous}")
            previous = t
        features = self.encoder.encode_frames(frames)  # (n,d)
        for t, f in zip(stamps, features, strict=True):
            if len(self._times) == self.capacity:
                self._dropped_until = self._times[0]
            self._times.append(t)
            self._features.append(f)
        return features

    def _gather(self, indices: np.ndarray) -> VideoFeatures:
        per_frame = torch.stack([self._features[i] for i in indices]).unsqueeze(0)  # (1,S,d)
        v_l = self.encoder.contextualize(per_frame)
        return VideoFeatures(v_l, v_l.mean(dim=1))  # v_g = AvgPool(v_l)

    def _frames_shown_at(self, times: np.ndarray, what: str) -> np.ndarray:
        stamps = self.timestamps
        if len(stamps) == 0:
            raise ValueError(f"StreamingVideoEncoder: no frames buffered yet for {what}")
        if times.min() < stamps[0] - TIME_TOLERANCE:
            lost = "were dropped (raise capacity)" if np.isfinite(self._dropped_until) else "never arrived"
            raise ValueError(f"StreamingVideoEncoder: {what} needs frames from t={times.min():.6f}, but the buffer "
                             f"starts at t={stamps[0]:.6f}; earlier frames {lost}")
        return np.searchsorted(stamps, times + TIME_TOLERANCE, side="right") - 1  # latest frame stamped <= t

    def features_at(self, times: Sequence[float]) -> VideoFeatures:
        """v_l (1,len(times),d) of the frames shown at the requested times (latest frame stamped <= each time)."""
        times = np.asarray(times, dtype=np.float64)
        if times.ndim != 1 or len(times) == 0:
            raise ValueError(f"features_at: expected a non-empty 1-D list of times, got shape {times.shape}")
        return self._gather(self._frames_shown_at(times, f"times {times.min():.6f}..{times.max():.6f}"))

    def clip_for_window(self, t_start: float, t_end: float) -> VideoFeatures:
        """v_l (1,S,d) for the time window [t_start, t_end): the frames shown at the centres of S equal segments.

        For frames stamped t0 + i/fps and the window [t0, t0 + n/fps) this equals encoder.encode_video(those n
        frames) -- the same 16 frames through the same per-frame backbone.
        """
        if not t_end > t_start:
            raise ValueError(f"clip_for_window: t_end ({t_end}) must be later than t_start ({t_start})")
        what = f"window [{t_start:.6f}, {t_end:.6f})"
        if t_start <= self._dropped_until:
            raise ValueError(f"StreamingVideoEncoder: {what} starts before t={self._dropped_until:.6f}, the newest "
                             f"frame already dropped from the {self.capacity}-frame buffer; raise capacity")
        centres = segment_times(t_start, t_end, self.num_segments)  # (S,) centre of each equal segment
        stamps = self.timestamps
        first_in_window = int(np.searchsorted(stamps, t_start - TIME_TOLERANCE, side="left"))
        if first_in_window == len(stamps) or stamps[first_in_window] >= t_end - TIME_TOLERANCE:
            raise ValueError(f"StreamingVideoEncoder: no buffered frame in {what}; buffer holds "
                             f"t={stamps[0] if len(stamps) else None}..{stamps[-1] if len(stamps) else None}")
        # A centre before the window's first frame (stream started late) takes that first frame.
        idx = np.searchsorted(stamps, centres + TIME_TOLERANCE, side="right") - 1
        return self._gather(np.maximum(idx, first_in_window))

    def latest_clip(self, num_frames: int | None = None) -> VideoFeatures:
        """v_l (1,S,d) of the last `num_frames` buffered frames (all if None), sampled by segment_indices -- equal to
        encoder.encode_video(those frames)."""
        n = len(self) if num_frames is None else num_frames
        if not 1 <= n <= len(self):
            raise ValueError(f"latest_clip: num_frames={num_frames} but {len(self)} frames are buffered")
        return self._gather(len(self) - n + segment_indices(n, self.num_segments))
