"""python -m hero_model.sim ROBOT_MOTION.npz --mode kinematic|physics --out robot.mp4 [--strip strip.png]
[--video input_clip.mp4] [--report report.json]

Plays a retargeted G1 motion (the npz of `python -m hero_model.retarget`: joint_names, joint_positions (N, dof),
root_pose (N, 7), fps) in MuJoCo, writes the robot video, optionally a frame strip (with the input clip's frames
above the robot's when --video is given) and the report as JSON; prints the report's headline figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import CameraConfig, SimConfig, Trajectory, TrajectoryError, frame_strip, play, rendering_available
from .playback import MODES


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        return width, height
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hero_model.sim", description=__doc__.split("\n\n")[1])
    p.add_argument("motion", type=Path, help="ROBOT_MOTION.npz (joint_names, joint_positions, root_pose, fps)")
    p.add_argument("--mode", choices=MODES, default="kinematic")
    p.add_argument("--out", type=Path, help="robot video (.mp4 or .gif); omit to simulate without rendering")
    p.add_argument("--strip", type=Path, help="frame-strip PNG")
    p.add_argument("--frames", type=int, default=6, help="frames in the strip (default 6)")
    p.add_argument("--video", type=Path, help="the input camera clip, shown above the robot in the strip (frames at "
                   "the same time as the robot's; the clip and the motion start together)")
    p.add_argument("--report", type=Path, help="report JSON")
    p.add_argument("--size", type=_size, default=(320, 240), help="render size WxH (default 320x240)")
    p.add_argument("--fps", type=float, help="video frame rate (default: the motion's)")
    p.add_argument("--hold", type=float, default=SimConfig.hold_s, help="physics: seconds the start pose is held")
    p.add_argument("--level-feet", action="store_true", help="physics: ankle references that keep the soles level "
                   "(position-only retargeting leaves the ankles free)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        trajectory = Trajectory.load(args.motion)
        config = SimConfig(mode=args.mode, hold_s=args.hold, level_feet=args.level_feet)
        camera = CameraConfig(width=args.size[0], height=args.size[1])
    except (TrajectoryError, ValueError) as exc:
        print(f"hero_model.sim: error: {exc}", file=sys.stderr)
        return 2
    render = args.out is not None or args.strip is not None
    if render:
        ok, reason = rendering_available()
        if not ok:
            print(f"hero_model.sim: error: {reason}", file=sys.stderr)
            return 2
    result = play(trajectory, config, render=render, camera=camera, fps=args.fps)
    report = result.report.to_dict()
    if args.out is not None:
        from hero_model.render import write_video

        write_video(result.frames, args.out, fps=result.fps)
        print(f"wrote {args.out} ({len(result.frames)} frames at {result.fps:g} fps)")
    if args.strip is not None:
        clip, clip_fps = None, None
        if args.video is not None:
            from hero_model.data.video_io import read_video

            clip, clip_fps = read_video(args.video)
        frame_strip(result.frames, args.frames, clip, result.fps, out_png=args.strip, input_fps=clip_fps)
        print(f"wrote {args.strip}")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.report}")
    fall = f"fell at t={report['fall_time_s']} s ({report['fall_reason']})" if report["fell"] else "stayed up"
    track = report["tracking"].get("all")
    track = (f"tracking RMS {track['rms_rad']:.4f} rad, max {track['max_rad']:.4f} rad" if track
             else "no tracking (fell before playback)")
    print(f"{args.mode}: {report['duration_s']:.2f} s, {report['samples']} samples; {fall}; {track}; "
          + (f"{report['ms_per_step']:.3f} ms/step" if report["ms_per_step"] else "no physics steps")
          + (f", {report['ms_per_frame']} ms/frame" if report["ms_per_frame"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
