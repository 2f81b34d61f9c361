"""The motion-generation metrics of the paper's evaluation (supp. Sec. 8; reference.md section 5), on embeddings.

Every function takes evaluator embeddings (N, E) -- one row per motion -- and explicit np.random.Generator objects
for anything sampled, so a whole evaluation is reproducible from its seed.

    FID            Frechet distance between Gaussians fitted to real and generated embeddings
    Diversity      mean L2 distance over `pairs` (300) random pairs of motions
    MultiModality  per video, mean L2 distance over `pairs` (10) random pairs of its generations (30 each), then the
                   mean over videos
    repeats        the whole evaluation runs `repeats` (20) times; a metric is reported as
                   mean +- 1.96 * std / sqrt(repeats) (the 95% interval of the mean)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.linalg

DIVERSITY_PAIRS = 300      # supp. Sec. 8
MM_GENERATIONS = 30        # generations per video for MultiModality
MM_PAIRS = 10              # pairs of those generations per video
REPEATS = 20               # whole-evaluation repeats
Z_95 = 1.96                # two-sided 95% normal quantile of the repeat interval


def _as_embeddings(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected embeddings (N, E) with N, E >= 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: embeddings contain NaN or inf")
    return x


def gaussian_stats(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Mean (E,) and covariance (E, E) of embeddings (N, E), N >= 2 (unbiased covariance, as np.cov)."""
    x = _as_embeddings(embeddings, "gaussian_stats")
    if x.shape[0] < 2:
        raise ValueError(f"gaussian_stats: a covariance needs at least 2 embeddings, got {x.shape[0]}")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _trace_sqrt_product_psd(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD sigma1, sigma2, as Tr((R sigma2 R)^(1/2)) with R = sigma1^(1/2):
    R sigma2 R is similar to sigma1 sigma2 and symmetric PSD, so its root is the root of its eigenvalues."""
    def psd_eigenvalues(w: np.ndarray) -> np.ndarray:
        if w.min() < -1e-6 * max(abs(w).max(), 1.0):
            raise ValueError(f"frechet_distance: a covariance has a negative eigenvalue ({w.min():.3g}); not PSD")
        return np.clip(w, 0.0, None)

    w1, v1 = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (v1 * np.sqrt(psd_eigenvalues(w1))) @ v1.T
    w = np.linalg.eigvalsh(root1 @ ((sigma2 + sigma2.T) / 2) @ root1)
    return float(np.sqrt(psd_eigenvalues(w)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6, imag_tol: float = 1e-3) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    The matrix square root comes from scipy.linalg.sqrtm. sigma1 sigma2 is not symmetric, and with fewer samples
    than dimensions it is singular, so sqrtm may return non-finite values (retried with eps * I added to both
    covariances) or a complex result whose imaginary part is round-off: it is dropped when it is below imag_tol
    relative to the largest magnitude (the official computation); above that the trace is taken from the symmetric
    form Tr((sigma1^(1/2) sigma2 sigma1^(1/2))^(1/2)), exact for PSD covariances; a covariance that is not PSD is
    refused.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(f"frechet_distance: shapes disagree: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 "
                         f"{sigma1.shape}, sigma2 {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on singular input; the result is checked below instead
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(dim) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise ValueError("frechet_distance: the matrix square root is not finite even with an eps offset")
    if np.iscomplexobj(covmean):
        scale = max(np.abs(covmean).max(), 1.0)
        if np.abs(covmean.imag).max() > imag_tol * scale:
            # Rank-deficient sample covariances (fewer embeddings than dimensions, e.g. a 51-video validation
            # split) can leave sqrtm's non-symmetric iteration far from real; the symmetric form of the same trace
            # stays exact for PSD inputs. Only FID's trace is needed, not the root itself.
            trace_covmean = _trace_sqrt_product_psd(sigma1, sigma2)
        else:
            trace_covmean = np.trace(covmean.real)
    else:
        trace_covmean = np.trace(covmean)
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean
    # Round-off can leave a tiny negative number for (near-)identical distributions; a distance is >= 0.
    return float(max(distance, 0.0))


def fid(real, generated) -> float:
    """Frechet distance between the Gaussians of real (N, E) and generated (M, E) embeddings."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))


def random_pairs(num: int, pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`pairs` index pairs (i, j), i != j, each drawn uniformly from range(num).

    The official sampler draws each side without replacement and so needs more than `pairs` samples; ViMo-Synth
    test groups are smaller than 300, so pairs are drawn independently (with replacement across pairs) instead.
    """
    if num < 2:
        raise ValueError(f"random_pairs: need at least 2 samples to form a pair, got {num}")
    if pairs < 1:
        raise ValueError(f"random_pairs: pairs must be >= 1, got {pairs}")
    first = rng.integers(0, num, size=pairs)
    # j uniform over the other num - 1 indices: draw from num - 1 values and skip i
    second = rng.integers(0, num - 1, size=pairs)
    second = second + (second >= first)
    return first, second


def diversity(embeddings, rng: np.random.Generator, pairs: int = DIVERSITY_PAIRS) -> float:
    """Mean Euclidean distance between the embeddings of `pairs` random pairs of motions."""
    x = _as_embeddings(embeddings, "diversity")
    i, j = random_pairs(len(x), pairs, rng)
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def multimodality(groups: Sequence[np.ndarray] | np.ndarray, rng: np.random.Generator,
                  pairs: int = MM_PAIRS) -> float:
    """MultiModality: for each video, the mean distance over `pairs` random pairs of its generations' embeddings;
    then the mean over videos. groups: (V, G, E) or a list of V arrays (G_v, E) with G_v >= 2."""
    if isinstance(groups, np.ndarray) and groups.ndim != 3:
        raise ValueError(f"multimodality: expected (videos, generations, E), got shape {groups.shape}")
    if len(groups) == 0:
        raise ValueError("multimodality: no videos given")
    per_video = []
    for v, group in enumerate(groups):
        x = _as_embeddings(group, f"multimodality video {v}")
        i, j = random_pairs(len(x), pairs, rng)
        per_video.append(np.linalg.norm(x[i] - x[j], axis=1).mean())
    return float(np.mean(per_video))


@dataclass(frozen=True)
class RepeatSummary:
    """A metric over repeats: mean, the 95% interval half-width 1.96 * std / sqrt(n) (None for a single value,
    where no spread is measured), and n."""

    mean: float
    ci: float | None
    repeats: int


def summarize_repeats(values: Sequence[float]) -> RepeatSummary:
    """mean +- Z_95 * std / sqrt(n) over the per-repeat values (std with ddof 0, as the T2M/MoMask protocol)."""
    v = np.asarray([x for x in values], dtype=np.float64)
    if v.ndim != 1 or v.size < 1:
        raise ValueError(f"summarize_repeats: expected a non-empty list of numbers, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"summarize_repeats: values contain NaN or inf: {v.tolist()}")
    ci = float(Z_95 * v.std() / math.sqrt(v.size)) if v.size > 1 else None
    return RepeatSummary(float(v.mean()), ci, int(v.size))
