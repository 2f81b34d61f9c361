"""The HERO reaction node: camera frames in, generated human reactions out.

    ros2 run hero_ros react [--ros-args -p name:=value --params-file hero_ros/config/react.yaml]
    .venv/bin/hero-react    [the same --ros-args]          (pip environment: no ros2cli there)
    python -m hero_ros.react_node [the same]

Data flow (two worker threads besides the executor's one; no callback blocks):

    image callback --(message, stamp)--> pending queue (32 frames; when full the OLDEST is dropped)
    encoder thread: stamp checks -> image_input (decode) -> video encoder, a batch at a time -> FrameBuffer
    triggers (tick timer: periodic; encoder thread: scene change; ~/react service) --> RequestSlot (one slot)
    generator thread: waits until the frames received before the trigger are encoded, takes v_l of the last
        window_s seconds, generates, publishes Reaction + JointTrajectory, starts the playback stream
    stream timer (stream_hz): JointState + root PoseStamped + MarkerArray of the playing reaction
    diagnostics timer (1 Hz): /diagnostics

Design decisions
- One executor thread (rclpy's SingleThreadedExecutor) and an async ~/react callback. rclpy's MultiThreadedExecutor
  re-polls a callback it has handed to a worker until the worker takes it, holding the GIL meanwhile: with a 50 Hz
  stream and a 30 Hz camera its dispatch loop held the GIL in 78 % of py-spy's samples and made generation 2-10x
  slower (trigger -> trajectory p99 3.5 s vs 0.42 s with the stream at 5 Hz). Every callback here is short, so one
  thread serves them all; generation and encoding have their own threads.
- Plain node, not a lifecycle node. The model loads in the constructor, before any subscription exists, so the node
  is either ready or gone with one error line (a missing model file is named). A lifecycle node would sit
  unconfigured under `ros2 run` and in the pip environment, where no lifecycle manager or `ros2 lifecycle` exists.
- Streaming encoding. Every frame is encoded once when it arrives (max_encode_hz caps the rate), so a trigger costs
  only generation: the generator never touches pixels.
- Time comes from the header stamps (the camera's clock), not from arrival times: windows are exact even when
  frames arrive in bursts, and a bag replays the same windows. Frames with a zero stamp get their arrival time.
- Bad input never stops the node: each kind (undecodable frame, duplicate or backwards stamp, silent camera, full
  queue) is dropped or handled (stamps going backwards reset the buffer), counted in /diagnostics and reported in a
  throttled warning.
- The input type is settled before subscribing (input_type, image_transport's /compressed suffix, or the type the
  topic's publishers advertise): Fast DDS cannot re-subscribe one topic name with another type in the same node.
- The ~/react service always works, whatever `trigger` says, and brings its own length and seed; `length` and `seed`
  parameters apply to the automatic triggers. A request that finds too little video answers success=False with the
  reason at once; nothing is published then.
- No callback may raise: an exception escaping an executor callback ends rclpy's spin and the node with it. Each is
  logged (throttled) and the node carries on.
- Output topics are relative (hero/...), so a namespace moves them; /diagnostics stays global by convention.
- Robot targets (target: g1, ...): the Retargeter is built once at start-up (a missing robot model is one error
  line, exit code 2), and retargeting runs in the generator thread right after generation, never in a callback.

Output profiles (parameter output_profile; every topic relative to the node's namespace; reliable, keep last 10):

    profile       joint trajectory (one-shot)                    joint command stream (stream_hz)
    default       hero/joint_trajectory                          hero/joint_command
                  trajectory_msgs/JointTrajectory, stamp per       sensor_msgs/JointState
                  trajectory_stamp
    isaac_sim     hero/joint_trajectory (as default)             joint_command (/joint_command without a
                                                                 namespace): sensor_msgs/JointState, what Isaac
                                                                 Sim's articulation controller subscribes to
    ros2_control  <controller_name>/joint_trajectory             hero/joint_command (as default)
                  (/joint_trajectory_controller/joint_trajectory
                  by default): trajectory_msgs/JointTrajectory,
                  header stamp zero ("start now")

In every profile hero/reaction (hero_msgs/Reaction, the human reaction), hero/root_pose (geometry_msgs/PoseStamped:
the floating base -- the human pelvis and heading for target human, the retargeted robot base with its full
orientation for a robot), hero/skeleton_markers and /diagnostics are published as well. Joint names: the 63
`<joint>_{x,y,z}` DOF for target human, the robot's hinges in MJCF order for a robot (all of them, as
joint_trajectory_controller expects), positions + velocities, strictly increasing time_from_start, zero final
velocity.
"""
from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from hero_msgs.msg import Reaction
from hero_msgs.srv import React
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from hero_model.checkpoint import CheckpointError
from hero_model.motion import FPS, rest_pose, to_ros_frame
from hero_model.pipeline import DEFAULT_MODEL_DIR, ReactionPipeline, check_model_dir

