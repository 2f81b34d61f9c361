"""Reaction plausibility on ViMo-Synth: does a generated reaction fit the video it answers?

plausibility = share of generated reactions that a held-out reaction classifier assigns to one of the plausible
reactions of the video's subcategory (labels.json `plausible_reactions`, else hero_model.synth.taxonomy).

"Held out" means independent of the evaluator whose embedding FID uses: the classifier here is a different network
(a dilated temporal CNN over all 263 dims with masked mean+max pooling, against the evaluator's convolution + BiGRU
over 259 dims), initialised from a different seed and trained on a different stream of crops. Both see only TRAIN
motions, never a test motion nor a generated one, so plausibility cannot reward a generator for matching the
evaluator's particular blind spots. The paper (supp. Sec. 8) argues that single-label action accuracy does not fit
reaction generation because several reactions are plausible; scoring against the plausible set is the answer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..motion.normalization import Normalizer
from ..motion.skeleton import FEATURE_DIM
from .evaluator import predict_classes


@dataclass
class ClassifierConfig:
    """Sizes of the plausibility classifier.

    width: channels of every temporal convolution (the stem halves the frame rate: k4, stride 2).
    dilations: one residual block (GELU, Conv1d k3 dilated, GELU, Conv1d k1) per entry; receptive field grows with
        the dilations so the pooled features see whole sub-movements.
    dropout: dropout before the output layer.
    num_classes: reaction classes (>= 2).
    """

    width: int = 96
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    dropout: float = 0.2
    num_classes: int = 2

    def __post_init__(self) -> None:
        self.dilations = tuple(int(d) for d in self.dilations)  # JSON gives lists back
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"ClassifierConfig.width must be a positive int, got {self.width!r}")
        if not self.dilations or any(d < 1 for d in self.dilations):
            raise ValueError(f"ClassifierConfig.dilations must be positive ints, got {self.dilations!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ClassifierConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"ClassifierConfig.num_classes must be an int >= 2, got {self.num_classes!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifierConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ClassifierConfig: unknown fields {unknown}")
        return cls(**data)


class _DilatedBlock(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B, C, T); mask (B, 1, T): padded frames are zeroed so they never leak into valid frames' receptive field
        return (x + self.mix(F.gelu(self.conv(F.gelu(x))))) * mask


class ReactionClassifier(nn.Module):
    """z-normalised motion (B, T, 263) + lengths (B,) -> reaction logits (B, num_classes)."""

    def __init__(self, config: ClassifierConfig, normalizer: Normalizer | None = None,
                 class_names: Sequence[str] = ()):
        super().__init__()
        if config.num_classes != len(class_names):
            raise ValueError(f"ReactionClassifier: config.num_classes={config.num_classes} but "
                             f"{len(class_names)} class names were given")
        self.config, self.normalizer, self.class_names = config, normalizer, tuple(class_names)
        self.stem = nn.Conv1d(FEATURE_DIM, config.width, 4, stride=2, padding=1)  # T -> T/2: 4x cheaper blocks
        self.blocks = nn.ModuleList(_DilatedBlock(config.width, d) for d in config.dilations)
        self.head = nn.Sequential(nn.Linear(2 * config.width, config.width), nn.GELU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.width, config.num_classes))

    def classify_logits(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if motion.dim() != 3 or motion.shape[-1] != FEATURE_DIM:
            raise ValueError(f"ReactionClassifier: motion must be (B, T, {FEATURE_DIM}), got {tuple(motion.shape)}")
        lengths = torch.as_tensor(lengths, device=motion.device)
        frames = torch.arange(motion.shape[1], device=motion.device)
        x = motion.transpose(1, 2) * (frames[None, :] < lengths[:, None]).float()[:, None]   # padding zeroed
        x = self.stem(x)                                                 # (B, C, T/2)
        valid = torch.div(lengths, 2, rounding_mode="floor").clamp(min=1)
        steps = torch.arange(x.shape[-1], device=motion.device)
        mask = (steps[None, :] < valid[:, None]).float()[:, None]         # (B, 1, T/2)
        x = x * mask
        for block in self.blocks:
            x = block(x, mask)
        mean = x.sum(-1) / mask.sum(-1).clamp(min=1.0)                   # masked mean (B, C)
        peak = x.masked_fill(mask == 0, float("-inf")).amax(-1)          # masked max (B, C)
        return self.head(torch.cat([mean, peak], dim=-1))                # (B, K)

    forward = classify_logits

    @torch.no_grad()
    def predict(self, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Most likely class index of each de-normalised motion (N_i, 263), (len,) int64."""
        return predict_classes(self, features, batch_size)

    def save(self, path: str | Path, **metadata: Any) -> Path:
        if self.normalizer is None:
            raise ValueError("ReactionClassifier.save: the classifier has no normaliser; set one before saving")
        return save_checkpoint(path, self.state_dict(), asdict(self.config), class_names=list(self.class_names),
                               normalizer_mean=self.normalizer.mean, normalizer_std=self.normalizer.std,
                               kind="reaction_classifier", **metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "ReactionClassifier":
        state, meta = load_checkpoint(path, map_location)
        json_file = Path(path).with_suffix(".json")
        try:
            if meta.get("kind") != "reaction_classifier":
                raise ValueError(f"kind is {meta.get('kind')!r}, expected 'reaction_classifier'")
            config = ClassifierConfig.from_dict(meta["config"])
            normalizer = Normalizer(np.asarray(meta["normalizer_mean"]), np.asarray(meta["normalizer_std"]))
            model = cls(config, normalizer, meta["class_names"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{json_file}: not a reaction classifier checkpoint: {exc}") from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{Path(path).with_suffix('.safetensors')} does not fit {config}: {exc}") from exc
        return model.to(map_location).eval()


def plausible_sets(pair_ids: Sequence[str], labels: dict, subcategories: Sequence[str]) -> list[tuple[str, ...]]:
    """The plausible reactions of each pair: labels.json's `plausible_reactions`, else the taxonomy row of the
    pair's subcategory. Raises naming the pair when neither knows it."""
    from ..synth import taxonomy

    out = []
    for pair_id, sub in zip(pair_ids, subcategories):
        entry = labels.get(pair_id, {})
        if "plausible_reactions" in entry:
            out.append(tuple(entry["plausible_reactions"]))
        elif sub in taxonomy.BY_NAME:
            out.append(taxonomy.BY_NAME[sub].reactions)
        else:
            raise KeyError(f"pair {pair_id!r}: no plausible_reactions in labels.json and subcategory {sub!r} is not "
                           "in the ViMo-Synth taxonomy")
    return out


def plausible_share(predicted: Sequence[int], class_names: Sequence[str],
                    plausible: Sequence[Sequence[str]]) -> float:
    """Share of motions whose predicted class name is in their plausible set."""
    if len(predicted) != len(plausible) or len(predicted) == 0:
        raise ValueError(f"plausible_share: {len(predicted)} predictions for {len(plausible)} plausible sets")
    hits = [class_names[int(p)] in set(ok) for p, ok in zip(predicted, plausible)]
    return float(np.mean(hits))
