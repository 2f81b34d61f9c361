"""Video encoding speed: one camera frame, one 16-frame clip re-encoded at request time ("naive", the batch path),
and the streaming path (each frame encoded once on arrival; a request only gathers the cached features).

    python bench/video.py [--backbones small-cnn,clip-vit-b16] [--precisions fp32,bf16] [--size 640x480]
                          [--runs 5] [--threads 0] [--device cpu] [--quick] [--out F.jsonl]

Random weights (allow_random_init; nothing is downloaded: CLIP ViT-B/16 is built by open_clip with pretrained=None
and the TC-CLIP architecture is the same tower). Input: random uint8 RGB frames of --size, resized by the encoder.

Records (one JSON line each, `measure`):
  frame            one frame through preprocess + backbone (the streaming cost per arriving frame)
  clip_batch       16 frames in one call: what a request costs when the clip is encoded on demand (naive)
  clip_streaming   what a request costs with the streaming cache (features of 16 frames gathered; no backbone)
  per_frame_in_clip  clip_batch / 16 (batching gain over `frame`)
"""
from __future__ import annotations

import argparse
import statistics
import time

from common import Emitter, add_common_args, bf16_is_native, runs_within


def timed(fn, runs: int, warmup: int, budget_s: float) -> list[float]:
    for _ in range(max(warmup, 1)):
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
    samples = []
    for _ in range(runs_within(first, runs, budget_s)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="small-cnn,clip-vit-b16")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--size", default="640x480", help="camera frame WIDTHxHEIGHT")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--all-bf16", action="store_true",
                        help="also run the ViT in bf16 on CPUs without bf16 matrix units (minutes; emulated)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)

    import numpy as np
    import torch

    from hero_model.video import FrozenVideoEncoder, VideoEncoderConfig
    from hero_model.video.streaming import StreamingVideoEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    emit = Emitter("video", args.out, args.device)
    rng = np.random.default_rng(0)
    fps, clip_frames = 30.0, 90                                   # a 3 s window at 30 Hz (the node's default)
    frames = rng.integers(0, 256, size=(clip_frames, height, width, 3), dtype=np.uint8)
    for backbone in args.backbones.split(","):
        for precision in args.precisions.split(","):
            if (precision == "bf16" and backbone != "small-cnn" and not bf16_is_native(args.device)
                    and not args.all_bf16):
                emit({"backbone": backbone, "precision": precision, "input": f"{width}x{height}"},
                     {"skipped": "no bf16 matrix units on this CPU (bf16 is emulated, many times slower)"})
                continue
            config = VideoEncoderConfig(backbone=backbone, allow_random_init=True, device=args.device,
                                        autocast_bf16=precision == "bf16")
            torch.manual_seed(0)
            encoder = FrozenVideoEncoder(config)
            case = {"backbone": backbone, "precision": precision, "input": f"{width}x{height}",
                    "image_size": config.image_size}
            budget = args.budget_s if backbone == "small-cnn" else min(args.budget_s, 30.0)
            with torch.inference_mode():
                one = timed(lambda: encoder.encode_frames(frames[:1]), args.runs, args.warmup, budget)
                clip = timed(lambda: encoder.encode_video(frames), args.runs, args.warmup, budget)
                stream = StreamingVideoEncoder(encoder, capacity=clip_frames)
                stream.push_many(frames, [i / fps for i in range(clip_frames)])     # every frame once, on arrival
                window = (0.0, clip_frames / fps)
                request = timed(lambda: stream.clip_for_window(*window), max(args.runs, 20), 1, 5.0)
                same = torch.allclose(stream.clip_for_window(*window).v_l, encoder.encode_video(frames).v_l,
                                      atol=1e-5)
            med = lambda xs: round(statistics.median(xs), 6)  # noqa: E731
            emit({**case, "measure": "frame"}, {"median_s": med(one), "runs": len(one)})
            emit({**case, "measure": "clip_batch", "mode": "naive"}, {"median_s": med(clip), "runs": len(clip)})
            emit({**case, "measure": "clip_streaming", "mode": "fast"},
                 {"median_s": med(request), "runs": len(request), "same_v_l_as_batch": bool(same),
                  "speedup_vs_batch": round(med(clip) / max(med(request), 1e-9), 1)})
            emit({**case, "measure": "per_frame_in_clip"}, {"median_s": round(med(clip) / 16, 6)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
