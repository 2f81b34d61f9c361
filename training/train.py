"""Train HERO-ROS models: `python training/train.py [--config small|paper|FILE.yaml] [--stages a,b] [key=value ...]`.

With no arguments: the small config on ViMo-Synth (generated under data/vimo_synth if absent), every stage in order
-- encoder (frame backbone), rvq (motion tokenizer), mask (masked transformer + length head), res (residual
transformer) -- then the model folder runs/small/model/ that `hero_model.generate --checkpoint` and
ReactionPipeline.from_dir load. Everything goes to runs/<name>/ (config.yaml, train.log, timings.json, tb/, one
folder per stage). Re-running resumes where a killed run stopped (at most one epoch is lost).

Multi-GPU: `torchrun --nproc_per_node=N training/train.py ...` (DDP; rank 0 logs and writes checkpoints).
Ablations reuse a finished run's encoder and tokenizer:
    python training/train.py name=small_no_iie generator.variant=no_iie base_run=runs/small --stages mask,res
Install a run's model as the embedded default (hero_model/assets/default/):
    python training/train.py --export-default [name=small]
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `training` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from training.config import STAGES, TrainConfig, dump_config, load_config

logger = logging.getLogger("training")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device={name!r} was asked for but torch sees no CUDA device")
    return device


def ensure_dataset(cfg) -> None:
    """Generate ViMo-Synth at data.root when the folder does not exist yet, and the ViMo-T<K> pair list of
    data.pairs_per_video when it is missing (only a ViMo-Synth dataset can derive one)."""
    root = Path(cfg.data.root)
    if not (root / "train.txt").is_file():
        _generate_synth(cfg, root)
    if not (root / cfg.data.train_list).is_file():
        if not (root / "meta.json").is_file():
            raise SystemExit(f"data.pairs_per_video={cfg.data.pairs_per_video} needs {root / cfg.data.train_list}; "
                             "for ViMo, write it (train.txt's videos, each paired with that many motions)")
        from hero_model.synth.pairing import write_more_pairs

        path = write_more_pairs(root, cfg.data.pairs_per_video, seed=cfg.data.synth_seed)
        logger.info("wrote %s (ViMo-T%d pairing of ViMo-Synth)", path, cfg.data.pairs_per_video)


def _generate_synth(cfg, root: Path) -> None:
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"data.root={root} exists but has no train.txt: not a ViMo-layout dataset (an interrupted "
                         "generation? delete the folder to regenerate it)")
    from hero_model.synth.dataset import SynthConfig, make_dataset

    logger.info("generating ViMo-Synth (%d pairs, seed %d) at %s", cfg.data.synth_pairs, cfg.data.synth_seed, root)
    make_dataset(SynthConfig(pairs=cfg.data.synth_pairs, seed=cfg.data.synth_seed), root)


def _setup_logging(run_dir: Path, is_main: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if is_main:
        handlers.append(logging.FileHandler(run_dir / "train.log"))
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (render / DataLoader workers), all threads."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _record_timing(run_dir: Path, stage: str, wall: float, cpu: float) -> None:
    """runs/<name>/timings.json: wall-clock and CPU seconds spent in each stage, summed over the executions that
    resumed it (a killed and resumed stage counts both parts; a finished one adds its check only). On a shared
    machine the CPU seconds divided by the core count estimate the wall time the stage would take there alone."""
    path = run_dir / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    before = timings.get(stage, {})
    timings[stage] = {**before, "wall_s": round(before.get("wall_s", 0.0) + wall, 1),
                      "cpu_s": round(before.get("cpu_s", 0.0) + cpu, 1),
                      "executions": before.get("executions", 0) + 1}
    path.write_text(json.dumps(timings, indent=1))


def run_training(cfg: TrainConfig) -> Path | None:
    """Every stage of cfg.stages, then the export; returns the model folder (None when the run cannot export)."""
    from training.stages.common import NullWriter, init_distributed, seed_everything

    dist = init_distributed(cfg.device)
    run_dir = cfg.run_dir
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    _setup_logging(run_dir, dist.is_main)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    logger.info("run %s on %s (world size %d, %d CPU threads); stages %s", run_dir, dist.device, dist.world_size,
                torch.get_num_threads(), cfg.stages)
    model_dir = None
    writer = NullWriter()
    try:
        if dist.is_main:
            (run_dir / "config.yaml").write_text(dump_config(cfg))
            t0, c0 = time.time(), _cpu_seconds()
            ensure_dataset(cfg)
            if time.time() - t0 > 1:
                _record_timing(run_dir, "dataset", time.time() - t0, _cpu_seconds() - c0)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tb"))
        dist.barrier()
        for stage in cfg.stages:
            t0, c0 = time.time(), _cpu_seconds()
            if stage == "encoder":
                from training.stages import encoder

                result = encoder.run(cfg, dist, writer)
            elif stage == "rvq":
                # The RVQ stage trains in one process (its EMA codebooks are not synchronised across ranks); the
                # other ranks wait for its checkpoint.
                result = None
                if dist.is_main:
                    from training.stages import rvq

                    result = rvq.run(cfg, dist.device, writer)
                dist.barrier()
            else:
                from training.stages import generator

                result = generator.run(cfg, stage, dist, writer)
            if dist.is_main:
                _record_timing(run_dir, stage, time.time() - t0, _cpu_seconds() - c0)
                logger.info("%s: done in %.0f s (%.0f CPU-s) -> %s", stage, time.time() - t0, _cpu_seconds() - c0,
                            result)
        if cfg.export and dist.is_main:
            from training.stages.export import export_model, missing_parts

            missing = missing_parts(cfg)
            if missing:
                logger.info("no model folder written: missing %s", ", ".join(missing))
            else:
                model_dir = export_model(cfg)
        dist.barrier()
    finally:
        if hasattr(writer, "close"):
            writer.close()
        dist.shutdown()
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="config name in training/configs/ or a YAML path")
    parser.add_argument("--stages", default=None, help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--export-default", action="store_true",
                        help="no training: copy runs/<name>/model/ into hero_model/assets/default/")
    parser.add_argument("--export-to", default=None, metavar="DIR",
                        help="with --export-default: copy into DIR instead of the embedded default's folder")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. rvq.max_steps=500")
    args = parser.parse_intermixed_args(argv)
    overrides = list(args.overrides) + ([f"stages=[{args.stages}]"] if args.stages else [])
    cfg = load_config(args.config, overrides)
    if args.export_default:
        from training.stages.export import DEFAULT_MODEL_DIR, export_default

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        model_dir = cfg.run_dir / "model"
        if not (model_dir / "generator.json").is_file():
            raise SystemExit(f"{model_dir} holds no exported model: train the run first (python training/train.py "
                             f"name={cfg.name})")
        classifier = Path(cfg.evaluator) / "plausibility" if cfg.evaluator else None
        if classifier is not None and not classifier.with_suffix(".json").is_file():
            logger.info("no plausibility classifier at %s: the default folder gets none", classifier)
            classifier = None
        export_default(model_dir, Path(args.export_to) if args.export_to else DEFAULT_MODEL_DIR, classifier)
        return 0
    run_training(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
