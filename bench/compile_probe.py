"""Does torch.compile pay off for the generator? One guided masked-transformer pass (the unit that decoding repeats
10 + 5 times per reaction), eager vs torch.compile(dynamic=False), alternating, plus the compile time.

    python bench/compile_probe.py [--size paper|default] [--length 196] [--runs 10] [--threads 0] [--out F.jsonl]

Decoding runs one such pass per step at a fixed token count per reaction length; with dynamic=False every new
length compiles again (the compile time below, each time), with dynamic=True the kernels are generic. The project
keeps torch.compile off by default unless this shows a clear gain.
"""
from __future__ import annotations

import argparse
import statistics
import time

from common import Emitter, add_common_args
from generation import build


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="paper")
    parser.add_argument("--length", type=int, default=196)
    parser.add_argument("--dynamic", action="store_true")
    add_common_args(parser)
    args = parser.parse_args(argv)
    runs = min(args.runs, 5) if args.quick else max(args.runs, 10)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    generator, _ = build(args.size, "cpu")
    model = generator.masked
    n = args.length // generator.config.unit_length
    frames = torch.randn(1, 16, generator.config.video_dim)
    emit = Emitter("compile", args.out)
    with torch.no_grad():
        condition = model.guidance_condition(frames)
        ids = torch.randint(0, generator.config.num_codes + 1, (2, n))
        pad = torch.zeros(2, n, dtype=torch.bool)
        compiled = torch.compile(model.logits, dynamic=args.dynamic)
        t0 = time.perf_counter()
        out = compiled(ids, pad, condition)
        compile_s = time.perf_counter() - t0
        error = (out - model.logits(ids, pad, condition)).abs().max().item()
        samples = {"eager": [], "compiled": []}
        for _ in range(runs):
            for name, fn in (("eager", model.logits), ("compiled", compiled)):
                t0 = time.perf_counter()
                fn(ids, pad, condition)
                samples[name].append(time.perf_counter() - t0)
    eager, comp = statistics.median(samples["eager"]), statistics.median(samples["compiled"])
    emit({"size": args.size, "length": args.length, "dynamic": args.dynamic},
         {"eager_pass_s": round(eager, 5), "compiled_pass_s": round(comp, 5), "speedup": round(eager / comp, 3),
          "compile_s": round(compile_s, 1), "max_abs_logit_diff": error, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
