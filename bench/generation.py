"""Generation speed: video features in, motion out (masked decoding, residual layers, RVQ decode), per stage.

    python bench/generation.py [--sizes paper,default] [--batches 1,32] [--lengths 196,88] [--precisions fp32,bf16]
                               [--modes fast,naive] [--runs 5] [--threads 0] [--device cpu] [--quick] [--out F.jsonl]

Random weights at the paper's size (HeroConfig.paper() + RVQConfig.paper()) and at the embedded default's size
(its generator.json / rvq.json, or the "cpu" training preset): speed does not depend on the weights' values. Video
features are random (B, 16, 512), as if precomputed. 10 decoding steps, guidance 4 / 5, top-k 0.9, seeded.

Modes: "fast" is the default path (one batched guidance pass, conditioning and cross-attention K/V once per reaction),
"naive" the project's straightforward path (separate guidance passes, conditioning per step). The modes of one case
run alternately, so their ratio is measured under the same load. fp32 fast must give the same tokens as fp32 naive
(`tokens_equal_naive`); bf16 records its token agreement with fp32 (`token_agreement_fp32`).

One JSON line per (size, batch, length, precision, mode): stage medians (condition, masked, residual, decode) and
the median total, in seconds. bf16 cases with batch > 1 are skipped on CPUs without bf16 matrix units (they take
minutes there and only show that bf16 is emulated); --all-bf16 runs them anyway.
"""
from __future__ import annotations

import argparse
import statistics
import time

from common import Emitter, add_common_args, bf16_is_native, default_architecture, runs_within

STAGES = ("condition", "masked", "residual", "decode")


def build(size: str, device: str):
    import torch

    from hero_model.hero import HeroConfig, HeroGenerator
    from hero_model.rvq import RVQConfig, RVQVAE

    torch.manual_seed(0)
    if size == "paper":
        hero_config, rvq_config = HeroConfig.paper(), RVQConfig.paper()
    elif size == "default":
        hero_config, rvq_config = default_architecture()
    else:
        raise SystemExit(f"--sizes: unknown size {size!r} (paper, default)")
    return HeroGenerator(hero_config).to(device).eval(), RVQVAE(rvq_config).to(device).eval()


def run_once(generator, rvq, frames, lengths, precision: str, naive: bool, seed: int, steps: int):
    import torch

    rng = torch.Generator(device=frames.device).manual_seed(seed)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    codes, _ = generator.generate(frames, lengths, steps=steps, generator=rng, naive=naive, precision=precision,
                                  stage_times=times)
    t1 = time.perf_counter()
    rvq.decode(codes)
    if frames.device.type == "cuda":
        torch.cuda.synchronize(frames.device)
    times["decode"] = time.perf_counter() - t1
    times["total"] = time.perf_counter() - t0
    return codes, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="paper,default")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--lengths", default="196,88", help="reaction lengths in frames (20 fps)")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--modes", default="fast,naive")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--all-bf16", action="store_true", help="also run bf16 batches > 1 on CPUs without bf16 units")
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.lengths, args.runs = "1", "196", min(args.runs, 3)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    emit = Emitter("generation", args.out, args.device)
    native_bf16 = bf16_is_native(args.device)
    for size in args.sizes.split(","):
        generator, rvq = build(size, args.device)
        video_dim = generator.config.video_dim
        for batch in (int(b) for b in args.batches.split(",")):
            for length in (int(n) for n in args.lengths.split(",")):
                frames = torch.randn(batch, 16, video_dim, generator=torch.Generator().manual_seed(1)).to(args.device)
                lengths = torch.full((batch,), length, device=args.device)
                reference = None
                for precision in args.precisions.split(","):
                    case = {"size": size, "batch": batch, "length": length, "precision": precision,
                            "steps": args.steps}
                    modes = args.modes.split(",")
                    if precision == "bf16" and batch > 1 and not native_bf16 and not args.all_bf16:
                        for mode in modes:
                            emit({**case, "mode": mode}, {"skipped": "no bf16 matrix units on this CPU "
                                                                     "(bf16 is emulated, many times slower)"})
                        continue
                    samples = {m: [] for m in modes}
                    codes = {}
                    with torch.inference_mode():
                        first = {}
                        for mode in modes:                       # warm-up (also makes the bf16 weight copy)
                            for _ in range(max(args.warmup, 1)):
                                codes[mode], t = run_once(generator, rvq, frames, lengths, precision,
                                                          mode == "naive", 0, args.steps)
                            first[mode] = t["total"]
                        runs = runs_within(sum(first.values()), args.runs, args.budget_s)
                        for r in range(runs):                    # modes alternate: same load for both
                            for mode in modes:
                                _, t = run_once(generator, rvq, frames, lengths, precision, mode == "naive",
                                                0, args.steps)
                                samples[mode].append(t)
                    if precision == "fp32" and "fast" in codes:
                        reference = codes["fast"]
                    for mode in modes:
                        med = {f"{s}_s": round(statistics.median(x[s] for x in samples[mode]), 5)
                               for s in (*STAGES, "total")}
                        extra = {}
                        if precision == "fp32" and "naive" in codes and mode == "fast":
                            extra["tokens_equal_naive"] = bool(torch.equal(codes["fast"], codes["naive"]))
                        if precision != "fp32" and reference is not None:
                            valid = reference >= 0
                            agree = (codes[mode][valid] == reference[valid]).float().mean().item()
                            extra["token_agreement_fp32"] = round(agree, 4)
                        totals = [x["total"] for x in samples[mode]]
                        emit({**case, "mode": mode}, {**med, "min_s": round(min(totals), 5),
                                                      "max_s": round(max(totals), 5), "runs": len(totals),
                                                      "per_reaction_s": round(med["total_s"] / batch, 5), **extra})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
