"""Stick-figure rendering of 22-joint motions, video/GIF writing, side-by-side and contact-sheet helpers.

    python -m hero_model.render MOTION.npy OUT.mp4 [--fps 20] [--title T] [--size 320x240]

MOTION.npy holds joints (T, 22, 3) in metres (Y up) or HumanML3D features (T, 263). The figure is drawn with
OpenCV (bones coloured per kinematic chain, joints as dots, the head as a larger dot) over a ground grid with the
pelvis' trail, seen by a perspective camera at a fixed elevation and azimuth that frames the whole motion, or
follows the pelvis when it travels far. Frames are RGB uint8 arrays (T, H, W, 3).

Videos: H.264 in mp4 (yuv420p, one encoder thread, no creation time -> the same frames always give the same
bytes) or an animated GIF (Pillow, else FFmpeg's gif encoder through PyAV).
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .motion.skeleton import FEATURE_DIM, FPS, KINEMATIC_CHAINS, NUM_JOINTS

# RGB colour of each kinematic chain (right leg, left leg, spine, right arm, left arm): the body's right side warm,
# its left side cool, so a mirrored motion is visible at a glance.
CHAIN_COLOURS = ((220, 60, 50), (40, 90, 220), (60, 60, 60), (245, 150, 30), (30, 170, 200))
BACKGROUND = (246, 246, 242)
GRID_COLOUR = (205, 205, 198)
TRAIL_COLOUR = (150, 110, 190)
TEXT_COLOUR = (30, 30, 30)
JOINT_COLOUR = (40, 40, 40)
_HEAD = 15  # the head joint is drawn as a larger dot
_SHIFT = 4  # fractional bits of the fixed-point coordinates given to cv2 drawing calls (sub-pixel accuracy)
_NEAR = 0.05  # metres: geometry closer to the camera than this is clipped


# ------------------------------------------------------------------------------------------------ inputs

def as_joints(motion) -> np.ndarray:
    """Joints (T, 22, 3) float64 from joints (T, 22, 3), features (T, 263), or a path to a .npy holding either."""
    if isinstance(motion, (str, Path)):
        path = Path(motion)
        if not path.is_file():
            raise FileNotFoundError(f"motion file {path} does not exist")
        motion = np.load(path, allow_pickle=False)
        source = str(path)
    else:
        source = "motion"
    motion = np.asarray(motion)
    if motion.ndim == 2 and motion.shape[1] == FEATURE_DIM:
        from .motion.features import features_to_joints  # lazy: only feature input needs torch

        motion = features_to_joints(motion.astype(np.float64))
    elif not (motion.ndim == 3 and motion.shape[1:] == (NUM_JOINTS, 3)):
        raise ValueError(f"{source}: expected joints (T, {NUM_JOINTS}, 3) or features (T, {FEATURE_DIM}), "
                         f"got shape {motion.shape}")
    motion = motion.astype(np.float64)
    if len(motion) == 0:
        raise ValueError(f"{source}: the motion has no frames")
    if not np.isfinite(motion).all():
        raise ValueError(f"{source}: the motion contains NaN or inf")
    return motion


# ------------------------------------------------------------------------------------------------ camera

class _Camera:
    """Perspective camera at a fixed elevation/azimuth around a per-frame target, looking at it."""

    def __init__(self, joints: np.ndarray, size: tuple[int, int], elevation_deg: float, azimuth_deg: float,
                 follow: bool | None, vfov_deg: float = 40.0, fill: float = 0.85):
        width, height = size
        T = len(joints)
        root_xz = joints[:, 0, [0, 2]]
        travel = np.ptp(root_xz, axis=0).max() if T > 1 else 0.0
        follow = travel > 2.0 if follow is None else follow
        top = max(float(joints[..., 1].max()), 0.5)
        if follow:  # a smoothed pelvis path as the target
            from scipy.ndimage import gaussian_filter1d

            centre_xz = gaussian_filter1d(root_xz, sigma=8.0, axis=0, mode="nearest") if T > 1 else root_xz
        else:  # one framing for the whole clip: the centre of all joints' bounding box
            flat = joints[..., [0, 2]].reshape(-1, 2)
            centre_xz = np.tile((flat.min(0) + flat.max(0)) / 2, (T, 1))
        self.target = np.stack([centre_xz[:, 0], np.full(T, 0.5 * top), centre_xz[:, 1]], axis=-1)  # (T, 3)
        el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
        # azimuth 0 = in front of a body facing +Z (camera on +Z); positive azimuth moves the camera to its left
        back = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
        forward = -back
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        self.axes = np.stack([right, up, forward])  # (3, 3) rows: world -> camera
        self.focal = (height / 2.0) / np.tan(np.radians(vfov_deg) / 2.0)
        self.centre = np.array([width / 2.0, height / 2.0])
        # Distance that fits every joint (and its floor point) of every frame inside `fill` of the image: a point p
        # (relative to the target) has camera depth d - p.back, so |focal x / depth| <= fill W / 2 needs
        # d >= focal |x| / (fill W / 2) + p.back (same for y with H).
        relative = joints - self.target[:, None]
        relative = np.concatenate([relative, relative * np.array([1.0, 0.0, 1.0]) - self.target[:, None] *
                                   np.array([0.0, 1.0, 0.0])], axis=1).reshape(-1, 3)
        need_x = self.focal * np.abs(relative @ right) / (fill * width / 2.0)
        need_y = self.focal * np.abs(relative @ up) / (fill * height / 2.0)
        distance = max(float((np.maximum(need_x, need_y) + relative @ back).max()), 1.0)
        self.position = self.target + distance * back  # (T, 3)

    def to_camera(self, points: np.ndarray, t: int) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (x right, y up, z forward) for frame t."""
        return (points - self.position[t]) @ self.axes.T

    def to_pixels(self, cam: np.ndarray) -> np.ndarray:
        """Camera coordinates (..., 3) with z > 0 -> pixel coordinates (..., 2) (u right, v down)."""
        z = np.maximum(cam[..., 2:3], _NEAR)
        return self.centre + self.focal * cam[..., :2] / z * np.array([1.0, -1.0])