from . import params
from .diagnostics import ERROR, OK, WARN, NodeStats, RateMeter, ThrottledLog, diagnostic_array, survives
from .frame_buffer import FrameBuffer, NotReady, classify_stamp
from .human_target import HumanMotion, RobotTargetMotion, solve_human
from .image_input import ImageInputError, message_to_rgb
from .node_main import run_node
from .messages import (add_seconds, joint_state_message, joint_trajectory_message, reaction_message,
                       root_pose_message, seconds_to_stamp, skeleton_markers, stamp_to_seconds)
from .triggers import PeriodicTrigger, Reply, Request, RequestSlot, SceneChangeTrigger, parse_trigger

NODE_NAME = "hero_react"
PROG = "hero-react"
PENDING_FRAMES = 32        # frames waiting for the encoder; when full the oldest goes (the newest matter most)
# A reliable reader acknowledges a sample when DDS stores it, before the executor takes it; a KEEP_LAST history then
# overwrites what the executor has not taken yet. While the generator holds the CPU the executor can fall behind by
# seconds (a CI bag replay at 40 Hz once lost 16 of 210 frames with a 30-deep queue); 300 cover 10 s of a 30 Hz camera.
RELIABLE_INPUT_DEPTH = 300
ENCODE_BATCH = 16          # frames per backbone call at most
CATCH_UP_S = 2.0           # longest the generator waits for the encoder to reach the trigger's newest frame
NO_INPUT_GRACE_S = 5.0     # silence after start-up before "no frames received yet" is reported
IMAGE, COMPRESSED = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
RELIABLE_OUT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)


class StartupError(RuntimeError):
    """The node cannot start (model missing or unusable, device unavailable); the message is the one line shown."""


@dataclass
class PendingFrame:
    seq: int          # arrival number (1, 2, ...)
    stamp: float      # seconds, header stamp (arrival time when the header has none)
    stamp_msg: Time   # the exact stamp, carried into the outputs
    msg: object       # the Image / CompressedImage, decoded later by the encoder thread


@dataclass
class Playback:
    motion: HumanMotion | RobotTargetMotion
    start: float      # time.monotonic() when publishing started
    stamp: Time       # input stamp of the reaction


