"""The evaluation protocol (paper supp. Sec. 8; reference.md section 5) on a ViMo-layout split.

One repeat r of the protocol, for a model and the evaluator E:
  1. real crops: every pair's motion cut by the training crop rule from item_rng(data_seed, r, i) -- fresh crops
     each repeat, the same for every model (the T2M protocol re-draws its loader every repeat);
  2. one generated reaction per video, with the real crop's length (the official evaluation uses the ground-truth
     length), sampled from seed (seed, r) -- common random numbers across models;
  3. FID(E(real), E(generated)); Diversity over 300 random pairs of E(generated); plausibility = share of the
     generated reactions the held-out classifier assigns to a plausible reaction (plausibility.py);
  4. MultiModality: a random subset of `mm_videos` videos (official: 3 batches of 32), `mm_generations` (30)
     generations each, mean distance over `mm_pairs` (10) pairs per video.
The "Real" row uses real crops in place of generations: FID against a second, independent draw of crops (the crop
noise floor, ~0) and Diversity of the real crops. Metrics are computed per group too (all, each broad category,
each subcategory) from the same samples. Over `repeats` (20): mean +- 1.96 std / sqrt(repeats). Each subcategory's
row also counts the reactions the classifier read its motions as, over all repeats ("reactions"): where the
implausible ones go.

`validation_fid` runs steps 1-3 on the validation split (held out of train.txt) for checkpoint selection; the test
split is never used to select anything.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from . import metrics
from .evaluator import MotionEvaluator

logger = logging.getLogger("hero_model.eval")

ALL = "all"
BROAD_PREFIX = "broad:"
SUB_PREFIX = "sub:"
REAL = "Real"
VARIANT_NAMES = {"hero": "HERO", "momask": "MoMask-style", "no_iie": "w/o IIE", "no_die": "w/o DIE"}
_REAL_SECOND_DRAW = 1_000_000  # epoch offset of the Real row's independent second crops


@dataclass
class ProtocolConfig:
    """How the metrics are sampled.

    repeats: whole-evaluation repeats (paper: 20); intervals are 1.96 std / sqrt(repeats).
    diversity_pairs: random pairs per Diversity value (paper: 300).
    mm_videos: videos per MultiModality value (official: 3 batches of 32 = 96); all videos when the split is smaller.
    mm_generations: generations per MultiModality video (paper: 30). 0 skips MultiModality.
    mm_pairs: pairs of generations per video (paper: 10).
    seed: master seed of generation and metric sampling (the same seed gives the same numbers).
    batch_size: videos per generation call.
    decoding: keyword arguments of HeroGenerator.generate (steps, cond_scale, res_cond_scale, temperature,
        topk_filter_thres); empty = the generator's defaults (the paper's).
    """

    repeats: int = metrics.REPEATS
    diversity_pairs: int = metrics.DIVERSITY_PAIRS
    mm_videos: int = 96
    mm_generations: int = metrics.MM_GENERATIONS
    mm_pairs: int = metrics.MM_PAIRS
    seed: int = 0
    batch_size: int = 128
    decoding: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("repeats", "diversity_pairs", "mm_videos", "mm_pairs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ProtocolConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.mm_generations, int) or self.mm_generations == 1 or self.mm_generations < 0:
            raise ValueError(f"ProtocolConfig.mm_generations must be 0 (skip) or >= 2, got {self.mm_generations!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"ProtocolConfig.seed must be an int >= 0, got {self.seed!r}")
        allowed = {"steps", "cond_scale", "res_cond_scale", "temperature", "topk_filter_thres"}
        if set(self.decoding) - allowed:
            raise ValueError(f"ProtocolConfig.decoding: unknown keys {sorted(set(self.decoding) - allowed)}; "
                             f"allowed: {sorted(allowed)}")
        for key in ("cond_scale", "res_cond_scale"):
            if key in self.decoding and not self.decoding[key] >= 0:
                raise ValueError(f"ProtocolConfig.decoding[{key!r}] must be >= 0, got {self.decoding[key]!r}")

    @classmethod
    def quick(cls, **overrides: Any) -> "ProtocolConfig":
        """A smoke-test protocol: 2 repeats, MultiModality on 8 videos x 4 generations."""
        base = dict(repeats=2, mm_videos=8, mm_generations=4, mm_pairs=3)
        base.update(overrides)
        return cls(**base)


def _seed(*parts: int) -> int:
    """A 63-bit seed from non-negative integers (order matters); stable across runs and machines."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> np.uint64(1))


