"""The reaction node end to end on loopback: a 30 Hz camera, ~/react triggers, trigger -> JointTrajectory latency.

    python bench/node.py [--model-dir DIR] [--triggers 30] [--period-s 1.0] [--fps 30] [--size 640x480]
                         [--length 196] [--node-param NAME=VALUE ...] [--quick] [--out F.jsonl]

The node runs as its own process (hero_ros.node_process: `hero-react`, ROS traffic on loopback only, logs in a
temporary folder, a random ROS_DOMAIN_ID). This process is the camera: sensor_msgs/Image rgb8 frames of --size at
--fps with best-effort sensor QoS, stamped with the wall clock, published from a paced thread for the whole run.
After one window of video it calls ~/react every --period-s seconds and times each call from the request to the
arrival of hero/joint_trajectory.

Model: --model-dir, else the embedded default when it is complete, else a model folder with the embedded default's
ARCHITECTURE (video small-cnn, the embedded RVQ, the generator's training preset) and random generator / encoder
weights, written to a temporary folder: speed does not depend on the weights.

One JSON line: latency p50 / p95 / p99 / max (s), frames published / received / encoded / decimated / dropped (by
the node's /diagnostics), frames lost in transport over the measured span (from the first trigger's window to the
camera's last frame) and apart from it those lost while discovery settled, publisher rate achieved, node CPU (% of
one core, mean) and RSS (MB, max). There is no "naive" node mode (the node has no such parameter);
bench/generation.py measures that ratio.
"""
from __future__ import annotations

import argparse
import bisect
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from common import REPO, Emitter, add_common_args, default_architecture, percentile

READY_TIMEOUT_S = 180.0


def model_folder(args) -> tuple[Path, str]:
    from hero_model.pipeline import DEFAULT_MODEL_DIR, check_model_dir

    if args.model_dir is not None:
        return check_model_dir(args.model_dir), str(args.model_dir)
    try:
        return check_model_dir(DEFAULT_MODEL_DIR), "embedded default"
    except Exception:
        pass
    import torch

    from hero_model.hero import HeroGenerator
    from hero_model.video import VideoEncoderConfig
    from hero_model.video.small_cnn import build_small_cnn, save_small_cnn

    folder = Path(tempfile.mkdtemp(prefix="hero-bench-model-"))
    torch.manual_seed(0)
    video_config = VideoEncoderConfig(backbone="small-cnn", allow_random_init=True)
    save_small_cnn(folder / "video_encoder", build_small_cnn(video_config), video_config)
    for suffix in (".json", ".safetensors"):
        shutil.copy(DEFAULT_MODEL_DIR / f"rvq{suffix}", folder / f"rvq{suffix}")
    hero_config, _ = default_architecture()
    HeroGenerator(hero_config).save(folder / "generator", model_id="bench-random-default-architecture")
    return folder, "embedded default architecture, random generator/encoder weights"


class Camera(threading.Thread):
    """Publishes `frames` cyclically at `fps`, paced against the monotonic clock (no drift), until stopped."""

    def __init__(self, client, frames, fps: float):
        super().__init__(daemon=True, name="bench-camera")
        from hero_ros.image_input import image_from_rgb

        self.client, self.fps = client, fps
        self.messages = [image_from_rgb(f) for f in frames]     # converted once: the camera is not the bottleneck
        self.published, self.late = 0, 0
        self.send_times: list[float] = []        # time.monotonic() of each publish
        self.stop_event = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop_event.is_set():
            msg = self.messages[self.published % len(self.messages)]
            msg.header.stamp = self.client.now()
            self.client.publish(msg)
            self.send_times.append(time.monotonic())
            self.published += 1
            delay = t0 + self.published / self.fps - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                self.late += 1

    def published_before(self, t: float) -> int:
        """Frames sent before monotonic time `t` (loopback delivery takes well under a frame interval)."""
        return bisect.bisect_left(self.send_times, t)