class ReactNode(Node):
    """See the module docstring; parameters: hero_ros.params.PARAMS; topics: the README's interface table."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._build()
        except BaseException:
            # a half-built node left to rclpy's shutdown can crash the interpreter on exit (seen: SIGSEGV after a
            # refused parameter), which would turn the clean exit code 2 into a signal
            self.close()
            self.destroy_node()
            raise

    def _build(self) -> None:
        self.p = params.declare(self)                      # raises on bad values, before anything is loaded
        self.stats = NodeStats()
        self.log = self.get_logger()
        self.warn = ThrottledLog(self.log)
        self.pipeline, self.model_dir = self._load_model()
        self.retargeter = self._build_retargeter()            # None for target human

        self.buffer = FrameBuffer(horizon_s=self.p["window_s"] + 1.0)
        self.slot = RequestSlot()
        self.periodic = PeriodicTrigger(self.p["period_s"])
        self.scene = SceneChangeTrigger(self.p["scene_threshold"], self.p["scene_cooldown_s"])
        self.modes = parse_trigger(self.p["trigger"])
        self._trigger_lock = threading.Lock()
        self._pending: collections.deque[PendingFrame] = collections.deque()
        self._pending_cond = threading.Condition()
        self._received_seq = 0
        self._encoded_seq = 0
        self._last_stamp: float | None = None           # newest accepted stamp (encoder thread)
        self._playback: Playback | None = None
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._rate = RateMeter()
        self._last_dropped = 0
        self._warned_unstamped = False

        self.pub_reaction = self.create_publisher(Reaction, "hero/reaction", RELIABLE_OUT)
        profile = self.p["output_profile"]                 # see the module docstring's table
        trajectory_topic = (f"{self.p['controller_name']}/joint_trajectory" if profile == "ros2_control"
                            else "hero/joint_trajectory")
        command_topic = "joint_command" if profile == "isaac_sim" else "hero/joint_command"
        self.pub_trajectory = self.create_publisher(JointTrajectory, trajectory_topic, RELIABLE_OUT)
        self.pub_joint_command = self.create_publisher(JointState, command_topic, RELIABLE_OUT)
        self.pub_root_pose = self.create_publisher(PoseStamped, "hero/root_pose", RELIABLE_OUT)
        self.pub_markers = self.create_publisher(MarkerArray, "hero/skeleton_markers", RELIABLE_OUT)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE_OUT)

        self.topic = self.resolve_topic_name(self.p["image_topic"])
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._sub = None
        self.compressed: bool | None = None               # None: type not known yet (input_type auto)
        self._subscribe_when_type_known()
        self._waiting: list[tuple[float, float, Reply]] = []    # (deadline, timeout, reply) of ~/react calls
        self._waiting_lock = threading.Lock()
        self.srv = self.create_service(React, "~/react", self._on_react,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        timers = MutuallyExclusiveCallbackGroup()
        self.create_timer(0.1, self._tick, callback_group=timers)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=timers)
        self.create_timer(1.0 / self.p["stream_hz"], self._stream, callback_group=MutuallyExclusiveCallbackGroup())

        self._threads = [threading.Thread(target=self._encoder_loop, name="hero-encoder", daemon=True),
                         threading.Thread(target=self._generator_loop, name="hero-generator", daemon=True)]
        for thread in self._threads:
            thread.start()
        self.add_post_set_parameters_callback(self._on_parameters_set)
        qos = "reliable" if self.p["reliable"] else "best-effort sensor-data"
        self.log.info(f"ready: model {self.pipeline.model_id} ({self.model_dir}) on {self.pipeline.device}; "
                      f"listening on {self.topic} ({self._input_type_text()}, {qos} QoS); "
                      f"trigger {self.p['trigger']}; service {self.srv.service_name}; target {self.p['target']}, "
                      f"output profile {self.p['output_profile']} (trajectory on {self.pub_trajectory.topic_name}, "
                      f"joint states on {self.pub_joint_command.topic_name})")

    # ------------------------------------------------------------------------------------------- set-up
    def _load_model(self) -> tuple[ReactionPipeline, Path]:
        if self.p["cpu_threads"]:
            torch.set_num_threads(self.p["cpu_threads"])
        directory = Path(self.p["model_dir"]) if self.p["model_dir"] else DEFAULT_MODEL_DIR
        try:
            check_model_dir(directory)                     # one line naming the first missing file
            pipeline = ReactionPipeline.from_dir(directory, device=self.p["device"], precision=self.p["precision"])
        except CheckpointError as exc:  # hero_model's hint names its CLI option; here the option is a parameter
            raise StartupError(str(exc).replace("pass --checkpoint DIR", "set the parameter model_dir")) from exc
        except (ValueError, RuntimeError, OSError) as exc:  # e.g. device cuda without a GPU, unreadable files
            raise StartupError(f"cannot load the model from {directory}: {exc}") from exc
        if not getattr(pipeline.encoder, "per_frame", False):
            raise StartupError(f"{directory}: the video encoder is not per-frame; streaming needs a per-frame one")
        with torch.inference_mode():                       # warm-up, so the first trigger is not the slow one
            v_l = pipeline.clip_features(pipeline.encode_frames(torch.zeros(16, 32, 32, 3, dtype=torch.uint8)))
            pipeline.generate(v_l, length=pipeline.generator.config.unit_length * 2, seed=0, steps=1)
        return pipeline, directory

    def _build_retargeter(self):
        """The Retargeter of a robot target, built once (MuJoCo model + IK problem); None for target human."""
        if self.p["target"] == "human":
            return None
        from hero_model.retarget import Retargeter, RobotSpecError, load_robot

        try:
            retargeter = Retargeter(load_robot(self.p["target"]))
            retargeter.retarget(rest_pose()[None], fps=FPS)        # warm-up, so the first reaction is not the slow one
        except (RobotSpecError, ValueError, OSError) as exc:
            raise StartupError(f"cannot build the {self.p['target']} robot target: {exc}") from exc
        return retargeter

    def _input_type_text(self) -> str:
        if self.compressed is None:
            return "type from the first publisher"
        return COMPRESSED if self.compressed else IMAGE

    def _subscribe_when_type_known(self) -> None:
        """Subscribe once the message type is known: from input_type, from image_transport's /compressed suffix, or
        (input_type auto) from what the topic's publishers advertise. The type is settled before subscribing because
        a node cannot re-subscribe to a topic name with another type (Fast DDS keeps the first type registered)."""
        if self._sub is not None:
            return
        if self.p["input_type"] != "auto":
            self._subscribe(self.p["input_type"] == "compressed")
            return
        if self.topic.rstrip("/").endswith("/compressed"):
            self._subscribe(True)
            return
        types = {info.topic_type for info in self.get_publishers_info_by_topic(self.topic)}
        if types & {IMAGE, COMPRESSED}:
            compressed = COMPRESSED in types and IMAGE not in types
            self._subscribe(compressed)
            self.log.info(f"{self.topic} is published as {COMPRESSED if compressed else IMAGE}: subscribed")
        elif types:
            self.warn.warn("input_type", f"{self.topic} carries {', '.join(sorted(types))}, not "
                                         f"{IMAGE} or {COMPRESSED}", count=False)

    def _subscribe(self, compressed: bool) -> None:
        if self.p["reliable"]:  # for replays that must lose nothing (bags, demos)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=RELIABLE_INPUT_DEPTH,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        else:
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.p["input_queue_depth"],  # sensor data QoS,
                             reliability=ReliabilityPolicy.BEST_EFFORT,                      # but deeper
                             durability=DurabilityPolicy.VOLATILE)
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        self.compressed = compressed
        self._sub = self.create_subscription(CompressedImage if compressed else Image, self.topic, self._on_image,
                                             qos, callback_group=self._input_group, event_callbacks=events)

    @survives
    def _on_incompatible_qos(self, event) -> None:
        self.warn.warn("qos", f"a publisher on {self.topic} offers QoS incompatible with this subscription "
                              f"(policy {event.last_policy_kind}); reliable:={str(self.p['reliable']).lower()} -- a "
                              "best-effort subscription (reliable:=false, the default) matches every publisher")

    def _on_parameters_set(self, parameters) -> None:
        for p in parameters:
            if p.name in params.SPECS:
                self.p[p.name] = params.validate(p.name, p.value)
        self.modes = parse_trigger(self.p["trigger"])
        self.periodic.period_s = self.p["period_s"]
        self.scene.threshold, self.scene.cooldown_s = self.p["scene_threshold"], self.p["scene_cooldown_s"]

    # ------------------------------------------------------------------------------------------- input
    @survives
    def _on_image(self, msg) -> None:
        """O(1): stamp and queue; decoding and encoding happen on the encoder thread."""
        stamp_msg = msg.header.stamp
        if stamp_msg.sec == 0 and stamp_msg.nanosec == 0:
            stamp_msg = self.get_clock().now().to_msg()
            if not self._warned_unstamped:
                self._warned_unstamped = True
                self.log.warning(f"frames on {self.topic} carry no header stamp; using their arrival time")
        with self._pending_cond:
            self._received_seq += 1
            if len(self._pending) == PENDING_FRAMES:
                self._pending.popleft()
                self._drop("queue_full", f"dropped the oldest queued frame: the encoder is {PENDING_FRAMES} frames "
                                         "behind the camera (lower max_encode_hz or use a GPU)")
            self._pending.append(PendingFrame(self._received_seq, stamp_to_seconds(stamp_msg), stamp_msg, msg))
            self.stats.frames_received += 1
            self.stats.last_receive_monotonic = time.monotonic()
            self._pending_cond.notify_all()

    def _drop(self, reason: str, message: str) -> None:
        self.stats.drop(reason)
        self.warn.warn(reason, message)

    def _encoder_loop(self) -> None:
        while not self._stop.is_set():
            with self._pending_cond:
                if not self._pending:
                    self._pending_cond.wait(0.2)
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), ENCODE_BATCH))]
            if not batch:
                continue
            try:
                self._encode_batch(batch)
            except Exception as exc:  # the thread must survive anything a frame can do
                self.stats.drop("encoder_error")
                self.log.error(f"encoding failed, {len(batch)} frames dropped: {exc}\n{traceback.format_exc()}",
                               throttle_duration_sec=5.0)
            with self._pending_cond:
                self._encoded_seq = batch[-1].seq
                self._pending_cond.notify_all()

    def _encode_batch(self, batch: list[PendingFrame]) -> None:
        frames, stamps, tags = [], [], []
        last = self._last_stamp
        min_spacing = 0.75 / self.p["max_encode_hz"]  # 0.75: a 30 fps camera's jitter must not halve it at 30 Hz
        for item in batch:
            verdict = classify_stamp(item.stamp, last)
            if verdict == "duplicate":
                self._drop("duplicate_stamp", f"dropped a frame from {self.topic}: stamp {item.stamp:.6f} s repeats "
                                              "the previous frame's")
                continue
            if verdict == "backwards":
                self._add_frames(frames, stamps, tags)
                frames, stamps, tags = [], [], []
                self.buffer.reset()
                with self._trigger_lock:
                    self.scene.reset()
                self.stats.buffer_resets += 1
                self.warn.warn("backwards", f"camera time on {self.topic} went back {last - item.stamp:.3f} s "
                                            "(looping bag or restarted camera?): frame buffer reset")
                last = None
            elif last is not None and item.stamp - last < min_spacing:
                self.stats.frames_decimated += 1
                continue
            try:
                rgb = message_to_rgb(item.msg)
            except ImageInputError as exc:
                self._drop(f"bad_image_{exc.kind}", f"dropped a frame from {self.topic}: {exc}")
                continue
            frames.append(rgb)
            stamps.append(item.stamp)
            tags.append(item.stamp_msg)
            last = item.stamp
        self._add_frames(frames, stamps, tags)
        self._last_stamp = last

    def _add_frames(self, frames, stamps, tags) -> None:
        if not frames:
            return
        t0 = time.perf_counter()
        with torch.inference_mode():
            features = self.pipeline.encode_frames(frames)             # (n, d)
        self.buffer.add(stamps, features, tags)
        self.stats.encode_seconds += time.perf_counter() - t0
        self.stats.frames_encoded += len(frames)
        with self._trigger_lock:
            changed = self.scene.update(features[-1], time.monotonic())
        if changed and "scene_change" in self.modes:
            self.log.info(f"scene change (cosine distance {self.scene.last_distance:.3f} > "
                          f"{self.scene.threshold:g}): reacting")
            self._submit("scene_change", self._auto_length(), self._auto_seed())

    # ------------------------------------------------------------------------------------------- triggers
    def _auto_length(self) -> int | None:
        return self.p["length"] or None

    def _auto_seed(self) -> int | None:
        return None if self.p["seed"] < 0 else self.p["seed"]

    def _submit(self, kind: str, length: int | None, seed: int | None, reply: Reply | None = None) -> None:
        now = time.monotonic()
        with self._trigger_lock:
            latest = self.buffer.latest()
            if latest is not None:
                self.scene.rebase(latest[1], now)               # the scene this reaction will see
            self.periodic.mark(now)                            # any reaction re-arms the period
            request = Request(kind, length, seed, frame_seq=self._received_seq, created=now, reply=reply)
            loser = self.slot.submit(request)
        if loser is request:
            self.log.debug(f"{kind} trigger dropped: a service request is queued")

    def _camera_silent_for(self) -> float | None:
        """Seconds since the last frame when that exceeds stale_after_s, else None."""
        last = self.stats.last_receive_monotonic
        if self.stats.frames_received == 0:
            return None
        silent = time.monotonic() - last
        return silent if silent > self.p["stale_after_s"] else None

    def _expire_waiting_calls(self, now: float) -> None:
        """Answer the ~/react calls whose service_timeout_s has passed; forget the answered ones."""
        with self._waiting_lock:
            expired = [(timeout, reply) for deadline, timeout, reply in self._waiting
                       if not reply.done and now >= deadline]
            self._waiting = [w for w in self._waiting if not w[2].done and now < w[0]]
        for timeout, reply in expired:
            reply.set(False, f"no reaction within service_timeout_s={timeout:g} s")

    @survives
    def _tick(self) -> None:
        """10 Hz: service-call timeouts, camera watchdog, input type detection, periodic trigger."""
        now = time.monotonic()
        self._expire_waiting_calls(now)
        silent = self._camera_silent_for()
        if self.stats.frames_received == 0:
            self._subscribe_when_type_known()
            if now - self._started > NO_INPUT_GRACE_S:
                infos = self.get_publishers_info_by_topic(self.topic)
                types = ", ".join(sorted({i.topic_type for i in infos})) or "none"
                self.warn.warn("no_input", f"no frames received yet on {self.topic} ({len(infos)} publishers, types: "
                                           f"{types}); check the topic name (parameter image_topic) and QoS",
                               count=False)
        elif silent is not None:
            self.warn.warn("stale", f"no frames on {self.topic} for {silent:.1f} s (camera stopped?); automatic "
                                    "triggers paused", count=False)
        if "periodic" in self.modes and silent is None and self.stats.frames_received and self.periodic.due(now):
            try:
                self.buffer.window(self.p["window_s"], self.p["min_frames"], self.p["min_coverage"])
            except NotReady:
                return                                          # retried on the next tick, until the buffer fills
            self._submit("periodic", self._auto_length(), self._auto_seed())

    async def _on_react(self, request, response):
        """~/react: queue a service request and await its reaction (bounded by service_timeout_s). A coroutine, so
        the executor's one thread keeps serving frames and timers while the generator works."""
        try:
            return await self._answer(request, response)
        except Exception as exc:  # see survives(): the service must answer, and the node must live on
            self.log.error(f"~/react failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            response.success, response.message = False, f"{type(exc).__name__}: {exc}"
            return response

    async def _answer(self, request, response):
        length = int(request.length) or None
        max_frames = self.pipeline.generator.config.max_frames
        if length is not None and length > max_frames:
            response.success, response.message = False, f"length {length} exceeds the model's {max_frames} frames"
            return response
        answered = Future(executor=self.executor)
        answered.add_done_callback(lambda _: None)   # a done callback makes set_result wake the executor at once
        reply = Reply(on_set=lambda: answered.set_result(True))
        timeout = self.p["service_timeout_s"]
        with self._waiting_lock:                     # _tick answers it when the time is up
            self._waiting.append((time.monotonic() + timeout, timeout, reply))
        self._submit("service", length, None if request.seed < 0 else int(request.seed), reply)
        await answered
        response.success, response.message = reply.success, reply.message
        if reply.reaction is not None:
            response.reaction = reply.reaction
        return response

    # ------------------------------------------------------------------------------------------- generation
    def _generator_loop(self) -> None:
        while not self._stop.is_set():
            request = self.slot.take(timeout=0.2)
            if request is None:
                continue
            try:
                self._serve(request)
            except Exception as exc:
                self.stats.failed_requests += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                self.log.error(f"{request.kind} reaction failed: {exc}\n{traceback.format_exc()}")
                if request.reply is not None:
                    request.reply.set(False, f"generation failed: {type(exc).__name__}: {exc}")

    def _fail(self, request: Request, message: str) -> None:
        self.stats.failed_requests += 1
        if request.reply is not None:
            request.reply.set(False, message)
        else:
            self.warn.warn("not_ready", f"{request.kind} trigger skipped: {message}")

    def _serve(self, request: Request) -> None:
        deadline = time.monotonic() + CATCH_UP_S
        t_wait = time.monotonic()
        with self._pending_cond:                                 # the frames received before the trigger count
            while self._encoded_seq < request.frame_seq and time.monotonic() < deadline and not self._stop.is_set():
                self._pending_cond.wait(0.05)
        try:
            window = self.buffer.window(self.p["window_s"], self.p["min_frames"], self.p["min_coverage"])
        except NotReady as exc:
            self._fail(request, f"not enough video yet: {exc}")
            return
        max_frames = self.pipeline.generator.config.max_frames
        if request.length is not None and request.length > max_frames:
            self._fail(request, f"length {request.length} exceeds the model's {max_frames} frames")
            return
        t_generate = time.monotonic()
        v_l = self.pipeline.clip_features(window.v_l)            # temporal context, if the encoder has one
        reaction = self.pipeline.generate(v_l, length=request.length, seed=request.seed,
                                          steps=self.p["steps"], cond_scale=self.p["cond_scale"],
                                          res_cond_scale=self.p["res_cond_scale"],
                                          temperature=self.p["temperature"])[0]
        t_solve = time.monotonic()
        motion = solve_human(reaction.features, fps=FPS)
        target = motion
        if self.retargeter is not None:                          # robot target: IK here, off the callbacks
            robot_motion = self.retargeter.retarget(reaction.joints, fps=FPS)
            target = RobotTargetMotion.from_retargeted(robot_motion, to_ros_frame(reaction.joints))
        stamp = window.last_tag if window.last_tag is not None else seconds_to_stamp(window.last_stamp)
        first = window.first_tag if window.first_tag is not None else seconds_to_stamp(window.first_stamp)
        msg = reaction_message(motion, reaction.features, stamp, self.p["frame_id"], first, stamp,
                               self.pipeline.model_id, latency_s=0.0)
        start_now = self.p["trajectory_stamp"] == "zero" or self.p["output_profile"] == "ros2_control"
        trajectory = joint_trajectory_message(target, Time() if start_now else stamp, self.p["lead_in_s"])
        latency = time.monotonic() - request.created             # trigger -> output
        msg.generation_latency_s = latency
        self.pub_reaction.publish(msg)
        self.pub_trajectory.publish(trajectory)
        self._playback = Playback(target, time.monotonic(), stamp)
        self.stats.record_reaction(latency)
        text = (f"{request.kind} reaction #{self.stats.reactions}: {motion.length} frames ({motion.duration:.1f} s) "
                f"from {window.num_frames} frames [{window.first_stamp:.3f}, {window.last_stamp:.3f}]; "
                f"trigger->output {latency * 1e3:.0f} ms (queued {(t_wait - request.created) * 1e3:.0f}, encoder "
                f"catch-up {(t_generate - t_wait) * 1e3:.0f}, generation {(t_solve - t_generate) * 1e3:.0f}, "
                f"joints and messages {(time.monotonic() - t_solve) * 1e3:.0f} ms)")
        self.log.info(text)
        if request.reply is not None:
            request.reply.set(True, text, msg)

    # ------------------------------------------------------------------------------------------- streams
    @survives
    def _stream(self) -> None:
        playback = self._playback
        if playback is None:
            return
        t = min(time.monotonic() - playback.start, playback.motion.duration)
        sample = playback.motion.sample(t)
        stamp = add_seconds(playback.stamp, t)                    # input stamp + time into the reaction
        self.pub_joint_command.publish(joint_state_message(sample.dof_positions, sample.dof_velocities, stamp,
                                                           playback.motion.joint_names))
        self.pub_root_pose.publish(root_pose_message(sample.root_position, sample.root_yaw, stamp,
                                                     self.p["frame_id"], sample.root_quaternion))
        self.pub_markers.publish(skeleton_markers(sample.joints, stamp, self.p["frame_id"]))
        if t >= playback.motion.duration and self._playback is playback:
            self._playback = None                                 # the last sample (zero velocity) went out

    @survives
    def _publish_diagnostics(self) -> None:
        s = self.stats
        rate = self._rate.rate(s.frames_received)
        dropped = sum(s.dropped.values())
        silent = self._camera_silent_for()
        span = self.buffer.span()
        if s.last_error:
            level, message = ERROR, f"last generation failed: {s.last_error}"
        elif s.frames_received == 0:
            level, message = WARN, f"no frames received on {self.topic}"
        elif silent is not None:
            level, message = WARN, f"camera silent for {silent:.1f} s"
        elif dropped > self._last_dropped:
            level, message = WARN, f"dropped {dropped - self._last_dropped} frames in the last second"
        else:
            level, message = OK, "running"
        self._last_dropped = dropped
        values = {
            "input topic": self.topic, "input type": self._input_type_text(),
            "input rate (Hz)": f"{rate:.1f}", "frames received": s.frames_received,
            "frames encoded": s.frames_encoded, "frames decimated (max_encode_hz)": s.frames_decimated,
            "frames dropped": dropped, **{f"dropped: {k}": v for k, v in sorted(s.dropped.items())},
            "buffer resets": s.buffer_resets, "buffer frames": len(self.buffer),
            "buffer span (s)": f"{span[1] - span[0]:.2f}" if span else "0",
            "encode time per frame (ms)": f"{1e3 * s.encode_seconds / max(s.frames_encoded, 1):.1f}",
            "reactions": s.reactions, "requests superseded": self.slot.superseded,
            "failed requests": s.failed_requests,
            "generation latency last (s)": f"{s.last_latency_s:.3f}",
            "generation latency mean (s)": f"{s.latency_sum_s / max(s.reactions, 1):.3f}",
            "trigger": self.p["trigger"], "device": str(self.pipeline.device), "precision": self.pipeline.precision,
            "model": self.pipeline.model_id,
        }
        name = f"{self.get_fully_qualified_name()}: reaction generator"
        self.pub_diagnostics.publish(diagnostic_array(self.get_clock().now().to_msg(), name,
                                                      str(self.pipeline.device), level, message, values))

    # ------------------------------------------------------------------------------------------- shutdown
    def close(self) -> None:
        """Stop the worker threads (idempotent; safe on a half-built node)."""
        if not hasattr(self, "_threads"):
            return
        self._stop.set()
        self.slot.close()
        with self._pending_cond:
            self._pending_cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10.0)


def main(args: list[str] | None = None) -> int:
    """Console entry (`ros2 run hero_ros react`, `hero-react`): exit 0 on Ctrl-C / SIGTERM / external shutdown, 2 with
    one error line when the node cannot start (bad parameter, missing or corrupt model)."""
    return run_node(PROG, ReactNode, threads=1, startup_errors=(StartupError,), args=args)


if __name__ == "__main__":
    sys.exit(main())