# --- the split --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalPair:
    """One pair of the evaluated split and the groups it belongs to."""

    video: str
    pair_id: str
    subcategory: str
    broad_category: str | None
    emotion: str | None
    plausible: tuple[str, ...] | None


class EvalSplit:
    """A split of a ViMo-layout dataset, prepared for the protocol: pairs, labels, groups and the real crops.

    root: dataset folder; split: "test", "test_unseen" or "val" (val = ViMoDataset's hold-out of train.txt, for
    checkpoint selection); val_fraction / data_seed: ViMoDataset's hold-out settings (must match training's);
    max_pairs: evaluate only max_pairs pairs, spread evenly over the sorted list (so over the subcategories) --
    for smoke tests and quick checks.
    """

    def __init__(self, root: str | Path, split: str = "test", val_fraction: float = 0.1, data_seed: int = 0,
                 max_pairs: int | None = None):
        from ..data.vimo import ViMoDataset
        from .plausibility import plausible_sets
        from ..synth import taxonomy

        if split not in ("test", "test_unseen", "val"):
            raise ValueError(f"EvalSplit: split must be 'test', 'test_unseen' or 'val' (never selection on test), "
                             f"got {split!r}")
        self.root, self.split = Path(root), split
        self.dataset = ViMoDataset(root, split, return_video=False, random_crop=True, seed=data_seed,
                                   val_fraction=val_fraction)
        total = len(self.dataset)
        count = total if max_pairs is None else min(max_pairs, total)
        if count < 2:
            raise ValueError(f"EvalSplit {root} / {split}: need at least 2 pairs, got {count}")
        # The dataset object keeps all pairs (crops are drawn per dataset index); self.indices picks the evaluated.
        self.indices = np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))
        labels = self.dataset.labels
        entries = [self.dataset.pairs[i] for i in self.indices]
        try:
            plausible = plausible_sets([p.pair_id for p in entries], labels, [p.subcategory for p in entries])
        except KeyError:
            plausible = [None] * count  # not a ViMo-Synth set: no plausibility
        self.pairs: list[EvalPair] = []
        for entry, ok in zip(entries, plausible):
            label = labels.get(entry.pair_id, {})
            row = taxonomy.BY_NAME.get(entry.subcategory)
            broad = label.get("broad_category", row.broad_category if row else None)
            emotion = label.get("emotion")
            self.pairs.append(EvalPair(entry.video, entry.pair_id, entry.subcategory, broad, emotion,
                                       tuple(ok) if ok is not None else None))

    def __len__(self) -> int:
        return len(self.pairs)

    def groups(self) -> dict[str, np.ndarray]:
        """{group name: pair indices}: "all", "broad:<category>", "sub:<subcategory>"."""
        out: dict[str, list[int]] = {ALL: list(range(len(self)))}
        for i, p in enumerate(self.pairs):
            if p.broad_category:
                out.setdefault(BROAD_PREFIX + p.broad_category, []).append(i)
            out.setdefault(SUB_PREFIX + p.subcategory, []).append(i)
        return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}

    def real_crops(self, repeat: int) -> list[np.ndarray]:
        """The de-normalised real motion crops (length_i, 263) of this repeat (training crop rule)."""
        self.dataset.set_epoch(repeat)
        crops = []
        for i in self.indices:
            start, length = self.dataset.crop_window(int(i))
            crops.append(self.dataset.raw_motion(int(i))[start:start + length])
        return crops


# --- video features -----------------------------------------------------------------------------------------------

def encoder_fingerprint(model_dir: str | Path) -> str:
    """A short hash of a model folder's video encoder (config JSON + weights when they travel with the folder):
    models that share a frozen encoder share cached video features."""
    digest = hashlib.sha1()
    for name in ("video_encoder.json", "video_encoder.safetensors"):
        path = Path(model_dir) / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class VideoFeatureCache:
    """video relpath -> v_l (16, d) float32 CPU tensor, computed once per (video, encoder).

    encoder: a FrozenVideoEncoder; root: the dataset folder. cache_dir: optional folder where features persist
    between runs as <cache_dir>/<key>/<video relpath>.npy (key: e.g. encoder_fingerprint of the model folder).
    Frames are the 16 segment-centre frames at the video's own size; the encoder resizes them (as at inference).
    """

    def __init__(self, encoder, root: str | Path, key: str = "encoder", cache_dir: str | Path | None = None):
        self.encoder, self.root, self.key = encoder, Path(root), key
        self.cache_dir = Path(cache_dir) / key if cache_dir is not None else None
        self._memory: dict[str, torch.Tensor] = {}

    def __call__(self, video: str) -> torch.Tensor:
        if video in self._memory:
            return self._memory[video]
        disk = self.cache_dir / (video + ".npy") if self.cache_dir is not None else None
        if disk is not None and disk.is_file():
            features = torch.from_numpy(np.load(disk))
        else:
            from ..data.video_io import sample_frames

            frames, _ = sample_frames(self.root / video, self.encoder.config.num_segments, None)
            with torch.inference_mode():
                features = self.encoder(frames[None]).v_l[0].float().cpu().clone()   # (16, d)
            if disk is not None:
                disk.parent.mkdir(parents=True, exist_ok=True)
                np.save(disk, features.numpy())
        self._memory[video] = features
        return features

    def stack(self, videos: Sequence[str]) -> torch.Tensor:
        """(B, 16, d) for a list of videos."""
        return torch.stack([self(v) for v in videos])


