"""The G1 simulation node: joint trajectories in, a simulated Unitree G1 performing them out (headless, CPU).

    ros2 run hero_ros sim [--ros-args -p mode:=physics --params-file hero_ros/config/sim.yaml]
    .venv/bin/hero-sim    [the same --ros-args]          (pip environment: no ros2cli there)
    python -m hero_ros.sim_node [the same]

Thin: all simulation is hero_model.sim (MuJoCo); this node converts messages and keeps time.

    trajectory_topic (trajectory_msgs/JointTrajectory, G1 joint names) --> slot (the newest waits; a newer one
        replaces the one playing)
    root_pose_topic (geometry_msgs/PoseStamped, optional) --> stamped buffer: kinematic mode places the base at the
        pose stamped nearest the sample time (ground position and heading; the height keeps the feet on the floor)
    sim thread: plays the trajectory in real time (or as fast as it can with realtime:=false), publishing
        joint_states (sensor_msgs/JointState) at publish_hz, renders an mp4 per trajectory when record_path is set,
        and at the end publishes the result (tracking error, fall, frames) as JSON on sim/result and in the log.
        Rendering costs ~0.2 s per 320x240 frame on a CPU (Mesa EGL), so a recording plays slower than real time;
        the JointState stamps stay on the trajectory's time line.

Time: a trajectory starts at its header stamp (0: the time it arrived, ros2_control's "start now"); the JointState of
simulation time t is stamped start + t, so it lines up with the input the trajectory answers. In physics mode the
start pose is first held for hold_s (not published): the robot settles on its feet before t = 0.

Bad input never stops the node: a trajectory naming a joint the G1 does not have, with no points, positions of the
wrong length or times that do not increase is refused with one error line and a `rejected` result naming the problem.
A new trajectory restarts the simulation from its own start pose (physics: from standing, after a new hold).
Outputs are relative names (a namespace moves them): joint_states, sim/result.
"""
from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory

from hero_model.sim import (JOINT_NAMES, MODES, CameraConfig, G1Simulator, SimConfig, Trajectory, TrajectoryError,
                            frame_times)

from .diagnostics import ThrottledLog, survives
from .messages import add_seconds, stamp_to_seconds
from .node_main import run_node
from .params import ParameterError, ParamSpec, check_value, descriptor

NODE_NAME = "hero_sim"
PROG = "hero-sim"
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
ROOT_POSE_BUFFER = 1024   # stamped root poses kept (20 s at 50 Hz)
ROOT_POSE_MATCH_S = 0.5   # a root pose further than this from the sample time is not used

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("trajectory_topic", "hero/joint_trajectory", "trajectory_msgs/JointTrajectory with G1 joint names "
              "(left_hip_pitch_joint ... right_wrist_yaw_joint; unnamed joints hold the standing pose)",
              read_only=True),
    ParamSpec("root_pose_topic", "hero/root_pose", "geometry_msgs/PoseStamped of the floating base, used in "
              "kinematic mode (ground position and heading); empty: none", read_only=True),
    ParamSpec("mode", "kinematic", "kinematic: the joints are set to the trajectory; physics: PD actuators track "
              "it with the robot standing on a floor (it can fall)", choices=MODES, read_only=True),
    ParamSpec("record_path", "", "folder for one mp4 per trajectory (g1_0001.mp4, ...); empty: no recording",
              read_only=True),
    ParamSpec("record_width", 320, "recorded video width, pixels", 16, 1920, read_only=True),
    ParamSpec("record_height", 240, "recorded video height, pixels", 16, 1080, read_only=True),
    ParamSpec("publish_hz", 50.0, "joint_states rate while a trajectory plays", 1.0, 1000.0, read_only=True),
    ParamSpec("hold_s", 1.0, "physics: seconds the start pose is held before playback", 0.0, 30.0, read_only=True),
    ParamSpec("level_feet", False, "physics: ankle references that keep the soles level (position-only retargeting "
              "leaves the ankles free; a pitched foot puts the standing robot on its toes)", read_only=True),
    ParamSpec("realtime", True, "play at the trajectory's speed (false: as fast as the simulation runs)",
              read_only=True),
)
SPECS = {spec.name: spec for spec in PARAMS}


def validate(name: str, value):
    """Coerced value of parameter `name`, or ValueError naming the parameter, the value and the rule (the shared
    rules of hero_ros.params plus this node's own)."""
    value = check_value(SPECS[name], value)
    if name == "trajectory_topic" and not value.strip():
        raise ValueError(f"{name}: must not be empty")
    return value


