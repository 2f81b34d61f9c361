"""Training configuration: one dataclass tree, read from a YAML file, overridden from the command line
(`rvq.lr=1e-4 data.root=/path generator.variant=no_iie`), written back resolved into runs/<name>/config.yaml, and
handed to every stage."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STAGES = ("encoder", "rvq", "mask", "res")  # in training order: each stage only reads what earlier ones wrote

# The CPU-sized generator of the embedded default: HeroConfig.small() (6 M + 8 M parameters) is ~3x too slow for
# the 45-minute CPU budget, and ViMo-Synth's ~430 training pairs do not need it. Same interfaces as paper().
HERO_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": dict(latent_dim=256, ff_size=512, n_layers=4, n_heads=4, iie_mlp=1024),
    "cpu": dict(latent_dim=192, ff_size=384, n_layers=3, n_heads=4, iie_mlp=512),
}
# HeroConfig fields fixed by the other trained parts; a `generator.model` entry for them must agree.
DERIVED_HERO_FIELDS = ("num_codes", "code_dim", "num_quantizers", "unit_length", "max_motion_tokens", "video_dim")


def _check_positive(section: str, obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{section}.{name} must be > 0, got {value!r}")


def _check_betas(section: str, betas: Any) -> tuple[float, float]:
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"{section}.betas must be two numbers in [0, 1), got {betas}")
    return betas


def _check_max_steps(section: str, max_steps: Any) -> None:
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"{section}.max_steps must be an int >= 1 or null, got {max_steps!r}")


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
    feature_cache_dir: where frame features of the frozen video encoder are stored, one folder per encoder id
        (null: <the encoder's run folder>/features, so runs sharing an encoder through base_run share the cache).
    pairs_per_video: motions each training video is paired with in the generator stages (paper supp. Table 7:
        1 = ViMo-base, train.txt; 2 / 3 = ViMo-T2 / T3, read from <root>/train_t<K>.txt). For ViMo-Synth the file
        is derived when missing (hero_model/synth/pairing.py: further train motions of the video's plausible
        reactions); for ViMo supply it. The validation split, the encoder and the RVQ do not change with it.
    """

    root: str = "data/vimo_synth"
    synth_pairs: int = 600
    synth_seed: int = 0
    humanml3d_root: str | None = None
    num_workers: int = 0
    feature_cache_dir: str | None = None
    pairs_per_video: int = 1

    def __post_init__(self) -> None:
        if self.synth_pairs < 1:
            raise ValueError(f"data.synth_pairs must be >= 1, got {self.synth_pairs}")
        from hero_model.synth.pairing import MAX_PAIRS_PER_VIDEO

        if isinstance(self.pairs_per_video, bool) or not isinstance(self.pairs_per_video, int) \
                or not 1 <= self.pairs_per_video <= MAX_PAIRS_PER_VIDEO:
            raise ValueError(f"data.pairs_per_video must be an int in [1, {MAX_PAIRS_PER_VIDEO}], "
                             f"got {self.pairs_per_video!r}")

    @property
    def train_list(self) -> str:
        """The pair list the generator stages train on (ViMoDataset(train_list=...))."""
        return "train.txt" if self.pairs_per_video == 1 else f"train_t{self.pairs_per_video}.txt"
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class EncoderStageConfig:
    """Stage `encoder`: the frozen per-frame video backbone (paper Sec. 3.1 uses TC-CLIP, pretrained on K400).

    backbone: "small-cnn" -- trained here on the training split's frames as a clip classifier, then frozen (the
        CPU stand-in for TC-CLIP); "tcclip-vit-b16" / "clip-vit-b16" -- nothing is trained, the stage records the
        config naming `weights` (see hero_model.video.VideoEncoderConfig).
    weights: weight file of the ViT backbones (ignored for small-cnn).
    image_size: side the frames are resized to (aspect not kept); null: the backbone's default (112 / 224).
    cnn_widths, cnn_groups: the small CNN's stride-2 blocks and GroupNorm groups; feature_dim: width of v_l (512,
        as TC-CLIP's projection).
    frames_per_clip: segment frames drawn at random per clip and step; the clip's logits are their mean, so the
        classifier sees what v_g = mean(v_l) sees, while frame_loss_weight also asks every single frame to be
        informative (the generator attends to individual frames, Eq. 4).
    batch_size: clips per optimiser step. epochs: passes over the training clips. max_steps: cap (null: none).
    lr, warmup_steps, milestones (epochs at which lr is multiplied by gamma), betas, weight_decay: AdamW + linear
        warm-up + MultiStepLR. grad_clip: max global gradient norm (0: no clipping). label_smoothing: of every head.
    emotion_weight: weight of the facial-emotion head (labels.json "emotion"; skipped when the dataset has no labels):
        the walk_towards_* subcategories differ only in the face, which is a few pixels at 112 px.
    reaction_weight: weight of an auxiliary head on the paired reaction (labels.json "reaction"); 0 by default, so
        the encoder, like TC-CLIP, never sees the generation target.
    extra_clips: on ViMo-Synth only -- render this many additional clips of the training subcategories, from seeds
        disjoint from every dataset pair, to pretrain the backbone on (the analogue of TC-CLIP's Kinetics-400: a
        pretraining set apart from the paired data; their reactions are never drawn). 0: the training split only.
        Costs ~0.3 CPU-seconds per clip; render_workers processes render them. They are kept in
        <run>/encoder/extra_clips.safetensors (16 x S x S x 3 bytes each: 0.6 MB at 112 px) so that a resumed run
        does not render them again.
    temporal_layers: transformer layers of a TemporalContext (hero_model/video/temporal.py, the analogue of TC-CLIP's
        temporal contextualization) trained after the CNN, on its frozen per-frame features of the same clips, with
        fresh classifier heads on the contextualised features; 0: none (v_l = per-frame features). temporal_width,
        temporal_heads: its width and attention heads.
    temporal_epochs, temporal_lr, temporal_batch_size, temporal_weight_decay: its AdamW run (linear warm-up over
        the first epoch, cosine decay); the epoch with the best validation score is kept. A killed run redoes this
        phase whole: all of it takes less time than one CNN epoch.
    temporal_views: feature views per training clip: the clean frames plus temporal_views - 1 augmented copies
        (`augment`), encoded once before the phase. temporal_noise: Gaussian noise (in feature standard
        deviations, the features being standardised) added to the training features at every step.
    augment: light training augmentation -- random crop/translation of up to `max_shift` of the side, brightness /
        contrast / per-channel gain jitter of up to `color_jitter`, pixel noise. No horizontal flip: the side an
        object comes from decides which way one dodges.
    """

    backbone: str = "small-cnn"
    weights: str | None = None
    image_size: int | None = None
    cnn_widths: tuple[int, ...] = (32, 64, 128, 256, 384)
    cnn_groups: int = 8
    feature_dim: int = 512
    frames_per_clip: int = 4
    frame_loss_weight: float = 0.5
    batch_size: int = 32
    epochs: int = 15
    max_steps: int | None = None
    lr: float = 2e-3
    warmup_steps: int = 30
    milestones: tuple[int, ...] = (10, 13)
    gamma: float = 0.2
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    emotion_weight: float = 0.5
    reaction_weight: float = 0.0
    extra_clips: int = 0
    render_workers: int = 2
    temporal_layers: int = 0
    temporal_width: int = 128
    temporal_heads: int = 4
    temporal_epochs: int = 40
    temporal_lr: float = 1e-3
    temporal_batch_size: int = 64
    temporal_weight_decay: float = 0.05
    temporal_views: int = 2
    temporal_noise: float = 0.1
    augment: bool = True
    max_shift: float = 0.08
    color_jitter: float = 0.2

    def __post_init__(self) -> None:
        from hero_model.video.config import BACKBONES

        if self.backbone not in BACKBONES:
            raise ValueError(f"encoder.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.temporal_layers and self.backbone != "small-cnn":
            raise ValueError(f"encoder.temporal_layers applies to the small-cnn backbone only (a ViT backbone is "
                             f"not trained here), got {self.temporal_layers} with {self.backbone!r}")
        self.cnn_widths = tuple(int(w) for w in self.cnn_widths)
        self.milestones = tuple(int(m) for m in self.milestones)
        _check_positive("encoder", self, ("cnn_groups", "feature_dim", "frames_per_clip", "batch_size", "epochs",
                                          "lr", "gamma", "temporal_width", "temporal_heads", "temporal_epochs",
                                          "temporal_lr", "temporal_batch_size", "temporal_views"))
        if self.temporal_width % self.temporal_heads:
            raise ValueError(f"encoder.temporal_width ({self.temporal_width}) must be a multiple of "
                             f"encoder.temporal_heads ({self.temporal_heads})")
        _check_max_steps("encoder", self.max_steps)
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(f"encoder.image_size must be >= 8 or null, got {self.image_size}")
        if not self.cnn_widths or any(w < 1 or w % self.cnn_groups for w in self.cnn_widths):
            raise ValueError(f"encoder.cnn_widths must be positive multiples of cnn_groups={self.cnn_groups}, "
                             f"got {self.cnn_widths}")
        for name in ("frame_loss_weight", "emotion_weight", "reaction_weight", "weight_decay", "grad_clip",
                     "warmup_steps", "extra_clips", "render_workers", "temporal_layers", "temporal_weight_decay",
                     "temporal_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"encoder.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("label_smoothing", "max_shift", "color_jitter"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"encoder.{name} must lie in [0, 1), got {getattr(self, name)}")
        if list(self.milestones) != sorted(self.milestones) or any(m < 1 for m in self.milestones):
            raise ValueError(f"encoder.milestones must be increasing epochs >= 1, got {self.milestones}")
        self.betas = _check_betas("encoder", self.betas)

    def video_config(self, weights: str | None = None):
        """The VideoEncoderConfig of this backbone (random init when training the small CNN)."""
        from hero_model.video import VideoEncoderConfig

        values = dict(backbone=self.backbone, image_size=self.image_size, feature_dim=self.feature_dim)
        if self.backbone == "small-cnn":
            values.update(cnn_widths=self.cnn_widths, cnn_groups=self.cnn_groups, weights=weights,
                          allow_random_init=weights is None, temporal_layers=self.temporal_layers,
                          temporal_width=self.temporal_width, temporal_heads=self.temporal_heads)
        else:
            values.update(weights=weights if weights is not None else self.weights)
        return VideoEncoderConfig(**values)


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
class GeneratorConfig:
    """The HERO generator's architecture, shared by stages `mask` and `res` (paper Sec. 3.3; reference.md section 3).

    preset: "paper" (latent 384, 6 layers: the released model), "small" (HeroConfig.small) or "cpu" (latent 192,
        3 layers: the embedded default, trained on CPU in minutes) -- see HERO_PRESETS.
    model: HeroConfig fields replacing the preset's, e.g. {n_layers: 2, dropout: 0.1}. num_codes, code_dim and
        num_quantizers come from the trained RVQ, video_dim from the encoder, max_motion_tokens from 200 frames /
        unit_length; an entry for those must agree with them.
    variant: "hero" | "no_iie" | "no_die" | "momask" -- the paper's ablations (Tables 1-2) on one code path.
    """

    preset: str = "cpu"
    model: dict[str, Any] = field(default_factory=dict)
    variant: str = "hero"

    def __post_init__(self) -> None:
        from hero_model.hero.config import VARIANTS

        if self.preset not in HERO_PRESETS:
            raise ValueError(f"generator.preset must be one of {sorted(HERO_PRESETS)}, got {self.preset!r}")
        if not isinstance(self.model, dict):
            raise ValueError(f"generator.model must be a mapping of HeroConfig fields, got {self.model!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"generator.variant must be one of {VARIANTS}, got {self.variant!r}")
        if "variant" in self.model:
            raise ValueError("generator.model.variant: set generator.variant instead")

    def hero_config(self, rvq_config, video_dim: int, max_motion_length: int = 200):
        """HeroConfig from the preset, `model` and the values fixed by the trained RVQ and video encoder."""
        from hero_model.hero import HeroConfig

        derived = dict(num_codes=rvq_config.num_codes, code_dim=rvq_config.code_dim,
                       num_quantizers=rvq_config.num_quantizers, unit_length=rvq_config.downsample_factor,
                       max_motion_tokens=max_motion_length // rvq_config.downsample_factor, video_dim=video_dim)
        for name, value in derived.items():
            if name in self.model and self.model[name] != value:
                raise ValueError(f"generator.model.{name}={self.model[name]!r} disagrees with the trained parts "
                                 f"({name}={value})")
        values = {**HERO_PRESETS[self.preset], **self.model, **derived, "variant": self.variant}
        try:
            return HeroConfig.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"generator.model: {exc}") from exc


@dataclass
class TransformerStageConfig:
    """Stages `mask` (masked transformer + length head) and `res` (residual transformer): MoMask/HERO's recipe
    (reference.md section 3: batch 64, 200 epochs, lr 2e-4, warm-up 250 it, x0.1 at iteration 6000, AdamW (0.9, 0.99),
    weight decay 1e-5).

    batch_size: pairs per optimiser step. epochs: passes over the training pairs, each with fresh random crops.
    max_steps: stop after this many optimiser steps (null: no cap) -- for quick runs and tests.
    lr: peak learning rate; warmup_steps: linear warm-up length in steps; milestones: epochs at which the learning
        rate is multiplied by gamma (applied at the equivalent step, as MultiStepLR stepped per iteration).
    betas, weight_decay: AdamW settings. grad_clip: max global gradient norm (0: no clipping).
    val_every: validate (and possibly select a new best checkpoint) every this many epochs; the last epoch always
        validates. Checkpoints are selected on the validation split's loss; the test split is never used.
    feature_noise: Gaussian noise added to the frozen frame features v_l of every training batch, in units of each
        feature dimension's standard deviation over the training clips (0: none, the paper's recipe). Validation
        and inference see clean features. A regulariser against fitting the training videos' exact features: the
        encoder was trained on those clips, so they read cleaner than unseen ones (the embedded default's generator
        scores plausibility 0.835 on its training videos, 0.647 on test).
    """

    SECTION = "mask/res"

    batch_size: int = 64
    epochs: int = 200
    max_steps: int | None = None
    lr: float = 2e-4
    warmup_steps: int = 250
    milestones: tuple[int, ...] = (136,)
    gamma: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-5
    grad_clip: float = 1.0
    val_every: int = 1
    feature_noise: float = 0.0

    def __post_init__(self) -> None:
        s = self.SECTION
        self.milestones = tuple(int(m) for m in self.milestones)
        _check_positive(s, self, ("batch_size", "epochs", "lr", "gamma", "val_every"))
        _check_max_steps(s, self.max_steps)
        for name in ("warmup_steps", "weight_decay", "grad_clip", "feature_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{s}.{name} must be >= 0, got {getattr(self, name)}")
        if list(self.milestones) != sorted(self.milestones) or any(m < 1 for m in self.milestones):
            raise ValueError(f"{s}.milestones must be increasing epochs >= 1, got {self.milestones}")
        self.betas = _check_betas(s, self.betas)


@dataclass
class MaskStageConfig(TransformerStageConfig):
    __doc__ = TransformerStageConfig.__doc__
    SECTION = "mask"


@dataclass
class ResStageConfig(TransformerStageConfig):
    __doc__ = TransformerStageConfig.__doc__ + """
    fid_every: measure the validation FID of the whole generator (stage mask's best + this residual transformer)
        every this many epochs and log it to TensorBoard as res/val_fid (0: never). Needs TrainConfig.evaluator.
    fid_max_pairs: validation pairs used for it (null: all).
    """
    SECTION = "res"

    fid_every: int = 0
    fid_max_pairs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.fid_every, bool) or not isinstance(self.fid_every, int) or self.fid_every < 0:
            raise ValueError(f"res.fid_every must be an int >= 0, got {self.fid_every!r}")
        if self.fid_max_pairs is not None and (not isinstance(self.fid_max_pairs, int) or self.fid_max_pairs < 2):
            raise ValueError(f"res.fid_max_pairs must be an int >= 2 or null, got {self.fid_max_pairs!r}")


SECTIONS: dict[str, type] = {"data": DataConfig, "encoder": EncoderStageConfig, "rvq": RVQStageConfig,
                             "generator": GeneratorConfig, "mask": MaskStageConfig, "res": ResStageConfig}


@dataclass
class TrainConfig:
    """A whole training run.

    name: run name; everything is written under <out_dir>/<name>/ (config.yaml, logs, TensorBoard, checkpoints,
        and the finished model folder model/).
    out_dir: parent folder of runs.
    stages: which stages to run, in order (subset of training.config.STAGES).
    base_run: an earlier run folder (e.g. runs/small) whose finished stages stand in for the stages this run does not
        train -- the ablation rows reuse the HERO run's encoder, tokenizer and feature cache this way.
    seed: seeds Python, numpy and torch, and the data crops.
    device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N". Under torchrun every rank takes cuda:LOCAL_RANK.
    threads: torch CPU threads (null: torch's default, one per core).
    resume: continue from the run folder's latest checkpoints when they exist (at most one epoch is lost).
    export: after the stages, assemble <run>/model/ (video encoder, generator, RVQ) when every part exists.
    evaluator: folder of the project's evaluator (`python training/evaluate.py train-evaluator`); when it exists,
        stage res logs the validation FID (res.fid_every) and the export selects checkpoints on it. null: never.
    select: how the export picks each transformer's checkpoint: "val_fid" (the lower validation FID of its
        best-token-loss and last-epoch checkpoints; needs the evaluator, else falls back to "best") or "best"
        (best validation token loss).
    """

    name: str = "small"
    out_dir: str = "runs"
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    base_run: str | None = None
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    resume: bool = True
    export: bool = True
    evaluator: str | None = "runs/evaluator"
    select: str = "val_fid"
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderStageConfig = field(default_factory=EncoderStageConfig)
    rvq: RVQStageConfig = field(default_factory=RVQStageConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    mask: MaskStageConfig = field(default_factory=MaskStageConfig)
    res: ResStageConfig = field(default_factory=ResStageConfig)

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, cls(**value))
            elif not isinstance(value, cls):
                raise ValueError(f"{name} must be a mapping, got {value!r}")
        if isinstance(self.stages, str):
            self.stages = [s.strip() for s in self.stages.split(",") if s.strip()]
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ValueError(f"stages must be a non-empty subset of {list(STAGES)}, got {self.stages}")
        self.stages = [s for s in STAGES if s in self.stages]  # always in training order
        if not self.device == "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be an int >= 1 or null, got {self.threads!r}")
        if self.select not in ("val_fid", "best"):
            raise ValueError(f"select must be 'val_fid' or 'best', got {self.select!r}")
        if not self.name or "/" in self.name:
            raise ValueError(f"name must be a non-empty folder name without '/', got {self.name!r}")

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def stage_dir(self, stage: str) -> Path:
        """Where stage `stage`'s outputs are: this run's folder when it trains the stage (or already holds it),
        else base_run's."""
        own = self.run_dir / stage
        if stage in self.stages or self.base_run is None or own.is_dir():
            return own
        return Path(self.base_run) / stage


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` (no dot in the mantissa) as a string; learning rates are written that way."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+"
               r"(?:[eE][-+]?[0-9]+)?|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$"),
    list("-+0123456789."))


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if k not in node:
            node[k] = {}  # a section (or mapping field) the YAML file leaves at its defaults; keys are checked later
        if not isinstance(node.get(k), dict):
            raise ValueError(f"override {dotted!r}: {k!r} is not a section of the config")
        node = node[k]
    node[keys[-1]] = value


def _check_keys(tree: dict, cls: type, where: str = "") -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in tree.items():
        if key not in fields:
            raise ValueError(f"unknown config key {where + key!r}; known keys: {sorted(fields)}")
        sub = SECTIONS.get(key) if cls is TrainConfig else None
        if sub is not None and isinstance(value, dict):
            _check_keys(value, sub, where + key + ".")


def load_config(config: str | Path = "small", overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read training/configs/<config>.yaml (or a YAML path) and apply `key.sub=value` overrides (values parsed as
    YAML, so `rvq.max_steps=200`, `rvq.model=paper`, `data.humanml3d_root=null`, `generator.model.n_layers=2`
    work)."""
    path = Path(config)
    if not path.suffix:
        path = CONFIG_DIR / f"{config}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path} (available: "
                                f"{sorted(p.stem for p in CONFIG_DIR.glob('*.yaml'))})")
    tree = _yaml(path.read_text()) or {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, value = item.split("=", 1)
        _set_dotted(tree, key.strip(), _yaml(value))
    _check_keys(tree, TrainConfig)
    return TrainConfig(**tree)


def dump_config(config: TrainConfig) -> str:
    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        return obj

    return yaml.safe_dump(plain(config), sort_keys=False)
