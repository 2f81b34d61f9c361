"""ViMo-Synth rendering for the encoder's extra clips: the whole clip then its 16 segment centres ("naive", what the
encoder stage did before), against rendering only those 16 frames (what it does now; the same bytes, a test checks).

    python bench/synth_render.py [--clips 3] [--size 224] [--runs 5] [--quick] [--out F.jsonl]

One scene per training subcategory and clip number, sampled once (sampling is not timed); the two modes alternate
scene by scene on one core, so their ratio survives a shared machine. Records (one JSON line each):
  scene      per subcategory: median seconds per clip of each mode, frames in the clip, and the ratio
  all        the totals over every scene and their ratio -- the saving of encoder.extra_clips rendering
"""
from __future__ import annotations

import argparse
import statistics
import time

from common import Emitter, add_common_args


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=3, help="scenes per subcategory")
    parser.add_argument("--size", type=int, default=224, help="rendered frame side (ViMo-Synth's default 224)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.runs = 1, min(args.runs, 2)

    import cv2
    import numpy as np
    import torch

    from hero_model.synth import taxonomy
    from hero_model.synth.scene import RenderConfig, child_seeds, render_scene, sample_scene
    from hero_model.video.sampling import segment_indices

    torch.set_num_threads(args.threads or 1)
    cv2.setNumThreads(1)  # one core per clip, as in the stage's render workers
    emit = Emitter("synth_render", args.out)
    totals = {"naive": 0.0, "chosen_frames": 0.0}
    for k, row in enumerate(s for s in taxonomy.SUBCATEGORIES if not s.unseen):
        times = {"naive": [], "chosen_frames": []}
        frames = []
        for n in range(args.clips):
            seed = child_seeds(np.random.SeedSequence([2026, k, n]), 1)[0]
            scene = sample_scene(row.name, row.emotions[n % len(row.emotions)], seed,
                                 RenderConfig(size=args.size, fps=20))
            picks = segment_indices(scene.num_frames, 16)
            frames.append(scene.num_frames)
            for _ in range(args.runs):
                t0 = time.perf_counter()
                render_scene(scene).frames[picks]
                t1 = time.perf_counter()
                render_scene(scene, frame_indices=picks)
                t2 = time.perf_counter()
                times["naive"].append(t1 - t0)
                times["chosen_frames"].append(t2 - t1)
        medians = {mode: statistics.median(v) for mode, v in times.items()}
        for mode in totals:
            totals[mode] += medians[mode] * args.clips
        emit({"case": "scene", "subcategory": row.name, "size": args.size, "clips": args.clips,
              "mean_frames": round(float(np.mean(frames)), 1)},
             {"naive_s": round(medians["naive"], 4), "chosen_frames_s": round(medians["chosen_frames"], 4),
              "ratio": round(medians["naive"] / medians["chosen_frames"], 2)})
    emit({"case": "all", "size": args.size, "clips_per_subcategory": args.clips},
         {"naive_s": round(totals["naive"], 3), "chosen_frames_s": round(totals["chosen_frames"], 3),
          "ratio": round(totals["naive"] / totals["chosen_frames"], 2)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
