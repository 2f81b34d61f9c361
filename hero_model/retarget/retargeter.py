"""Human skeleton -> humanoid robot joint angles by inverse kinematics on the robot's MuJoCo model (mink, daqp).

    rt = Retargeter(load_robot("g1"))                 # builds the MuJoCo model and the IK problem once
    motion = rt.retarget(joints_yup, fps=20.0)        # (N, 22, 3) HumanML3D positions -> RobotMotion

From joint POSITIONS: HumanML3D's rotations are swing-only per chain, not SMPL rotations, so they do not say how a
robot's joints should turn. The steps:

1. Axes. HumanML3D (Y up, facing +Z) -> REP 103 (x forward, y left, z up), metres.
2. Scaling. The human is rebuilt bone by bone from the pelvis, each bone vector multiplied by its group's factor
   (legs, torso, arms, hip_width, shoulder_width): bone directions stay the human's, lengths become the robot's.
   A factor is a number from the robot file or `auto`: robot rest-pose length / the human's median length over the
   clip (legs: thigh + shin; arms: upper arm + forearm; widths: left-right distances; torso: pelvis to the middle
   of the shoulders), clipped to AUTO_SCALE_RANGE. The pelvis travels scaled by the legs factor, and heights are measured from the floor (the
   lowest human ankle height goes to the robot's rest ankle height). Scaling starts at the hip centre (the hips get
   the hip_width factor, the pelvis joint above it the torso factor).
3. Floating base. Its heading comes from the hips and shoulders (the left-right axis of both, averaged) and is an
   orientation target on the root body, upright; its position follows the scaled pelvis target. Choice: the base is
   NOT fixed before the IK but solved with the hinges (free joint in the IK, warm-started from the previous
   frame), because a fixed base would make the feet unreachable whenever the robot's legs are bent differently
   from the human's; the pelvis position and heading tasks keep it where the human's pelvis is.
4. IK per frame (mink): one position-only FrameTask per target (weights from the robot file) on a site placed at
   the target's offset on its body, the heading task, a PostureTask towards the rest pose (resolves redundancy:
   wrist and upper-arm twist), Levenberg-Marquardt damping; ConfigurationLimit keeps every hinge inside its range
   and VelocityLimit bounds each hinge at max_joint_velocity (each frame runs `iterations` steps of dt = 1 /
   (fps * iterations), so the bound holds between motion frames). Frame 0 starts from the rest pose.

The MJCF is loaded without its meshes (kinematics only: body inertias are explicit in the file) so that building a
Retargeter takes milliseconds instead of parsing STL files.
"""
from __future__ import annotations

from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from ..motion import JOINT_NAMES, NUM_JOINTS, PARENTS, to_ros_frame
from .robot import RobotSpec

