"""Run every benchmark and write bench/results/<machine>.jsonl (all JSON lines) and <machine>.md (the summary).

    python bench/run_all.py [--quick] [--threads N] [--only generation,video,node,retarget] [--skip-node]
    python bench/run_all.py --report bench/results/<machine>.jsonl      # re-render the Markdown only

Each benchmark runs in its own process (its thread setting and ROS environment stay its own); their stdout JSON
lines are collected as they come. bench/retarget.py (retargeting per frame) runs too when it exists. The machine
label is the host name and CPU model (bench/common.py machine_name); --name overrides it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, machine_name
from report import render

BENCH = Path(__file__).resolve().parent
SCRIPTS = ("generation", "video", "node", "retarget")  # also: compile_probe (slow: compiles)


def run_script(name: str, extra: list[str], sink, timeout: float) -> int:
    script = BENCH / f"{name}.py"
    cmd = [sys.executable, str(script), *extra]
    print(f"== {' '.join(cmd)}", flush=True)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
    try:
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    print(line, flush=True)
                    continue
                record.setdefault("bench", name)
                sink.write(json.dumps(record) + "\n")
                sink.flush()
            print(line, flush=True)
        code = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -9
    print(f"== {name}: exit {code} after {time.monotonic() - t0:.0f} s", flush=True)
    return code


def script_accepts(name: str, option: str) -> bool:
    try:
        text = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--help"], cwd=REPO, capture_output=True,
                              text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return option in text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke runs of every benchmark")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for every benchmark (0: default)")
    parser.add_argument("--only", default=",".join(SCRIPTS))
    parser.add_argument("--name", default=None, help="results file name (default: host + CPU model)")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per benchmark")
    parser.add_argument("--report", type=Path, default=None, help="only render the Markdown of this .jsonl")
    args = parser.parse_args(argv)
    if args.report is not None:
        records = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
        md = args.report.with_suffix(".md")
        md.write_text(render(records))
        print(f"wrote {md}")
        return 0

    out_dir = BENCH / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = args.name or machine_name()
    jsonl, md = out_dir / f"{name}.jsonl", out_dir / f"{name}.md"
    codes = {}
    with open(jsonl, "w") as sink:
        for script in args.only.split(","):
            if not (BENCH / f"{script}.py").is_file():
                print(f"== {script}: bench/{script}.py not found, skipped", flush=True)
                continue
            extra = []
            if script != "retarget" or script_accepts(script, "--quick"):
                extra += ["--quick"] if args.quick else []
            if args.threads and (script != "retarget" or script_accepts(script, "--threads")):
                extra += ["--threads", str(args.threads)]
            # The node runs twice: best-effort sensor QoS (what cameras publish) and reliable (lossless replays).
            for variant in ([[], ["--reliable"]] if script == "node" else [[]]):
                label = script + ("" if not variant else " " + " ".join(variant))
                codes[label] = run_script(script, extra + variant, sink, args.timeout_s)
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    md.write_text(render(records, exit_codes=codes))
    print(f"wrote {jsonl} and {md}")
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
