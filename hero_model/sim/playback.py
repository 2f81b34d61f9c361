"""Playing a G1 trajectory in MuJoCo: kinematic playback or PD tracking with physics, with a report.

kinematic  Every sample sets qpos directly: the hinges at the interpolated reference angles (clipped to the joint
           ranges), the floating base at the trajectory's root pose, or -- without one -- upright above the origin
           with the lowest foot point on the floor. No dynamics: it shows the motion as commanded.
physics    The robot stands on the floor; the PD actuators (robot.GAINS, clamped to robot.MOTORS' effort limits)
           track the reference with velocity feed-forward,
               tau = kp (q_ref - q) + kd (qdot_ref - qdot)   <=>   ctrl = q_ref + (kd / kp) qdot_ref,
           which keeps the actuator's damping on qdot alone (integrated implicitly). Before playback the start pose
           is held for `hold_s` so the robot settles on its feet. Nothing balances the robot -- no whole-body
           controller, no base support -- so a dynamic reaction (a jump aside, a fast step) can make it fall; the
           report says whether and when.

Time: playback time t = 0 is the trajectory's time 0; the hold phase runs at t < 0.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np

from .robot import BASE_BODY, GAINS, GROUPS, JOINT_NAMES, build_scene, foot_geom_ids, group_of, lowest_foot_point
from .trajectory import Trajectory, standing_angles

MODES = ("kinematic", "physics")
FLOOR_CLEARANCE = 0.001   # m between the lowest foot point and the floor when the robot is placed


@dataclass
class SimConfig:
    """mode: kinematic or physics (module docstring).
    timestep: physics step, s (0.002 = 500 Hz; the G1's 1 cm foot capsules need small steps).
    hold_s: physics only: seconds the start pose is held before playback so the robot settles.
    fall_height: pelvis height (m) below which the robot counts as fallen (standing: ~0.76).
    fall_tilt_deg: angle (deg) between the pelvis' up axis and the world's above which the robot counts as fallen.
    velocity_feedforward: physics only: track the reference velocity too (otherwise the damping lags the motion).
    level_feet: physics only: replace the ankle pitch/roll references by the angles that keep each sole parallel to
        the floor for the reference leg pose and pelvis orientation. Position-only retargeting leaves the ankles
        free, and a foot pitched by 15-30 deg puts a standing robot on its toes; the report gives the largest change
        (ankle_leveling_max_rad), and tracking errors are measured against the levelled reference.
    """

    mode: str = "kinematic"
    timestep: float = 0.002
    hold_s: float = 1.0
    fall_height: float = 0.45
    fall_tilt_deg: float = 60.0
    velocity_feedforward: bool = True
    level_feet: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: must be one of {', '.join(MODES)}")
        if not 1e-4 <= self.timestep <= 0.02:
            raise ValueError(f"timestep={self.timestep}: must lie in [0.0001, 0.02] s")
        if not 0.0 <= self.hold_s <= 30.0:
            raise ValueError(f"hold_s={self.hold_s}: must lie in [0, 30] s")
        if not 0.0 < self.fall_height < 1.0:
            raise ValueError(f"fall_height={self.fall_height}: must lie in (0, 1) m")
        if not 0.0 < self.fall_tilt_deg <= 180.0:
            raise ValueError(f"fall_tilt_deg={self.fall_tilt_deg}: must lie in (0, 180]")


@dataclass
class SimReport:
    """What one playback did. Tracking errors (rad, reference minus reached angle, every physics step from t = 0
    until the end or the fall) per joint group and over all joints; in kinematic mode they measure only the clipping
    of commands outside the joint ranges. fall_time_s: playback time of the fall (negative: during the hold)."""

    mode: str
    samples: int
    duration_s: float
    timestep_s: float
    hold_s: float
    steps: int = 0
    fell: bool = False
    fall_time_s: float | None = None
    fall_reason: str | None = None
    min_pelvis_height_m: float = math.inf
    max_tilt_deg: float = 0.0
    tracking: dict = field(default_factory=dict)
    clipped_joints: list = field(default_factory=list)
    level_feet: bool = False
    ankle_leveling_max_rad: float | None = None
    ms_per_step: float | None = None
    rendered_frames: int = 0
    ms_per_frame: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["min_pelvis_height_m"] = None if math.isinf(self.min_pelvis_height_m) else round(self.min_pelvis_height_m, 4)
        return d


class G1Simulator:
    """One G1 in one MuJoCo scene; `start(trajectory)` then `advance(t)` with increasing playback times t.

    Read the state between calls: joint_positions(), joint_velocities(), joint_efforts(), base_pose(); `data` is the
    MjData (for rendering)."""

    def __init__(self, config: SimConfig | None = None, mjcf_path=None, render_size=(640, 480)):
        self.config = config or SimConfig()
        self.model = build_scene(mjcf_path, self.config.timestep, render_size)
        self.data = mujoco.MjData(self.model)
        self.feet = foot_geom_ids(self.model)
        self.base = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY)
        hinge_ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES]
        self.qpos_index = self.model.jnt_qposadr[hinge_ids]     # (29,) into qpos
        self.qvel_index = self.model.jnt_dofadr[hinge_ids]      # (29,) into qvel
        self.lower, self.upper = self.model.jnt_range[hinge_ids].T
        self.kp = np.array([GAINS[group_of(n)].kp for n in JOINT_NAMES])
        self.kd = np.array([GAINS[group_of(n)].kd for n in JOINT_NAMES])
        self.groups = np.array([group_of(n) for n in JOINT_NAMES])
        self.trajectory: Trajectory | None = None
        self.time = 0.0

    # ------------------------------------------------------------------------------------------- state
    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.qpos_index].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.qvel_index].copy()

    def joint_efforts(self) -> np.ndarray:
        """(29,) N m: the actuator torques (0 in kinematic mode)."""
        return self.data.actuator_force.copy() if self.config.mode == "physics" else np.zeros(len(JOINT_NAMES))

    def base_pose(self) -> np.ndarray:
        """(7,) [x, y, z, qw, qx, qy, qz] of the pelvis."""
        return self.data.qpos[:7].copy()

    def pelvis_height(self) -> float:
        return float(self.data.xpos[self.base, 2])

    def tilt_deg(self) -> float:
        up_z = self.data.xmat[self.base].reshape(3, 3)[2, 2]    # world z of the pelvis' z axis
        return math.degrees(math.acos(float(np.clip(up_z, -1.0, 1.0))))

    # ------------------------------------------------------------------------------------------- playback
    def start(self, trajectory: Trajectory) -> SimReport:
        """Reset to the trajectory's start pose (physics: then hold it for hold_s). Returns the live report."""
        self.trajectory = trajectory
        c = self.config
        self.report = SimReport(c.mode, len(trajectory.times), trajectory.duration, c.timestep,
                                c.hold_s if c.mode == "physics" else 0.0)
        outside = (trajectory.positions < self.lower - 1e-9) | (trajectory.positions > self.upper + 1e-9)
        self.report.clipped_joints = [name for name, hit, named in zip(JOINT_NAMES, outside.any(axis=0),
                                                                        trajectory.commanded) if hit and named]
        self._sq_error = np.zeros(len(JOINT_NAMES))
        self._max_error = np.zeros(len(JOINT_NAMES))
        self._error_steps = 0
        self._step_seconds = 0.0
        mujoco.mj_resetData(self.model, self.data)
        if c.mode == "kinematic":
            self.time = 0.0
            self._pose_kinematic(0.0)
            return self.report
        if c.level_feet:
            trajectory = self.trajectory = self.level_feet(trajectory)
        self._place_upright(self._clipped(trajectory.angles(0.0)), trajectory.base_pose(0.0))
        self.time = -c.hold_s
        self.advance(0.0)
        return self.report

    def advance(self, t: float, planar_base: np.ndarray | None = None) -> None:
        """Move playback time to t (>= the current time): kinematic sets the pose at t, physics steps up to t.

        planar_base: kinematic only, a (7,) pose [x, y, z, qw, qx, qy, qz] that overrides the trajectory's root pose
        with its ground position and heading only (the height puts the lowest foot on the floor, the pelvis stays
        upright): for base poses from another body, e.g. a human pelvis streamed by the reaction node."""
        if self.trajectory is None:
            raise RuntimeError("advance() before start()")
        if self.config.mode == "kinematic":
            self.time = t
            self._pose_kinematic(t, planar_base)
            return
        dt = self.model.opt.timestep
        ratio = self.kd / self.kp
        began = time.perf_counter()
        steps = 0
        while self.time + 0.5 * dt < t:
            ref_t = max(self.time + dt, 0.0)   # the hold phase (t < 0) holds the start pose
            ctrl = self._clipped(self.trajectory.angles(ref_t))
            if self.config.velocity_feedforward and self.time >= 0.0:
                ctrl = ctrl + ratio * self.trajectory.velocities(ref_t)
            self.data.ctrl[:] = ctrl
            mujoco.mj_step(self.model, self.data)
            self.time += dt
            steps += 1
            self._check_fall()
            if self.time >= -1e-9 and not self.report.fell:
                self._accumulate(self.trajectory.angles(self.time))
        self._step_seconds += time.perf_counter() - began
        self.report.steps += steps

    @property
    def finished(self) -> bool:
        return self.trajectory is not None and self.time >= self.trajectory.duration - 1e-9

    def finish(self) -> SimReport:
        """Play to the end of the trajectory and return the completed report."""
        self.advance(self.trajectory.duration)
        return self.result()

    def result(self) -> SimReport:
        """The report so far, with tracking errors per group."""
        r = self.report
        tracking = {}
        if self._error_steps:
            rms = np.sqrt(self._sq_error / self._error_steps)
            for group in GROUPS + ("all",):
                mask = (self.groups == group) if group != "all" else np.ones(len(JOINT_NAMES), bool)
                mask &= self.trajectory.commanded
                if mask.any():
                    tracking[group] = {"rms_rad": round(float(np.sqrt(np.mean(rms[mask] ** 2))), 5),
                                       "max_rad": round(float(self._max_error[mask].max()), 5)}
        r.tracking = tracking
        physics = self.config.mode == "physics" and r.steps
        r.ms_per_step = round(1e3 * self._step_seconds / r.steps, 4) if physics else None
        return r

    def level_feet(self, trajectory: Trajectory) -> Trajectory:
        """A copy of `trajectory` whose ankle pitch/roll keep both soles level (SimConfig.level_feet), for the
        reference hip/knee angles and the reference pelvis orientation (upright when there is none)."""
        scratch = mujoco.MjData(self.model)
        positions = self._clipped(trajectory.positions.copy())
        original = trajectory.positions
        columns = {side: (JOINT_NAMES.index(f"{side}_ankle_pitch_joint"), JOINT_NAMES.index(f"{side}_ankle_roll_joint"),
                          mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, f"{side}_ankle_pitch_link"))
                   for side in ("left", "right")}
        for i in range(len(positions)):
            scratch.qpos[3:7] = trajectory.root_pose[i, 3:] if trajectory.root_pose is not None else [1, 0, 0, 0]
            angles = positions[i].copy()
            for pitch, roll, _ in columns.values():
                angles[pitch] = angles[roll] = 0.0     # the ankle-pitch link's frame is then the shank's
            scratch.qpos[self.qpos_index] = angles
            mujoco.mj_kinematics(self.model, scratch)
            for pitch, roll, body in columns.values():
                # world up in the shank frame; the sole's normal after pitch p and roll r is
                # R_y(p) R_x(r) e_z = (cos r sin p, -sin r, cos r cos p) there
                up = scratch.xmat[body].reshape(3, 3).T @ np.array([0.0, 0.0, 1.0])
                positions[i, roll] = -math.asin(float(np.clip(up[1], -1.0, 1.0)))
                positions[i, pitch] = math.atan2(float(up[0]), float(up[2]))
        positions = self._clipped(positions)
        ankles = [c for pitch, roll, _ in columns.values() for c in (pitch, roll)]
        self.report.level_feet = True
        self.report.ankle_leveling_max_rad = round(float(np.abs(positions[:, ankles] - original[:, ankles]).max()), 5)
        levelled = trajectory.positions.copy()
        levelled[:, ankles] = positions[:, ankles]
        return Trajectory(trajectory.times, levelled, trajectory.root_pose, trajectory.commanded)

    # ------------------------------------------------------------------------------------------- helpers
    def _clipped(self, angles: np.ndarray) -> np.ndarray:
        return np.clip(angles, self.lower, self.upper)

    def _accumulate(self, reference: np.ndarray) -> None:
        error = np.abs(reference - self.joint_positions())
        self._sq_error += error ** 2
        np.maximum(self._max_error, error, out=self._max_error)
        self._error_steps += 1

    def _place_upright(self, angles: np.ndarray, root: np.ndarray | None) -> None:
        """Hinges at `angles`, pelvis upright (heading and x, y of `root` when given), lowest foot on the floor."""
        qpos = self.data.qpos
        qpos[self.qpos_index] = angles
        qpos[:3] = 0.0
        qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
        if root is not None:
            w, x, y, z = root[3:]
            yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
            qpos[:2] = root[:2]
            qpos[3:7] = [math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0)]
        mujoco.mj_kinematics(self.model, self.data)
        qpos[2] = FLOOR_CLEARANCE - lowest_foot_point(self.model, self.data, self.feet)
        self.data.qvel[:] = 0.0
        self.data.ctrl[:] = angles
        mujoco.mj_forward(self.model, self.data)

    def _pose_kinematic(self, t: float, planar_base: np.ndarray | None = None) -> None:
        commanded = self.trajectory.angles(t)
        angles = self._clipped(commanded)
        root = self.trajectory.base_pose(t)
        if planar_base is not None or root is None:
            self._place_upright(angles, planar_base)
        else:
            self.data.qpos[:7] = root
            self.data.qpos[self.qpos_index] = angles
            mujoco.mj_forward(self.model, self.data)
        self.report.steps += 1
        self._check_fall()
        if not self.report.fell:
            self._accumulate(commanded)

    def _check_fall(self) -> None:
        r = self.report
        height, tilt = self.pelvis_height(), self.tilt_deg()
        r.min_pelvis_height_m = min(r.min_pelvis_height_m, height)
        r.max_tilt_deg = max(r.max_tilt_deg, round(tilt, 2))
        if r.fell:
            return
        reason = None
        if height < self.config.fall_height:
            reason = f"pelvis height {height:.3f} m < {self.config.fall_height} m"
        elif tilt > self.config.fall_tilt_deg:
            reason = f"base tilt {tilt:.1f} deg > {self.config.fall_tilt_deg} deg"
        if reason:
            r.fell, r.fall_time_s, r.fall_reason = True, round(self.time, 4), reason


def standing_trajectory(duration_s: float = 1.0, fps: float = 20.0) -> Trajectory:
    """The standing pose held for duration_s (a neutral reference)."""
    n = max(2, int(round(duration_s * fps)) + 1)
    return Trajectory(np.arange(n) / fps, np.repeat(standing_angles()[None], n, axis=0))