def _clip_segments(a: np.ndarray, b: np.ndarray):
    """Clip camera-space segments a -> b (N, 3) to z >= _NEAR; returns the clipped ends and a keep mask."""
    za, zb = a[:, 2], b[:, 2]
    keep = (za >= _NEAR) | (zb >= _NEAR)
    dz = zb - za
    t = (_NEAR - za) / np.where(np.abs(dz) < 1e-12, 1e-12, dz)  # where the segment crosses z = _NEAR
    crossing = a + t[:, None] * (b - a)
    a = np.where((za < _NEAR)[:, None], crossing, a)
    b = np.where((zb < _NEAR)[:, None], crossing, b)
    return a, b, keep


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> cv2 fixed-point integers (clamped far outside the image instead of overflowing)."""
    return np.round(np.clip(points, -1e4, 1e4) * (1 << _SHIFT)).astype(np.int32)


# ------------------------------------------------------------------------------------------------ drawing

_BONES = [(chain[k - 1], chain[k], c) for c, chain in enumerate(KINEMATIC_CHAINS) for k in range(1, len(chain))]


def render_skeleton_frames(joints, size: tuple[int, int] = (320, 240), elevation_deg: float = 20.0,
                           azimuth_deg: float = 35.0, follow: bool | None = None, title: str | None = None,
                           grid: bool = True, trail: bool = True, fps: float = FPS,
                           times=None) -> np.ndarray:
    """RGB frames (T, H, W, 3) uint8 of a stick figure.

    joints: (T, 22, 3) metres, or (T, 263) features, or a .npy path. size: (width, height) in pixels.
    elevation_deg / azimuth_deg: camera angles (azimuth 0 = in front of a body facing +Z, + = to its left).
    follow: True follows the pelvis, False frames the whole clip, None decides by how far the pelvis travels.
    title: text drawn in the top-left corner; fps only labels the time stamp drawn bottom-right.
    times: the time stamp of each frame in seconds, (T,), for frames picked out of a longer motion (snapshots);
        None: frame t is at t / fps.
    """
    joints = as_joints(joints)
    if times is None:
        times = np.arange(len(joints)) / float(fps)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (len(joints),):
        raise ValueError(f"times must have one entry per frame ({len(joints)}), got shape {times.shape}")
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16x16 pixels, got {size}")
    camera = _Camera(joints, (width, height), elevation_deg, azimuth_deg, follow)
    T = len(joints)
    scale = height / 240.0
    thickness = max(1, int(round(3 * scale)))
    dot = max(1, int(round(2.5 * scale)))
    head = max(2, int(round(7 * scale)))

    grid_a, grid_b = _grid_lines(joints)
    frames = np.empty((T, height, width, 3), dtype=np.uint8)
    for t in range(T):
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[:] = BACKGROUND
        if grid:
            a, b, keep = _clip_segments(camera.to_camera(grid_a, t), camera.to_camera(grid_b, t))
            pa, pb = _fixed(camera.to_pixels(a[keep])), _fixed(camera.to_pixels(b[keep]))
            for p, q in zip(pa, pb):
                cv2.line(image, tuple(p), tuple(q), GRID_COLOUR, 1, cv2.LINE_AA, _SHIFT)
        if trail and t > 0:
            ground = joints[: t + 1, 0] * np.array([1.0, 0.0, 1.0])
            cam = camera.to_camera(ground, t)
            visible = cam[:, 2] > _NEAR
            if visible.sum() > 1:
                points = _fixed(camera.to_pixels(cam[visible]))
                cv2.polylines(image, [points.reshape(-1, 1, 2)], False, TRAIL_COLOUR, max(1, thickness - 1),
                              cv2.LINE_AA, _SHIFT)
        cam = camera.to_camera(joints[t], t)
        pixels = _fixed(camera.to_pixels(cam))
        # painter's order: far bones first, so the near limbs are drawn over the far ones
        order = sorted(_BONES, key=lambda bone: -(cam[bone[0], 2] + cam[bone[1], 2]))
        for parent, child, chain in order:
            if cam[parent, 2] > _NEAR and cam[child, 2] > _NEAR:
                cv2.line(image, tuple(pixels[parent]), tuple(pixels[child]), CHAIN_COLOURS[chain], thickness,
                         cv2.LINE_AA, _SHIFT)
        for j in range(NUM_JOINTS):
            if cam[j, 2] > _NEAR:
                radius, colour = (head, CHAIN_COLOURS[2]) if j == _HEAD else (dot, JOINT_COLOUR)
                cv2.circle(image, tuple(pixels[j]), radius, colour, -1, cv2.LINE_AA, _SHIFT)
        if title:
            _text(image, title, (6, int(16 * scale)), scale)
        _text(image, f"{times[t]:4.1f}s", (width - int(46 * scale), height - int(8 * scale)), scale)
        frames[t] = image
    return frames


def _grid_lines(joints: np.ndarray):
    """World-space ground lines (N, 3) x 2 every 0.5 m over the region the motion covers, plus 2 m around it."""
    lo = np.floor((joints[..., [0, 2]].reshape(-1, 2).min(0) - 2.0) * 2) / 2
    hi = np.ceil((joints[..., [0, 2]].reshape(-1, 2).max(0) + 2.0) * 2) / 2
    starts, ends = [], []
    for x in np.arange(lo[0], hi[0] + 1e-9, 0.5):
        starts.append([x, 0.0, lo[1]])
        ends.append([x, 0.0, hi[1]])
    for z in np.arange(lo[1], hi[1] + 1e-9, 0.5):
        starts.append([lo[0], 0.0, z])
        ends.append([hi[0], 0.0, z])
    return np.array(starts), np.array(ends)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 1.0,
          colour=TEXT_COLOUR, background=None) -> None:
    font_scale = 0.45 * scale
    if background is not None:
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        x, y = origin
        cv2.rectangle(image, (x - 3, y - h - 3), (x + w + 3, y + base + 1), background, -1)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, 1, cv2.LINE_AA)


# ------------------------------------------------------------------------------------------------ writing

def _as_frames(frames) -> np.ndarray:
    frames = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be RGB images (T, H, W, 3) with T >= 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def write_video(frames, path, fps: float = FPS, crf: int = 18, preset: str = "medium") -> Path:
    """Write RGB frames (T, H, W, 3) uint8 to `path`: .mp4 (H.264, yuv420p) or .gif. Returns the path.

    mp4: one encoder thread and no wall-clock metadata, so equal frames give byte-identical files. yuv420p needs
    even sizes: an odd width/height is padded by repeating the last column/row. crf/preset: x264 quality/speed.
    """
    frames = _as_frames(frames)
    path = Path(path)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        _write_gif(frames, path, fps)
    elif suffix in (".mp4", ".m4v", ".mov"):
        _write_h264(frames, path, fps, crf, preset)
    else:
        raise ValueError(f"{path}: unsupported video extension {path.suffix!r} (use .mp4 or .gif)")
    return path


def _write_h264(frames: np.ndarray, path: Path, fps: float, crf: int, preset: str) -> None:
    import av

    T, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4" if path.suffix.lower() != ".mov" else "mov") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width + pad_w, height + pad_h
        stream.pix_fmt = "yuv420p"
        # threads=1: x264's multi-threaded rate control is not bit-reproducible; one thread is.
        stream.options = {"crf": str(int(crf)), "preset": preset, "threads": "1"}
        stream.codec_context.thread_count = 1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    try:
        from PIL import Image
    except ImportError:  # no Pillow: FFmpeg's gif encoder through PyAV
        Image = None
    if Image is not None:
        images = [Image.fromarray(image) for image in frames]
        # GIF delays are in 1/100 s; Pillow takes milliseconds and rounds to that grid.
        images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)),
                       loop=0)
        return
    import av

    with av.open(str(path), mode="w", format="gif") as container:
        stream = container.add_stream("gif", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb8"  # a fixed 3-3-2 colour cube: swscale cannot build an adaptive palette (pal8)
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def render_motion(joints_or_features, out_path, fps: float = FPS, title: str | None = None,
                  size: tuple[int, int] = (320, 240), **camera) -> Path:
    """Render a motion (joints, features or a .npy path) to an .mp4 or .gif; returns the output path.

    camera: elevation_deg, azimuth_deg, follow -- see render_skeleton_frames.
    """
    frames = render_skeleton_frames(joints_or_features, size=size, title=title, fps=fps, **camera)
    return write_video(frames, out_path, fps)


# ------------------------------------------------------------------------------------------------ layouts

def _resize_to_height(frames: np.ndarray, height: int) -> np.ndarray:
    if frames.shape[1] == height:
        return frames
    width = max(1, round(frames.shape[2] * height / frames.shape[1]))
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def side_by_side(frames_a, frames_b, labels: Sequence[str] = ("before", "after"), gap: int = 4) -> np.ndarray:
    """Two clips next to each other (T, H, Wa + gap + Wb, 3), each labelled in its top-left corner.

    The second clip is resized to the first's height; the shorter clip holds its last frame.
    """
    a, b = _as_frames(frames_a), _resize_to_height(_as_frames(frames_b), _as_frames(frames_a).shape[1])
    if len(labels) != 2:
        raise ValueError(f"side_by_side needs two labels, got {len(labels)}")
    T = max(len(a), len(b))
    a = np.concatenate([a, np.repeat(a[-1:], T - len(a), axis=0)])
    b = np.concatenate([b, np.repeat(b[-1:], T - len(b), axis=0)])
    height = a.shape[1]
    out = np.full((T, height, a.shape[2] + gap + b.shape[2], 3), 255, dtype=np.uint8)
    out[:, :, : a.shape[2]] = a
    out[:, :, a.shape[2] + gap:] = b
    scale = height / 240.0
    for t in range(T):
        for x0, label in ((0, labels[0]), (a.shape[2] + gap, labels[1])):
            if label:
                _text(out[t], str(label), (x0 + 6, height - int(10 * scale)), scale, background=(255, 255, 255))
    return out


def contact_sheet(images: list[list[np.ndarray]], row_labels: Sequence[str] | None = None,
                  col_labels: Sequence[str] | None = None, out_png=None, pad: int = 4) -> np.ndarray:
    """Tile images[row][col] (RGB uint8) into one RGB image, with optional row/column labels; write a PNG if
    out_png is given. Every cell takes the size of images[0][0] (others are resized to it)."""
    if not images or not images[0]:
        raise ValueError("contact_sheet needs at least one row with one image")
    rows, cols = len(images), max(len(r) for r in images)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"contact_sheet: {len(row_labels)} row labels for {rows} rows")
    if col_labels is not None and len(col_labels) != cols:
        raise ValueError(f"contact_sheet: {len(col_labels)} column labels for {cols} columns")
    cell_h, cell_w = np.asarray(images[0][0]).shape[:2]
    font = 0.45

    def text_width(s):
        return cv2.getTextSize(str(s), cv2.FONT_HERSHEY_SIMPLEX, font, 1)[0][0]

    left = (max(text_width(s) for s in row_labels) + 2 * pad) if row_labels else 0
    top = 22 if col_labels else 0
    sheet = np.full((top + rows * (cell_h + pad) + pad, left + cols * (cell_w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(images):
        y = top + pad + r * (cell_h + pad)
        if row_labels:
            _text(sheet, str(row_labels[r]), (pad, y + cell_h // 2 + 5))
        for c, image in enumerate(row):
            image = np.asarray(image)
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=-1)
            if image.dtype != np.uint8 or image.shape[-1] != 3:
                raise ValueError(f"contact_sheet: image [{r}][{c}] must be RGB uint8, got {image.dtype} "
                                 f"{image.shape}")
            if image.shape[:2] != (cell_h, cell_w):
                image = cv2.resize(image, (cell_w, cell_h), interpolation=cv2.INTER_AREA)
            x = left + pad + c * (cell_w + pad)
            sheet[y: y + cell_h, x: x + cell_w] = image
    if col_labels:
        for c, label in enumerate(col_labels):
            _text(sheet, str(label), (left + pad + c * (cell_w + pad) + 2, 16))
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {out_png}")
    return sheet


# ------------------------------------------------------------------------------------------------ CLI

def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hero_model.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("motion", type=Path, help="joints (T, 22, 3) or HumanML3D features (T, 263) as .npy")
    parser.add_argument("out", type=Path, help="output .mp4 or .gif")
    parser.add_argument("--fps", type=float, default=FPS, help=f"frame rate (default {FPS})")
    parser.add_argument("--title", default=None, help="text drawn in the top-left corner")
    parser.add_argument("--size", type=_parse_size, default=(320, 240), help="WIDTHxHEIGHT (default 320x240)")
    parser.add_argument("--elevation", type=float, default=20.0, help="camera elevation, degrees")
    parser.add_argument("--azimuth", type=float, default=35.0, help="camera azimuth, degrees (0 = front)")
    args = parser.parse_args(argv)
    try:
        path = render_motion(args.motion, args.out, fps=args.fps, title=args.title, size=args.size,
                             elevation_deg=args.elevation, azimuth_deg=args.azimuth)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
