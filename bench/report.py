"""Markdown summary of benchmark JSON lines (bench/run_all.py writes it next to the .jsonl)."""
from __future__ import annotations

from collections import defaultdict

# The official HERO implementation at the paper's size, as measured for issue 8 (2-core Xeon with AVX-512 + AMX,
# torch 2.14.1 CPU, fp32, video features precomputed, 10 steps, CFG 4/5). A different machine: reference only.
OFFICIAL_ANCHORS = [
    ("batch 1 x 196 frames", "0.39 s (masked 0.25, residual 0.13, VQ decode 0.014)"),
    ("batch 32 x 196 frames", "5.4 s"),
    ("batch 1 x 88 frames", "0.29-0.33 s"),
    ("TC-CLIP encoder, one 16-frame clip", "2.5 s"),
]


def _ms(seconds) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:.1f}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _load(r) -> str:
    return f"{r['loadavg'][0]:.1f}" if "loadavg" in r else "-"


def _generation(records) -> tuple[list[str], dict]:
    rows, index = [], {}
    for r in records:
        if "skipped" in r:
            continue
        index[(r["size"], r["batch"], r["length"], r["precision"], r["mode"])] = r
    for key, r in index.items():
        naive = index.get((*key[:3], key[3], "naive"))
        ratio = f"{naive['total_s'] / r['total_s']:.2f}x" if naive and key[4] != "naive" else ""
        naive32 = index.get((*key[:3], "fp32", "naive"))
        ratio32 = (f"{naive32['total_s'] / r['total_s']:.2f}x" if naive32 and key[3] != "fp32" else "")
        check = ("tokens = naive" if r.get("tokens_equal_naive") else "TOKENS DIFFER") \
            if "tokens_equal_naive" in r else (f"agree {r['token_agreement_fp32']:.0%}"
                                              if "token_agreement_fp32" in r else "")
        rows.append([r["size"], r["batch"], r["length"], r["precision"], r["mode"], _ms(r["condition_s"]),
                     _ms(r["masked_s"]), _ms(r["residual_s"]), _ms(r["decode_s"]), _ms(r["total_s"]),
                     _ms(r["per_reaction_s"]), ratio, ratio32, check, r["runs"], r["threads"], _load(r)])
    skipped = sorted({(r["size"], r["batch"], r["length"], r["precision"], r["skipped"]) for r in records
                      if "skipped" in r})
    lines = _table(["size", "batch", "frames", "precision", "mode", "condition ms", "masked ms", "residual ms",
                    "decode ms", "total ms", "per reaction ms", "vs naive", "vs naive fp32", "check", "runs",
                    "threads", "load"], rows)
    for size, batch, length, precision, why in skipped:
        lines.append(f"\nskipped: {size} batch {batch} x {length} {precision}: {why}")
    return lines, index


def _video(records) -> list[str]:
    skipped = [r for r in records if "skipped" in r]
    records = [r for r in records if "skipped" not in r]
    rows = [[r["backbone"], r["precision"], r["input"], r["image_size"], r["measure"], r.get("mode", ""),
             _ms(r["median_s"]), r.get("runs", ""), r.get("speedup_vs_batch", ""), _load(r)] for r in records]
    return _table(["backbone", "precision", "input", "px", "measure", "mode", "median ms", "runs",
                   "speed-up vs batch", "load"], rows) + [f"\nskipped: {r['backbone']} {r['precision']}: {r['skipped']}"
                                                         for r in skipped]


def _node(records) -> list[str]:
    rows = [[r["model"], r["reaction_frames"], r["fps"], r["input"], r["transport"], r["triggers"], r["failed"],
             _ms(r["latency_p50_s"]), _ms(r["latency_p95_s"]), _ms(r["latency_p99_s"]), r["frames_published"],
             r["frames_received"], r["frames_dropped"], r["frames_decimated"], r["encode_ms_per_frame"],
             r["node_cpu_percent_mean"], r["node_rss_mb_max"], r["threads"], _load(r)] for r in records]
    return _table(["model", "reaction frames", "camera Hz", "input", "transport", "triggers", "failed", "p50 ms",
                   "p95 ms", "p99 ms", "published", "received", "dropped", "decimated", "encode ms/frame",
                   "node CPU %", "node RSS MB", "bench threads", "load"], rows)


def _generic(records) -> list[str]:
    skip = {"bench", "torch", "cpu", "cores", "avx512", "avx512_bf16", "amx_bf16", "git", "time", "device"}
    keys = []
    for r in records:
        keys += [k for k in r if k not in skip and k not in keys]
    return _table(keys, [[r.get(k, "") for k in keys] for r in records])


