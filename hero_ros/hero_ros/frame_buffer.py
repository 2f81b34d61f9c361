"""A time-stamped ring buffer of per-frame video features: the node's memory of the last seconds of camera input.

Frames are encoded once, when they arrive (every video backbone in hero_model is per-frame), and only their features
are kept -- so after a trigger the generator needs no video encoding at all. The buffer keeps `horizon_s` seconds
(evicting by time, not by count, so any camera rate fits) and answers one question: v_l for the window of the last
`window_s` seconds, by the same rule as the batch path (hero_model.video.streaming.StreamingVideoEncoder):

  window   [t_end - window_s, t_end) with t_end = newest stamp + one frame interval (the newest frame is shown
           until the next one would arrive), the interval being the median spacing of the buffered frames;
  centres  segment_times(t_start, t_end, 16), the centres of 16 equal segments;
  frame k  the latest frame stamped <= centre k, but never one from before the window (a centre before the
           window's first frame takes that first frame, as when a clip starts late).

For n frames at a constant rate filling the window exactly, these are frames segment_indices(n, 16): the same 16
frames that `hero_model.generate` would sample from the clip file.

Time policy (a camera is not a file): stamps must increase. `classify_stamp` says what to do with a new stamp before
anything is spent on it: "ok", "duplicate" (equal to the previous one: dropped) or "backwards" (earlier, e.g. a
looping bag or a restarted camera: the caller resets the buffer, because a window mixing two timelines is
meaningless). A long pause needs no special case: the old frames fall out of the horizon.

Each frame may carry a tag (the node keeps the original builtin_interfaces/Time there: a float64 of seconds since
1970 cannot hold nanoseconds exactly, and outputs must carry the input stamp exactly).
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from hero_model.video.sampling import NUM_SEGMENTS, segment_times

TIME_TOLERANCE = 1e-6  # seconds; absorbs float rounding of t0 + k/fps against the computed segment centres
INTERVAL_FRAMES = 32   # frame spacing is estimated from the last this-many frames


def classify_stamp(stamp: float, previous: float | None) -> str:
    """'ok', 'duplicate' or 'backwards' for a frame stamped `stamp` after one stamped `previous` (None: first)."""
    if previous is None or stamp > previous + TIME_TOLERANCE:
        return "ok"
    return "duplicate" if stamp >= previous - TIME_TOLERANCE else "backwards"


class NotReady(RuntimeError):
    """The buffer holds too little video for a reaction (the message says how much and what is needed)."""


@dataclass(frozen=True)
class Window:
    """The video a reaction is generated from.

    v_l: (S, d) features of the S sampled frames; stamps: (S,) their stamps (seconds);
    first_stamp / last_stamp: oldest and newest frame inside the window, first_tag / last_tag: their tags;
    num_frames: frames inside the window.
    """

    v_l: torch.Tensor
    stamps: np.ndarray
    first_stamp: float
    last_stamp: float
    num_frames: int
    first_tag: object = None
    last_tag: object = None


class FrameBuffer:
    """Thread-safe ring buffer of (stamp, feature) pairs covering the last `horizon_s` seconds.

    horizon_s: how much history is kept; at least the longest window that will be asked for.
    num_segments: frames sampled per window (HERO: 16).
    """

    def __init__(self, horizon_s: float, num_segments: int = NUM_SEGMENTS):
        if not horizon_s > 0:
            raise ValueError(f"FrameBuffer.horizon_s must be > 0, got {horizon_s}")
        if num_segments < 1:
            raise ValueError(f"FrameBuffer.num_segments must be >= 1, got {num_segments}")
        self.horizon_s = float(horizon_s)
        self.num_segments = num_segments
        self._stamps: deque[float] = deque()
        self._features: deque[torch.Tensor] = deque()  # each (d,)
        self._tags: deque = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def newest_stamp(self) -> float | None:
        with self._lock:
            return self._stamps[-1] if self._stamps else None

    def span(self) -> tuple[float, float] | None:
        """(oldest, newest) stamp, or None when empty."""
        with self._lock:
            return (self._stamps[0], self._stamps[-1]) if self._stamps else None

    def latest(self) -> tuple[float, torch.Tensor] | None:
        """(stamp, feature (d,)) of the newest frame, or None when empty."""
        with self._lock:
            return (self._stamps[-1], self._features[-1]) if self._stamps else None

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()
            self._features.clear()
            self._tags.clear()

    def add(self, stamps, features: torch.Tensor, tags=None) -> None:
        """Append frames (stamps (n,), features (n, d), optional tags (n,)), oldest first; each stamp must follow the
        previous one (classify_stamp says whether it does)."""
        stamps = [float(t) for t in stamps]
        tags = [None] * len(stamps) if tags is None else list(tags)
        if not len(stamps) == len(features) == len(tags):
            raise ValueError(f"FrameBuffer.add: {len(stamps)} stamps, {len(features)} feature rows, {len(tags)} tags")
        with self._lock:
            previous = self._stamps[-1] if self._stamps else -np.inf
            for t in stamps:
                if not (np.isfinite(t) and t > previous + TIME_TOLERANCE):
                    raise ValueError(f"FrameBuffer.add: stamp {t} must be finite and later than {previous} "
                                     "(check with classify_stamp() first)")
                previous = t
            for t, f, tag in zip(stamps, features, tags, strict=True):
                self._stamps.append(t)
                self._features.append(f)
                self._tags.append(tag)
            oldest_kept = self._stamps[-1] - self.horizon_s
            while self._stamps[0] < oldest_kept - TIME_TOLERANCE:
                self._stamps.popleft()
                self._features.popleft()
                self._tags.popleft()

    def frame_interval(self) -> float:
        """Median spacing of the newest INTERVAL_FRAMES frames (0 with fewer than 2 frames)."""
        with self._lock:
            recent = list(self._stamps)[-INTERVAL_FRAMES:]
        return float(np.median(np.diff(recent))) if len(recent) >= 2 else 0.0

    def window(self, window_s: float, min_frames: int = NUM_SEGMENTS, min_coverage: float = 0.0) -> Window:
        """v_l of the last `window_s` seconds, or NotReady when the window holds fewer than `min_frames` frames or
        its frames span less than `min_coverage` of it."""
        if window_s > self.horizon_s + TIME_TOLERANCE:
            raise ValueError(f"window_s={window_s} exceeds the buffer horizon {self.horizon_s}")
        interval = self.frame_interval()
        with self._lock:
            stamps = np.fromiter(self._stamps, dtype=np.float64, count=len(self._stamps))
            if len(stamps) == 0:
                raise NotReady(f"no frames buffered yet (need {min_frames} in the last {window_s:g} s)")
            t_end = stamps[-1] + interval                                  # newest frame shown for one interval
            t_start = t_end - window_s
            first = int(np.searchsorted(stamps, t_start - TIME_TOLERANCE, side="left"))
            num_frames = len(stamps) - first     # 0 when frames come further apart than the window itself
            if num_frames < max(min_frames, 1):
                raise NotReady(f"only {num_frames} frames in the last {window_s:g} s window, need {min_frames} "
                               "(min_frames)")
            covered = t_end - stamps[first]
            if covered < min_coverage * window_s - TIME_TOLERANCE:
                raise NotReady(f"frames cover {covered:.2f} s of the {window_s:g} s window, need "
                               f"{min_coverage * window_s:.2f} s (min_coverage {min_coverage:g})")
            centres = segment_times(t_start, t_end, self.num_segments)   # (S,) centre of each equal segment
            index = np.searchsorted(stamps, centres + TIME_TOLERANCE, side="right") - 1  # latest stamped <= centre
            index = np.maximum(index, first)
            v_l = torch.stack([self._features[i] for i in index])         # (S, d)
            first_tag, last_tag = self._tags[first], self._tags[-1]
        return Window(v_l=v_l, stamps=stamps[index], first_stamp=float(stamps[first]),
                      last_stamp=float(stamps[-1]), num_frames=num_frames, first_tag=first_tag, last_tag=last_tag)
