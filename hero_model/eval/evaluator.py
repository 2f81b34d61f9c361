"""The motion evaluator whose embeddings FID, Diversity and MultiModality are computed on (reference.md section 5).

Architecture (T2M's motion side, Guo et al. 2022):

    motion (B, T, 263) z-normalised -> drop the 4 foot-contact dims -> (B, T, 259)
    movement encoder: Conv1d(259 -> H_mov, k4, s2, p1), Dropout 0.2, LeakyReLU 0.2,
                      Conv1d(H_mov -> L_mov, k4, s2, p1), Dropout 0.2, LeakyReLU 0.2, Linear(L_mov -> L_mov)
                      -> (B, T/4, L_mov): one "movement" per 4 frames
    motion encoder:   Linear(L_mov -> H), BiGRU(H) from a learned initial state over the first length/4 movements,
                      [last forward state; last backward state] (B, 2H) -> Linear(2H -> H), LayerNorm,
                      LeakyReLU 0.2, Linear(H -> E) -> embedding (B, E)

T2M sizes: H_mov = L_mov = 512, H = 1024, E = 512. Submodule and parameter names follow T2M's checkpoint
(`movement_encoder.main.0.weight`, ..., `motion_encoder.hidden`), so the official evaluator checkpoint
(text_mot_match/model/finest.tar) loads without a key map: see load_t2m_evaluator.

The project's own evaluator (the T2M weights cannot be downloaded here) is this network trained as a reaction
classifier on ViMo-Synth TRAIN motions: a linear head on the embedding predicts labels.json's `reaction`
(training/eval_stages.py). Why a classifier and not contrastive against video features: the classifier needs no
video encoder, so the yardstick does not depend on -- and cannot favour -- the frozen encoder the generators are
conditioned on; and its embedding is organised by what the motion does, which is the property FID should measure.
The head is only used for training and for a sanity accuracy; metrics use the embedding.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..motion.normalization import Normalizer
from ..motion.skeleton import FEATURE_DIM

CONTACT_DIMS = 4                            # the last 4 feature dims (foot contacts) are not evaluated
EVALUATOR_INPUT_DIM = FEATURE_DIM - CONTACT_DIMS  # 259
DOWNSAMPLE = 4                              # two stride-2 convolutions: one movement per 4 frames


@dataclass
class EvaluatorConfig:
    """Sizes of the evaluator.

    input_dim: features per frame after dropping the foot contacts (HumanML3D: 263 - 4 = 259).
    movement_hidden: channels of the first movement convolution (T2M: 512).
    movement_latent: channels of the second convolution and of the movement vectors (T2M: 512).
    motion_hidden: BiGRU hidden size per direction, and the width of its output MLP (T2M: 1024).
    embedding_dim: size E of the embedding the metrics use (T2M: 512).
    dropout: dropout after each movement convolution (T2M: 0.2).
    num_classes: reaction classes of the training head (0: no head, e.g. the official T2M weights).
    """

    input_dim: int = EVALUATOR_INPUT_DIM
    movement_hidden: int = 512
    movement_latent: int = 512
    motion_hidden: int = 1024
    embedding_dim: int = 512
    dropout: float = 0.2
    num_classes: int = 0

    def __post_init__(self) -> None:
        for name in ("input_dim", "movement_hidden", "movement_latent", "motion_hidden", "embedding_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EvaluatorConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"EvaluatorConfig.num_classes must be an int >= 0, got {self.num_classes!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"EvaluatorConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def t2m(cls, **overrides: Any) -> "EvaluatorConfig":
        """The T2M evaluator's sizes (the official checkpoint's shapes)."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> "EvaluatorConfig":
        """A CPU-sized evaluator for ViMo-Synth: the same layers, 1/4 of the widths (a few minutes of training on
        600 pairs); E = 128 keeps the covariances of ~100-sample test sets less rank-deficient."""
        base = dict(movement_hidden=128, movement_latent=128, motion_hidden=256, embedding_dim=128)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluatorConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"EvaluatorConfig: unknown fields {unknown}")
        return cls(**data)


