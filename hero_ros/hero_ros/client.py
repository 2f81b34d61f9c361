"""The other side of the node: a camera that publishes frames, a ~/react caller, and a listener on every output.

Used by `python -m hero_ros.demo` and the tests; handy for scripting a running node from Python. It spins its own
executor in a background thread, so publishing, waiting for outputs and calling the service can happen from the
caller's thread.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from hero_msgs.msg import Reaction
from hero_msgs.srv import React
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from .image_input import compressed_from_rgb, image_from_rgb
from .messages import add_seconds
from .spin_thread import SpinThread

OUTPUTS = {"reaction": (Reaction, "hero/reaction"), "trajectory": (JointTrajectory, "hero/joint_trajectory"),
           "joint_command": (JointState, "hero/joint_command"), "root_pose": (PoseStamped, "hero/root_pose"),
           "markers": (MarkerArray, "hero/skeleton_markers"), "diagnostics": (DiagnosticArray, "/diagnostics")}
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class ReactClient:
    """node: the reaction node's fully qualified name (its service is <node>/react, its parameters
    <node>/set_parameters); namespace: where its hero/... outputs live; image_topic / compressed / reliable: how
    the camera publishes."""

    def __init__(self, node: str = "/hero_react", namespace: str = "/", image_topic: str = "/camera/image_raw",
                 compressed: bool = False, reliable: bool = True, context=None, name: str = "hero_camera"):
        self.context = context
        self.node = Node(name, namespace=namespace, context=context)
        self.image_topic = image_topic
        self.compressed = compressed
        camera_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=30, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.VOLATILE) if reliable else qos_profile_sensor_data
        self.image_pub = self.node.create_publisher(CompressedImage if compressed else Image, image_topic, camera_qos)
        self.received: dict[str, list[tuple[float, object]]] = defaultdict(list)  # kind -> [(monotonic, msg)]
        self._cond = threading.Condition()
        for kind, (msg_type, topic) in OUTPUTS.items():
            self.node.create_subscription(msg_type, topic, lambda msg, k=kind: self._on_output(k, msg),
                                          RELIABLE if kind != "diagnostics" else 10)
        self.react_client = self.node.create_client(React, f"{node.rstrip('/')}/react")
        self.param_client = self.node.create_client(SetParameters, f"{node.rstrip('/')}/set_parameters")
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._spinner = SpinThread(self.executor, "hero-client-spin")

    def _on_output(self, kind: str, msg) -> None:
        with self._cond:
            self.received[kind].append((time.monotonic(), msg))
            self._cond.notify_all()

    # --------------------------------------------------------------------------------------------- readiness
    def wait_ready(self, timeout: float, alive=lambda: True) -> bool:
        """True once the node's service exists and it subscribes to the camera topic (bounded; stops early when
        `alive()` turns false, e.g. the node process died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if self.react_client.service_is_ready() and self.image_pub.get_subscription_count() > 0:
                return True
            time.sleep(0.05)
        return False

    # --------------------------------------------------------------------------------------------- camera
    def now(self) -> Time:
        return self.node.get_clock().now().to_msg()

    def frame_message(self, rgb: np.ndarray, stamp: Time, encoding: str = "rgb8"):
        """Image in `encoding`, or for a compressed client a CompressedImage ("jpeg" or "png" as encoding)."""
        if self.compressed:
            return compressed_from_rgb(rgb, "png" if encoding == "png" else "jpeg", stamp=stamp)
        return image_from_rgb(rgb, encoding, stamp=stamp)

    def publish(self, msg) -> None:
        self.image_pub.publish(msg)

    def play(self, frames: np.ndarray, fps: float, start: Time | None = None, encoding: str = "rgb8",
             rate: float = 1.0) -> list[Time]:
        """Publish frames stamped start + i / fps, paced at `rate` x real time (0: as fast as possible); returns the
        stamps."""
        start = self.now() if start is None else start
        stamps = []
        t0 = time.monotonic()
        for i, frame in enumerate(frames):
            stamp = add_seconds(start, i / fps)
            self.publish(self.frame_message(frame, stamp, encoding))
            stamps.append(stamp)
            if rate > 0:
                delay = t0 + (i + 1) / (fps * rate) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        return stamps

    # --------------------------------------------------------------------------------------------- service
    def react(self, length: int = 0, seed: int = -1, timeout: float = 60.0):
        """Call ~/react; returns (response, round-trip seconds); raises TimeoutError after `timeout`."""
        done = threading.Event()
        t0 = time.monotonic()
        future = self.react_client.call_async(React.Request(length=length, seed=seed))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            self.react_client.remove_pending_request(future)
            raise TimeoutError(f"no answer from {self.react_client.srv_name} within {timeout} s")
        return future.result(), time.monotonic() - t0

    def set_parameters(self, timeout: float = 10.0, **values) -> list:
        """Set the node's parameters; returns the SetParametersResult list (successful, reason) in order."""
        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                    for k, v in values.items()])
        done = threading.Event()
        future = self.param_client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"no answer from {self.param_client.srv_name} within {timeout} s")
        return list(future.result().results)

    # --------------------------------------------------------------------------------------------- outputs
    def count(self, kind: str) -> int:
        with self._cond:
            return len(self.received[kind])

    def wait_for(self, kind: str, timeout: float, after: int = 0, predicate=lambda msg: True):
        """The first `kind` message with index >= `after` satisfying `predicate`, as (arrival monotonic, msg), or
        None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for arrival, msg in self.received[kind][after:]:
                    if predicate(msg):
                        return arrival, msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        self._spinner.stop()  # before anything is destroyed (spin_thread.py says why)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
