"""Target `human`: a generated reaction as joint angles of a 63-DOF human (3 revolute DOF per joint) on a floating base.

What a joint-command consumer gets (JointTrajectory, JointState) is angles, not the positions the model generates.
They come from the 263-d features in three steps:

1. Floating base. The pelvis position (joints[0]) and the heading the features encode: HumanML3D's root rotation
   r = (cos a, 0, sin a, 0) with a = the accumulated dim 0 takes world to body, so the heading (body -> world) is
   r^-1, a pure yaw about the up axis. It is NOT re-estimated from the hips and shoulders: turning the whole body
   changes only the root yaw, never the joint angles. (In HumanML3D data this heading is the hips-and-shoulders
   facing smoothed over +-20 frames, so during a fast turn it lags the hips by up to ~0.7 rad; the pelvis' own
   rotation relative to it goes into the hip and spine angles.)
2. Local rotations, swing only. In the heading-aligned body frame (the "ric" block, dims 4:67: the joints relative
   to the root with the heading removed) each bone parent(j) -> j has a direction d_j in its parent's frame S_parent
   (S_pelvis = the body frame), and its local rotation L_j takes the bone's rest direction (RAW_OFFSETS[j]; the rest
   pose stands with the arms down) onto d_j; S_j = S_parent L_j. This is the swing rule of HumanML3D's inverse
   kinematics (hero_model.motion.features.inverse_kinematics) with three changes, all so that the angles drive a
   kinematic tree smoothly: the root is the generated heading (HumanML3D re-estimates it from the hips and
   shoulders and sets frame 0 to the identity); the arm chains hang off spine3 (HumanML3D's IK starts them from the
   root rotation); and the swing is tracked over time -- frame 0 takes the shortest arc from the rest direction,
   frame t the shortest arc from d_j(t-1) to d_j(t) applied to L_j(t-1) -- because a shortest arc from the rest
   direction flips its axis when a bone points against it (arms raised overhead: 1.4 rad jumps between frames on
   the motion library, against at most 0.77 rad/frame of real bone motion). Tracking adds no twist about the bone;
   twist is not observable from joint positions.
3. Angles. `<joint>_x, <joint>_y, <joint>_z` are Euler angles of L_<joint> about REP 103 axes of the rest pose
   (x forward, y left, z up), as a chain of three revolute joints x -> z -> y: R = Rx(a) Rz(b) Ry(c) (intrinsic
   "XZY"). Of the six orders this one has its singularity (b = +-90 deg) where reactions do not go: for a limb,
   which points along z at rest, b is the twist, which tracking keeps small; hips/knees/shoulders flex about y, which
   would lock an "XYZ" chain at 90 deg of flexion (a kick, a crouch, an arm reaching forward). On the 21 reactions of
   the motion library its largest frame-to-frame step equals that of the bone motion itself (0.76 vs 0.77 rad).
   Each frame keeps whichever of the two Euler solutions is nearest the previous frame, modulo 2 pi, so
   trajectories are continuous. A DOF is named after the joint the bone ENDS at, as HumanML3D indexes its rotation
   block: `left_knee_*` turns the thigh (hip -> knee) relative to the pelvis, `left_ankle_*` the shin.

All zeros is the rest pose; forward kinematics of the angles, the heading and the bone lengths reproduces the
generated joint positions exactly (`joint_positions_from_dofs`, checked by the tests).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hero_model.motion import FEATURE_DIM, FPS, JOINT_NAMES, KINEMATIC_CHAINS, NUM_JOINTS, PARENTS, RAW_OFFSETS
from hero_model.motion import features_to_joints, to_ros_frame
from hero_model.motion.features import recover_root
from hero_model.motion.quaternion import qbetween, qinv, qmul, qrot

AXES = ("x", "y", "z")
BODY_JOINTS = JOINT_NAMES[1:]                                   # the pelvis is the floating base
DOF_NAMES: tuple[str, ...] = tuple(f"{joint}_{axis}" for joint in BODY_JOINTS for axis in AXES)
EULER_ORDER = "XZY"  # intrinsic (scipy: upper case): R = Rx(a) Rz(b) Ry(c); see the module docstring
REST_DIRECTIONS_ROS = to_ros_frame(RAW_OFFSETS)                 # (22, 3) rest bone directions, REP 103 axes


def quat_hml_to_ros(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) about HumanML3D axes -> about REP 103 axes. The axis map (x, y, z) -> (z, x, y) is a proper
    rotation P, and a quaternion's vector part transforms like any vector under it (R_ros = P R P^T)."""
    return q[..., [0, 3, 1, 2]]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _depth_levels() -> list[list[int]]:
    """Non-root joints grouped by their distance from the pelvis (a parent always sits one level up)."""
    depth = [0] * NUM_JOINTS
    for j in range(1, NUM_JOINTS):  # PARENTS[j] < j holds for the SMPL order
        depth[j] = depth[PARENTS[j]] + 1
    return [[j for j in range(1, NUM_JOINTS) if depth[j] == d] for d in range(1, max(depth) + 1)]


