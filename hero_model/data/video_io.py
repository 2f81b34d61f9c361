"""Reading the frames the video encoder sees from a video file, with PyAV (FFmpeg).

A clip is sampled as 16 frames, the centre frame of each of 16 equal segments (`segment_indices`). Only those frames
are converted to RGB: the decoder runs sequentially from the start (the clips are short, ~100 frames, and H.264
keyframes are far apart, so seeking would save little) and stops after the last needed frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..video.sampling import NUM_SEGMENTS, segment_indices
from .validation import DataFileError


class VideoDecodeError(DataFileError):
    """A video that is missing, has no video stream, or cannot be decoded; names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """Stream metadata read without decoding: frame count (mp4: exact, from the sample table), rate and size."""

    num_frames: int
    fps: float
    width: int
    height: int


def _open(path: Path):
    import av  # local: PyAV loads FFmpeg; only the modules that read videos need it

    if not path.is_file():
        raise VideoDecodeError(path, "video file not found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoDecodeError(path, f"cannot open as a video container ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "the container has no video stream")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Open the container and read the video stream's metadata (cheap: no frame is decoded).

    Containers without a frame count in their header get one by counting the stream's packets (demuxing only).
    """
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:
            num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(path, f"cannot read the video stream ({exc})") from exc
    finally:
        container.close()
    if num_frames <= 0:
        raise VideoDecodeError(path, "the video stream has no frames")
    if width <= 0 or height <= 0:
        raise VideoDecodeError(path, f"the video stream has no frame size ({width}x{height})")
    return VideoInfo(num_frames=num_frames, fps=float(rate) if rate else 0.0, width=width, height=height)


def _resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or frame.shape[:2] == size:
        return frame
    import cv2

    # Stretch to (H, W) without keeping the aspect ratio, bilinear: what HERO's pipeline does (mmcv Resize,
    # keep_ratio=False) before the 224x224 video encoder.
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """An image size given as an int (square) or (H, W) -> (H, W); None stays None (keep the video's size)."""
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {size}")
    return height, width


def decode_frames(path: str | Path, indices: Sequence[int], size: int | tuple[int, int] | None = None
                  ) -> tuple[np.ndarray, int]:
    """(len(indices), H, W, 3) uint8 RGB frames at the given 0-based indices (repeats allowed), and the number of
    frames decoded. Decoding stops after the largest index; an index past the end of the stream raises."""
    import av

    path = Path(path)
    size = as_size(size)
    wanted = np.asarray(indices, dtype=np.int64)
    if wanted.size == 0 or wanted.min() < 0:
        raise ValueError(f"decode_frames: indices must be non-empty and >= 0, got {wanted.tolist()}")
    needed, last = set(wanted.tolist()), int(wanted.max())
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    container = _open(path)
    try:
        for frame in container.decode(video=0):
            if decoded in needed:
                kept[decoded] = _resize(frame.to_ndarray(format="rgb24"), size)  # (H, W, 3) uint8
            decoded += 1
            if decoded > last:
                break
    except (av.error.FFmpegError, ValueError) as exc:
        raise VideoDecodeError(path, f"decoding failed at frame {decoded} ({exc})") from exc
    finally:
        container.close()
    if decoded == 0:
        raise VideoDecodeError(path, "no frame could be decoded")
    if decoded <= last:
        raise VideoDecodeError(path, f"frame {last} requested but the stream ended after {decoded} frames")
    return np.stack([kept[i] for i in wanted.tolist()]), decoded


def count_decodable_frames(path: str | Path) -> int:
    """Decode the whole stream and count its frames (for containers whose header count is wrong)."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        return sum(1 for _ in container.decode(video=0))
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(path, f"decoding failed ({exc})") from exc
    finally:
        container.close()


def sample_frames(path: str | Path, num_frames: int = NUM_SEGMENTS, size: int | tuple[int, int] | None = None,
                  info: VideoInfo | None = None) -> tuple[np.ndarray, float]:
    """The (num_frames, H, W, 3) uint8 RGB centre frames of `num_frames` equal segments of the clip, and its fps.

    `size` (int or (H, W)) stretches every frame to that size; None keeps the video's own. Pass `info` from an
    earlier probe_video to skip re-reading the header.
    """
    path = Path(path)
    info = info or probe_video(path)
    indices = segment_indices(info.num_frames, num_frames)  # (num_frames,) segment centres
    try:
        frames, _ = decode_frames(path, indices, size)
    except VideoDecodeError as exc:
        if "stream ended" not in exc.problem:
            raise
        # The header over-counted the frames: sample the segments of the frames that really decode.
        actual = count_decodable_frames(path)
        frames, _ = decode_frames(path, segment_indices(actual, num_frames), size)
    return frames, info.fps


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Every frame of a video as (T, H, W, 3) uint8 RGB, and its fps."""
    import av

    path = Path(path)
    info = probe_video(path)
    frames: list[np.ndarray] = []
    container = _open(path)
    try:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))  # (H, W, 3) uint8
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(path, f"decoding failed at frame {len(frames)} ({exc})") from exc
    finally:
        container.close()
    if not frames:
        raise VideoDecodeError(path, "no frame could be decoded")
    return np.stack(frames), info.fps
