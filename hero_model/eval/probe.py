"""Linear probes on frozen video features: how much of a clip's subcategory and facial emotion the features hold.

HERO's generator sees a video only through the frozen encoder's v_l (paper Sec. 3.1), so the features bound what
any generator can react to. The probe reads each clip through a fixed descriptor -- the mean and the standard
deviation of v_l over its frames, z-scored with the training clips' statistics -- and fits a multinomial logistic
regression on the training clips (L2 chosen on the validation clips, then refitted on training + validation).

The **probe bound** turns the subcategory probe into a plausibility figure: a generator that reacted with a
plausible reaction of whatever subcategory the probe reads, picked uniformly from that subcategory's set, would be
plausible for a test video with probability |P(read) & P(true)| / |P(read)|. It is a reference point, not a hard
ceiling -- a generator could read the features better than a linear probe of two moments does -- but a generator
well below it loses information the features carry, and one near it is limited by the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def clip_descriptor(v_l: torch.Tensor) -> torch.Tensor:
    """(N, T, d) frame features -> (N, 2d): their mean and (population) standard deviation over the T frames."""
    if v_l.ndim != 3:
        raise ValueError(f"clip_descriptor: expected (N, T, d) features, got shape {tuple(v_l.shape)}")
    v_l = v_l.float()
    return torch.cat([v_l.mean(dim=1), v_l.std(dim=1, unbiased=False)], dim=1)


@dataclass
class LinearProbe:
    """z-scoring statistics and the logistic regression's weights; `predict` returns class indices."""

    mean: torch.Tensor      # (D,)
    scale: torch.Tensor     # (D,)
    weight: torch.Tensor    # (C, D)
    bias: torch.Tensor      # (C,)
    l2: float

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.scale) @ self.weight.T + self.bias

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return self.logits(x).argmax(dim=1).numpy()


def fit_logistic(x: torch.Tensor, y: np.ndarray, num_classes: int, l2: float, max_iter: int = 200) -> LinearProbe:
    """Multinomial logistic regression on z-scored x (N, D) with labels y (N,), full-batch L-BFGS:
    loss = CE(W z + b, y) + l2 * ||W||^2. Deterministic for given inputs."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"fit_logistic: {len(x)} descriptors for {len(y)} labels")
    x = x.double()
    mean = x.mean(dim=0)
    scale = x.std(dim=0, unbiased=False).clamp_min(1e-6)
    z = (x - mean) / scale
    target = torch.as_tensor(np.asarray(y), dtype=torch.long)
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = F.cross_entropy(z @ weight.T + bias, target) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return LinearProbe(mean.float(), scale.float(), weight.detach().float(), bias.detach().float(), l2)


def fit_probe(train_x: torch.Tensor, train_y: np.ndarray, val_x: torch.Tensor, val_y: np.ndarray, num_classes: int,
              l2_grid: Sequence[float] = L2_GRID) -> tuple[LinearProbe, dict[float, float]]:
    """Choose L2 by validation accuracy (ties: the stronger L2), then refit on train + validation.
    Returns the probe and the validation accuracy of every L2 tried."""
    scores = {}
    for l2 in l2_grid:
        scores[float(l2)] = float((fit_logistic(train_x, train_y, num_classes, l2).predict(val_x) == val_y).mean())
    best = max(scores, key=lambda l2: (scores[l2], l2))
    probe = fit_logistic(torch.cat([train_x, val_x]), np.concatenate([train_y, val_y]), num_classes, best)
    return probe, scores


def probe_bound(read: Sequence[str], plausible: Sequence[Sequence[str]], reactions_of: dict[str, Sequence[str]]
                ) -> float:
    """Expected plausibility of reacting uniformly within the plausible set of the subcategory the probe read:
    mean over clips of |P(read) & P(true)| / |P(read)| (the module docstring)."""
    if len(read) != len(plausible) or len(read) == 0:
        raise ValueError(f"probe_bound: {len(read)} readings for {len(plausible)} plausible sets")
    shares = []
    for sub, ok in zip(read, plausible):
        options = set(reactions_of[sub])
        shares.append(len(options & set(ok)) / len(options))
    return float(np.mean(shares))