DEPTH_LEVELS = _depth_levels()


def _cumulative_product(q: np.ndarray) -> np.ndarray:
    """(N, ..., 4) -> P with P[t] = q[t] q[t-1] ... q[0]: a prefix scan in log2(N) vectorised steps (each P[t]
    takes on the product of the 2^k factors before its current span) instead of N sequential products."""
    out = q.copy()
    span = 1
    while span < len(out):
        out[span:] = qmul(out[span:], out[:-span])
        out /= np.linalg.norm(out, axis=-1, keepdims=True)
        span *= 2
    return out


def local_rotations(features: np.ndarray) -> np.ndarray:
    """(N, 263) features -> (N, 22, 4) swing-only local rotations (w, x, y, z) in HumanML3D axes; [:, 0] = identity.

    L_j maps the rest direction of bone parent(j) -> j onto its direction in the parent's frame S_parent
    (S_pelvis = the heading-aligned body frame, S_j = S_parent L_j). Frame 0 takes the shortest arc from the rest
    direction; every later frame tracks: L_j(t) = shortest_arc(d_j(t-1), d_j(t)) L_j(t-1), which adds no twist
    and stays continuous where a from-rest shortest arc would flip (a bone pointing opposite its rest direction).
    """
    n = len(features)
    body = np.zeros((n, NUM_JOINTS, 3))
    body[:, 0, 1] = features[:, 3]                                  # root height; x = z = 0 in the body frame
    body[:, 1:] = features[:, 4:67].reshape(n, NUM_JOINTS - 1, 3)
    frame = np.zeros((n, NUM_JOINTS, 4))                             # S_j, (w, x, y, z)
    local = np.zeros((n, NUM_JOINTS, 4))                             # L_j
    frame[:, 0] = local[:, 0] = (1.0, 0.0, 0.0, 0.0)
    parents = np.array(PARENTS)
    for level in DEPTH_LEVELS:                                       # parents' frames exist before their children
        p = parents[level]
        bone = _unit(body[:, level] - body[:, p])                    # (N, J, 3) world(body-frame) direction
        d = qrot(qinv(frame[:, p]), bone)                            # the same direction in the parent's frame
        first = qbetween(RAW_OFFSETS[level], d[0])                   # frame 0: rest -> d(0)
        steps = np.concatenate([first[None], qbetween(d[:-1], d[1:])])  # (N, J, 4): [L(0), d(0)->d(1), ...]
        local[:, level] = _cumulative_product(steps)                 # L(t) = step(t) ... step(1) L(0)
        frame[:, level] = qmul(frame[:, p], local[:, level])         # S_j = S_p L_j
    return local


def heading_yaw(features: np.ndarray) -> np.ndarray:
    """(N,) unwrapped yaw about REP 103 z of the body -> world heading r^-1 encoded in the features."""
    r_rot, _ = recover_root(torch.from_numpy(np.asarray(features, dtype=np.float64)))
    q = quat_hml_to_ros(qinv(r_rot.numpy()))                         # (N, 4), a rotation about z only
    return np.unwrap(2.0 * np.arctan2(q[:, 3], q[:, 0]))