class MovementConvEncoder(nn.Module):
    """(B, T, input_dim) -> (B, T/4, latent): local movement features, one per 4 frames."""

    def __init__(self, input_dim: int, hidden: int, latent: int, dropout: float):
        super().__init__()
        # Layer order and indices (main.0 / main.3) as in T2M's checkpoint.
        self.main = nn.Sequential(
            nn.Conv1d(input_dim, hidden, kernel_size=4, stride=2, padding=1),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, latent, kernel_size=4, stride=2, padding=1),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(latent, latent)

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = motion.transpose(1, 2)                        # (B, D, T)
        if lengths is None:
            x = self.main(x)                              # (B, latent, T/4)
        else:
            # T2M convolves zero-padded batches, so a motion's last movements read the first layer's response to
            # the padding (its bias, not zero) and change with the batch's longest motion. Zeroing the input beyond
            # each length and the first layer's outputs beyond length/2 reproduces exactly what the convolutions'
            # own zero padding gives a motion alone in its batch: embeddings no longer depend on batching.
            x = x * _time_mask(lengths, x.shape[-1])
            x = self.main[:3](x)                          # (B, hidden, T/2)
            x = x * _time_mask(torch.div(lengths, 2, rounding_mode="floor"), x.shape[-1])
            x = self.main[3:](x)                          # (B, latent, T/4)
        return self.out_net(x.transpose(1, 2))            # (B, T/4, latent)


