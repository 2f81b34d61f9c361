"""The replay report: latency statistics, node resources (psutil, nvidia-smi), reaction plausibility with the
held-out classifier (hero_model.eval.plausibility), and REPORT.json / REPORT.md contents."""
from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .bag_index import BagIndex
    from .replay import ReplayOptions

DEFAULT_CLASSIFIER = "plausibility"   # <embedded model dir>/plausibility.{safetensors,json}


class ResourceMonitor:
    """CPU (% of one core) and RSS of a process and its children, sampled every `period_s` in a thread."""

    def __init__(self, pid: int, period_s: float = 0.5):
        import psutil

        self.process = psutil.Process(pid)
        self.period_s = period_s
        self.cpu: list[float] = []
        self.rss: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hero-replay-psutil")

    def _tree(self):
        import psutil

        try:
            return [self.process] + self.process.children(recursive=True)
        except psutil.Error:
            return []

    def _run(self) -> None:
        import psutil

        for p in self._tree():
            p.cpu_percent(None)                                  # the first call only starts the measurement
        while not self._stop.wait(self.period_s):
            cpu = rss = 0.0
            for p in self._tree():
                try:
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
                except psutil.Error:
                    continue
            self.cpu.append(cpu)
            self.rss.append(rss / 2**20)

    def __enter__(self) -> "ResourceMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def summary(self) -> dict:
        if not self.cpu:
            return {"cpu_percent": None, "rss_mb": None, "samples": 0}
        return {"cpu_percent": {"mean": round(float(np.mean(self.cpu)), 1), "max": round(float(np.max(self.cpu)), 1)},
                "rss_mb": {"mean": round(float(np.mean(self.rss)), 1), "max": round(float(np.max(self.rss)), 1)},
                "samples": len(self.cpu)}


def gpu_memory_mb(pid: int | None) -> tuple[float | None, str]:
    """GPU memory of `pid` from nvidia-smi (the node is another process: torch here cannot see its memory)."""
    if pid is None:
        return None, "attached node: pass --node-pid for its GPU memory"
    if shutil.which("nvidia-smi") is None:
        return None, "nvidia-smi not found"
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"nvidia-smi failed: {exc}"
    used = [float(m) for p, m in (line.split(",") for line in out.strip().splitlines() if "," in line)
            if int(p) == pid]
    return (sum(used), "nvidia-smi used_memory") if used else (None, f"nvidia-smi lists no memory for pid {pid}")


