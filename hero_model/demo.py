"""The motion tokenizer on its own: the embedded RVQ-VAE round trip (`make demo` is the ROS node demo,
hero_ros.demo; this one needs no ROS).

A reaction from the procedural motion library -> 263-d HumanML3D features -> the embedded RVQ-VAE tokenizer
(encode to residual tokens, decode) -> joints again, rendered before/after side by side as an mp4, with the
reconstruction error printed. `python -m hero_model.demo --out DIR [--reaction NAME] [--seed S] [--checkpoint DIR]`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError
from .motion import FPS, canonicalize_joints, features_to_joints, joints_to_features
from .pipeline import DEFAULT_MODEL_DIR as DEFAULT_CHECKPOINT_DIR
from .pipeline import load_rvq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--reaction", default="wave_back", help="reaction from hero_model.synth.motions.REACTIONS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT_DIR,
                        help="folder holding rvq.safetensors + rvq.json (default: the embedded model)")
    args = parser.parse_args(argv)

    from .render import render_skeleton_frames, side_by_side, write_video
    from .synth.motions import REACTIONS, make_motion

    if args.reaction not in REACTIONS:
        parser.error(f"--reaction {args.reaction!r} is not one of {', '.join(REACTIONS)}")
    try:
        model, normalizer = load_rvq(args.checkpoint / "rvq", "cpu")
    except CheckpointError as exc:
        print(f"error: cannot load the RVQ-VAE: {exc}", file=sys.stderr)
        return 2

    joints = make_motion(args.reaction, np.random.default_rng(args.seed))
    features = joints_to_features(joints)                                   # (T-1, 263)
    usable = (len(features) // 4) * 4                                       # whole tokens of 4 frames
    features = features[:usable]

    t0 = time.perf_counter()
    with torch.inference_mode():
        x = torch.from_numpy(normalizer.normalize(features)).float()[None]  # (1, T, 263)
        codes = model.encode(x)                                             # (1, T/4, Q)
        recon = normalizer.denormalize(model.decode(codes)[0].double()).numpy()
    seconds = time.perf_counter() - t0

    source = features_to_joints(features.astype(np.float64))
    rebuilt = features_to_joints(recon)
    error_mm = 1000 * np.linalg.norm(source - rebuilt, axis=-1)             # (T, 22)
    assert np.allclose(source, canonicalize_joints(joints)[:usable], atol=1e-4)

    args.out.mkdir(parents=True, exist_ok=True)
    video = args.out / "rvq_round_trip.mp4"
    panels = [render_skeleton_frames(j, size=(320, 320)) for j in (source, rebuilt)]
    write_video(side_by_side(*panels, ("source motion", "RVQ-VAE reconstruction")), video, FPS)
    np.savez(args.out / "rvq_round_trip.npz", source_features=features, recon_features=recon.astype(np.float32),
             codes=codes[0].numpy(), source_joints=source, recon_joints=rebuilt)

    print(f"reaction        {args.reaction} (seed {args.seed}), {usable} frames = {usable / FPS:.1f} s at {FPS} fps")
    print(f"tokens          {codes.shape[1]} x {codes.shape[2]} residual layers "
          f"(base layer: {codes[0, :12, 0].tolist()}...)")
    print(f"round trip      {1000 * seconds:.1f} ms on CPU")
    print(f"joint error     mean {error_mm.mean():.1f} mm, max {error_mm.max():.1f} mm (MPJPE, metres x 1000)")
    print(f"wrote           {video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
