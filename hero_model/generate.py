"""Generate a reaction to a video file.

    python -m hero_model.generate VIDEO --out OUT.npz [--checkpoint DIR] [--seed S] [--length FRAMES]
                                  [--device auto|cpu|cuda] [--render] [--steps 10] [--precision fp32|bf16]

Writes OUT.npz with `features` (N, 263, de-normalised HumanML3D), `joints` (N, 22, 3, metres, Y up), `length` (N),
`codes` and `fps`; with --render also OUT.mp4 (stick figure). Same seed -> identical output. Without --checkpoint
it uses the embedded default model (hero_model/assets/default).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .checkpoint import CheckpointError
from .motion import FPS
from .pipeline import DEFAULT_MODEL_DIR, ReactionPipeline
from .video.sampling import NUM_SEGMENTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path, help="input video file (mp4, mkv, avi, ...)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL_DIR, help="model folder")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (same seed, same reaction)")
    parser.add_argument("--length", type=int, default=None,
                        help="reaction length in frames at 20 fps (default: predicted by the length head)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=10, help="masked decoding steps")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="transformer weights and activations: fp32, or bf16 (fast on CUDA and on CPUs with AMX, "
                             "slower than fp32 on CPUs without bf16 matrix units)")
    parser.add_argument("--bf16", action="store_true", help="same as --precision bf16")
    parser.add_argument("--video-weights", default=None, help="weight file for CLIP / TC-CLIP video backbones")
    parser.add_argument("--render", action="store_true", help="also write OUT.mp4 (stick figure)")
    args = parser.parse_args(argv)

    if args.length is not None and not 4 <= args.length <= 200:
        parser.error(f"--length must lie in 4..200 frames, got {args.length}")
    if not args.video.is_file():
        parser.error(f"video file not found: {args.video}")
    from .data.video_io import VideoDecodeError, sample_frames

    try:
        pipeline = ReactionPipeline.from_dir(args.checkpoint, args.device, args.video_weights,
                                             precision="bf16" if args.bf16 else args.precision)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        frames, _ = sample_frames(args.video, NUM_SEGMENTS)   # the 16 segment-centre frames, decoded only
    except VideoDecodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    v_l = pipeline.clip_features(pipeline.encode_frames(frames))  # (1, 16, d)
    reaction = pipeline.generate(v_l, length=args.length, seed=args.seed, steps=args.steps)[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, features=reaction.features, joints=reaction.joints, length=reaction.length,
             codes=reaction.codes, fps=FPS, model_id=pipeline.model_id)
    print(f"{args.video}: {reaction.length} frames ({reaction.length / FPS:.1f} s) generated in "
          f"{reaction.seconds * 1000:.0f} ms on {pipeline.device} -> {args.out}")
    if args.render:
        from .render import render_motion

        video_out = args.out.with_suffix(".mp4")
        render_motion(reaction.joints, video_out, fps=FPS, title=f"reaction to {args.video.name}")
        print(f"rendered {video_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