def stats_ms(seconds) -> dict | None:
    """p50/p95/p99/mean/max of durations given in seconds, in milliseconds (None when there are none)."""
    values = np.asarray([s for s in seconds if s is not None and np.isfinite(s)], dtype=np.float64) * 1e3
    if values.size == 0:
        return None
    return {"n": int(values.size), "mean": round(float(values.mean()), 2),
            "p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "p99": round(float(np.percentile(values, 99)), 2), "max": round(float(values.max()), 2)}


def counter(values: dict | None, key: str) -> int:
    """One integer value of a /diagnostics status (0 when absent or not a number)."""
    try:
        return int(float((values or {}).get(key, 0)))
    except ValueError:
        return 0


def load_classifier(path: Path):
    """The held-out ReactionClassifier at `path` (.safetensors/.json pair), loaded on the CPU; raises naming the
    file when it is missing or is not a classifier checkpoint."""
    from hero_model.checkpoint import CheckpointError
    from hero_model.eval.plausibility import ReactionClassifier

    try:
        return ReactionClassifier.load(path)
    except (CheckpointError, OSError, ValueError) as exc:
        raise ValueError(f"--classifier {path}: {exc}") from exc


def plausibility(rows: list[dict], classifier, classifier_path: Path | None, why_none: str) -> dict:
    """Share of generated reactions that `classifier` assigns to a plausible reaction of their clip (labels'
    plausible_reactions); each scored reaction gets "predicted" and "plausible". Null with the reason when it
    cannot be computed."""
    from hero_model.eval.plausibility import plausible_share

    from .messages import reaction_arrays

    if classifier is None:
        return {"value": None, "reason": why_none, "classifier": None, "n": 0}
    items = [(r, rx) for r in rows for rx in r["reactions"] if r["clip"].label.get("plausible_reactions")]
    if not items:
        return {"value": None, "reason": "no generated reaction for a clip with a plausible set (labels topic)",
                "classifier": str(classifier_path), "n": 0}
    features = [np.asarray(reaction_arrays(rx["reaction"])[1], dtype=np.float32) for _, rx in items]  # (N_i, 263)
    predicted = classifier.predict(features)
    plausible_sets = [tuple(r["clip"].label["plausible_reactions"]) for r, _ in items]
    share = plausible_share(predicted, classifier.class_names, plausible_sets)
    for (_, rx), p, ok in zip(items, predicted, plausible_sets):
        rx["predicted"] = classifier.class_names[int(p)]
        rx["plausible"] = rx["predicted"] in ok
    return {"value": round(share, 4), "reason": None, "classifier": str(classifier_path), "n": len(items)}


def default_classifier() -> Path | None:
    from hero_model.pipeline import DEFAULT_MODEL_DIR

    path = DEFAULT_MODEL_DIR / DEFAULT_CLASSIFIER
    return path if path.with_suffix(".safetensors").is_file() and path.with_suffix(".json").is_file() else None


def build_report(index: "BagIndex", options: "ReplayOptions", played: dict, rows: list[dict], before: dict | None,
                 after: dict | None, resources: dict, gpu: tuple, plaus: dict, node_info: dict) -> dict:
    sent = len(played["sent"])
    received = counter(after, "frames received") - counter(before, "frames received")
    dropped_node = {k[len("dropped: "):]: counter(after, k) - counter(before, k) for k in (after or {})
                    if k.startswith("dropped: ") and counter(after, k) - counter(before, k)}
    reactions = [rx for r in rows for rx in r["reactions"]]
    errors = played["errors"]
    intervals = np.diff(played["sent"])
    nominal = np.diff(index.log_ns) / 1e9 / (1.0 if options.as_fast_as_possible else options.rate)
    bag_seconds = float(index.log_ns[-1] - index.log_ns[0]) / 1e9
    timing = {"bag_seconds": round(bag_seconds, 3), "send_seconds": round(played["send_seconds"], 3),
              "paused_s": round(played["paused_s"], 3),
              "send_rate_hz": round((sent - 1) / played["send_seconds"], 1) if played["send_seconds"] > 0 else None,
              "error_ms": stats_ms(np.abs(errors)) if errors.size else None,
              "interval_jitter_ms": (round(float(np.std(intervals - nominal)) * 1e3, 3)
                                     if not options.as_fast_as_possible and intervals.size else None)}
    return {
        "bag": str(index.path), "storage": index.storage, "files": index.files,
        "dataset_sha256": index.dataset_sha256, "camera_topic": index.camera_topic, "camera_type": index.camera_type,
        "labels_topic": index.labels_topic, "clips": len(index.clips),
        "mode": {"rate": None if options.as_fast_as_possible else options.rate,
                 "as_fast_as_possible": options.as_fast_as_possible, "trigger": options.trigger,
                 "publish": "raw CDR (rclpy serialized publish)"},
        "node": node_info,
        "frames": {"in_bag": len(index.log_ns), "sent": sent,
                   "received_by_node": received if after is not None else None,
                   "encoded": counter(after, "frames encoded") - counter(before, "frames encoded"),
                   "decimated": counter(after, "frames decimated (max_encode_hz)")
                                - counter(before, "frames decimated (max_encode_hz)"),
                   "lost_in_transport": sent - received if after is not None else None,
                   "dropped_by_node": dropped_node,
                   "dropped": (sent - received + sum(dropped_node.values())) if after is not None else None},
        "timing": timing,
        "triggers": {"requested": len(played["triggers"]) if options.trigger == "service" else None,
                     "reactions": len(reactions), "clips_with_reaction": sum(r["success"] for r in rows),
                     "failed": [{"clip": r["clip"].clip_id, "message": r["message"]} for r in rows
                                if not r["success"]]},
        "latency_ms": {"trigger_to_trajectory": stats_ms([rx["trigger_to_trajectory_s"] for rx in reactions]),
                       "stamp_to_trajectory": stats_ms([rx["stamp_to_trajectory_s"] for rx in reactions]),
                       "service_round_trip": stats_ms([rx["service_round_trip_s"] for rx in reactions])},
        "generation_ms": stats_ms([rx["generation_s"] for rx in reactions]),
        "resources": {**resources, "gpu_memory_mb": gpu[0], "gpu_note": gpu[1]},
        "plausibility": plaus["value"], "plausibility_detail": plaus,
        "per_clip": [{
            "clip_id": r["clip"].clip_id, "subcategory": r["clip"].label.get("subcategory"),
            "frames": r["clip"].last - r["clip"].first + 1, "start_ns": r["clip"].start_ns,
            "end_ns": r["clip"].end_ns, "success": r["success"], "message": r["message"],
            "reactions": [{"stamp_ns": rx["stamp_ns"], "length": int(rx["reaction"].length),
                           "trigger_to_trajectory_ms": _ms(rx["trigger_to_trajectory_s"]),
                           "stamp_to_trajectory_ms": _ms(rx["stamp_to_trajectory_s"]),
                           "generation_ms": _ms(rx["generation_s"]),
                           "predicted": rx.get("predicted"), "plausible": rx.get("plausible")}
                          for rx in r["reactions"]]} for r in rows],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 2)


def markdown(report: dict) -> str:
    def fmt(stats):
        if not stats:
            return "-"
        return f"{stats['p50']} / {stats['p95']} / {stats['p99']} / {stats['mean']} (n={stats['n']})"

    f, t, lat, res = report["frames"], report["timing"], report["latency_ms"], report["resources"]
    mode = report["mode"]
    speed = "as fast as possible" if mode["as_fast_as_possible"] else f"rate {mode['rate']:g}x"
    plaus = report["plausibility_detail"]
    plausible_text = (f"{report['plausibility']} (n={plaus['n']})" if report["plausibility"] is not None
                      else f"null: {plaus['reason']}")
    lines = [
        f"# Bag replay: {Path(report['bag']).name}", "",
        f"- bag `{report['bag']}` ({report['storage']}), dataset sha256 `{report['dataset_sha256']}`",
        f"- camera `{report['camera_topic']}` ({report['camera_type']}), {report['clips']} clips, labels "
        f"`{report['labels_topic']}`",
        f"- replay: {speed}, "
        f"trigger {mode['trigger']}, {mode['publish']}",
        f"- node: {report['node'].get('name')} ({'attached' if report['node'].get('attached') else 'started'}), "
        f"device {report['node'].get('device')}, model {report['node'].get('model')}", "",
        "| quantity | value |", "|---|---|",
        f"| frames in bag / sent / received by node | {f['in_bag']} / {f['sent']} / {f['received_by_node']} |",
        f"| frames encoded / decimated / dropped | {f['encoded']} / {f['decimated']} / {f['dropped']} "
        f"{f['dropped_by_node'] or ''} |",
        f"| bag time / send time / paused (s) | {t['bag_seconds']} / {t['send_seconds']} / {t['paused_s']} |",
        f"| replay timing error p50/p95/p99/mean (ms) | {fmt(t['error_ms'])} |",
        f"| inter-frame jitter, std (ms) | {t['interval_jitter_ms']} |",
        f"| reactions / clips with a reaction | {report['triggers']['reactions']} / "
        f"{report['triggers']['clips_with_reaction']} |",
        f"| trigger -> JointTrajectory p50/p95/p99/mean (ms) | {fmt(lat['trigger_to_trajectory'])} |",
        f"| header stamp -> JointTrajectory p50/p95/p99/mean (ms) | {fmt(lat['stamp_to_trajectory'])} |",
        f"| service round trip p50/p95/p99/mean (ms) | {fmt(lat['service_round_trip'])} |",
        f"| generation (node-measured) p50/p95/p99/mean (ms) | {fmt(report['generation_ms'])} |",
        f"| node CPU mean / max (% of a core) | {(res.get('cpu_percent') or {}).get('mean')} / "
        f"{(res.get('cpu_percent') or {}).get('max')} |",
        f"| node RSS max (MB) | {(res.get('rss_mb') or {}).get('max')} |",
        f"| GPU memory (MB) | {res['gpu_memory_mb']} ({res['gpu_note']}) |",
        f"| plausibility | {plausible_text} |", "",
        "| clip | subcategory | frames | reactions | trigger->traj (ms) | predicted | plausible |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["per_clip"]:
        rx = row["reactions"][-1] if row["reactions"] else {}
        lines.append(f"| {row['clip_id']} | {row['subcategory']} | {row['frames']} | {len(row['reactions'])} | "
                     f"{rx.get('trigger_to_trajectory_ms', '-')} | {rx.get('predicted', '-')} | "
                     f"{rx.get('plausible', '-')} |")
    return "\n".join(lines) + "\n"