def declare(node) -> dict:
    """Declare PARAMS on `node` (all read-only: they shape the simulation and the subscriptions); returns
    {name: validated value}; a bad value raises ParameterError naming the parameter."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    for spec in PARAMS:
        try:
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            text = re.sub(rf": {re.escape(spec.name)}$", "", str(exc))
            raise ParameterError(f"{spec.name}: {text.split('Reason: ', 1)[-1]}") from exc
    values = {}
    for spec in PARAMS:
        try:
            values[spec.name] = validate(spec.name, node.get_parameter(spec.name).value)
        except ValueError as exc:
            raise ParameterError(str(exc)) from exc
    return values


def trajectory_from_message(msg: JointTrajectory) -> Trajectory:
    """hero_model.sim.Trajectory of a JointTrajectory (positions by name, times from time_from_start)."""
    if not msg.points:
        raise TrajectoryError("the trajectory has no points")
    width = len(msg.joint_names)
    for i, point in enumerate(msg.points):
        if len(point.positions) != width:
            raise TrajectoryError(f"point {i} has {len(point.positions)} positions for {width} joint names")
    times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
    positions = np.array([list(p.positions) for p in msg.points], dtype=np.float64).reshape(len(times), width)
    return Trajectory.from_named(list(msg.joint_names), times, positions)


@dataclass
class Job:
    index: int           # 1, 2, ... per accepted trajectory
    trajectory: Trajectory
    start: Time          # ROS time of playback time 0
    points: int


class SimNode(Node):
    """See the module docstring; parameters: PARAMS."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self._stop = threading.Event()
        self._slot: Job | None = None
        self._slot_cond = threading.Condition()
        self._thread = None
        try:
            self._build()
        except BaseException:
            self.close()
            self.destroy_node()
            raise

    def _build(self) -> None:
        self.p = declare(self)
        self.log = self.get_logger()
        self.warn = ThrottledLog(self.log)
        self.config = SimConfig(mode=self.p["mode"], hold_s=self.p["hold_s"], level_feet=self.p["level_feet"])
        self.camera = CameraConfig(width=self.p["record_width"], height=self.p["record_height"])
        self.record_dir = Path(self.p["record_path"]) if self.p["record_path"] else None
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        self.sim = G1Simulator(self.config, render_size=(self.camera.width, self.camera.height))
        self._accepted = 0
        self._root_poses: deque[tuple[float, np.ndarray]] = deque(maxlen=ROOT_POSE_BUFFER)
        self._root_lock = threading.Lock()

        self.pub_joint_states = self.create_publisher(JointState, "joint_states", RELIABLE)
        self.pub_result = self.create_publisher(String, "sim/result", RELIABLE)
        self.sub_trajectory = self.create_subscription(JointTrajectory, self.p["trajectory_topic"],
                                                       self._on_trajectory, RELIABLE)
        self.sub_root = None
        if self.p["root_pose_topic"].strip():
            self.sub_root = self.create_subscription(PoseStamped, self.p["root_pose_topic"], self._on_root_pose,
                                                     RELIABLE)
        self._thread = threading.Thread(target=self._sim_loop, name="hero-sim", daemon=True)
        self._thread.start()
        root = self.sub_root.topic_name if self.sub_root else "none"
        self.log.info(f"ready: Unitree G1 ({len(JOINT_NAMES)} joints), mode {self.config.mode}; trajectories on "
                      f"{self.sub_trajectory.topic_name}, root poses on {root}; joint_states at "
                      f"{self.p['publish_hz']:g} Hz; recording {self.record_dir or 'off'}")

    def close(self) -> None:
        self._stop.set()
        with self._slot_cond:
            self._slot_cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=15.0)   # a render in progress finishes first (slow on a busy CPU)

    # ------------------------------------------------------------------------------------------- inputs
    @survives
    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            trajectory = trajectory_from_message(msg)
        except TrajectoryError as exc:
            self.warn.error("bad_trajectory", f"trajectory refused: {exc}")
            self._publish_result({"status": "rejected", "error": str(exc),
                                  "stamp": stamp_to_seconds(msg.header.stamp)})
            return
        start = msg.header.stamp
        if start.sec == 0 and start.nanosec == 0:
            start = self.get_clock().now().to_msg()
        with self._slot_cond:
            self._accepted += 1
            self._slot = Job(self._accepted, trajectory, start, len(msg.points))
            self._slot_cond.notify_all()

    @survives
    def _on_root_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        pose = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z], dtype=np.float64)
        if not np.all(np.isfinite(pose)) or np.linalg.norm(pose[3:]) < 1e-6:
            self.warn.warn("bad_root_pose", "root pose with NaN/inf or a zero quaternion dropped")
            return
        with self._root_lock:
            self._root_poses.append((stamp_to_seconds(msg.header.stamp), pose))

    def _root_pose_at(self, stamp: float) -> np.ndarray | None:
        with self._root_lock:
            if not self._root_poses:
                return None
            best = min(self._root_poses, key=lambda item: abs(item[0] - stamp))
        return best[1] if abs(best[0] - stamp) <= ROOT_POSE_MATCH_S else None

    # ------------------------------------------------------------------------------------------- simulation
    def _take(self) -> Job | None:
        with self._slot_cond:
            while self._slot is None and not self._stop.is_set():
                self._slot_cond.wait(0.5)
            job, self._slot = self._slot, None
            return job

    def _newer_waiting(self) -> bool:
        with self._slot_cond:
            return self._slot is not None

    def _sim_loop(self) -> None:
        renderer = None
        while not self._stop.is_set():
            job = self._take()
            if job is None:
                continue
            try:
                if self.record_dir is not None and renderer is None:
                    from hero_model.sim import SimRenderer   # the GL context lives in this thread
                    renderer = SimRenderer(self.sim.model, self.camera)
                self._play(job, renderer)
            except Exception as exc:
                self.warn.error("simulation", f"trajectory {job.index}: simulation failed: {type(exc).__name__}: "
                                              f"{exc}\n{traceback.format_exc()}")
                self._publish_result({"trajectory": job.index, "status": "failed", "error": str(exc)})
        if renderer is not None:
            renderer.close()

    def _play(self, job: Job, renderer) -> None:
        sim, trajectory = self.sim, job.trajectory
        sim.start(trajectory)
        duration = trajectory.duration
        publish_times = np.arange(int(math.floor(duration * self.p["publish_hz"] + 1e-6)) + 1) / self.p["publish_hz"]
        video_fps = (1.0 / float(np.median(np.diff(trajectory.times)))) if len(trajectory.times) > 1 else 20.0
        video_times = frame_times(duration, video_fps) if renderer is not None else np.zeros(0)
        events = sorted([(float(t), 0) for t in publish_times] + [(float(t), 1) for t in video_times])
        kinematic_root = self.config.mode == "kinematic" and self.sub_root is not None
        start_s = stamp_to_seconds(job.start)
        frames, render_s, status, published = [], 0.0, "done", 0
        wall0 = time.monotonic()
        for t, kind in events:
            if self._stop.is_set():
                status = "stopped"
                break
            if self._newer_waiting():
                status = "replaced"
                break
            if self.p["realtime"]:
                delay = wall0 + t - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
            base = self._root_pose_at(start_s + t) if kinematic_root else None
            sim.advance(t, base)
            if kind == 0:
                self._publish_joint_state(add_seconds(job.start, t))
                published += 1
            else:
                began = time.perf_counter()
                frames.append(renderer.render(sim.data))
                render_s += time.perf_counter() - began
        report = sim.result()
        if frames:
            report.rendered_frames, report.ms_per_frame = len(frames), round(1e3 * render_s / len(frames), 2)
        result = {"trajectory": job.index, "status": status, "stamp": start_s, "points": job.points,
                  "played_s": round(min(sim.time, duration), 4), "joint_states": published, **report.to_dict()}
        if frames and status == "done":
            from hero_model.render import write_video

            path = write_video(np.stack(frames), self.record_dir / f"g1_{job.index:04d}.mp4", fps=video_fps)
            result["record"] = str(path)
        self._publish_result(result)

    # ------------------------------------------------------------------------------------------- outputs
    def _publish_joint_state(self, stamp: Time) -> None:
        msg = JointState(header=Header(stamp=stamp, frame_id=""))
        msg.name = list(JOINT_NAMES)
        msg.position = self.sim.joint_positions().tolist()
        msg.velocity = self.sim.joint_velocities().tolist()
        msg.effort = self.sim.joint_efforts().tolist()
        self.pub_joint_states.publish(msg)

    def _publish_result(self, result: dict) -> None:
        text = json.dumps(result)
        self.pub_result.publish(String(data=text))
        if result.get("status") == "rejected":
            return                                       # already logged as an error
        fall = f"fell at t={result.get('fall_time_s')} s" if result.get("fell") else "stayed up"
        track = result.get("tracking", {}).get("all", {})
        self.log.info(f"trajectory {result.get('trajectory')} {result.get('status')}: {result.get('played_s')} s "
                      f"played, {fall}, tracking RMS {track.get('rms_rad')} rad, max {track.get('max_rad')} rad; "
                      f"result {text}")


def main(args: list[str] | None = None) -> int:
    """Console entry (`ros2 run hero_ros sim`, `hero-sim`): exit 0 on Ctrl-C / SIGTERM / external shutdown, 2 with one
    error line when the node cannot start (bad parameter, no G1 model, unusable record_path)."""
    return run_node(PROG, SimNode, threads=2, startup_errors=(FileNotFoundError, ValueError, OSError), args=args)


if __name__ == "__main__":
    sys.exit(main())