def _goals(gen: dict, nodes: list) -> list[str]:
    rows = []
    native = any(gen_r.get("amx_bf16") or gen_r.get("avx512_bf16") or str(gen_r.get("device", "")).startswith("cuda")
                 for gen_r in gen.values())
    why = "" if native else " (no bf16 matrix units here: bf16 is emulated)"
    fast32, naive32 = gen.get(("paper", 1, 196, "fp32", "fast")), gen.get(("paper", 1, 196, "fp32", "naive"))
    fast16 = gen.get(("paper", 1, 196, "bf16", "fast"))
    if fast32 and naive32:
        ratio = naive32["total_s"] / fast32["total_s"]
        rows.append(["paper 1 x 196, fp32: >= 1.5x the naive mode", f"{ratio:.2f}x", "met" if ratio >= 1.5 else
                     "MISSED"])
    if fast16 and naive32:
        ratio = naive32["total_s"] / fast16["total_s"]
        rows.append(["paper 1 x 196, bf16: >= 4x the naive mode (fp32)", f"{ratio:.2f}x",
                     "met" if ratio >= 4 else "MISSED" + why])
    if fast16:
        rows.append(["paper 1 x 196, bf16: < 100 ms", f"{_ms(fast16['total_s'])} ms",
                     "met" if fast16["total_s"] < 0.1 else "MISSED" + why])
    for r in nodes:
        if r["latency_p99_s"] is None:
            rows.append([f"node ({r['transport']}): p99 < 500 ms, no drops", "no reactions", "MISSED"])
            continue
        dropped = (r["frames_dropped"] or 0) + (r["frames_lost_in_transport"] or 0)
        ok = r["latency_p99_s"] < 0.5 and dropped == 0 and r["failed"] == 0
        rows.append([f"node ({r['transport']}, {r['reaction_frames']} frames): p99 < 500 ms at "
                     f"{r['fps']:g} Hz, no dropped frames",
                     f"p99 {_ms(r['latency_p99_s'])} ms, dropped {r['frames_dropped']}, lost in transport "
                     f"{r['frames_lost_in_transport']}", "met" if ok else "MISSED"])
    return _table(["goal", "measured", "status"], rows)


def render(records: list[dict], exit_codes: dict | None = None) -> str:
    by_bench = defaultdict(list)
    for r in records:
        by_bench[r.get("bench", "?")].append(r)
    first = records[0] if records else {}
    stamps = [r["time"] for r in records if "time" in r]
    loads = [r["loadavg"][0] for r in records if "loadavg" in r]
    lines = ["# HERO-ROS benchmarks", ""]
    if first:
        lines += [f"Machine: {first.get('cpu')} ({first.get('cores')} logical cores; AVX-512 {first.get('avx512')}, "
                  f"AVX512-BF16 {first.get('avx512_bf16')}, AMX-BF16 {first.get('amx_bf16')}), torch "
                  f"{first.get('torch')}, device {first.get('device')}. Git {first.get('git')}, "
                  f"{stamps[0] if stamps else '?'} .. {stamps[-1] if stamps else '?'}.",
                  f"1-minute load average during the runs: {min(loads):.1f} .. {max(loads):.1f} "
                  f"(more than the core count means shared CPUs: compare ratios within one run)." if loads else "",
                  ""]
    if exit_codes:
        lines += ["Exit codes: " + ", ".join(f"{k} {v}" for k, v in exit_codes.items()), ""]
    gen_lines, gen_index = _generation(by_bench.get("generation", []))
    lines += ["## Goals (issue 8)", ""] + _goals(gen_index, by_bench.get("node", [])) + [""]
    if by_bench.get("generation"):
        lines += ["## Generation (video features -> motion), medians", "",
                  "`vs naive`: the naive mode's total / this total at the same precision; `vs naive fp32`: against "
                  "the fp32 naive mode. Stages: condition = guidance conditioning of both transformers (in naive "
                  "mode it is recomputed inside every pass), masked = base-layer decoding, residual = layers 1..5, "
                  "decode = RVQ decoder.", ""] + gen_lines + [""]
    if by_bench.get("video"):
        lines += ["## Video encoding", ""] + _video(by_bench["video"]) + [""]
    if by_bench.get("node"):
        lines += ["## ROS node end to end (trigger -> JointTrajectory)", ""] + _node(by_bench["node"]) + [""]
    for bench, recs in by_bench.items():
        if bench not in ("generation", "video", "node"):
            lines += [f"## {bench}", ""] + _generic(recs) + [""]
    lines += ["## Official implementation (reference machine, not this one)", ""]
    lines += _table(["case", "official HERO"], [list(a) for a in OFFICIAL_ANCHORS]) + [""]
    return "\n".join(lines)
