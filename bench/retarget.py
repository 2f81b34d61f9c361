"""Retargeting speed and accuracy: one JSON line per measurement.

    .venv/bin/python bench/retarget.py [--robot g1] [--motions wave_back,step_back,crouch_protect] [--frames 200]

Target: a 10 s reaction (200 frames at 20 fps) in under 2 s on 2 CPU cores. Each motion is a procedural library
reaction, tiled (forwards, then backwards, so it stays continuous) up to --frames; the Retargeter is built once
(its build time is its own line), as the ROS node does at start-up.
"""
import argparse
import json
import time

import numpy as np

from hero_model.retarget import Retargeter, load_robot
from hero_model.synth.motions import make_motion


def tiled(joints: np.ndarray, frames: int) -> np.ndarray:
    out = joints
    while len(out) < frames:
        out = np.concatenate([out, out[::-1]])
    return out[:frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robot", default="g1")
    parser.add_argument("--motions", default="wave_back,step_back,crouch_protect")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per motion")
    args = parser.parse_args()
    started = time.perf_counter()
    retargeter = Retargeter(load_robot(args.robot))
    print(json.dumps({"bench": "retarget_build", "robot": args.robot,
                      "seconds": round(time.perf_counter() - started, 4)}))
    for name in args.motions.split(","):
        joints = tiled(make_motion(name, np.random.default_rng(0)), args.frames)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            motion = retargeter.retarget(joints, fps=20.0)
            best = min(best, time.perf_counter() - t0)
        report = motion.error_report()
        print(json.dumps({"bench": "retarget", "robot": args.robot, "motion": name, "frames": len(joints),
                          "seconds": round(best, 3), "ms_per_frame": round(1e3 * best / len(joints), 2),
                          "mean_error_mm": round(report["mean_mm"], 1), "max_error_mm": round(report["max_mm"], 1)}))


if __name__ == "__main__":
    main()
