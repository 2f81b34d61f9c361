"""Evaluate HERO-ROS models with the paper's protocol, train the evaluator, draw the figures.

    python training/evaluate.py [--model-dir DIR ...] [--model-dir-ablation DIR ...] [--data ROOT]
                                [--out results.json] [--repeats 20] [--quick] [--val]
    python training/evaluate.py train-evaluator [--data ROOT] [--out DIR] [--epochs N]
    python training/evaluate.py curves --run runs/small [--out curves.png]
    python training/evaluate.py grid --model-dir DIR [--data ROOT] [--out reactions.png]
    python training/evaluate.py tables --results results.json
    python training/evaluate.py probe --encoder DIR [--data ROOT] [--out probe.json] [--cache-dir DIR]
    python training/evaluate.py runs --results a.json [b.json ...] [--out runs.json] [--split test]

`tables` rebuilds the tables of a results JSON from its per-group metrics and rewrites the JSON's "tables" and the
Markdown beside it (keeping that file's notes), without generating anything: for results written before a table
was added. `probe` fits linear probes of subcategory and facial emotion on a frozen video encoder's features
(hero_model/eval/probe.py) and reports their test accuracy and the probe bound on plausibility: what the video
features leave a generator to work with. `runs` pools results files and reports each method's metrics over its
independently trained models (mean +- a Student-t interval over training runs, hero_model/eval/training_runs.py):
the spread the protocol's repeat intervals do not show.

Evaluation (the default command) writes results.json -- {"rows": [{"method", "fid", "fid_ci", "diversity",
"diversity_ci", "multimodality", "multimodality_ci", "plausibility", "plausibility_ci"}, ...], "tables": {...},
...} with a "Real" row first -- and results.md with the paper's tables: methods (Tables 1-2), broad categories
(supp. Table 4), "walking towards" with three emotions (supp. Table 5), Seen -> Unseen (supp. Table 6, when the
dataset has test_unseen.txt) and plausibility per subcategory (ViMo-Synth; not a paper table). Methods are named
from each model's generator variant (HERO, MoMask-style, w/o IIE, w/o DIE). Only the test splits are evaluated; --val instead prints the validation-split FID used for checkpoint
selection. When the evaluator folder does not exist it is trained first on the dataset's TRAIN split.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `training` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from hero_model.eval.protocol import (REAL, EvalSplit, Protocol, ProtocolConfig, VideoFeatureCache,
                                      encoder_fingerprint, method_name, model_label, validation_fid)
from hero_model.eval import tables as result_tables

logger = logging.getLogger("training.evaluate")

DEFAULT_DATA = "data/vimo_synth"
DEFAULT_EVALUATOR = "runs/evaluator"
DEFAULT_RUN_MODEL = "runs/small/model"
COMMANDS = ("evaluate", "train-evaluator", "curves", "grid", "tables", "probe", "runs")

__all__ = ["validation_fid", "evaluate_models", "main"]


def default_model_dirs() -> list[Path]:
    """runs/small/model when a training run wrote it, else the embedded default model."""
    if Path(DEFAULT_RUN_MODEL, "generator.json").is_file():
        return [Path(DEFAULT_RUN_MODEL)]
    from hero_model.pipeline import DEFAULT_MODEL_DIR

    return [DEFAULT_MODEL_DIR]


def load_scorers(evaluator: str | Path, data: str | Path, device: str, evaluator_meta: str | None = None,
                 train_if_missing: bool = True):
    """(MotionEvaluator, ReactionClassifier or None, description) from an evaluator folder (trained first when
    missing), or from an official T2M `finest.tar` (with its Mean/Std folder; no plausibility then)."""
    from hero_model.eval.evaluator import MotionEvaluator, load_t2m_evaluator
    from hero_model.eval.plausibility import ReactionClassifier

    path = Path(evaluator)
    if path.suffix == ".tar":
        return load_t2m_evaluator(path, evaluator_meta, device), None, {"kind": "t2m", "path": str(path)}
    if not (path / "evaluator.json").is_file():
        if not train_if_missing:
            raise FileNotFoundError(f"no evaluator in {path}: run `python training/evaluate.py train-evaluator "
                                    f"--data {data} --out {path}` first")
        from training.eval_stages import train_evaluators

        logger.info("no evaluator in %s: training one on %s (TRAIN split)", path, data)
        train_evaluators(data, path, device=device)
    from training.eval_stages import dataset_fingerprint

    model = MotionEvaluator.load(path / "evaluator", device)
    meta = json.loads((path / "evaluator.json").read_text())
    info = {"kind": "project", "path": str(path), "dataset_fingerprint": meta.get("dataset_fingerprint")}
    if meta.get("dataset_fingerprint") not in (None, dataset_fingerprint(data)):
        logger.warning("the evaluator in %s was trained on another dataset than %s; its numbers are not comparable "
                       "with an evaluator trained on this one", path, data)
    classifier = None
    if (path / "plausibility.json").is_file():
        classifier = ReactionClassifier.load(path / "plausibility", device)
    report = path / "report.json"
    if report.is_file():
        r = json.loads(report.read_text())
        info.update({k: r.get(part, {}).get(k2) for k, part, k2 in (
            ("evaluator_val_acc", "evaluator", "best_val_acc"), ("evaluator_test_acc", "evaluator", "test_acc"),
            ("plausibility_val_acc", "plausibility", "best_val_acc"),
            ("plausibility_test_acc", "plausibility", "test_acc"))})
    return model, classifier, info


def evaluate_models(model_dirs: list[Path], data: Path, evaluator, classifier, config: ProtocolConfig,
                    device: str = "cpu", feature_cache_dir: Path | None = None, splits: tuple[str, ...] = ("test",),
                    max_pairs: int | None = None) -> dict:
    """Run the protocol on each split for the real motions and every model; returns the results document."""
    from hero_model.pipeline import ReactionPipeline

    protocols = {s: Protocol(EvalSplit(data, s, max_pairs=max_pairs), evaluator, classifier, config) for s in splits}
    groups: dict[str, dict[str, dict]] = {s: {} for s in splits}
    timing: dict[str, float] = {}
    for split, protocol in protocols.items():
        t0 = time.perf_counter()
        groups[split][REAL] = protocol.evaluate_real()
        timing[f"{split}/{REAL}"] = time.perf_counter() - t0
    caches: dict[str, VideoFeatureCache] = {}
    models = []
    for directory in model_dirs:
        pipeline = ReactionPipeline.from_dir(directory, device=device)
        variant = pipeline.generator.config.variant
        name = method_name(variant, [m["method"] for m in models], model_label(directory))
        key = encoder_fingerprint(directory)
        cache = caches.setdefault(key, VideoFeatureCache(pipeline.encoder, data, key, feature_cache_dir))
        entry = {"method": name, "model_dir": str(directory), "variant": variant, "model_id": pipeline.model_id,
                 "encoder": key}
        for split, protocol in protocols.items():
            logger.info("%s on %s (%d videos, %d repeats)", name, split, len(protocol.split), config.repeats)
            t0 = time.perf_counter()
            groups[split][name] = protocol.evaluate_model(pipeline, cache,
                                                          progress=lambda m, n=name: logger.info("%s: %s", n, m))
            timing[f"{split}/{name}"] = time.perf_counter() - t0
        models.append(entry)
    tables = result_tables.build_tables(groups)
    rows = [{k: v for k, v in row.items() if k not in ("label", "group")} for row in tables.get("methods", [])]
    return {"rows": rows, "tables": tables, "groups": groups, "models": models,
            "videos": {s: len(p.split) for s, p in protocols.items()}, "seconds": timing}


def _notes(doc: dict) -> str:
    p, e = doc["protocol"], doc["evaluator"]
    lines = [f"Dataset `{doc['data']}`; evaluator `{e.get('path')}` ({e.get('kind')})"
             + (f", reaction accuracy on val {e['evaluator_val_acc']:.3f}" if e.get("evaluator_val_acc") is not None
                else "") + ".",
             f"{p['repeats']} repeats (mean ± 1.96·std/√{p['repeats']}); Diversity over {p['diversity_pairs']} pairs; "
             f"MultiModality over {min(p['mm_videos'], max(doc['videos'].values()))} videos × "
             f"{p['mm_generations']} generations, {p['mm_pairs']} pairs each; plausibility = share of generated "
             "reactions the held-out classifier assigns to a plausible reaction of the video's subcategory. "
             "The Real rows compare two independent draws of real crops (the crop noise floor)."]
    scales = p.get("decoding") or {}
    lines.append(f"Guidance scales: masked {scales.get('cond_scale', 4)}, residual {scales.get('res_cond_scale', 5)}"
                 + (" (the paper's)." if not scales else " (set on the command line; the paper's are 4 and 5)."))
    return "\n\n".join(lines)


def _parse_evaluate(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="training/evaluate.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", action="append", default=[], type=Path,
                        help="model folder (video_encoder / generator / rvq); repeat for several methods "
                             f"(default: {DEFAULT_RUN_MODEL}, else the embedded default)")
    parser.add_argument("--model-dir-ablation", action="append", default=[], type=Path,
                        help="more model folders (ablations / baselines), evaluated after --model-dir")
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA), help="ViMo-layout dataset root")
    parser.add_argument("--out", type=Path, default=Path("results.json"), help="results JSON (Markdown: .md beside)")
    parser.add_argument("--evaluator", default=DEFAULT_EVALUATOR,
                        help="evaluator folder (trained first when missing) or an official T2M finest.tar")
    parser.add_argument("--evaluator-meta", default=None, help="folder with the T2M evaluator's mean.npy/std.npy")
    parser.add_argument("--repeats", type=int, default=None, help="protocol repeats (default 20; --quick: 2)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 repeats, small MultiModality")
    parser.add_argument("--mm-videos", type=int, default=None, help="videos for MultiModality (default 96)")
    parser.add_argument("--mm-generations", type=int, default=None, help="generations per video (default 30)")
    parser.add_argument("--batch-size", type=int, default=128, help="videos per generation call")
    parser.add_argument("--cond-scale", type=float, default=None,
                        help="guidance scale of the masked transformer (default: the paper's 4)")
    parser.add_argument("--res-cond-scale", type=float, default=None,
                        help="guidance scale of the residual transformer (default: the paper's 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pairs", type=int, default=None, help="evaluate only the first N pairs per split")
    parser.add_argument("--no-unseen", action="store_true", help="skip test_unseen.txt even when it exists")
    parser.add_argument("--val", action="store_true",
                        help="print the validation-split FID of each model (checkpoint selection) and exit")
    parser.add_argument("--feature-cache", type=Path, default=None, help="folder to persist video features in")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    return parser.parse_args(argv)


def run_evaluate(argv: list[str]) -> int:
    from hero_model.pipeline import resolve_device

    args = _parse_evaluate(argv)
    device = str(resolve_device(args.device))
    model_dirs = (args.model_dir or ([] if args.model_dir_ablation else default_model_dirs())) \
        + args.model_dir_ablation
    if not (args.data / "test.txt").is_file():
        raise SystemExit(f"--data {args.data}: no test.txt; generate a dataset with training/make_synth.py")
    decoding = {k: v for k, v in (("cond_scale", args.cond_scale), ("res_cond_scale", args.res_cond_scale))
                if v is not None}
    try:
        ProtocolConfig(decoding=decoding)  # refuse bad scales before minutes of loading
    except ValueError as exc:
        raise SystemExit(f"training/evaluate.py: {exc}") from None
    evaluator, classifier, info = load_scorers(args.evaluator, args.data, device, args.evaluator_meta)
    if args.val:
        from hero_model.pipeline import ReactionPipeline

        values = {}
        for directory in model_dirs:
            pipeline = ReactionPipeline.from_dir(directory, device=device)
            values[str(directory)] = validation_fid(pipeline, args.data, evaluator, repeats=args.repeats or 1,
                                                    seed=args.seed, batch_size=args.batch_size,
                                                    max_pairs=args.max_pairs, **decoding)
            print(f"{directory}: validation FID {values[str(directory)]:.4f}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"val_fid": values, "evaluator": info}, indent=2) + "\n")
        return 0
    base = ProtocolConfig.quick if args.quick else ProtocolConfig
    overrides = {k: v for k, v in (("repeats", args.repeats), ("mm_videos", args.mm_videos),
                                   ("mm_generations", args.mm_generations)) if v is not None}
    config = base(seed=args.seed, batch_size=args.batch_size, decoding=decoding, **overrides)
    splits = ("test",) + (("test_unseen",) if (args.data / "test_unseen.txt").is_file() and not args.no_unseen
                          else ())
    t0 = time.perf_counter()
    doc = evaluate_models(model_dirs, args.data, evaluator, classifier, config, device, args.feature_cache, splits,
                          args.max_pairs)
    doc.update({"data": str(args.data), "evaluator": info, "protocol": asdict(config),
                "device": device, "quick": bool(args.quick), "total_seconds": time.perf_counter() - t0})
    md_path, markdown = _write_results(doc, args.out, _notes(doc))
    print(markdown)
    logger.info("wrote %s and %s in %.1f s", args.out, md_path, doc["total_seconds"])
    return 0


def _write_results(doc: dict, out: Path, notes: str) -> tuple[Path, str]:
    """Write the results JSON to `out` and its tables as Markdown beside it (.md); returns (md path, Markdown)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    md_path = out.with_suffix(".md")
    doc["markdown_file"] = md_path.name
    markdown = result_tables.markdown(doc["tables"], notes)
    out.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    md_path.write_text(markdown)
    return md_path, markdown


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def run_train_evaluator(argv: list[str]) -> int:
    from hero_model.pipeline import resolve_device
    from training.eval_stages import EvaluatorTrainConfig, train_evaluators

    parser = argparse.ArgumentParser(prog="training/evaluate.py train-evaluator",
                                     description="Train the evaluator and the plausibility classifier on the "
                                                 "dataset's TRAIN split (see training/eval_stages.py).")
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_EVALUATOR))
    parser.add_argument("--evaluator", default="small", choices=("small", "t2m"), help="evaluator size preset")
    parser.add_argument("--epochs", type=int, default=EvaluatorTrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=EvaluatorTrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=EvaluatorTrainConfig.lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=EvaluatorTrainConfig.val_fraction)
    parser.add_argument("--no-plausibility", action="store_true", help="train only the evaluator")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    cfg = EvaluatorTrainConfig(evaluator=args.evaluator, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, val_fraction=args.val_fraction, skip_classifier=args.no_plausibility)
    report = train_evaluators(args.data, args.out, cfg, device=str(resolve_device(args.device)))
    summary = {k: {m: report[k].get(m) for m in ("best_val_acc", "test_acc", "seconds")}
               for k in ("evaluator", "plausibility") if k in report}
    print(json.dumps({"out": str(args.out), **summary, "seconds": report["seconds"]}, indent=2))
    return 0


