"""The reactor's eyes: a pinhole camera at eye height in the reactor's frame, plus small head sway.

World frame = the reactor's HumanML3D frame: metres, X = the reactor's left, Y up, Z forward (the direction the
reactor faces); the floor is Y = 0 and the camera sits at (0, eye_height, 0). Image u grows to the right (world -X),
v grows downwards.

Rendering happens on a canvas `margin` pixels larger than the output on every side; head sway is then a small 2D
rotation + shift of that canvas (`HeadSway.affine`). For rotations of a degree or two a pure camera rotation is a
homography indistinguishable from that affine map, and it lets the static background be rasterised once per clip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NEAR_PLANE_M = 0.08  # geometry closer than this (camera Z) is clipped away; it would be inside the reactor's head


@dataclass
class PinholeCamera:
    """A pinhole camera looking along world +Z (tilted by `pitch_deg`), square pixels.

    size: output image side in pixels (frames are size x size).
    hfov_deg: horizontal field of view of the output image, degrees.
    eye_height: camera height above the floor, metres (the reactor's eyes).
    pitch_deg: head tilt, degrees; positive looks up.
    margin: extra canvas pixels on each side, consumed by head sway.
    """

    size: int = 224
    hfov_deg: float = 55.0
    eye_height: float = 1.6
    pitch_deg: float = 0.0
    margin: int = 12

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"PinholeCamera: size must be >= 32 pixels, got {self.size}")
        if not 10.0 <= self.hfov_deg <= 120.0:
            raise ValueError(f"PinholeCamera: hfov_deg must be in [10, 120], got {self.hfov_deg}")
        if not 0.3 <= self.eye_height <= 2.5:
            raise ValueError(f"PinholeCamera: eye_height must be in [0.3, 2.5] m, got {self.eye_height}")
        if not -45.0 <= self.pitch_deg <= 45.0:
            raise ValueError(f"PinholeCamera: pitch_deg must be in [-45, 45], got {self.pitch_deg}")
        if self.margin < 0:
            raise ValueError(f"PinholeCamera: margin must be >= 0, got {self.margin}")
        pitch = math.radians(self.pitch_deg)
        self.position = np.array([0.0, self.eye_height, 0.0])
        # Camera axes in world coordinates: image right is world -X (the reactor's right).
        self.right = np.array([-1.0, 0.0, 0.0])
        self.up = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
        self.forward = np.array([0.0, math.sin(pitch), math.cos(pitch)])
        self.rotation = np.stack([self.right, self.up, self.forward])  # (3, 3) world -> camera (rows = axes)
        self.focal = (self.size / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)  # pixels
        self.canvas_size = self.size + 2 * self.margin
        self.centre = self.canvas_size / 2.0  # principal point on the canvas (pixel-centre convention: +0.5)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera coordinates (right, up, forward)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> canvas pixel coordinates (..., 2) and camera depth (...,).

        u = c + f * x/z, v = c - f * y/z (pinhole model); depth <= 0 means behind the camera (callers clip).
        """
        cam = self.to_camera(points)
        z = cam[..., 2]
        safe_z = np.where(z > 1e-6, z, 1e-6)
        u = self.centre + self.focal * cam[..., 0] / safe_z
        v = self.centre - self.focal * cam[..., 1] / safe_z
        return np.stack([u, v], axis=-1), z

    def light_in_camera(self, light_dir_world: np.ndarray) -> np.ndarray:
        """A world direction expressed on the camera axes (right, up, forward), for per-pixel shading."""
        return self.rotation @ np.asarray(light_dir_world, dtype=np.float64)

    def pixel_rays(self) -> np.ndarray:
        """(S, S, 3) world directions (not normalised) through every canvas pixel centre, S = canvas_size."""
        coords = np.arange(self.canvas_size, dtype=np.float64) + 0.5 - self.centre
        x = coords[None, :] / self.focal
        y = -coords[:, None] / self.focal
        x, y = np.broadcast_arrays(x, y)
        return (x[..., None] * self.right + y[..., None] * self.up + self.forward)


@dataclass
class HeadSway:
    """Small egocentric head motion: sinusoidal sway plus a smoothed random walk, per frame.

    amplitude_deg: peak sway of yaw and pitch, degrees.
    roll_deg: peak roll, degrees.
    frequency_hz: sway frequency (a walking or breathing rhythm).
    wander_deg: standard deviation of the slow random-walk component, degrees.
    """

    amplitude_deg: float = 0.8
    roll_deg: float = 0.5
    frequency_hz: float = 0.7
    wander_deg: float = 0.3
    phases: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        for name in ("amplitude_deg", "roll_deg", "wander_deg"):
            value = getattr(self, name)
            if not 0.0 <= value <= 5.0:
                raise ValueError(f"HeadSway: {name} must be in [0, 5] degrees (small sway only), got {value}")
        if not 0.0 <= self.frequency_hz <= 5.0:
            raise ValueError(f"HeadSway: frequency_hz must be in [0, 5], got {self.frequency_hz}")
        self.phases = np.asarray(self.phases, dtype=np.float64).reshape(3)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "HeadSway":
        return cls(amplitude_deg=float(rng.uniform(0.0, 1.5)), roll_deg=float(rng.uniform(0.0, 1.0)),
                   frequency_hz=float(rng.uniform(0.3, 1.5)), wander_deg=float(rng.uniform(0.0, 0.6)),
                   phases=rng.uniform(0.0, 2.0 * np.pi, size=3))

    def angles(self, times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(T, 3) yaw, pitch, roll in radians at `times` (seconds)."""
        times = np.asarray(times, dtype=np.float64)
        omega = 2.0 * np.pi * self.frequency_hz
        amps = np.radians([self.amplitude_deg, self.amplitude_deg * 0.6, self.roll_deg])
        # Pitch bobs at twice the yaw rate, like a walking head.
        rates = np.array([1.0, 2.0, 1.0]) * omega
        sway = amps * np.sin(rates * times[:, None] + self.phases)
        steps = rng.standard_normal((len(times), 3)) * math.radians(self.wander_deg) * 0.2
        wander = np.cumsum(steps, axis=0)
        wander -= wander.mean(axis=0)
        return sway + np.clip(wander, -math.radians(1.0), math.radians(1.0))

    def max_angle_rad(self) -> float:
        """Upper bound of |yaw|, |pitch| and |roll| this sway can produce (sizes the canvas margin)."""
        return math.radians(max(self.amplitude_deg, self.roll_deg) + 1.0)

    @staticmethod
    def affine(camera: PinholeCamera, yaw: float, pitch: float, roll: float) -> np.ndarray:
        """(2, 3) map from canvas pixel indices to output pixel indices for one frame (cv2.warpAffine convention).

        In continuous image coordinates out = R(roll) (p - c_canvas) + c_out + f * (tan yaw, tan pitch): a small
        camera rotation moves the image by f*tan(angle) and rolls it about the principal point. Pixel index = continuous
        coordinate - 0.5 on both images, hence the -0.5 terms.
        """
        c, s = math.cos(roll), math.sin(roll)
        rot = np.array([[c, -s], [s, c]])
        c_out = camera.size / 2.0 - 0.5
        c_in = camera.centre - 0.5
        shift = camera.focal * np.array([math.tan(yaw), math.tan(pitch)])
        offset = np.array([c_out, c_out]) + shift - rot @ np.array([c_in, c_in])
        return np.concatenate([rot, offset[:, None]], axis=1)