def _time_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, 1, steps) float mask, 1 where t < length."""
    return (torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]).float()[:, None]


class MotionEncoderBiGRU(nn.Module):
    """Movements (B, n, latent) with valid counts (B,) -> embedding (B, E)."""

    def __init__(self, latent: int, hidden: int, embedding_dim: int):
        super().__init__()
        self.input_emb = nn.Linear(latent, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        # Indices 0 / 1 / 3 as in T2M's checkpoint (2 is the parameter-free LeakyReLU).
        self.output_net = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.LayerNorm(hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, embedding_dim),
        )
        # A learned initial state for both directions (T2M's `hidden`), (2 directions, 1, hidden).
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden))

    def forward(self, movements: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(movements)                                    # (B, n, H)
        packed = pack_padded_sequence(x, counts.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.expand(-1, x.shape[0], -1).contiguous())  # last: (2, B, H)
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))   # (B, E)


class MotionEvaluator(nn.Module):
    """The evaluator: motion -> embedding, plus an optional reaction-classification head.

    normalizer: the statistics the evaluator's inputs are z-normalised with. It belongs to the evaluator, not to
    the generator: embed() takes de-normalised features from any source and normalises them itself.
    class_names: the reaction of each head output (empty without a head).
    """

    def __init__(self, config: EvaluatorConfig, normalizer: Normalizer | None = None,
                 class_names: Sequence[str] = ()):
        super().__init__()
        if config.num_classes != len(class_names):
            raise ValueError(f"MotionEvaluator: config.num_classes={config.num_classes} but "
                             f"{len(class_names)} class names were given")
        self.config = config
        self.normalizer = normalizer
        self.class_names = tuple(class_names)
        self.movement_encoder = MovementConvEncoder(config.input_dim, config.movement_hidden,
                                                    config.movement_latent, config.dropout)
        self.motion_encoder = MotionEncoderBiGRU(config.movement_latent, config.motion_hidden, config.embedding_dim)
        self.classifier = nn.Linear(config.embedding_dim, config.num_classes) if config.num_classes else None

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """motion (B, T, 263) z-normalised, zero-padded; lengths (B,) frames -> embedding (B, E)."""
        if motion.dim() != 3 or motion.shape[-1] != self.config.input_dim + CONTACT_DIMS:
            raise ValueError(f"MotionEvaluator: motion must be (B, T, {self.config.input_dim + CONTACT_DIMS}), "
                             f"got {tuple(motion.shape)}")
        lengths = torch.as_tensor(lengths, device=motion.device)
        if lengths.shape != (motion.shape[0],) or (lengths < DOWNSAMPLE).any() or (lengths > motion.shape[1]).any():
            raise ValueError(f"MotionEvaluator: lengths must be (B,) in [{DOWNSAMPLE}, T={motion.shape[1]}], "
                             f"got {lengths.tolist()}")
        lengths = torch.div(lengths, DOWNSAMPLE, rounding_mode="floor") * DOWNSAMPLE   # whole 4-frame units
        movements = self.movement_encoder(motion[..., :-CONTACT_DIMS], lengths)  # (B, T/4, L_mov), no contacts
        counts = torch.div(lengths, DOWNSAMPLE, rounding_mode="floor").clamp(max=movements.shape[1])
        return self.motion_encoder(movements, counts)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """Reaction logits (B, num_classes) of embeddings (B, E)."""
        if self.classifier is None:
            raise ValueError("this evaluator has no classification head (num_classes=0)")
        return self.classifier(embedding)

    def classify_logits(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Reaction logits (B, num_classes) of z-normalised motions (B, T, 263) -- the training objective."""
        return self.logits(self(motion, lengths))

    # --- inference on raw features --------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """De-normalised motions, a list of (N_i, 263) arrays, -> embeddings (len, E) float64."""
        return embed_motions(self, features, batch_size)

    @torch.no_grad()
    def predict(self, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Index of the most likely reaction class of each motion, (len,) int64."""
        return predict_classes(self, features, batch_size)

    # --- checkpoints ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, **metadata: Any) -> Path:
        """<path>.safetensors + <path>.json with the config, the class names and the normaliser."""
        if self.normalizer is None:
            raise ValueError("MotionEvaluator.save: the evaluator has no normaliser; set one before saving")
        return save_checkpoint(path, self.state_dict(), asdict(self.config), class_names=list(self.class_names),
                               normalizer_mean=self.normalizer.mean, normalizer_std=self.normalizer.std,
                               kind="motion_evaluator", **metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "MotionEvaluator":
        """An evaluator written by save(), in eval mode."""
        state, meta = load_checkpoint(path, map_location)
        json_file = Path(path).with_suffix(".json")
        try:
            if meta.get("kind") != "motion_evaluator":
                raise ValueError(f"kind is {meta.get('kind')!r}, expected 'motion_evaluator'")
            config = EvaluatorConfig.from_dict(meta["config"])
            normalizer = Normalizer(np.asarray(meta["normalizer_mean"]), np.asarray(meta["normalizer_std"]))
            model = cls(config, normalizer, meta.get("class_names", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{json_file}: not a motion evaluator checkpoint: {exc}") from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{Path(path).with_suffix('.safetensors')} does not fit {config}: {exc}") from exc
        return model.to(map_location).eval()


def pad_batch(features: Sequence[np.ndarray], normalizer: Normalizer | None,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(N_i, 263) de-normalised motions -> z-normalised zero-padded (B, T_max, 263) float32 and lengths (B,).

    Motions are cut to whole 4-frame units (the evaluator reads one movement per 4 frames)."""
    lengths = []
    for i, f in enumerate(features):
        f = np.asarray(f)
        if f.ndim != 2 or f.shape[1] != FEATURE_DIM:
            raise ValueError(f"motion {i}: expected ({'N'}, {FEATURE_DIM}) features, got shape {f.shape}")
        if f.shape[0] < DOWNSAMPLE:
            raise ValueError(f"motion {i}: {f.shape[0]} frames is shorter than one {DOWNSAMPLE}-frame unit")
        lengths.append(f.shape[0] // DOWNSAMPLE * DOWNSAMPLE)
    batch = np.zeros((len(features), max(lengths), FEATURE_DIM), dtype=np.float32)
    for i, (f, n) in enumerate(zip(features, lengths)):
        x = np.asarray(f[:n], dtype=np.float32)
        batch[i, :n] = normalizer.normalize(x) if normalizer is not None else x
    if not np.isfinite(batch).all():
        raise ValueError("pad_batch: motions contain NaN or inf")
    return torch.from_numpy(batch).to(device), torch.tensor(lengths, dtype=torch.long, device=device)


def embed_motions(model: MotionEvaluator, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Embeddings (len, E) float64 of de-normalised motions, in eval mode, in batches of similar lengths."""
    if len(features) == 0:
        raise ValueError("embed_motions: no motions given")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([len(f) for f in features], kind="stable")  # similar lengths share a batch: less padding
    out = np.empty((len(features), model.config.embedding_dim), dtype=np.float64)
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                motion, lengths = pad_batch([features[i] for i in idx], model.normalizer, device)
                out[idx] = model(motion, lengths).double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def predict_classes(model: nn.Module, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """argmax of model.classify_logits over de-normalised motions (len,) int64, in eval mode."""
    if len(features) == 0:
        raise ValueError("predict_classes: no motions given")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = np.empty(len(features), dtype=np.int64)
    try:
        with torch.no_grad():
            for start in range(0, len(features), batch_size):
                motion, lengths = pad_batch(features[start:start + batch_size], model.normalizer, device)
                out[start:start + batch_size] = model.classify_logits(motion, lengths).argmax(-1).cpu().numpy()
    finally:
        model.train(was_training)
    return out


# --- the official T2M evaluator checkpoint ---------------------------------------------------------------------

def t2m_config_from_state(movement: dict[str, torch.Tensor], motion: dict[str, torch.Tensor]) -> EvaluatorConfig:
    """Read the sizes off the official state dicts (their shapes are the only record of them)."""
    try:
        return EvaluatorConfig(input_dim=int(movement["main.0.weight"].shape[1]),
                               movement_hidden=int(movement["main.0.weight"].shape[0]),
                               movement_latent=int(movement["main.3.weight"].shape[0]),
                               motion_hidden=int(motion["input_emb.weight"].shape[0]),
                               embedding_dim=int(motion["output_net.3.weight"].shape[0]))
    except KeyError as exc:
        raise CheckpointError(f"T2M evaluator state dict lacks {exc}") from None


def load_t2m_evaluator(path: str | Path, normalizer: Normalizer | str | Path | None,
                       map_location: str | torch.device = "cpu") -> MotionEvaluator:
    """The official T2M evaluator (`text_mot_match/model/finest.tar`: dict with `movement_encoder` and
    `motion_encoder` state dicts, plus the text encoder and optimiser states, which are ignored).

    normalizer: the statistics the evaluator was trained with -- a Normalizer, or a folder holding them
    (T2M ships meta/mean.npy + meta/std.npy next to its evaluator options; Mean.npy / Std.npy are accepted too).
    Read with torch.load(weights_only=True): nothing is unpickled beyond tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"T2M evaluator checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for bad / unsafe pickles
        raise CheckpointError(f"{path}: cannot be read as a weights-only torch checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or "movement_encoder" not in ckpt or "motion_encoder" not in ckpt:
        keys = sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected keys 'movement_encoder' and 'motion_encoder', got {keys}")
    if normalizer is None:
        raise ValueError(f"load_t2m_evaluator({path}): the evaluator's Mean/Std are required (normalizer=...); "
                         "T2M keeps them in <evaluator opt dir>/meta/mean.npy and std.npy")
    config = t2m_config_from_state(ckpt["movement_encoder"], ckpt["motion_encoder"])
    model = MotionEvaluator(config, _as_normalizer(normalizer))
    state = {f"movement_encoder.{k}": v for k, v in ckpt["movement_encoder"].items()}
    state.update({f"motion_encoder.{k}": v for k, v in ckpt["motion_encoder"].items()})
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the movement/motion encoder weights do not fit {config}: {exc}") from exc
    return model.to(map_location).eval()


def _as_normalizer(normalizer: Normalizer | str | Path) -> Normalizer:
    if isinstance(normalizer, Normalizer):
        return normalizer
    folder = Path(normalizer)
    for mean_name, std_name in (("mean.npy", "std.npy"), ("Mean.npy", "Std.npy")):
        if (folder / mean_name).is_file() and (folder / std_name).is_file():
            return Normalizer(np.load(folder / mean_name), np.load(folder / std_name))
    raise FileNotFoundError(f"no mean.npy/std.npy or Mean.npy/Std.npy in {folder}")
