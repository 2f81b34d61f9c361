"""A G1 joint trajectory in time: hinge angles by joint name, optionally the floating base's pose, sampled at any
time by interpolation (a trajectory at 20 fps drives a simulation at 500 Hz).

Sources: the npz that `python -m hero_model.retarget` writes (joint_names, joint_positions (N, dof), root_pose (N, 7),
fps), a RobotMotion, or arrays from a ROS JointTrajectory (explicit sample times). Joints are matched by name; a
joint the G1 does not have is an error naming it, a G1 joint the trajectory does not name keeps its standing angle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .robot import JOINT_NAMES, STANDING_POSE


class TrajectoryError(ValueError):
    """A trajectory that cannot be played (the message names the field or file and the value)."""


def standing_angles() -> np.ndarray:
    """(29,) rad in JOINT_NAMES order."""
    return np.array([STANDING_POSE.get(name, 0.0) for name in JOINT_NAMES])


@dataclass
class Trajectory:
    """times: (N,) seconds, strictly increasing (playback time; the first sample may be later than 0, it is held
    until then); positions: (N, 29) rad in JOINT_NAMES order; root_pose: (N, 7) [x, y, z, qw, qx, qy, qz] of the
    pelvis in the world (REP 103, z up) or None (the base stays where physics or the standing pose puts it);
    commanded: (29,) bool, the joints the source named (the others hold the standing angle)."""

    times: np.ndarray
    positions: np.ndarray
    root_pose: np.ndarray | None = None
    commanded: np.ndarray | None = None

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=np.float64)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        if self.times.ndim != 1 or len(self.times) < 1:
            raise TrajectoryError(f"times must be a non-empty 1-D array, got shape {self.times.shape}")
        if self.positions.shape != (len(self.times), len(JOINT_NAMES)):
            raise TrajectoryError(f"positions must be ({len(self.times)}, {len(JOINT_NAMES)}), "
                                  f"got {self.positions.shape}")
        if not np.all(np.isfinite(self.times)) or np.any(np.diff(self.times) <= 0):
            raise TrajectoryError("times must be finite and strictly increasing")
        if not np.all(np.isfinite(self.positions)):
            raise TrajectoryError("positions hold NaN or inf")
        if self.root_pose is not None:
            self.root_pose = np.asarray(self.root_pose, dtype=np.float64)
            if self.root_pose.shape != (len(self.times), 7) or not np.all(np.isfinite(self.root_pose)):
                raise TrajectoryError(f"root_pose must be finite ({len(self.times)}, 7), got {self.root_pose.shape}")
            norms = np.linalg.norm(self.root_pose[:, 3:], axis=1)
            if np.any(norms < 1e-6):
                raise TrajectoryError("root_pose holds a zero quaternion")
            self.root_pose[:, 3:] /= norms[:, None]
        if self.commanded is None:
            self.commanded = np.ones(len(JOINT_NAMES), dtype=bool)

    # ------------------------------------------------------------------------------------------- construction
    @classmethod
    def from_named(cls, joint_names, times, positions, root_pose=None) -> "Trajectory":
        """positions (N, len(joint_names)) for the named joints; unnamed G1 joints hold their standing angle."""
        joint_names = [str(n) for n in joint_names]
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != len(joint_names):
            raise TrajectoryError(f"joint_positions must be (N, {len(joint_names)}) for {len(joint_names)} joint "
                                  f"names, got {positions.shape}")
        unknown = [n for n in joint_names if n not in JOINT_NAMES]
        if unknown:
            raise TrajectoryError(f"unknown joint(s) for the Unitree G1: {', '.join(unknown[:6])}"
                                  f"{' ...' if len(unknown) > 6 else ''} (expected names like {JOINT_NAMES[0]})")
        if len(set(joint_names)) != len(joint_names):
            raise TrajectoryError("joint_names repeats a joint")
        columns = [JOINT_NAMES.index(n) for n in joint_names]
        full = np.repeat(standing_angles()[None], len(positions), axis=0)
        full[:, columns] = positions
        commanded = np.zeros(len(JOINT_NAMES), dtype=bool)
        commanded[columns] = True
        return cls(np.asarray(times, dtype=np.float64), full, root_pose, commanded)

    @classmethod
    def from_fps(cls, joint_names, positions, fps: float, root_pose=None) -> "Trajectory":
        if not (np.isfinite(fps) and fps > 0):
            raise TrajectoryError(f"fps must be positive, got {fps}")
        return cls.from_named(joint_names, np.arange(len(positions)) / float(fps), positions, root_pose)

    @classmethod
    def from_motion(cls, motion) -> "Trajectory":
        """From a hero_model.retarget.RobotMotion (joint_names, joint_positions, root_pose, fps)."""
        return cls.from_fps(motion.joint_names, motion.joint_positions, motion.fps, motion.root_pose)

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        """The npz of `python -m hero_model.retarget`: joint_names, joint_positions (N, dof), fps, optional
        root_pose (N, 7)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise TrajectoryError(f"{path}: cannot read ({exc})") from exc
        missing = [k for k in ("joint_names", "joint_positions", "fps") if k not in arrays]
        if missing:
            raise TrajectoryError(f"{path}: missing array(s) {', '.join(missing)} (has {', '.join(arrays)})")
        try:
            return cls.from_fps(arrays["joint_names"].tolist(), arrays["joint_positions"], float(arrays["fps"]),
                                arrays.get("root_pose"))
        except TrajectoryError as exc:
            raise TrajectoryError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------------------------------- sampling
    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def _bracket(self, t: float) -> tuple[int, float]:
        """(i, a): t lies between times[i] and times[i + 1], a in [0, 1]; held before the first and after the last."""
        if len(self.times) == 1 or t <= self.times[0]:
            return 0, 0.0
        if t >= self.times[-1]:
            return len(self.times) - 2, 1.0
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return i, float((t - self.times[i]) / (self.times[i + 1] - self.times[i]))

    def angles(self, t: float) -> np.ndarray:
        """(29,) rad at time t (linear interpolation; exactly positions[i] at times[i])."""
        i, a = self._bracket(t)
        if len(self.times) == 1:
            return self.positions[0].copy()
        # (1 - a) p0 + a p1 rather than p0 + a (p1 - p0): exact at both ends
        return (1.0 - a) * self.positions[i] + a * self.positions[i + 1]

    def velocities(self, t: float) -> np.ndarray:
        """(29,) rad/s: the slope of the segment holding t (0 outside the trajectory's span)."""
        if len(self.times) == 1 or t < self.times[0] or t > self.times[-1]:
            return np.zeros(len(JOINT_NAMES))
        i, _ = self._bracket(t)
        return (self.positions[i + 1] - self.positions[i]) / (self.times[i + 1] - self.times[i])

    def base_pose(self, t: float) -> np.ndarray | None:
        """(7,) [x, y, z, qw, qx, qy, qz] at time t (position lerp, quaternion nlerp on the short arc), or None."""
        if self.root_pose is None:
            return None
        i, a = self._bracket(t)
        if len(self.times) == 1:
            return self.root_pose[0].copy()
        p0, p1 = self.root_pose[i], self.root_pose[i + 1]
        q1 = p1[3:] if np.dot(p0[3:], p1[3:]) >= 0 else -p1[3:]
        q = (1.0 - a) * p0[3:] + a * q1
        return np.concatenate([(1.0 - a) * p0[:3] + a * p1[:3], q / np.linalg.norm(q)])