def run_curves(argv: list[str]) -> int:
    from hero_model.eval.plots import plot_training_curves

    parser = argparse.ArgumentParser(prog="training/evaluate.py curves",
                                     description="Training curves of a run's TensorBoard logs as one PNG.")
    parser.add_argument("--run", type=Path, required=True, help="run folder (its tb/ is read) or a log folder")
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: <run>/curves.png)")
    parser.add_argument("--tags", nargs="*", default=None, help="scalar tags to draw (default: all)")
    parser.add_argument("--columns", type=int, default=3)
    args = parser.parse_args(argv)
    log_dir = args.run / "tb" if (args.run / "tb").is_dir() else args.run
    out = args.out or args.run / "curves.png"
    tags = plot_training_curves(log_dir, out, args.tags, args.columns)
    print(f"wrote {out} ({len(tags)} curves)")
    return 0


def run_grid(argv: list[str]) -> int:
    from hero_model.eval.plots import reaction_grid
    from hero_model.pipeline import ReactionPipeline

    parser = argparse.ArgumentParser(prog="training/evaluate.py grid",
                                     description="A PNG grid: per subcategory, the video and poses of the reaction.")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("--out", type=Path, default=Path("reactions.png"))
    parser.add_argument("--split", default="test", choices=("test", "test_unseen"))
    parser.add_argument("--snapshots", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    pipeline = ReactionPipeline.from_dir(args.model_dir or default_model_dirs()[0], device=args.device)
    subs = reaction_grid(pipeline, args.data, args.out, args.split, args.snapshots, args.seed)
    print(f"wrote {args.out} ({len(subs)} subcategories)")
    return 0


def run_tables(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="training/evaluate.py tables",
                                     description="Rebuild a results JSON's tables and Markdown from its groups.")
    parser.add_argument("--results", type=Path, required=True, help="results JSON written by training/evaluate.py")
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--results {args.results}: cannot read a results JSON ({exc})") from None
    missing = [k for k in ("groups", "protocol", "evaluator", "data", "videos") if k not in doc]
    if missing:
        raise SystemExit(f"--results {args.results}: not a training/evaluate.py results file (no {', '.join(missing)})")
    doc["tables"] = result_tables.build_tables(doc["groups"])
    # the notes of an existing Markdown file are kept: they record the run (an older file's notes may predate
    # fields _notes reads, and rewriting them would claim what the run did not record)
    md_path = args.results.with_suffix(".md")
    previous = md_path.read_text() if md_path.is_file() else ""
    notes = previous.split("\n**", 1)[0] if "\n**" in previous else _notes(doc)
    _write_results(doc, args.results, notes)
    print(f"wrote {args.results} and {md_path} ({', '.join(doc['tables'])})")
    return 0


def run_probe(argv: list[str]) -> int:
    import tempfile

    import torch

    from hero_model.data.vimo import ViMoDataset
    from hero_model.eval.plausibility import plausible_sets
    from hero_model.eval.probe import clip_descriptor, fit_probe, probe_bound
    from hero_model.pipeline import load_video_encoder
    from hero_model.synth import taxonomy
    from training.stages.features import FrameFeatureCache, encoder_id

    parser = argparse.ArgumentParser(prog="training/evaluate.py probe",
                                     description="Linear probes of subcategory and facial emotion on a frozen video "
                                                 "encoder's features, and the probe bound on plausibility.")
    parser.add_argument("--encoder", type=Path, required=True,
                        help="folder with video_encoder.json (a model folder or a run's encoder/)")
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep the features in <dir>/<encoder id>/ (a run's features/ folder reuses the "
                             "training cache); default: a temporary folder")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="as data.val_fraction of the training run")
    parser.add_argument("--seed", type=int, default=0, help="as the training run's seed (the validation carve)")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if not (args.encoder / "video_encoder.json").is_file():
        raise SystemExit(f"--encoder {args.encoder}: no video_encoder.json there")
    torch.manual_seed(0)
    encoder = load_video_encoder(args.encoder, torch.device("cpu"))
    splits = {split: ViMoDataset(args.data, split, val_fraction=args.val_fraction, seed=args.seed,
                                 return_video=False) for split in ("train", "val", "test")}
    with tempfile.TemporaryDirectory() as tmp:
        ident = encoder_id(encoder.config)
        cache = FrameFeatureCache(Path(args.cache_dir or tmp) / ident, ident)
        for list_name in ("train.txt", "test.txt"):
            cache.ensure(args.data, list_name, encoder)
        x = {s: clip_descriptor(torch.stack([cache(p.video) for p in d.pairs])) for s, d in splits.items()}
    labels = splits["test"].labels
    report: dict = {"encoder": str(args.encoder), "encoder_id": ident, "data": str(args.data),
                    "clips": {s: len(d.pairs) for s, d in splits.items()}}
    # subcategory: the folder of each video
    names = sorted({p.subcategory for d in splits.values() for p in d.pairs})
    y = {s: np.array([names.index(p.subcategory) for p in d.pairs]) for s, d in splits.items()}
    probe, scores = fit_probe(x["train"], y["train"], x["val"], y["val"], len(names))
    read = [names[i] for i in probe.predict(x["test"])]
    test_pairs = splits["test"].pairs
    truth = [p.subcategory for p in test_pairs]
    reactions_of = {n: taxonomy.BY_NAME[n].reactions for n in names if n in taxonomy.BY_NAME}
    report["subcategory"] = {"l2_val_accuracy": scores, "l2": probe.l2,
                             "test_accuracy": float(np.mean([r == t for r, t in zip(read, truth)])),
                             "per_subcategory": {n: float(np.mean([r == n for r, t in zip(read, truth) if t == n]))
                                                 for n in sorted(set(truth))}}
    if labels and all(n in reactions_of for n in names):
        plausible = plausible_sets([p.pair_id for p in test_pairs], labels, truth)
        report["probe_bound"] = probe_bound(read, plausible, reactions_of)
    # facial emotion: clips whose labels name one (ViMo-Synth labels.json); scored on the clips that show a face
    if labels:
        emotions = {s: [labels.get(p.pair_id, {}).get("emotion") for p in d.pairs] for s, d in splits.items()}
        if all(e is not None for es in emotions.values() for e in es):
            faces = {s: np.array([e != "none" for e in es]) for s, es in emotions.items()}
            kinds = sorted({e for es in emotions.values() for e in es if e != "none"})
            if len(kinds) > 1 and all(f.any() for f in faces.values()):
                ye = {s: np.array([kinds.index(e) for e in np.array(emotions[s])[faces[s]]]) for s in splits}
                emo_probe, emo_scores = fit_probe(x["train"][faces["train"]], ye["train"], x["val"][faces["val"]],
                                                  ye["val"], len(kinds))
                hits = emo_probe.predict(x["test"][faces["test"]]) == ye["test"]
                report["emotion_on_faces"] = {"l2_val_accuracy": emo_scores, "l2": emo_probe.l2,
                                              "test_clips": int(faces["test"].sum()),
                                              "test_accuracy": float(hits.mean())}
    text = json.dumps(report, indent=2, default=_json_default)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def run_runs(argv: list[str]) -> int:
    from hero_model.eval import training_runs

    parser = argparse.ArgumentParser(prog="training/evaluate.py runs",
                                     description="Each method's metrics over its independently trained models, "
                                                 "pooled from results files of the same evaluator and protocol.")
    parser.add_argument("--results", type=Path, nargs="+", required=True,
                        help="results JSONs written by training/evaluate.py (a run met twice counts once)")
    parser.add_argument("--split", default="test", help="split to pool (default test)")
    parser.add_argument("--reference", default="hero", help="variant the FID comparison is made against")
    parser.add_argument("--out", type=Path, default=None, help="write the summary as JSON here (Markdown beside)")
    args = parser.parse_args(argv)
    try:
        summary = training_runs.summarize_runs(training_runs.read_results(args.results, args.split),
                                               args.reference)
    except ValueError as exc:
        raise SystemExit(f"runs: {exc}") from None
    sources = [str(p) for p in args.results]
    text = training_runs.markdown(summary, sources)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**summary, "split": args.split, "sources": sources}, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text)
    print(text, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "evaluate"
    return {"evaluate": run_evaluate, "train-evaluator": run_train_evaluator, "curves": run_curves,
            "grid": run_grid, "tables": run_tables, "probe": run_probe,
            "runs": run_runs}[command](argv)


if __name__ == "__main__":
    sys.exit(main())