def dofs_from_rotations(local: np.ndarray) -> np.ndarray:
    """(N, 22, 4) local rotations (HumanML3D axes) -> (N, 63) Euler angles (EULER_ORDER, REP 103 axes).

    A rotation has two Tait-Bryan angle sets, (a, b, c) and (a + pi, pi - b, c + pi), each modulo 2 pi; frame by
    frame the one nearest the previous frame's angles is kept, so the angles are continuous over time.
    """
    n = len(local)
    q = quat_hml_to_ros(local[:, 1:])                                # (N, 21, 4)
    with warnings.catch_warnings():                                  # at b = +-90 deg any split of a, c is valid
        warnings.simplefilter("ignore", UserWarning)
        euler = Rotation.from_quat(q.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_euler(EULER_ORDER)  # scipy: (x, y, z, w)
    euler = euler.reshape(n, NUM_JOINTS - 1, 3)
    other = euler + np.array([np.pi, 0.0, np.pi])
    other[..., 1] = np.pi - euler[..., 1]

    def nearest(candidate, previous):                                # candidate shifted by 2 pi k towards previous
        return previous + (candidate - previous + np.pi) % (2.0 * np.pi) - np.pi

    out = np.empty_like(euler)
    out[0] = euler[0]
    for t in range(1, n):
        a, b = nearest(euler[t], out[t - 1]), nearest(other[t], out[t - 1])
        pick_b = np.abs(b - out[t - 1]).sum(-1) < np.abs(a - out[t - 1]).sum(-1)
        out[t] = np.where(pick_b[:, None], b, a)
    return out.reshape(n, len(DOF_NAMES))


def joint_positions_from_dofs(dofs: np.ndarray, root_positions: np.ndarray, root_yaw: np.ndarray,
                              bone_lengths: np.ndarray) -> np.ndarray:
    """Forward kinematics, the inverse of this module: (N, 63) angles, (N, 3) pelvis, (N,) yaw, (N, 22) or (22,)
    bone lengths -> (N, 22, 3) joint positions in REP 103 axes."""
    n = len(dofs)
    lengths = np.broadcast_to(bone_lengths, (n, NUM_JOINTS))
    local = Rotation.from_euler(EULER_ORDER, dofs.reshape(-1, 3)).as_matrix().reshape(n, NUM_JOINTS - 1, 3, 3)
    heading = Rotation.from_euler("z", np.asarray(root_yaw)[:, None]).as_matrix()  # (N, 3, 3)
    frames = np.zeros((n, NUM_JOINTS, 3, 3))
    frames[:, 0] = np.eye(3)                                     # S_j in the body frame
    joints = np.zeros((n, NUM_JOINTS, 3))
    joints[:, 0] = root_positions
    for chain in KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            frames[:, child] = frames[:, parent] @ local[:, child - 1]                       # S_j = S_p L_j
            direction = heading @ (frames[:, child] @ REST_DIRECTIONS_ROS[child])[..., None]
            joints[:, child] = joints[:, parent] + lengths[:, child, None] * direction[..., 0]
    return joints


@dataclass(frozen=True)
class MotionSample:
    """The reaction at one instant (linear interpolation between motion frames)."""

    dof_positions: np.ndarray   # (63,) radians
    dof_velocities: np.ndarray  # (63,) rad/s
    root_position: np.ndarray   # (3,) metres, REP 103
    root_yaw: float             # radians about z
    joints: np.ndarray          # (22, 3) metres, REP 103
    root_quaternion: np.ndarray | None = None  # (4,) w, x, y, z: the full base orientation (robot targets), else yaw


@dataclass(frozen=True)
class HumanMotion:
    """A reaction as the `human` target sees it: N frames at `fps`, positions in REP 103 axes (x forward, y left,
    z up) of the reactor's start frame (origin on the floor below the pelvis at frame 0)."""

    fps: float
    joints: np.ndarray          # (N, 22, 3) metres
    dof_positions: np.ndarray   # (N, 63) radians, DOF_NAMES order
    dof_velocities: np.ndarray  # (N, 63) rad/s; the last row is zero (the target comes to rest)
    root_positions: np.ndarray  # (N, 3) pelvis, metres
    root_yaw: np.ndarray        # (N,) heading about z, radians, unwrapped

    @property
    def joint_names(self) -> tuple[str, ...]:
        return DOF_NAMES

    @property
    def length(self) -> int:
        return len(self.joints)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.length - 1) / self.fps

    def sample(self, t: float) -> MotionSample:
        """The motion at `t` seconds from its start (clamped to [0, duration])."""
        i, j, w = _frame_blend(t, self.fps, self.length)

        def lerp(a):
            return (1.0 - w) * a[i] + w * a[j]

        return MotionSample(lerp(self.dof_positions), lerp(self.dof_velocities), lerp(self.root_positions),
                            float(lerp(self.root_yaw)), lerp(self.joints))


