"""Retarget a generated reaction onto a robot.

    python -m hero_model.retarget REACTION.npz --robot g1 --out OUT.npz

REACTION.npz as `python -m hero_model.generate` writes it (joints (N, 22, 3) HumanML3D, Y up; features; length);
OUT.npz gets joint_names (dof,), joint_positions (N, dof) rad, joint_velocities (N, dof) rad/s, root_pose (N, 7)
[x, y, z, qw, qx, qy, qz] REP 103, fps, target_errors (N, targets) m. Exit code 2 with one line on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..motion import FPS
from .retargeter import Retargeter
from .robot import RobotSpecError, list_robots, load_robot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hero_model.retarget", description=__doc__.split("\n")[0])
    parser.add_argument("reaction", type=Path, help="reaction .npz with a 'joints' array (N, 22, 3)")
    parser.add_argument("--robot", default="g1", help=f"robot name ({', '.join(list_robots())}) or a YAML file")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--fps", type=float, default=None, help=f"motion frame rate (default: the file's, else {FPS})")
    args = parser.parse_args(argv)
    prog = parser.prog
    try:
        if not args.reaction.is_file():
            raise ValueError(f"reaction file not found: {args.reaction}")
        with np.load(args.reaction) as data:
            if "joints" not in data:
                raise ValueError(f"{args.reaction}: no key 'joints' (has: {', '.join(data.files) or 'nothing'})")
            joints = np.asarray(data["joints"], dtype=np.float64)
            if "length" in data:                                   # generate.py pads nothing, but be exact
                joints = joints[: int(data["length"])]
            fps = args.fps or (float(data["fps"]) if "fps" in data else float(FPS))
        robot = load_robot(args.robot)
        started = time.perf_counter()
        motion = Retargeter(robot).retarget(joints, fps=fps)
        seconds = time.perf_counter() - started
    except (ValueError, RobotSpecError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, joint_names=np.array(motion.joint_names), joint_positions=motion.joint_positions,
             joint_velocities=motion.joint_velocities(), root_pose=motion.root_pose, fps=np.float64(motion.fps),
             target_errors=motion.target_errors, target_names=np.array(motion.target_names))
    report = motion.error_report()
    print(json.dumps({"robot": robot.name, "frames": motion.length, "seconds": round(seconds, 3),
                      "mean_error_mm": round(report["mean_mm"], 1), "max_error_mm": round(report["max_mm"], 1),
                      "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