J = {name: i for i, name in enumerate(JOINT_NAMES)}
BONE_GROUP = {  # the group whose factor scales the bone parent(j) -> j
    **{j: "legs" for j in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot")},
    **{j: "hip_width" for j in ("left_hip", "right_hip")},
    **{j: "torso" for j in ("spine1", "spine2", "spine3", "neck", "head")},
    **{j: "shoulder_width" for j in ("left_collar", "right_collar", "left_shoulder", "right_shoulder")},
    **{j: "arms" for j in ("left_elbow", "right_elbow", "left_wrist", "right_wrist")},
}
SITE_PREFIX = "hero_target_"
AUTO_SCALE_RANGE = (0.25, 4.0)   # auto factors are clipped to this (a real human-robot pair lies well inside)


@dataclass(frozen=True)
class RobotMotion:
    """A retargeted motion: joint_names (dof,) hinge order; joint_positions (N, dof) radians; root_pose (N, 7)
    floating base [x, y, z, qw, qx, qy, qz] in the REP 103 world frame (z up, metres; origin on the floor below the
    human's hip centre at frame 0); fps; target_errors (N, targets) metres between each scaled human target and its
    robot site, target_names naming the columns."""

    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    root_pose: np.ndarray
    fps: float
    target_errors: np.ndarray | None = None
    target_names: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return len(self.joint_positions)

    def joint_velocities(self) -> np.ndarray:
        """(N, dof) rad/s by finite differences (central inside, one-sided at the ends); the last row is zero, so a
        trajectory built from it comes to rest."""
        if self.length < 2:
            return np.zeros_like(self.joint_positions)
        velocities = np.gradient(self.joint_positions, 1.0 / self.fps, axis=0)
        velocities[-1] = 0.0
        return velocities

    def error_report(self) -> dict:
        """{"mean_mm", "max_mm", per target "<joint>_mean_mm"} of the target errors."""
        if self.target_errors is None:
            return {}
        e = self.target_errors * 1e3
        report = {"mean_mm": float(e.mean()), "max_mm": float(e.max())}
        report.update({f"{name}_mean_mm": float(e[:, k].mean()) for k, name in enumerate(self.target_names)})
        return report


def _load_model(robot: RobotSpec) -> mujoco.MjModel:
    """The robot's MjModel without meshes, with one site per target at its offset."""
    spec = mujoco.MjSpec.from_file(str(robot.mjcf_path))
    for geom in list(spec.geoms):
        if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            spec.delete(geom)
    for mesh in list(spec.meshes):
        spec.delete(mesh)
    for target in robot.targets:
        body = spec.body(target.body)
        if body is None:
            raise ValueError(f"{robot.source}: field 'targets.{target.human_joint}.body': no body {target.body!r} "
                             f"in {robot.mjcf_path}")
        body.add_site(name=SITE_PREFIX + target.human_joint, pos=list(target.offset), size=[0.01, 0.01, 0.01])
    if spec.body(robot.root_body) is None:
        raise ValueError(f"{robot.source}: field 'root_body': no body {robot.root_body!r} in {robot.mjcf_path}")
    return spec.compile()


def _yaw_quaternion(yaw: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 4) wxyz rotations about z."""
    return np.stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)], axis=-1)


class Retargeter:
    """See the module docstring. Building it compiles the model and the tasks once; retarget() reuses them (one
    call at a time: the IK state is shared, so a Retargeter belongs to one thread)."""

    def __init__(self, robot: RobotSpec):
        self.robot = robot
        self.model = _load_model(robot)
        hinges = [self.model.joint(i) for i in range(self.model.njnt)
                  if self.model.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE]
        names = tuple(j.name for j in hinges)
        if names != robot.joint_names:
            raise ValueError(f"{robot.source}: field 'joint_names' does not match the hinges of {robot.mjcf_path} "
                             f"in order: file {list(robot.joint_names)}, model {list(names)}")
        free = [i for i in range(self.model.njnt) if self.model.jnt_type[i] == mujoco.mjtJoint.mjJNT_FREE]
        if len(free) != 1 or self.model.jnt_bodyid[free[0]] != self.model.body(robot.root_body).id:
            raise ValueError(f"{robot.source}: field 'root_body': {robot.root_body!r} must carry the model's only "
                             "free joint")
        self.hinge_qpos = np.array([self.model.jnt_qposadr[j.id] for j in hinges])      # (dof,)
        self.target_names = tuple(t.human_joint for t in robot.targets)
        self.target_index = np.array([J[name] for name in self.target_names])           # (T,)
        self.site_ids = np.array([self.model.site(SITE_PREFIX + name).id for name in self.target_names])  # (T,)
        self.configuration = mink.Configuration(self.model)
        self.q_rest = self.model.qpos0.copy()
        self.configuration.update(self.q_rest)
        self.rest_sites = {name: self._site_position(name).copy() for name in self.target_names}

        ik = robot.ik
        self.position_tasks = [mink.FrameTask(SITE_PREFIX + t.human_joint, "site", position_cost=t.weight,
                                              orientation_cost=0.0) for t in robot.targets]
        self.heading_task = mink.FrameTask(robot.root_body, "body", position_cost=0.0,
                                           orientation_cost=ik.heading_cost)
        self.posture_task = mink.PostureTask(self.model, cost=ik.posture_cost)
        self.posture_task.set_target(self.q_rest)
        self.tasks = [*self.position_tasks, self.heading_task, self.posture_task]
        self.limits = [mink.ConfigurationLimit(self.model),
                       mink.VelocityLimit(self.model, {name: ik.max_joint_velocity for name in names})]
        self._root_offset = np.array(next(t.offset for t in robot.targets if t.human_joint == "pelvis"))

    def _site_position(self, human_joint: str) -> np.ndarray:
        return self.configuration.data.site(SITE_PREFIX + human_joint).xpos

    # --------------------------------------------------------------------------------------------- scaling
    def scale_factors(self, joints: np.ndarray) -> dict:
        """{group: factor} for the human `joints` (N, 22, 3) REP 103 (numbers from the robot file, else auto)."""
        r = self.rest_sites

        def human(a, b):
            return max(float(np.median(np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1))), 1e-6)

        def robot(a, b):
            return float(np.linalg.norm(r[a] - r[b]))

        def both_sides(measure, *chain):
            return sum(measure(f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
                       for a, b in zip(chain[:-1], chain[1:])) / 2

        shoulders = (joints[:, J["left_shoulder"]] + joints[:, J["right_shoulder"]]) / 2
        human_torso = max(float(np.median(np.linalg.norm(joints[:, J["pelvis"]] - shoulders, axis=-1))), 1e-6)
        robot_torso = float(np.linalg.norm(r["pelvis"] - (r["left_shoulder"] + r["right_shoulder"]) / 2))
        auto = {
            "legs": both_sides(robot, "hip", "knee", "ankle") / both_sides(human, "hip", "knee", "ankle"),
            "arms": both_sides(robot, "shoulder", "elbow", "wrist") / both_sides(human, "shoulder", "elbow", "wrist"),
            "hip_width": robot("left_hip", "right_hip") / human("left_hip", "right_hip"),
            "shoulder_width": robot("left_shoulder", "right_shoulder") / human("left_shoulder", "right_shoulder"),
            "torso": robot_torso / human_torso,
        }
        # a degenerate human (an untrained model's output: collapsed widths or limbs) must not blow the robot up
        auto = {group: float(np.clip(value, *AUTO_SCALE_RANGE)) if np.isfinite(value) else 1.0
                for group, value in auto.items()}
        return {group: auto[group] if value == "auto" else float(value) for group, value in self.robot.scale.items()}

    def scaled_targets(self, joints: np.ndarray) -> tuple[np.ndarray, dict]:
        """(N, 22, 3) human joints, REP 103 -> ((N, 22, 3) scaled human on the robot's floor, factors)."""
        factors = self.scale_factors(joints)
        out = np.zeros_like(joints)
        # scaling starts at the hip centre, not the pelvis joint: the pelvis joint sits above the hips by a torso
        # distance, and the hip bones' vertical part must not be stretched by the (lateral) hip_width factor
        centre = (joints[:, J["left_hip"]] + joints[:, J["right_hip"]]) / 2                # (N, 3)
        floor = min(joints[:, J["left_ankle"], 2].min(), joints[:, J["right_ankle"], 2].min())
        robot_ankle = (self.rest_sites["left_ankle"][2] + self.rest_sites["right_ankle"][2]) / 2
        scaled_centre = np.empty_like(centre)
        scaled_centre[:, :2] = (centre[:, :2] - centre[0, :2]) * factors["legs"]         # origin: frame-0 hip centre
        scaled_centre[:, 2] = (centre[:, 2] - floor) * factors["legs"] + robot_ankle
        out[:, 0] = scaled_centre + factors["torso"] * (joints[:, 0] - centre)
        for side in ("left_hip", "right_hip"):
            out[:, J[side]] = scaled_centre + factors["hip_width"] * (joints[:, J[side]] - centre)
        for j in range(1, NUM_JOINTS):                                             # parents come first
            if JOINT_NAMES[j] in ("left_hip", "right_hip"):
                continue
            p = PARENTS[j]
            out[:, j] = out[:, p] + factors[BONE_GROUP[JOINT_NAMES[j]]] * (joints[:, j] - joints[:, p])
        return out, factors

    @staticmethod
    def heading(joints: np.ndarray) -> np.ndarray:
        """(N,) yaw about z of the human's facing: forward = left-right axis (hips + shoulders) x up."""
        left = (joints[:, J["left_hip"]] - joints[:, J["right_hip"]]
                + joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]])
        return np.unwrap(np.arctan2(-left[:, 0], left[:, 1]))      # forward = (left_y, -left_x) in the plane

    # --------------------------------------------------------------------------------------------- solving
    def retarget(self, joints_yup: np.ndarray, fps: float = 20.0) -> RobotMotion:
        """(N, 22, 3) HumanML3D joint positions (Y up, facing +Z, metres) -> RobotMotion at the same fps."""
        joints_yup = np.asarray(joints_yup, dtype=np.float64)
        if joints_yup.ndim != 3 or joints_yup.shape[1:] != (NUM_JOINTS, 3) or len(joints_yup) < 1:
            raise ValueError(f"retarget: joints must be (N >= 1, {NUM_JOINTS}, 3), got {joints_yup.shape}")
        if not np.isfinite(joints_yup).all():
            raise ValueError("retarget: joints contain NaN or inf")
        if not fps > 0:
            raise ValueError(f"retarget: fps={fps!r} must be > 0")
        joints = to_ros_frame(joints_yup)
        targets, _ = self.scaled_targets(joints)
        targets = targets[:, self.target_index]                                     # (N, T, 3)
        yaw = self.heading(joints)
        heading = _yaw_quaternion(yaw)
        ik = self.robot.ik
        n = len(joints)
        q = self.q_rest.copy()
        # start at the first frame's base: the hip-centre site offset sits below the root body
        q[:3] = targets[0, self.target_names.index("pelvis")] - self._rotate_z(yaw[0], self._root_offset)
        q[3:7] = heading[0]
        self.configuration.update(q)
        positions = np.zeros((n, len(self.robot.joint_names)))
        root = np.zeros((n, 7))
        errors = np.zeros((n, len(self.target_names)))
        dt = 1.0 / (fps * ik.iterations)
        for t in range(n):
            for task, target in zip(self.position_tasks, targets[t]):
                task.set_target(mink.SE3.from_translation(target))
            self.heading_task.set_target(mink.SE3.from_rotation(mink.SO3(heading[t])))
            first = t == 0
            steps = ik.first_frame_iterations if first else ik.iterations
            for _ in range(steps):
                limits = self.limits[:1] if first else self.limits  # frame 0 may take its time from the rest pose
                velocity = mink.solve_ik(self.configuration, self.tasks, dt, "daqp", damping=ik.damping,
                                         limits=limits)
                self.configuration.integrate_inplace(velocity, dt)
            q = self.configuration.q
            positions[t] = q[self.hinge_qpos]
            root[t] = q[:7]
            errors[t] = np.linalg.norm(self.configuration.data.site_xpos[self.site_ids] - targets[t], axis=-1)
        return RobotMotion(self.robot.joint_names, positions, root, float(fps), errors, self.target_names)

    @staticmethod
    def _rotate_z(yaw: float, v: np.ndarray) -> np.ndarray:
        c, s = np.cos(yaw), np.sin(yaw)
        return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])
