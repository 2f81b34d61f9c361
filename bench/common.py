"""Shared pieces of the benchmarks: machine facts, timing, and one JSON line per measurement.

Every record carries the machine (CPU model, cores, bf16 matrix units, torch version and threads), the load
average at the time of the measurement (the CPUs may be shared) and the git revision, so that numbers from
different runs can be told apart. Compare ratios measured in one run, not absolute times across runs.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/x.py` puts bench/ first on sys.path; the project (and training/) next
    sys.path.insert(1, str(REPO))


@lru_cache(maxsize=None)
def cpu_facts() -> dict:
    """CPU model, logical cores and the matrix/vector extensions that decide whether bf16 pays off."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "avx512": "avx512f" in flags,
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


@lru_cache(maxsize=None)
def git_revision() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_name() -> str:
    """File-name-safe machine label for bench/results/<machine>.{md,jsonl}: host name + CPU model."""
    cpu = "".join(ch if ch.isalnum() else "-" for ch in cpu_facts()["cpu"]).strip("-")
    return f"{socket.gethostname()}-{'-'.join(filter(None, cpu.split('-')))}"[:80]


def device_facts(device: str = "cpu") -> dict:
    import torch

    facts = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return facts


def emit(bench: str, case: dict, results: dict, device: str = "cpu", out=None) -> dict:
    """Print (and return) one JSON line: {"bench", **case, **results, machine facts, load average, time}."""
    record = {"bench": bench, **case, **results, **device_facts(device), **cpu_facts(),
              "loadavg": [round(x, 2) for x in os.getloadavg()], "git": git_revision(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    line = json.dumps(record, sort_keys=False)
    print(line, file=out or sys.stdout, flush=True)
    return record


def summarize(samples: list[float]) -> dict:
    """median / min / max of a list of seconds, rounded to 0.1 ms."""
    return {"median_s": round(statistics.median(samples), 5), "min_s": round(min(samples), 5),
            "max_s": round(max(samples), 5), "runs": len(samples)}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile q in [0, 100] (numpy's default rule)."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def runs_within(first_run_s: float, runs: int, budget_s: float) -> int:
    """How many timed runs fit in `budget_s` seconds after a first (warm-up) run of `first_run_s` (at least 1)."""
    if first_run_s <= 0:
        return runs
    return max(1, min(runs, int(budget_s // first_run_s)))


def add_common_args(parser) -> None:
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    parser.add_argument("--budget-s", type=float, default=60.0,
                        help="seconds of timed runs per case at most: fewer runs (noted in `runs`) when one run is slow")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: fewer cases and runs")
    parser.add_argument("--out", type=Path, default=None, help="also append the JSON lines to this file")


class Emitter:
    """emit() to stdout and, when `path` is given, appended to that .jsonl file."""

    def __init__(self, bench: str, path: Path | None, device: str = "cpu"):
        self.bench, self.path, self.device = bench, path, device
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, case: dict, results: dict) -> dict:
        record = emit(self.bench, case, results, self.device)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record


def default_architecture():
    """(HeroConfig, RVQConfig) of the embedded default model: its generator.json / rvq.json when present, else the
    configuration it is trained with (training/config.py preset "cpu" on the embedded RVQ's codebook)."""
    from hero_model.hero import HeroConfig
    from hero_model.pipeline import DEFAULT_MODEL_DIR
    from hero_model.rvq import RVQConfig

    def config_of(name: str) -> dict | None:
        path = DEFAULT_MODEL_DIR / f"{name}.json"
        return json.loads(path.read_text())["config"] if path.is_file() else None

    rvq_values = config_of("rvq")
    rvq = RVQConfig.from_dict(rvq_values) if rvq_values else RVQConfig.small()
    gen_values = config_of("generator")
    if gen_values:
        return HeroConfig.from_dict(gen_values), rvq
    from training.config import HERO_PRESETS

    return HeroConfig(**HERO_PRESETS["cpu"], num_codes=rvq.num_codes, code_dim=rvq.code_dim,
                      num_quantizers=rvq.num_quantizers), rvq


def bf16_is_native(device: str) -> bool:
    """True where bf16 matrix multiplication has hardware support (CUDA, AVX512-BF16 or AMX CPUs)."""
    if device.startswith("cuda"):
        return True
    facts = cpu_facts()
    return facts["amx_bf16"] or facts["avx512_bf16"]
