"""Replay a camera bag into the reaction node and measure what comes out (ros2_benchmark-style report).

    python -m hero_ros.replay BAG --report REPORT.json [--rate R | --as-fast-as-possible] [--model-dir DIR]
                              [--attach] [--node-param NAME=VALUE ...] [--classifier PATH] [--trigger service|node]

1. The node: started as its own process (hero_ros.node_process, loopback only, random ROS_DOMAIN_ID) with reliable
   QoS, the bag's camera topic and type, and a window that never reaches into the previous clip
   (min over clips of clip duration + gap); or, with --attach, a node that is already running (this process then
   keeps the environment's ROS_DOMAIN_ID). SIGTERM / Ctrl-C stop the started node too.
2. The camera: the bag's camera messages are published as their raw CDR bytes (rclpy's serialized publishing) at
   the bag's log-time spacing divided by --rate, or back to back with --as-fast-as-possible. Header stamps stay
   those of the bag. Raw rather than deserialise + publish: the bytes reach the node exactly as recorded, and it is
   cheaper (measured here per rgb8 frame: 224x224 0.01 vs 0.07 ms, 640x480 0.06 vs 0.72 ms, 1280x720 0.33 vs
   1.06 ms).
3. Triggers: `service` (default) calls the node's ~/react after each clip's last frame (plus --settle-s, inside
   the gap bagify leaves between clips; a call that outlasts the gap shifts the rest of the schedule, counted as
   `paused_s`); `node` leaves triggering to the node's own periodic / scene-change triggers and assigns each
   reaction to the clip its header stamp falls in.
4. The report (REPORT.json and REPORT.md next to it): bag files and their sha256 (the dataset hash), frames sent /
   received / encoded / dropped (the node's /diagnostics counters, as differences over the replay), timing error and
   jitter of the replay, latency_ms (trigger -> JointTrajectory arrival; header stamp -> arrival, i.e. arrival
   minus the send time of the newest input frame the reaction used), the node's generation time, node CPU / RSS
   (psutil) and GPU memory (nvidia-smi, when the node runs on CUDA), and -- for bags with ViMo-Synth labels --
   `plausibility`: the share of generated reactions that the held-out reaction classifier
   (hero_model.eval.plausibility) assigns to a plausible reaction of the clip's subcategory.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .bag_index import COMPRESSED, BagIndex, ReplayError, max_gap_s, open_bag, window_for
from .bag_report import (ResourceMonitor, build_report, counter, default_classifier, gpu_memory_mb, load_classifier,
                         markdown, plausibility)
from .node_process import NodeProcess, ros_safety_env
from .spin_thread import SpinThread

READY_TIMEOUT_S = 180.0      # model loading on a busy CPU
DIAGNOSTICS_PERIOD_S = 1.0   # the node's /diagnostics timer
FINAL_COUNTERS_WAIT_S = 10.0  # longest wait, after the last frame, for counters that include every frame


@dataclass
class ReplayOptions:
    """How the bag is played.

    rate: playback speed, x real time (> 0); ignored with as_fast_as_possible.
    as_fast_as_possible: publish back to back (peak-rate measurement: drops are expected and reported).
    trigger: "service" (~/react after each clip) or "node" (the node's own triggers).
    settle_s: wait after a clip's last frame before the service call, so the frames (another DDS channel) reach the
        node first.
    answer_timeout_s: longest wait for one ~/react answer.
    tail_s: after the last frame, how long to keep collecting outputs (node triggers fire late).
    """

    rate: float = 1.0
    as_fast_as_possible: bool = False
    trigger: str = "service"
    settle_s: float = 0.2
    answer_timeout_s: float = 60.0
    tail_s: float = 2.0

    def __post_init__(self) -> None:
        if not (self.rate > 0 and np.isfinite(self.rate)):
            raise ValueError(f"ReplayOptions.rate must be > 0, got {self.rate!r}")
        if self.trigger not in ("service", "node"):
            raise ValueError(f"ReplayOptions.trigger must be 'service' or 'node', got {self.trigger!r}")
        for name in ("settle_s", "tail_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"ReplayOptions.{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.answer_timeout_s > 0:
            raise ValueError(f"ReplayOptions.answer_timeout_s must be > 0, got {self.answer_timeout_s!r}")


# --------------------------------------------------------------------------------------------- ROS side

def message_class(msgtype: str):
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class BagSession:
    """This process's ROS side: the camera publisher (raw CDR), the ~/react client, and listeners on
    hero/reaction, hero/joint_trajectory and /diagnostics (arrival times in time.monotonic())."""

    def __init__(self, node_name: str, namespace: str, camera_topic: str, camera_type: str):
        from diagnostic_msgs.msg import DiagnosticArray
        from hero_msgs.msg import Reaction
        from hero_msgs.srv import React
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from trajectory_msgs.msg import JointTrajectory

        self.React = React
        self.node = Node("hero_bag_replay", namespace=namespace)
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=30, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)
        # reliable offers match both reliable and best-effort subscriptions, as ros2 bag play's default does
        self.camera = self.node.create_publisher(message_class(camera_type), camera_topic, reliable)
        self.received: dict[str, list] = defaultdict(list)
        self._cond = threading.Condition()
        for kind, msg_type, topic in (("reaction", Reaction, "hero/reaction"),
                                      ("trajectory", JointTrajectory, "hero/joint_trajectory"),
                                      ("diagnostics", DiagnosticArray, "/diagnostics")):
            self.node.create_subscription(msg_type, topic, lambda msg, k=kind: self._on(k, msg), reliable)
        self.node_name = node_name
        self.react_client = self.node.create_client(React, f"{node_name.rstrip('/')}/react")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._spinner = SpinThread(self.executor, "hero-replay-spin")

    def _on(self, kind: str, msg) -> None:
        with self._cond:
            self.received[kind].append((time.monotonic(), msg))
            self._cond.notify_all()

    def wait_ready(self, timeout: float, alive=lambda: True) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if self.react_client.service_is_ready() and self.camera.get_subscription_count() > 0:
                return True
            time.sleep(0.05)
        return False

    def count(self, kind: str) -> int:
        with self._cond:
            return len(self.received[kind])

    def wait_for(self, kind: str, timeout: float, after: int = 0, predicate=lambda arrival, msg: True):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for arrival, msg in self.received[kind][after:]:
                    if predicate(arrival, msg):
                        return arrival, msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def react(self, timeout: float, seed: int = -1):
        """(response or None on timeout, call time, answer time), monotonic."""
        done = threading.Event()
        t_call = time.monotonic()
        future = self.react_client.call_async(self.React.Request(length=0, seed=seed))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            self.react_client.remove_pending_request(future)
            return None, t_call, time.monotonic()
        return future.result(), t_call, time.monotonic()

    def diagnostics(self, after_time: float = -float("inf")) -> dict | None:
        """Values of the newest /diagnostics status of the node that arrived after `after_time`."""
        prefix = f"{self.node_name}:"
        with self._cond:
            for arrival, msg in reversed(self.received["diagnostics"]):
                if arrival <= after_time:
                    return None
                for status in msg.status:
                    if status.name.startswith(prefix):
                        return {kv.key: kv.value for kv in status.values}
        return None

    def close(self) -> None:
        self._spinner.stop()  # before anything is destroyed (spin_thread.py says why)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


# --------------------------------------------------------------------------------------------- the replay

def play(session: BagSession, index: BagIndex, options: ReplayOptions, log=print) -> dict:
    """Publish the camera messages with the bag's timing and trigger after each clip (service mode); returns the
    send times, schedule errors and per-clip trigger results."""
    from rosbags.rosbag2 import Reader

    sent = np.zeros(len(index.log_ns))                   # monotonic send time of each camera message
    errors = []                                           # send - scheduled, seconds (paced only)
    triggers = []
    clip_of_last = {clip.last: clip for clip in index.clips}
    paced = not options.as_fast_as_possible
    paused = 0.0
    reader = Reader(index.path)
    reader.open()
    try:
        conns = [c for c in reader.connections if c.topic == index.camera_topic]
        base = time.monotonic() + 0.05
        first_ns = int(index.log_ns[0])
        for i, (_, log_ns, raw) in enumerate(reader.messages(connections=conns)):
            if paced:
                target = base + (log_ns - first_ns) / 1e9 / options.rate
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            now = time.monotonic()
            session.camera.publish(bytes(raw))           # raw CDR: rclpy's serialized publish, no conversion
            sent[i] = now
            if paced:
                errors.append(now - target)
            clip = clip_of_last.get(i)
            if clip is None or options.trigger != "service":
                continue
            time.sleep(options.settle_s)
            before = session.count("trajectory")
            response, t_call, t_answer = session.react(options.answer_timeout_s)
            triggers.append({"clip": clip, "response": response, "t_call": t_call, "t_answer": t_answer,
                             "trajectories_before": before})
            if response is None:
                log(f"replay: ~/react for clip {clip.clip_id} got no answer within {options.answer_timeout_s:g} s")
            elif not response.success:
                log(f"replay: ~/react for clip {clip.clip_id} failed: {response.message}")
            if paced and i + 1 < len(index.log_ns):     # a call longer than the gap delays the rest, not squeezes it
                late = time.monotonic() - (base + (int(index.log_ns[i + 1]) - first_ns) / 1e9 / options.rate)
                if late > 0:
                    base += late
                    paused += late
    finally:
        reader.close()
    return {"sent": sent, "errors": np.asarray(errors), "triggers": triggers, "paused_s": paused,
            "send_seconds": float(sent[-1] - sent[0]) if len(sent) > 1 else 0.0}


def collect(session: BagSession, index: BagIndex, played: dict, options: ReplayOptions) -> list[dict]:
    """One row per clip: the reaction(s) it got and their latencies."""
    sent_by_stamp = {int(s): float(t) for s, t in zip(index.stamp_ns, played["sent"])}
    rows = []
    if options.trigger == "service":
        for trig in played["triggers"]:
            clip, response = trig["clip"], trig["response"]
            row = {"clip": clip, "success": bool(response and response.success),
                   "message": "no answer" if response is None else response.message, "reactions": []}
            if row["success"]:
                reaction = response.reaction
                stamp = _stamp_ns(reaction.header.stamp)
                found = session.wait_for("trajectory", 10.0, after=trig["trajectories_before"],
                                         predicate=lambda a, m: _stamp_ns(m.header.stamp) in (stamp, 0))
                arrival = found[0] if found else None
                row["reactions"].append({
                    "reaction": reaction, "stamp_ns": stamp,
                    "trigger_to_trajectory_s": None if arrival is None else arrival - trig["t_call"],
                    "stamp_to_trajectory_s": (None if arrival is None or stamp not in sent_by_stamp
                                              else arrival - sent_by_stamp[stamp]),
                    "service_round_trip_s": trig["t_answer"] - trig["t_call"],
                    "generation_s": reaction.generation_latency_s})
            rows.append(row)
        return rows
    reactions = session.received["reaction"]
    trajectories = {_stamp_ns(m.header.stamp): a for a, m in session.received["trajectory"]}
    for clip in index.clips:
        row = {"clip": clip, "success": False, "message": "", "reactions": []}
        for arrival, reaction in reactions:
            stamp = _stamp_ns(reaction.header.stamp)
            if clip.start_ns <= stamp <= clip.end_ns:
                traj_arrival = trajectories.get(stamp, arrival)
                row["reactions"].append({
                    "reaction": reaction, "stamp_ns": stamp,
                    "trigger_to_trajectory_s": reaction.generation_latency_s + max(traj_arrival - arrival, 0.0),
                    "stamp_to_trajectory_s": traj_arrival - sent_by_stamp[stamp] if stamp in sent_by_stamp else None,
                    "service_round_trip_s": None, "generation_s": reaction.generation_latency_s})
        row["success"] = bool(row["reactions"])
        row["message"] = f"{len(row['reactions'])} node-triggered reactions"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------- CLI

def parse_node_params(items: list[str], parser) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--node-param expects NAME=VALUE, got {item!r}")
        out[name] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hero_ros.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bag", type=Path, help="rosbag2 folder (mcap or sqlite3)")
    parser.add_argument("--report", type=Path, required=True, help="REPORT.json to write (REPORT.md next to it)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, default=1.0, help="playback speed x real time (default 1)")
    speed.add_argument("--as-fast-as-possible", action="store_true", help="publish back to back")
    parser.add_argument("--trigger", choices=("service", "node"), default="service",
                        help="service: ~/react after each clip (default); node: the node's own triggers")
    parser.add_argument("--topic", help="camera topic in the bag (default: its only Image/CompressedImage topic)")
    parser.add_argument("--labels-topic", help="label JSON topic (default: a std_msgs/String topic ending in labels)")
    parser.add_argument("--model-dir", type=Path, help="model folder for the started node (default: embedded)")
    parser.add_argument("--device", default="cpu", help="started node's device: auto, cpu, cuda (default cpu)")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME=VALUE",
                        help="another parameter for the started node (YAML value); repeatable")
    parser.add_argument("--attach", action="store_true", help="use a running node instead of starting one")
    parser.add_argument("--node", default="/hero_react", help="the node's fully qualified name (default /hero_react)")
    parser.add_argument("--namespace", default="/", help="namespace of its hero/... outputs (default /)")
    parser.add_argument("--node-pid", type=int, help="with --attach: the node's process id, for CPU/RSS/GPU figures")
    parser.add_argument("--classifier", type=Path,
                        help="plausibility classifier (.safetensors/.json pair, path without suffix; default "
                             "hero_model/assets/default/plausibility when present)")
    parser.add_argument("--settle-s", type=float, default=ReplayOptions.settle_s,
                        help="wait after a clip's last frame before ~/react (default 0.2)")
    parser.add_argument("--tail-s", type=float, default=ReplayOptions.tail_s,
                        help="keep collecting outputs this long after the last frame (default 2)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)     # a killed replay must not leave its node process behind
    try:
        options = ReplayOptions(rate=args.rate, as_fast_as_possible=args.as_fast_as_possible, trigger=args.trigger,
                                settle_s=args.settle_s, tail_s=args.tail_s)
        report = run(args, options, parse_node_params(args.node_param, parser))
    except (ReplayError, ValueError) as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("replay: interrupted; the node was stopped, no report written", file=sys.stderr)
        return 130
    f, lat = report["frames"], report["latency_ms"]["trigger_to_trajectory"]
    print(f"frames sent {f['sent']}/{f['in_bag']}, received by the node {f['received_by_node']}, dropped "
          f"{f['dropped']}; timing error {report['timing']['error_ms']}")
    print(f"trigger -> trajectory (ms): {lat}; plausibility {report['plausibility']}")
    print(f"wrote {args.report} and {args.report.with_suffix('.md')}")
    code = report["node"].get("exit_code")
    return 0 if code in (None, 0) else 1


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def node_parameters(index: BagIndex, options: ReplayOptions, args, overrides: dict) -> dict:
    """Parameters for a node started for this bag: its camera topic and type, reliable QoS (a replay must lose
    nothing), a window that stays inside each clip, and a stale timeout longer than the gaps between clips."""
    frame_rate = float(np.median([(c.last - c.first) / max((c.end_ns - c.start_ns) / 1e9, 1e-9)
                                  for c in index.clips if c.last > c.first] or [20.0]))
    parameters = {"image_topic": index.camera_topic, "reliable": True, "device": args.device,
                  "input_type": "compressed" if index.camera_type == COMPRESSED else "raw",
                  "trigger": "service" if options.trigger == "service" else "periodic,scene_change",
                  "window_s": window_for(index),
                  "min_frames": int(min(16, min(c.last - c.first + 1 for c in index.clips))),
                  "min_coverage": 0.0, "max_encode_hz": float(min(max(frame_rate * 1.5, 30.0), 240.0)),
                  "stale_after_s": float(min(max(2.0 * max_gap_s(index) + 0.5, 1.0), 60.0))}
    if args.model_dir is not None:
        parameters["model_dir"] = str(args.model_dir.resolve())
    parameters.update(overrides)
    return parameters


def choose_classifier(index: BagIndex, path: Path | None) -> tuple[object, Path | None, str]:
    """(classifier or None, its path, why there is none), loaded before the node starts so that a bad file fails
    at once."""
    if not any(c.label.get("plausible_reactions") for c in index.clips):
        return None, None, "the bag has no labels with plausible reactions"
    if path is None:
        path = default_classifier()
        if path is None:
            return None, None, ("no classifier: pass --classifier PATH (the default "
                                "hero_model/assets/default/plausibility.{safetensors,json} is not there)")
    return load_classifier(path), path, ""


def final_diagnostics(session: BagSession, last_send: float, sent: int, before: dict | None) -> dict | None:
    """The node's counters once they include every frame sent: the first /diagnostics published after the last
    frame whose "frames received" covers all `sent` frames. A node whose executor is busy generating takes queued
    frames late, so one timer tick after the last send may not count them yet; frames that never arrive show up as
    the shortfall of the newest status at the deadline."""
    def covered(values: dict) -> bool:
        return counter(values, "frames received") - counter(before, "frames received") >= sent

    latest = None
    deadline = time.monotonic() + FINAL_COUNTERS_WAIT_S
    while time.monotonic() < deadline:
        latest = session.diagnostics(after_time=last_send + 0.05) or latest
        if latest is not None and covered(latest):
            return latest
        time.sleep(0.1)
    return latest or session.diagnostics()


def run(args, options: ReplayOptions, node_params: dict) -> dict:
    index = open_bag(args.bag, args.topic, args.labels_topic)
    classifier, classifier_path, why_none = choose_classifier(index, args.classifier)
    if args.attach and node_params:
        raise ReplayError("--node-param only applies to a node this command starts (not with --attach)")
    if args.attach:   # keep the environment's domain: the running node lives there
        env = ros_safety_env(random_domain=False, environ=dict(os.environ))
        for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_HOME", "ROS_LOG_DIR", "FASTDDS_DEFAULT_PROFILES_FILE"):
            if key in env:
                os.environ[key] = env[key]
    else:
        ros_safety_env(random_domain=True)     # before rclpy is imported; the node process inherits it
    import rclpy

    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    node_info = {"name": args.node, "attached": bool(args.attach)}
    node = None
    if not args.attach:
        node_info["parameters"] = node_parameters(index, options, args, node_params)
        node = NodeProcess(node_info["parameters"], report_path.with_suffix(".node.log")).start()
        node_info["log"] = str(node.log_path)
    try:
        rclpy.init()
        session = BagSession(args.node, args.namespace, index.camera_topic, index.camera_type)
        try:
            alive = (lambda: node.alive) if node is not None else (lambda: True)
            if not session.wait_ready(READY_TIMEOUT_S if node is not None else 30.0, alive=alive):
                if node is not None and not node.alive:
                    raise ReplayError(f"the node exited with code {node.proc.poll()}; its log ({node.log_path}):\n"
                                      f"{node.log_text()[-3000:]}")
                raise ReplayError(f"no node {args.node} with a ~/react service and a subscription on "
                                  f"{index.camera_topic} within the wait (ROS_DOMAIN_ID="
                                  f"{os.environ.get('ROS_DOMAIN_ID', 'unset')})")
            before = None
            if args.attach:     # counters of a running node: the replay's share is the difference
                prefix = f"{args.node}:"
                if session.wait_for("diagnostics", 2.5 * DIAGNOSTICS_PERIOD_S, predicate=lambda a, m: any(
                        s.name.startswith(prefix) for s in m.status)):
                    before = session.diagnostics()
            pid = node.proc.pid if node is not None else args.node_pid
            monitor = ResourceMonitor(pid) if pid is not None else None
            with monitor if monitor is not None else contextlib.nullcontext():
                played = play(session, index, options)
                time.sleep(options.tail_s if options.trigger == "node" else 0.0)
                rows = collect(session, index, played, options)
            after = final_diagnostics(session, float(played["sent"][-1]), len(played["sent"]), before)
        finally:
            session.close()
            rclpy.try_shutdown()
    finally:
        if node is not None:
            node_info["exit_code"] = node.stop()
    node_info.update({"device": (after or {}).get("device"), "model": (after or {}).get("model")})
    resources = (monitor.summary() if monitor is not None
                 else {"cpu_percent": None, "rss_mb": None, "note": "attached node: pass --node-pid"})
    gpu = (gpu_memory_mb(pid) if str(node_info["device"]).startswith("cuda")
           else (None, f"node device is {node_info['device']}"))
    plaus = plausibility(rows, classifier, classifier_path, why_none)
    report = build_report(index, options, played, rows, before, after, resources, gpu, plaus, node_info)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    report_path.with_suffix(".md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(main())