# --- generation ---------------------------------------------------------------------------------------------------

@dataclass
class GenerationParts:
    """What generation needs, for callers that hold the parts rather than a ReactionPipeline (e.g. training):
    the generator, the RVQ-VAE, the normaliser of the RVQ's features, optionally the video encoder."""

    generator: Any
    rvq: Any
    normalizer: Any
    encoder: Any = None

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device


def as_parts(model) -> GenerationParts:
    """A ReactionPipeline, GenerationParts, or (generator, rvq, normalizer[, encoder]) tuple -> GenerationParts."""
    if isinstance(model, GenerationParts):
        return model
    if isinstance(model, (tuple, list)) and len(model) in (3, 4):
        return GenerationParts(*model)
    if all(hasattr(model, a) for a in ("generator", "rvq", "normalizer")):  # ReactionPipeline
        return GenerationParts(model.generator, model.rvq, model.normalizer, getattr(model, "encoder", None))
    raise TypeError(f"expected a ReactionPipeline, GenerationParts or (generator, rvq, normalizer) tuple, "
                    f"got {type(model).__name__}")


@torch.no_grad()
def generate_motions(model, v_l: torch.Tensor, lengths: Sequence[int], seed: int, batch_size: int = 128,
                     **decoding) -> list[np.ndarray]:
    """One reaction per row of v_l (B, 16, d), each with its own length in frames -> de-normalised features
    [(length_i, 263) float32]. Deterministic given (seed, batch_size, inputs)."""
    parts = as_parts(model)
    device = parts.device
    if len(lengths) != len(v_l):
        raise ValueError(f"generate_motions: {len(lengths)} lengths for {len(v_l)} videos")
    rvq_training = parts.rvq.training
    parts.rvq.eval()  # the decoder's dropout must be off even when a training loop calls this
    out: list[np.ndarray] = []
    try:
        for b, start in enumerate(range(0, len(v_l), batch_size)):
            frames = v_l[start:start + batch_size].to(device=device, dtype=torch.float32)
            rng = torch.Generator(device=device)
            rng.manual_seed(_seed(seed, b))
            want = torch.as_tensor(list(lengths[start:start + batch_size]), device=device)
            codes, frame_lengths = parts.generator.generate(frames, want, generator=rng, **decoding)
            motion = parts.rvq.decode(codes).float()                            # (b, 4n, 263) normalised
            features = parts.normalizer.denormalize(motion).cpu().numpy()       # (b, 4n, 263)
            out.extend(features[i, :n].astype(np.float32) for i, n in enumerate(frame_lengths.tolist()))
    finally:
        parts.rvq.train(rvq_training)
    return out


# --- the protocol ---------------------------------------------------------------------------------------------------

