"""Frame preprocessing shared by every backbone: uint8 RGB frames of any size -> normalised (N,3,S,S) float tensors.

Rule (reference Sec. 4, official HERO): resize every frame to S x S WITHOUT keeping the aspect ratio, then
normalise each channel as (x - mean) / std with mean/std on the 0-255 scale.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

FrameArray = np.ndarray | torch.Tensor


def as_uint8_frames(frames: FrameArray, name: str = "frames") -> torch.Tensor:
    """View a numpy / torch uint8 array (..., H, W, 3) as a torch tensor, rejecting anything that is not RGB uint8.

    Only uint8 is accepted: float frames are ambiguous (0-1 or 0-255?) and a wrong guess silently ruins features.
    """
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise TypeError(f"{name}: expected uint8 RGB frames, got numpy dtype {frames.dtype}")
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise TypeError(f"{name}: expected uint8 RGB frames, got torch dtype {frames.dtype}")
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor of uint8 frames, got {type(frames).__name__}")
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (..., H, W, 3) RGB, got {tuple(frames.shape)}")
    if frames.shape[-2] < 1 or frames.shape[-3] < 1:
        raise ValueError(f"{name}: frames must be at least 1x1 pixels, got {tuple(frames.shape)}")
    return frames


def _resize_normalise(frames: torch.Tensor, image_size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    # frames: (N,H,W,3) uint8 on the target device -> (N,3,S,S) float32
    x = frames.permute(0, 3, 1, 2).float()  # (N,3,H,W), still 0-255
    if x.shape[-2:] != (image_size, image_size):
        # Independent height/width scale factors = the official "resize to 224x224, aspect not kept".
        # Bilinear with antialiasing behaves like PIL's bilinear resize when shrinking large camera frames.
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)  # x_norm = (x - mean) / std, 0-255 scale


def preprocess_frames(frames: FrameArray | Sequence[FrameArray], image_size: int,
                      mean: Sequence[float], std: Sequence[float],
                      device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 RGB frames -> (N,3,image_size,image_size) float32 on `device`.

    `frames` is an array (N,H,W,3) or a sequence of (H,W,3) arrays whose sizes may differ. Frames are moved to the
    device as uint8 (4x less traffic than float) and resized there.
    """
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device)
    std_t = torch.tensor(std, dtype=torch.float32, device=device)
    if isinstance(frames, (np.ndarray, torch.Tensor)):
        batch = as_uint8_frames(frames)
        if batch.ndim != 4:
            raise ValueError(f"frames: expected (N,H,W,3), got {tuple(batch.shape)}")
        return _resize_normalise(batch.to(device), image_size, mean_t, std_t)
    frame_list = [as_uint8_frames(f, name=f"frames[{i}]") for i, f in enumerate(frames)]
    if not frame_list:
        raise ValueError("frames: got an empty sequence of frames")
    for i, f in enumerate(frame_list):
        if f.ndim != 3:
            raise ValueError(f"frames[{i}]: expected one (H,W,3) frame, got {tuple(f.shape)}")
    out = torch.empty(len(frame_list), 3, image_size, image_size, device=device)
    by_size: dict[tuple[int, int], list[int]] = {}  # resize same-sized frames together
    for i, f in enumerate(frame_list):
        by_size.setdefault(tuple(f.shape[:2]), []).append(i)
    for idx in by_size.values():
        batch = torch.stack([frame_list[i] for i in idx]).to(device)
        out[idx] = _resize_normalise(batch, image_size, mean_t, std_t)
    return out