def _frame_blend(t: float, fps: float, length: int) -> tuple[int, int, float]:
    """Frames i, j = i + 1 around `t` seconds (clamped to the motion) and the weight w of frame j."""
    x = min(max(t, 0.0), (length - 1) / fps) * fps
    i = min(int(x), length - 1)
    return i, min(i + 1, length - 1), x - i


def solve_human(features: np.ndarray, fps: float = FPS) -> HumanMotion:
    """(N, 263) de-normalised HumanML3D features -> HumanMotion (see the module docstring for the rule)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != FEATURE_DIM or len(features) < 1:
        raise ValueError(f"solve_human: features must be (N >= 1, {FEATURE_DIM}), got {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("solve_human: features contain NaN or inf")
    joints = to_ros_frame(features_to_joints(features))                      # (N, 22, 3)
    dofs = dofs_from_rotations(local_rotations(features))                     # (N, 63)
    velocities = np.gradient(dofs, 1.0 / fps, axis=0) if len(dofs) > 1 else np.zeros_like(dofs)
    velocities[-1] = 0.0                                                      # come to rest at the last point
    return HumanMotion(fps=float(fps), joints=joints, dof_positions=dofs, dof_velocities=velocities,
                       root_positions=joints[:, 0].copy(), root_yaw=heading_yaw(features))


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(N, 22, 3) -> (N, 22) distance of each joint from its parent (0 for the pelvis)."""
    lengths = np.linalg.norm(joints - joints[:, np.maximum(PARENTS, 0)], axis=-1)
    lengths[:, 0] = 0.0
    return lengths


@dataclass(frozen=True)
class RobotTargetMotion:
    """A reaction as a robot target sees it (target: <robot>): the robot's hinges and floating base from
    hero_model.retarget, plus the human joints for the markers. Same interface as HumanMotion for the streams and
    the trajectory: joint_names, dof_positions / dof_velocities (N, dof), sample(t)."""

    fps: float
    joint_names: tuple[str, ...]
    joints: np.ndarray            # (N, 22, 3) human, metres, REP 103 (markers)
    dof_positions: np.ndarray     # (N, dof) radians, joint_names order
    dof_velocities: np.ndarray    # (N, dof) rad/s; the last row is zero
    root_positions: np.ndarray    # (N, 3) the robot's floating base, metres, REP 103
    root_quaternions: np.ndarray  # (N, 4) w, x, y, z

    length = HumanMotion.length
    duration = HumanMotion.duration

    @classmethod
    def from_retargeted(cls, motion, human_joints_ros: np.ndarray) -> "RobotTargetMotion":
        """From a hero_model.retarget.RobotMotion and the (N, 22, 3) REP 103 human joints it came from."""
        return cls(float(motion.fps), tuple(motion.joint_names), human_joints_ros, motion.joint_positions,
                   motion.joint_velocities(), motion.root_pose[:, :3].copy(), motion.root_pose[:, 3:].copy())

    def sample(self, t: float) -> MotionSample:
        """The motion at `t` seconds (clamped); the base orientation is interpolated linearly and normalised."""
        i, j, w = _frame_blend(t, self.fps, self.length)

        def lerp(a):
            return (1.0 - w) * a[i] + w * a[j]

        qa, qb = self.root_quaternions[i], self.root_quaternions[j]
        q = (1.0 - w) * qa + w * (qb if np.dot(qa, qb) >= 0 else -qb)   # q and -q are one rotation
        q = q / np.linalg.norm(q)
        yaw = float(np.arctan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] ** 2 + q[3] ** 2)))
        return MotionSample(lerp(self.dof_positions), lerp(self.dof_velocities), lerp(self.root_positions), yaw,
                            lerp(self.joints), root_quaternion=q)
