"""Train HERO-ROS models: `python training/train.py [--config small|paper|FILE.yaml] [key.sub=value ...]`.

With no arguments: the small config on ViMo-Synth (generated under data/vimo_synth if absent), every stage in order,
writing runs/small/{config.yaml, train.log, tb/, <stage>/...}. Re-running resumes where a killed run stopped.
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `training` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from training.config import STAGES, dump_config, load_config

logger = logging.getLogger("training")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device={name!r} was asked for but torch sees no CUDA device")
    return device


def ensure_dataset(cfg) -> None:
    """Generate ViMo-Synth at data.root when the folder does not exist yet."""
    root = Path(cfg.data.root)
    if (root / "train.txt").is_file():
        return
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"data.root={root} exists but has no train.txt: not a ViMo-layout dataset")
    from hero_model.synth.dataset import SynthConfig, make_dataset

    logger.info("generating ViMo-Synth (%d pairs, seed %d) at %s", cfg.data.synth_pairs, cfg.data.synth_seed, root)
    make_dataset(SynthConfig(pairs=cfg.data.synth_pairs, seed=cfg.data.synth_seed), root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="config name in training/configs/ or a YAML path")
    parser.add_argument("--stages", default=None, help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. rvq.max_steps=500")
    args = parser.parse_args(argv)
    overrides = list(args.overrides) + ([f"stages=[{args.stages}]"] if args.stages else [])
    cfg = load_config(args.config, overrides)

    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(run_dir / "train.log")])
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    logger.info("run %s on %s; stages %s", run_dir, device, cfg.stages)

    from torch.utils.tensorboard import SummaryWriter

    ensure_dataset(cfg)
    with SummaryWriter(str(run_dir / "tb")) as writer:
        for stage in cfg.stages:
            if stage == "rvq":
                from training.stages import rvq

                best = rvq.run(cfg, device, writer)
                logger.info("rvq: best checkpoint %s.safetensors", best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
