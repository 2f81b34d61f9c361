"""The spread over training runs: each method's metrics pooled over independently trained models.

The protocol's intervals (metrics.summarize_repeats, supp. Sec. 8) are over evaluation repeats of ONE trained model:
they say how precisely that model was measured, not how much the method's result depends on its training run. On
ViMo-Synth a second training seed moved HERO's test FID from 8.39 to 8.92 while each run's repeat interval was
+-0.25 (README, *A stronger encoder*), so a bar stated on the repeat intervals compares one draw per method.

This module pools results documents of `training/evaluate.py` and groups their models by generator variant. Per
variant, over its n training runs (the same evaluator, dataset, protocol and decoding throughout):

    mean  = (1/n) sum_i m_i                   m_i: a run's protocol mean (itself over 20 repeats)
    ci    = t_{0.975, n-1} * s / sqrt(n)      s: the sample standard deviation over runs (ddof 1)

Student's t rather than the protocol's 1.96: n is 2-5 runs, where the normal quantile would make the interval far
too narrow (t = 12.7 for n = 2, 4.30 for n = 3). Only the evaluation side is checked here (evaluator, dataset,
protocol, decoding); that the pooled runs share a training recipe and differ only in their seed is the caller's
to ensure (a results file does not record how its models were trained).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import stats

from ..checkpoint import HALF_PRECISION_ID_SUFFIX
from .protocol import ALL, VARIANT_NAMES

METRICS = ("fid", "diversity", "plausibility")
# what must agree between two results documents for their numbers to be pooled
_PROTOCOL_FIELDS = ("repeats", "diversity_pairs", "seed", "decoding")
_EVALUATOR_FIELDS = ("kind", "dataset_fingerprint")


@dataclass(frozen=True)
class RunResult:
    """One trained model's protocol means on a split, and where they were read."""

    variant: str
    model_id: str
    source: str
    metrics: dict[str, float | None]


@dataclass(frozen=True)
class RunSpread:
    """A metric over n training runs: mean, the t interval's half-width (None for one run) and the values."""

    mean: float
    ci: float | None
    values: tuple[float, ...]


def run_spread(values: Sequence[float]) -> RunSpread:
    """mean +- t_{0.975, n-1} * s / sqrt(n) over per-run values (s with ddof 1); no interval for a single run."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.ndim != 1 or v.size < 1 or not np.isfinite(v).all():
        raise ValueError(f"run_spread: expected a non-empty list of finite numbers, got {list(values)}")
    ci = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return RunSpread(float(v.mean()), ci, tuple(float(x) for x in v))


def training_run_id(model_id: str) -> str:
    """The training run a model id names: the float16 export of a run (id + HALF_PRECISION_ID_SUFFIX) is the same
    trained model as the run's own folder, so it must not count as a second run."""
    return model_id.removesuffix(HALF_PRECISION_ID_SUFFIX)


def _check_compatible(docs: Sequence[tuple[str, dict]]) -> None:
    first_name, first = docs[0]
    for name, doc in docs[1:]:
        for section, fields in (("protocol", _PROTOCOL_FIELDS), ("evaluator", _EVALUATOR_FIELDS)):
            for key in fields:
                a, b = first.get(section, {}).get(key), doc.get(section, {}).get(key)
                if a != b:
                    raise ValueError(f"{name}: {section}.{key} is {b!r} but {first_name} has {a!r}; only results "
                                     "of the same evaluator, dataset and protocol can be pooled")


def read_results(paths: Sequence[str | Path], split: str = "test") -> list[RunResult]:
    """Every model of the results files with its `split` means; a training run met twice (e.g. its fp32 folder
    and its fp16 export) is kept once, from the first file that has it."""
    docs: list[tuple[str, dict]] = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable results JSON ({exc})") from exc
        if not isinstance(doc, dict) or "models" not in doc or "groups" not in doc:
            raise ValueError(f"{path}: not a training/evaluate.py results document (no 'models' / 'groups')")
        if split not in doc["groups"]:
            raise ValueError(f"{path}: no {split!r} split (has {sorted(doc['groups'])})")
        docs.append((str(path), doc))
    if not docs:
        raise ValueError("read_results: no results files given")
    _check_compatible(docs)
    runs: list[RunResult] = []
    seen: set[str] = set()
    for name, doc in docs:
        for model in doc["models"]:
            run_id = training_run_id(model["model_id"])
            if run_id in seen:
                continue
            seen.add(run_id)
            row = doc["groups"][split][model["method"]][ALL]
            runs.append(RunResult(model["variant"], model["model_id"], name,
                                  {m: row.get(m) for m in METRICS}))
    return runs


def summarize_runs(runs: Sequence[RunResult], reference: str = "hero") -> dict[str, Any]:
    """Per variant: the number of runs, each metric's RunSpread, and -- against `reference` -- whether the
    reference's FID interval lies wholly below the variant's (the issue's bar, on training runs)."""
    by_variant: dict[str, list[RunResult]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    rows = []
    for variant, members in by_variant.items():
        row: dict[str, Any] = {"method": VARIANT_NAMES.get(variant, variant), "variant": variant,
                               "runs": len(members), "model_ids": [m.model_id for m in members]}
        for metric in METRICS:
            values = [m.metrics[metric] for m in members if m.metrics[metric] is not None]
            spread = run_spread(values) if values else None
            row[metric] = spread.mean if spread else None
            row[f"{metric}_ci"] = spread.ci if spread else None
            row[f"{metric}_runs"] = list(spread.values) if spread else []
        rows.append(row)
    ref = next((r for r in rows if r["variant"] == reference), None)
    for row in rows:
        row["fid_clear_of_reference"] = None
        if ref is not None and row is not ref and None not in (ref["fid_ci"], row["fid_ci"]):
            row["fid_clear_of_reference"] = bool(ref["fid"] + ref["fid_ci"] < row["fid"] - row["fid_ci"])
    return {"reference": VARIANT_NAMES.get(reference, reference), "rows": rows}


def markdown(summary: dict[str, Any], sources: Sequence[str] = ()) -> str:
    """The pooled table: mean ± t-interval over training runs, each run's value, and the FID comparison."""
    def cell(row, metric):
        if row[metric] is None:
            return "-"
        ci = row[f"{metric}_ci"]
        return f"{row[metric]:.3f} ± {ci:.3f}" if ci is not None else f"{row[metric]:.3f}"

    ref = summary["reference"]
    lines = [f"Means over independently trained runs ± t_0.975,n-1 · s/√n (s: standard deviation over runs), and "
             f"each run's value. Last column: whether {ref}'s FID interval lies wholly below the row's.", "",
             f"| Method | Runs | FID↓ | FID per run | Diversity→ | Plausibility↑ | Plausibility per run | "
             f"{ref} clear on FID |", "|---|---|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        clear = {True: "yes", False: "no", None: "-"}[row["fid_clear_of_reference"]]
        lines.append(f"| {row['method']} | {row['runs']} | {cell(row, 'fid')} | "
                     f"{' / '.join(f'{v:.2f}' for v in row['fid_runs'])} | {cell(row, 'diversity')} | "
                     f"{cell(row, 'plausibility')} | {' / '.join(f'{v:.3f}' for v in row['plausibility_runs'])} | "
                     f"{clear} |")
    if sources:
        lines += ["", "Pooled from: " + ", ".join(f"`{s}`" for s in sources) + "."]
    return "\n".join(lines) + "\n"