class _Accumulator:
    """Per-repeat metric values per group; repeats where a group cannot give a value (too few samples) skip it."""

    def __init__(self):
        self.values: dict[str, dict[str, list[float]]] = {}
        self.reactions: dict[str, Counter[str]] = {}  # group -> {classified reaction: count over all repeats}

    def add(self, group: str, metric: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(group, {}).setdefault(metric, []).append(float(value))

    def count(self, group: str, reactions: Sequence[str]) -> None:
        self.reactions.setdefault(group, Counter()).update(reactions)

    def summary(self, group: str) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for metric in ("fid", "diversity", "multimodality", "plausibility"):
            values = self.values.get(group, {}).get(metric)
            if values:
                s = metrics.summarize_repeats(values)
                row[metric], row[metric + "_ci"] = s.mean, s.ci
            else:
                row[metric], row[metric + "_ci"] = None, None
        if group in self.reactions:  # what the classifier read the motions as: where implausible ones go
            row["reactions"] = dict(sorted(self.reactions[group].items(), key=lambda kv: (-kv[1], kv[0])))
        return row


def _fid_or_none(a: np.ndarray, b: np.ndarray) -> float | None:
    return metrics.fid(a, b) if len(a) >= 2 and len(b) >= 2 else None


def _diversity_or_none(x: np.ndarray, rng: np.random.Generator, pairs: int) -> float | None:
    return metrics.diversity(x, rng, pairs) if len(x) >= 2 else None


class Protocol:
    """The repeated evaluation of one split with one evaluator (and optionally the plausibility classifier).

    Real crops and their embeddings are computed once per repeat and shared by every model evaluated here.
    """

    def __init__(self, split: EvalSplit, evaluator: MotionEvaluator, classifier=None,
                 config: ProtocolConfig | None = None):
        self.split, self.evaluator, self.classifier = split, evaluator, classifier
        self.config = config or ProtocolConfig()
        self.groups = split.groups()
        self._real: dict[int, tuple[list[int], np.ndarray]] = {}  # repeat -> (crop lengths, embeddings)
        self.has_plausibility = classifier is not None and all(p.plausible for p in split.pairs)

    def real(self, repeat: int) -> tuple[list[int], np.ndarray]:
        """(real crop lengths, real crop embeddings (N, E)) of a repeat; the crops themselves are not kept."""
        if repeat not in self._real:
            crops = self.split.real_crops(repeat)
            self._real[repeat] = ([len(x) for x in crops], self.evaluator.embed(crops))
        return self._real[repeat]

    def _classify(self, motions: list[np.ndarray]) -> tuple[np.ndarray, list[str]] | None:
        """(per-motion 0/1 plausibility (N,), the reaction each motion was classified as), or None without
        classifier / labels."""
        if not self.has_plausibility:
            return None
        names = self.classifier.class_names
        predicted = [names[int(k)] for k in self.classifier.predict(motions)]
        plausible = np.array([name in p.plausible for name, p in zip(predicted, self.split.pairs)], dtype=np.float64)
        return plausible, predicted

    def _group_metrics(self, acc: _Accumulator, reference: np.ndarray, emb: np.ndarray,
                       classified: tuple[np.ndarray, list[str]] | None, rng: np.random.Generator) -> None:
        """FID(reference, emb), Diversity(emb), plausibility and the classified reactions per group, for one repeat."""
        for name, idx in self.groups.items():
            acc.add(name, "fid", _fid_or_none(reference[idx], emb[idx]))
            acc.add(name, "diversity", _diversity_or_none(emb[idx], rng, self.config.diversity_pairs))
            if classified is not None:
                plausible, predicted = classified
                acc.add(name, "plausibility", float(plausible[idx].mean()))
                if name.startswith(SUB_PREFIX):
                    acc.count(name, [predicted[i] for i in idx])

    def evaluate_real(self) -> dict[str, dict[str, Any]]:
        """The Real rows {group: row}: FID of real crops against an independent second draw, Diversity of real."""
        acc = _Accumulator()
        for r in range(self.config.repeats):
            _, emb = self.real(r)
            second = self.evaluator.embed(self.split.real_crops(_REAL_SECOND_DRAW + r))
            rng = np.random.default_rng([self.config.seed, r, 0])
            self._group_metrics(acc, second, emb, self._classify(self.split.real_crops(r)), rng)
        return {g: acc.summary(g) for g in self.groups}

    def evaluate_model(self, model, video_features: Callable[[str], torch.Tensor],
                       progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
        """{group: row} for a model (ReactionPipeline / GenerationParts / tuple); video_features(video) -> (16, d)."""
        c = self.config
        videos = [p.video for p in self.split.pairs]
        v_l = torch.stack([torch.as_tensor(video_features(v), dtype=torch.float32) for v in videos])  # (N, 16, d)
        acc = _Accumulator()
        n = len(videos)
        for r in range(c.repeats):
            t0 = time.perf_counter()
            lengths, real_emb = self.real(r)
            generated = generate_motions(model, v_l, lengths, _seed(c.seed, r, 0), c.batch_size, **c.decoding)
            emb = self.evaluator.embed(generated)
            rng = np.random.default_rng([c.seed, r, 1])
            self._group_metrics(acc, real_emb, emb, self._classify(generated), rng)
            if c.mm_generations:
                chosen = np.sort(rng.choice(n, size=min(c.mm_videos, n), replace=False))
                g = c.mm_generations
                mm_v = v_l[chosen].repeat_interleave(g, dim=0)                         # (V*G, 16, d)
                mm_len = [lengths[i] for i in chosen for _ in range(g)]
                mm_motions = generate_motions(model, mm_v, mm_len, _seed(c.seed, r, 2), c.batch_size, **c.decoding)
                mm_emb = self.evaluator.embed(mm_motions).reshape(len(chosen), g, -1)  # (V, G, E)
                for name, idx in self.groups.items():
                    members = np.flatnonzero(np.isin(chosen, idx))
                    if len(members):
                        acc.add(name, "multimodality", metrics.multimodality(mm_emb[members], rng, c.mm_pairs))
            if progress is not None:
                progress(f"repeat {r + 1}/{c.repeats}: FID {acc.values[ALL]['fid'][-1]:.3f} "
                         f"({time.perf_counter() - t0:.1f} s)")
        return {g: acc.summary(g) for g in self.groups}


# --- the function the training loop calls -------------------------------------------------------------------------

def load_evaluator(evaluator: MotionEvaluator | str | Path, device: str | torch.device = "cpu") -> MotionEvaluator:
    """An evaluator object, a folder written by train-evaluator (evaluator.{json,safetensors}), or a checkpoint
    path <name>[.json|.safetensors]."""
    if isinstance(evaluator, MotionEvaluator):
        return evaluator
    path = Path(evaluator)
    if path.is_dir():
        path = path / "evaluator"
    return MotionEvaluator.load(path, map_location=device)


def validation_fid(model, dataset_root: str | Path, evaluator: MotionEvaluator | str | Path, *,
                   video_features: Callable[[str], torch.Tensor] | Mapping[str, torch.Tensor] | None = None,
                   split: str = "val", val_fraction: float = 0.1, data_seed: int = 0, repeats: int = 1,
                   seed: int = 0, batch_size: int = 128, max_pairs: int | None = None, **decoding) -> float:
    """FID of a model's reactions on the validation split (held out of train.txt), for checkpoint selection.

    model: a ReactionPipeline, a GenerationParts, or a (generator, rvq, normalizer[, encoder]) tuple -- the
        generator may be mid-training: it is switched to eval for generation and back afterwards.
    dataset_root: the ViMo-layout dataset the model trains on.
    evaluator: a MotionEvaluator or the folder written by `python training/evaluate.py train-evaluator`.
    video_features: video relpath -> v_l (16, d) (a callable such as VideoFeatureCache, or a mapping), e.g. the
        training feature cache; None encodes the videos with the model's encoder (once per call).
    split: "val" (default). val_fraction, data_seed: must equal the training dataset's ViMoDataset settings so the
        held-out pairs are the same.
    repeats: protocol repeats averaged (1 is enough for ranking checkpoints: crops and seeds are fixed, so two
        calls on the same weights give the same number).
    seed, batch_size, max_pairs, decoding (steps, cond_scale, ...): as in ProtocolConfig / EvalSplit.
    Returns the mean FID over the repeats (lower is better).
    """
    if split not in ("val", "test_unseen", "test"):
        raise ValueError(f"validation_fid: split must be 'val' (or a test split for reporting), got {split!r}")
    parts = as_parts(model)
    evaluator = load_evaluator(evaluator, parts.device)
    eval_split = EvalSplit(dataset_root, split, val_fraction=val_fraction, data_seed=data_seed, max_pairs=max_pairs)
    if video_features is None:
        if parts.encoder is None:
            raise ValueError("validation_fid: pass video_features, or a model that carries its video encoder")
        video_features = VideoFeatureCache(parts.encoder, dataset_root)
    elif isinstance(video_features, Mapping):
        video_features = video_features.__getitem__
    config = ProtocolConfig(repeats=repeats, seed=seed, batch_size=batch_size, mm_generations=0,
                            decoding=dict(decoding))
    protocol = Protocol(eval_split, evaluator, None, config)
    return float(protocol.evaluate_model(parts, video_features)[ALL]["fid"])


def method_name(variant: str, taken: Sequence[str] = (), fallback: str = "") -> str:
    """Table name of a generator variant (HERO, MoMask-style, w/o IIE, w/o DIE), never one already taken: a taken
    name gets `fallback` (the model's folder name) appended, and then a number if that is taken too -- results are
    keyed by this name, so two models must never share one."""
    name = VARIANT_NAMES.get(variant, variant)
    if name not in taken:
        return name
    label = f"{name} ({fallback})" if fallback else name
    candidate, number = label, 2
    while candidate in taken:
        candidate, number = f"{label} #{number}", number + 1
    return candidate


def model_label(directory: str | Path) -> str:
    """A model folder's name for tables; for an exported run folder (<run>/model) the run's name."""
    path = Path(directory)
    return path.parent.name if path.name == "model" and path.parent.name else path.name