class ProcessSampler(threading.Thread):
    """CPU (% of one core) and RSS of a process every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True, name="bench-sampler")
        import psutil

        self.proc, self.interval = psutil.Process(pid), interval
        self.cpu, self.rss = [], []
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.proc.cpu_percent(None)
        while not self.stop_event.wait(self.interval):
            try:
                self.cpu.append(self.proc.cpu_percent(None))
                self.rss.append(self.proc.memory_info().rss / 2**20)
            except Exception:  # the process ended
                return


def next_diagnostics(client, node_name: str, after: float, wait_s: float = 3.0,
                     accept=lambda values: True) -> tuple[float, dict] | None:
    """(arrival time, values) of the first status of the node's generator on /diagnostics that arrives after `after`
    and that `accept`s, waiting up to `wait_s`; else the newest such status seen (None if there was none)."""
    deadline = time.monotonic() + wait_s
    latest = None
    while True:
        with client._cond:
            fresh = [(arrival, m) for arrival, m in client.received["diagnostics"] if arrival > after]
        for arrival, msg in fresh:
            for status in msg.status:
                if status.name.startswith(node_name) and "reaction generator" in status.name:
                    latest = arrival, {kv.key: kv.value for kv in status.values}
                    if accept(latest[1]):
                        return latest
        if time.monotonic() >= deadline:
            return latest
        time.sleep(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--triggers", type=int, default=30)
    parser.add_argument("--period-s", type=float, default=1.0, help="seconds between ~/react calls")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--length", type=int, default=196, help="reaction frames per request (0: predicted)")
    parser.add_argument("--reliable", action="store_true",
                        help="reliable QoS on camera and node (default: best-effort sensor QoS, as real cameras)")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME=VALUE")
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.triggers = min(args.triggers, 8)

    from hero_ros.node_process import NodeProcess, ros_safety_env

    ros_safety_env(random_domain=True)                  # before rclpy is imported, here and in the node process
    import numpy as np
    import rclpy
    import yaml

    from hero_ros.client import ReactClient

    folder, model_text = model_folder(args)
    width, height = (int(v) for v in args.size.lower().split("x"))
    # A namespace of its own: another node or test on the same ROS_DOMAIN_ID cannot answer our calls or feed frames.
    namespace = f"/hero_bench_{os.getpid()}"
    image_topic = f"{namespace}/camera/image_raw"
    parameters = {"trigger": "service", "device": "cpu", "model_dir": str(folder.resolve()),
                  "image_topic": image_topic}
    if args.threads:
        parameters["cpu_threads"] = args.threads
        import torch

        torch.set_num_threads(args.threads)   # so the record's `threads` is the node's
    if args.reliable:
        parameters["reliable"] = True
    for item in args.node_param:
        name, _, value = item.partition("=")
        parameters[name] = yaml.safe_load(value)
    log_dir = Path(tempfile.mkdtemp(prefix="hero-bench-node-"))
    node = NodeProcess(parameters, log_dir / "node.log", extra_args=["-r", f"__ns:={namespace}"]).start()
    rclpy.init()
    client = ReactClient(node=f"{namespace}/hero_react", namespace=namespace, image_topic=image_topic,
                         reliable=args.reliable)
    emit = Emitter("node", args.out)
    camera = sampler = None
    try:
        if not client.wait_ready(READY_TIMEOUT_S, alive=lambda: node.alive):
            print(f"error: the node did not come up; its log:\n{node.log_text()[-3000:]}")
            return 2
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        frames = [np.roll(base, 8 * i, axis=1) for i in range(30)]        # a moving scene, 1 s cycle
        camera = Camera(client, frames, args.fps)
        sampler = ProcessSampler(node.proc.pid)
        t_start = time.monotonic()
        camera.start()
        sampler.start()
        window_s = float(parameters.get("window_s", 3.0))
        time.sleep(window_s + 0.5)                                        # one full window of video first
        # counters at the start of the measured span: frames lost while discovery settles are reported apart
        start = next_diagnostics(client, f"{namespace}/hero_react", after=time.monotonic())
        start_published = camera.published_before(start[0] - 0.002) if start else 0
        start_received = int(start[1].get("frames received", 0)) if start else 0
        from hero_msgs.srv import React

        latencies, failures = [], 0
        for k in range(args.triggers):
            t_next = time.monotonic() + args.period_s
            before = client.count("trajectory")
            done = threading.Event()
            t0 = time.monotonic()
            future = client.react_client.call_async(React.Request(length=args.length, seed=k))
            future.add_done_callback(lambda _: done.set())
            arrived = client.wait_for("trajectory", 15.0, after=before)
            done.wait(5.0)
            if arrived is None or not (future.done() and future.result().success):
                failures += 1
            else:
                latencies.append(arrived[0] - t0)
            time.sleep(max(0.0, t_next - time.monotonic()))
        camera.stop_event.set()                   # counters after the last frame: stop it, then wait for them
        camera.join(2.0)
        run_s = time.monotonic() - t_start
        published = camera.published          # the counters after the last frame: those that count all of them
        final = next_diagnostics(client, f"{namespace}/hero_react", after=time.monotonic(), wait_s=5.0,
                                 accept=lambda values: int(values.get("frames received", -1)) >= published)
        diag = final[1] if final else {}
    finally:
        for thread in (camera, sampler):
            if thread is not None:
                thread.stop_event.set()
                thread.join(2.0)
        client.close()
        rclpy.try_shutdown()
        exit_code = node.stop()
    as_int = lambda key: int(diag[key]) if key in diag else None  # noqa: E731
    published, received = camera.published, as_int("frames received")
    results = {
        "model": model_text, "reaction_frames": args.length, "triggers": args.triggers, "failed": failures,
        "latency_p50_s": round(percentile(latencies, 50), 4) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 95), 4) if latencies else None,
        "latency_p99_s": round(percentile(latencies, 99), 4) if latencies else None,
        "latency_max_s": round(max(latencies), 4) if latencies else None,
        "frames_published": published, "publish_rate_hz": round(published / run_s, 2),
        "publisher_late_ticks": camera.late,
        "frames_received": received,
        "frames_lost_in_transport": (None if received is None
                                     else (published - start_published) - (received - start_received)),
        "frames_lost_at_start": start_published - start_received,
        "frames_encoded": as_int("frames encoded"), "frames_decimated": as_int("frames decimated (max_encode_hz)"),
        "frames_dropped": as_int("frames dropped"),
        "dropped_by_reason": {k.split(": ", 1)[1]: int(v) for k, v in diag.items() if k.startswith("dropped: ")},
        "encode_ms_per_frame": float(diag["encode time per frame (ms)"]) if "encode time per frame (ms)" in diag
        else None,
        "node_cpu_percent_mean": round(float(np.mean(sampler.cpu)), 1) if sampler.cpu else None,
        "node_rss_mb_max": round(float(np.max(sampler.rss)), 1) if sampler.rss else None,
        "node_exit_code": exit_code, "node_log": str(node.log_path),
    }
    case = {"fps": args.fps, "input": f"{width}x{height}", "transport": f"loopback, {'reliable' if args.reliable else 'best-effort sensor'} QoS",
            "node_params": {k: v for k, v in parameters.items() if k not in ("model_dir", "image_topic")}}
    emit(case, results)
    return 0 if failures == 0 and exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
