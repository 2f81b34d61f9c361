"""Play a clip into the running reaction node and show the reaction it publishes.

    python -m hero_ros.demo --out DIR [--clip VIDEO.mp4 | --subcategory wave --seed 0] [--model-dir DIR]
                            [--device cpu] [--triggers 1]

1. The clip: a video file, or (without --clip) one ViMo-Synth clip generated on the spot.
2. The node: started as its own process (`hero-react`, or `python -m hero_ros.react_node`) with ROS traffic kept
   on loopback, logs in a temporary folder and a random ROS_DOMAIN_ID; service trigger, reliable QoS, and a window
   of exactly the clip's duration -- so the node samples the same 16 frames as `python -m hero_model.generate` on
   the file.
3. This process is the camera: every frame as sensor_msgs/Image (rgb8) at the clip's frame rate, stamped
   t0 + i / fps; then it calls ~/react (`--triggers` times) and listens to every output.
4. Printed summary (frames sent, trigger -> output latency, reaction length, joint ranges, what arrived on each
   topic) and files in DIR: reaction.mp4 (the published joints, rendered), side_by_side.mp4 (camera | reaction),
   reaction.npz (joints, features), summary.json, node.log. The node is stopped with SIGINT (exit code 0 expected).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from .node_process import NodeProcess, ros_safety_env

READY_TIMEOUT_S = 180.0   # model loading on a busy CPU
SETTLE_S = 0.2            # the last frames reach the node before the service request does (separate DDS channels)


def load_clip(args, out: Path) -> tuple[np.ndarray, float, str]:
    """(frames (T, H, W, 3) uint8 RGB, fps, description)."""
    if args.clip is not None:
        from hero_model.data.video_io import read_video

        frames, fps = read_video(args.clip)
        return frames, float(fps), str(args.clip)
    from hero_model.render import write_video
    from hero_model.synth.dataset import SynthConfig, generate_pair, plan_pairs

    config = SynthConfig(pairs=1, seed=args.seed, subcategories=(args.subcategory,), size=args.size)
    pair = generate_pair(config, plan_pairs(config)[0])
    write_video(pair.frames, out / "input.mp4", fps=config.fps)
    return pair.frames, float(config.fps), (f"ViMo-Synth {pair.spec.pair_id} ({pair.label['action']}, "
                                            f"{pair.label['emotion']}; paired reaction: {pair.label['reaction']})")


def render(out: Path, frames: np.ndarray, fps: float, joints_ros: np.ndarray, title: str) -> list[Path]:
    from hero_model.motion import FPS, from_ros_frame
    from hero_model.render import render_skeleton_frames, side_by_side, write_video

    joints = from_ros_frame(joints_ros.astype(np.float64))                   # back to HumanML3D axes for drawing
    reaction = render_skeleton_frames(joints, size=(320, 240), title=title, fps=FPS)
    paths = [write_video(reaction, out / "reaction.mp4", fps=FPS)]
    camera = frames[np.minimum((np.arange(round(len(frames) * FPS / fps)) * fps / FPS).astype(int),
                               len(frames) - 1)]                             # the clip resampled to 20 fps
    paths.append(write_video(side_by_side(camera, reaction, labels=("camera (published)", "reaction (received)")),
                             out / "side_by_side.mp4", fps=FPS))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--clip", type=Path, help="video file to play (default: a generated ViMo-Synth clip)")
    parser.add_argument("--subcategory", default="wave", help="ViMo-Synth subcategory without --clip (default wave)")
    parser.add_argument("--seed", type=int, default=0, help="clip seed and reaction seed (default 0)")
    parser.add_argument("--size", type=int, default=224, help="ViMo-Synth frame size (default 224)")
    parser.add_argument("--model-dir", type=Path, help="model folder (default: the node's embedded default)")
    parser.add_argument("--device", default="cpu", help="node device: auto, cpu, cuda (default cpu)")
    parser.add_argument("--length", type=int, default=0, help="reaction frames (default 0: predicted)")
    parser.add_argument("--triggers", type=int, default=1, help="service calls after the clip (latency statistics)")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME=VALUE",
                        help="another node parameter (YAML value), e.g. cpu_threads=1; repeatable")
    args = parser.parse_args(argv)
    if args.triggers < 1:
        parser.error(f"--triggers must be >= 1, got {args.triggers}")
    args.out.mkdir(parents=True, exist_ok=True)
    ros_safety_env(random_domain=True)            # before rclpy is imported, here and in the node process

    import rclpy

    from .client import ReactClient
    from .messages import reaction_arrays, stamp_to_seconds

    frames, fps, description = load_clip(args, args.out)
    duration = len(frames) / fps
    window_s = float(min(max(duration, 0.5), 10.0))
    parameters = {"trigger": "service", "reliable": True, "device": args.device, "window_s": window_s,
                  "min_frames": int(min(16, len(frames))), "min_coverage": 0.0,
                  "max_encode_hz": float(min(max(fps, 30.0), 240.0)), "stale_after_s": 5.0}
    if args.model_dir is not None:
        parameters["model_dir"] = str(args.model_dir.resolve())
    for item in args.node_param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--node-param expects NAME=VALUE, got {item!r}")
        parameters[name] = yaml.safe_load(value)
    node = NodeProcess(parameters, args.out / "node.log").start()
    print(f"clip: {description}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} at {fps:g} fps "
          f"({duration:.2f} s)\nnode: {' '.join(node.args)}\n      log {node.log_path}")
    rclpy.init()
    client = ReactClient(reliable=True)
    try:
        t0 = time.monotonic()
        if not client.wait_ready(READY_TIMEOUT_S, alive=lambda: node.alive):
            why = (f"exited with code {node.proc.poll()}" if not node.alive
                   else f"did not come up within {READY_TIMEOUT_S:.0f} s")
            print(f"error: the node {why}; its log:\n{node.log_text()[-3000:]}", file=sys.stderr)
            return 2
        print(f"node ready after {time.monotonic() - t0:.1f} s; playing the clip")
        t_play = time.monotonic()
        stamps = client.play(frames, fps)
        sent_s = time.monotonic() - t_play
        time.sleep(SETTLE_S)
        latencies, node_latencies, response = [], [], None
        for k in range(args.triggers):
            response, round_trip = client.react(length=args.length, seed=args.seed + k, timeout=120.0)
            if not response.success:
                print(f"error: ~/react failed: {response.message}", file=sys.stderr)
                return 1
            latencies.append(round_trip)
            node_latencies.append(response.reaction.generation_latency_s)
        reaction = response.reaction
        last = args.triggers - 1                                     # the k-th call publishes the k-th of each
        topic = client.wait_for("reaction", 10.0, after=last)
        trajectory = client.wait_for("trajectory", 10.0, after=last)
        time.sleep(min(reaction.length / reaction.fps, 10.0) + 0.3)   # let the joint stream of the last one play
        joints, features = reaction_arrays(reaction)
        root = joints[:, 0]
        yaw = [2.0 * np.arctan2(p.orientation.z, p.orientation.w) for p in reaction.root_trajectory]
        summary = {
            "clip": description, "frames_sent": len(stamps), "clip_fps": fps, "send_seconds": round(sent_s, 3),
            "window": [stamp_to_seconds(reaction.window_start), stamp_to_seconds(reaction.window_end)],
            "header_stamp_is_last_frame": reaction.header.stamp == stamps[-1],
            "trigger_to_output_s": {"service_round_trip": [round(x, 4) for x in latencies],
                                    "node_measured": [round(x, 4) for x in node_latencies],
                                    "mean_round_trip": round(float(np.mean(latencies)), 4)},
            "model_id": reaction.model_id, "reaction_frames": int(reaction.length), "fps": reaction.fps,
            "joint_range_m": {axis: [round(float(joints[..., i].min()), 3), round(float(joints[..., i].max()), 3)]
                              for i, axis in enumerate("xyz")},
            "root_travel_m": round(float(np.linalg.norm(root[-1, :2] - root[0, :2])), 3),
            "root_turn_deg": round(float(np.degrees(yaw[-1] - yaw[0])), 1),
            "received": {kind: client.count(kind) for kind in ("reaction", "trajectory", "joint_command",
                                                               "root_pose", "markers", "diagnostics")},
            "trajectory": None if trajectory is None else {
                "dof": len(trajectory[1].joint_names), "points": len(trajectory[1].points),
                "last_time_from_start_s": round(stamp_to_seconds(trajectory[1].points[-1].time_from_start), 3)},
            "reaction_on_topic": topic is not None and topic[1].header.stamp == reaction.header.stamp
                                 and topic[1].length == reaction.length,
        }
        np.savez(args.out / "reaction.npz", joints=joints, features=features, length=reaction.length)
        written = render(args.out, frames, fps, joints, f"{reaction.model_id}: {reaction.length} frames")
    finally:
        client.close()
        rclpy.try_shutdown()
        summary_code = node.stop()
    summary["node_exit_code"] = summary_code
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rt = summary["trigger_to_output_s"]
    print(f"frames sent: {summary['frames_sent']} in {summary['send_seconds']:.2f} s; window "
          f"{summary['window'][1] - summary['window'][0]:.2f} s, header stamp = last frame: "
          f"{summary['header_stamp_is_last_frame']}")
    print(f"trigger -> output: {1e3 * rt['mean_round_trip']:.0f} ms service round trip (mean of {args.triggers}); "
          f"node-measured {', '.join(f'{1e3 * x:.0f}' for x in rt['node_measured'])} ms")
    print(f"reaction: {summary['reaction_frames']} frames ({summary['reaction_frames'] / reaction.fps:.1f} s at "
          f"{reaction.fps:g} fps), model {summary['model_id']}; joints x {summary['joint_range_m']['x']} "
          f"y {summary['joint_range_m']['y']} z {summary['joint_range_m']['z']} m (REP 103); root moved "
          f"{summary['root_travel_m']} m, turned {summary['root_turn_deg']} deg")
    print(f"received: {summary['received']}; trajectory {summary['trajectory']}")
    inputs = [args.out / "input.mp4"] if args.clip is None else []
    print(f"wrote {', '.join(str(p) for p in inputs + written)}, {args.out / 'reaction.npz'}, "
          f"{args.out / 'summary.json'}")
    print(f"node stopped with exit code {summary_code}")
    return 0 if summary_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
