"""Training configuration: one dataclass tree, read from a YAML file, overridden from the command line
(`rvq.lr=1e-4 data.root=/path`), written back resolved into runs/<name>/config.yaml, and handed to every stage."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STAGES = ("rvq",)  # in training order; the generator stages (encoder, mask, res) join with the training issue


@dataclass
class DataConfig:
    """Where the training data is.

    root: a dataset in ViMo's layout (train.txt, test.txt, vector_263/, videos/, Mean.npy, Std.npy). When the folder
        does not exist, ViMo-Synth is generated there first (synth_pairs, synth_seed).
    synth_pairs: number of video-reaction pairs to generate when `root` is missing.
    synth_seed: seed of that generation (same seed, same bytes).
    humanml3d_root: optional HumanML3D folder (new_joint_vecs/, Mean.npy, Std.npy, train/val.txt); when given, the
        rvq stage pre-trains on it before fine-tuning on `root`, as HERO initialises its RVQ from MoMask's.
    num_workers: DataLoader worker processes (0 = load in the training process).
    """

    root: str = "data/vimo_synth"
    synth_pairs: int = 600
    synth_seed: int = 0
    humanml3d_root: str | None = None
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.synth_pairs < 1:
            raise ValueError(f"data.synth_pairs must be >= 1, got {self.synth_pairs}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class RVQStageConfig:
    """RVQ-VAE training (reference.md section 2).

    model: "small" or "paper" preset of hero_model.rvq.RVQConfig, or a mapping of RVQConfig fields.
    window: frames per training window (HERO's ViMo fine-tune: 20; MoMask's HumanML3D pre-train: 64).
    batch_size: windows per optimiser step (paper: 256).
    epochs: passes over every window position of every training clip (paper fine-tune: 10).
    pretrain_epochs: epochs on humanml3d_root before `epochs` on the ViMo-layout data (ignored without it).
    max_steps: stop after this many optimiser steps in total (None: no cap) -- for quick CPU runs.
    lr: peak AdamW learning rate (2e-4); warmup_steps: linear warm-up length (20).
    betas, weight_decay: AdamW settings (0.9, 0.99), 0.0.
    feat_bias: divisor applied to the std of the root and contact channels before normalising (MoMask/HERO: 5).
    """

    model: Any = "small"
    window: int = 64
    batch_size: int = 256
    epochs: int = 10
    pretrain_epochs: int = 50
    max_steps: int | None = None
    lr: float = 2e-4
    warmup_steps: int = 20
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    feat_bias: float = 5.0

    def __post_init__(self) -> None:
        for name in ("window", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"rvq.{name} must be >= 1, got {getattr(self, name)}")
        if self.window % 4:
            raise ValueError(f"rvq.window must be a multiple of the RVQ's downsampling (4), got {self.window}")
        if self.pretrain_epochs < 0:
            raise ValueError(f"rvq.pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"rvq.max_steps must be >= 1 or null, got {self.max_steps}")
        if not self.lr > 0:
            raise ValueError(f"rvq.lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.feat_bias <= 0:
            raise ValueError("rvq.warmup_steps and rvq.weight_decay must be >= 0 and rvq.feat_bias > 0, got "
                             f"{self.warmup_steps}, {self.weight_decay}, {self.feat_bias}")
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"rvq.betas must be two numbers in [0, 1), got {self.betas}")

    def rvq_config(self):
        from hero_model.rvq import RVQConfig

        if isinstance(self.model, str):
            if self.model not in ("small", "paper"):
                raise ValueError(f"rvq.model must be 'small', 'paper' or a mapping of RVQConfig fields, got {self.model!r}")
            return getattr(RVQConfig, self.model)()
        return RVQConfig.from_dict(dict(self.model))


@dataclass
class TrainConfig:
    """A whole training run.

    name: run name; everything is written under <out_dir>/<name>/ (config.yaml, logs, TensorBoard, checkpoints).
    out_dir: parent folder of runs.
    stages: which stages to run, in order (subset of training.config.STAGES).
    seed: seeds Python, numpy and torch, and the data crops.
    device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    resume: continue from the run folder's latest checkpoints when they exist (at most one epoch is lost).
    """

    name: str = "small"
    out_dir: str = "runs"
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    rvq: RVQStageConfig = field(default_factory=RVQStageConfig)

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        if isinstance(self.rvq, dict):
            self.rvq = RVQStageConfig(**self.rvq)
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ValueError(f"stages must be a non-empty subset of {list(STAGES)}, got {self.stages}")
        if not self.device == "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            raise ValueError(f"override {dotted!r}: {k!r} is not a section of the config")
        node = node[k]
    node[keys[-1]] = value


def _check_keys(tree: dict, cls: type, where: str = "") -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in tree.items():
        if key not in fields:
            raise ValueError(f"unknown config key {where + key!r}; known keys: {sorted(fields)}")
        sub = {"data": DataConfig, "rvq": RVQStageConfig}.get(key) if cls is TrainConfig else None
        if sub is not None and isinstance(value, dict):
            _check_keys(value, sub, where + key + ".")


def load_config(config: str | Path = "small", overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read training/configs/<config>.yaml (or a YAML path) and apply `key.sub=value` overrides (values parsed as
    YAML, so `rvq.max_steps=200`, `rvq.model=paper`, `data.humanml3d_root=null` work)."""
    path = Path(config)
    if not path.suffix:
        path = CONFIG_DIR / f"{config}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path} (available: "
                                f"{sorted(p.stem for p in CONFIG_DIR.glob('*.yaml'))})")
    tree = yaml.safe_load(path.read_text()) or {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, value = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(value))
    _check_keys(tree, TrainConfig)
    return TrainConfig(**tree)


def dump_config(config: TrainConfig) -> str:
    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        return obj

    return yaml.safe_dump(plain(config), sort_keys=False)
