"""ROS messages out of a generated reaction: hero_msgs/Reaction, JointTrajectory, JointState, PoseStamped, MarkerArray.

Conventions (reference.md section 7):
- Positions are metres in REP 103 axes (x forward, y left, z up) of `frame_id`, the reactor's start frame: origin
  on the floor below the pelvis at motion frame 0, x the direction the reactor faces then.
- One-shot outputs (Reaction, JointTrajectory) carry the stamp of the newest camera frame the reaction was generated
  from, so consumers can measure latency end to end. Streamed samples (JointState, root pose, markers at
  `stream_hz`) are stamped input stamp + the sample's time in the reaction: still traceable to the input, and
  strictly increasing, which TF-based consumers (robot_state_publisher) need -- repeated stamps are dropped there.
- JointTrajectory follows ros2_control's joint_trajectory_controller: every DOF named in every point, positions and
  velocities (cubic interpolation), no efforts, strictly increasing time_from_start starting at `lead_in_s` (the
  time to reach the first pose), zero velocity at the last point. Its header stamp is the input stamp by default;
  `trajectory_stamp: zero` gives the controller's "start now" instead (with the input stamp the controller would
  skip the first `latency` seconds of the motion, which are already in the past).
- Large float arrays are assigned as array.array: rclpy converts numpy arrays element by element (slow).
"""
from __future__ import annotations

import array
import math

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA, Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from hero_model.motion import JOINT_NAMES, PARENTS

from .human_target import DOF_NAMES, HumanMotion

BONES = [(PARENTS[j], j) for j in range(1, len(JOINT_NAMES))]  # (parent, child) pairs of the skeleton


# --------------------------------------------------------------------------------------------- time helpers

def stamp_to_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    total = int(round(seconds * 1e9))
    return Time(sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)


def seconds_to_duration(seconds: float) -> Duration:
    total = int(round(seconds * 1e9))
    return Duration(sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)


def add_seconds(stamp: Time, seconds: float) -> Time:
    total = stamp.sec * 1_000_000_000 + stamp.nanosec + int(round(seconds * 1e9))
    return Time(sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)


def _floats(values) -> array.array:
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def yaw_quaternion(yaw: float) -> Quaternion:
    """A rotation by `yaw` about z."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


def _pose(position, yaw: float) -> Pose:
    x, y, z = (float(v) for v in position)
    return Pose(position=Point(x=x, y=y, z=z), orientation=yaw_quaternion(yaw))


# --------------------------------------------------------------------------------------------- one-shot outputs

def reaction_message(motion: HumanMotion, features: np.ndarray, stamp: Time, frame_id: str, window_start: Time,
                     window_end: Time, model_id: str, latency_s: float):
    """hero_msgs/Reaction for one generated reaction (features (N, 263), de-normalised)."""
    from hero_msgs.msg import Reaction

    msg = Reaction()
    msg.header = Header(stamp=stamp, frame_id=frame_id)
    msg.window_start, msg.window_end = window_start, window_end
    msg.fps = float(motion.fps)
    msg.length = motion.length
    msg.joint_names = list(JOINT_NAMES)
    msg.joint_positions = _floats(motion.joints.reshape(-1))          # (N, 22, 3) row-major
    msg.joint_positions_shape = [motion.length, len(JOINT_NAMES), 3]
    msg.root_trajectory = [_pose(p, yaw) for p, yaw in zip(motion.root_positions, motion.root_yaw)]
    msg.features = _floats(np.asarray(features).reshape(-1))          # (N, 263) row-major
    msg.features_shape = [int(features.shape[0]), int(features.shape[1])]
    msg.model_id = model_id
    msg.generation_latency_s = float(latency_s)
    return msg


def joint_trajectory_message(motion: HumanMotion, stamp: Time, lead_in_s: float) -> JointTrajectory:
    """trajectory_msgs/JointTrajectory of every DOF of `motion` (the 63 human DOF, or a robot's hinges for a
    RobotTargetMotion; see the module docstring for the controller conventions)."""
    msg = JointTrajectory()
    msg.header = Header(stamp=stamp, frame_id="")                    # joint space: no frame
    msg.joint_names = list(motion.joint_names)
    for k in range(motion.length):
        msg.points.append(JointTrajectoryPoint(
            positions=motion.dof_positions[k].tolist(),
            velocities=motion.dof_velocities[k].tolist(),           # last row is zero: the motion comes to rest
            time_from_start=seconds_to_duration(lead_in_s + k / motion.fps)))
    return msg


# --------------------------------------------------------------------------------------------- streamed outputs

def joint_state_message(positions: np.ndarray, velocities: np.ndarray, stamp: Time,
                        names: tuple[str, ...] = DOF_NAMES) -> JointState:
    msg = JointState()
    msg.header = Header(stamp=stamp, frame_id="")
    msg.name = list(names)
    msg.position = positions.tolist()
    msg.velocity = velocities.tolist()
    return msg


def root_pose_message(position: np.ndarray, yaw: float, stamp: Time, frame_id: str,
                      quaternion: np.ndarray | None = None) -> PoseStamped:
    """The floating base: position and heading `yaw`, or the full orientation `quaternion` (w, x, y, z) if given."""
    msg = PoseStamped(header=Header(stamp=stamp, frame_id=frame_id), pose=_pose(position, yaw))
    if quaternion is not None:
        w, x, y, z = (float(v) for v in quaternion)
        msg.pose.orientation = Quaternion(x=x, y=y, z=z, w=w)
    return msg


def skeleton_markers(joints: np.ndarray, stamp: Time, frame_id: str, namespace: str = "hero_reaction"
                     ) -> MarkerArray:
    """RViz skeleton of one pose (22, 3): bones as a LINE_LIST, joints as a SPHERE_LIST (fixed ids: each message
    replaces the previous pose)."""
    header = Header(stamp=stamp, frame_id=frame_id)

    def point(j):
        return Point(x=float(joints[j, 0]), y=float(joints[j, 1]), z=float(joints[j, 2]))

    bones = Marker(header=header, ns=namespace, id=0, type=Marker.LINE_LIST, action=Marker.ADD)
    bones.pose.orientation.w = 1.0
    bones.scale.x = 0.03                                              # line width, metres
    bones.color = ColorRGBA(r=0.1, g=0.45, b=0.9, a=1.0)
    bones.points = [point(j) for bone in BONES for j in bone]
    spheres = Marker(header=header, ns=namespace, id=1, type=Marker.SPHERE_LIST, action=Marker.ADD)
    spheres.pose.orientation.w = 1.0
    spheres.scale.x = spheres.scale.y = spheres.scale.z = 0.06
    spheres.color = ColorRGBA(r=0.95, g=0.5, b=0.1, a=1.0)
    spheres.points = [point(j) for j in range(len(JOINT_NAMES))]
    return MarkerArray(markers=[bones, spheres])


def reaction_arrays(msg) -> tuple[np.ndarray, np.ndarray]:
    """The inverse for consumers: (joint positions (N, 22, 3), features (N, 263)) of a hero_msgs/Reaction."""
    joints = np.frombuffer(msg.joint_positions, dtype=np.float32).reshape(tuple(msg.joint_positions_shape))
    features = np.frombuffer(msg.features, dtype=np.float32).reshape(tuple(msg.features_shape))
    return joints, features
