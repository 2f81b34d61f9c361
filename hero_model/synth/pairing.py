"""More training pairs from the same videos: ViMo-T2 / ViMo-T3 (paper supp. "Training on More Pairs", Table 7).

The paper pairs every training video of ViMo-base with two (ViMo-T2) or three (ViMo-T3) of its hand-picked motions,
keeping the test set, and reports better FID and Diversity for it. ViMo-Synth's analogue, written to
DIR/train_t<K>.txt next to train.txt (the same "<video> <motion>" format):

- every line of train.txt is kept; each training video gets K - 1 further motions;
- a further motion's reaction is drawn as the video's own was: from its subcategory's plausible reactions, with the
  scene's geometric preference (a ball arriving on the left is dodged to the right). The scene is re-derived from
  the pair's seed (dataset.sample_pair_scene), and re-deriving the video's own reaction must reproduce labels.json,
  so a dataset written by another generator version is refused rather than mis-paired;
- the motion is one of the TRAIN motions with that reaction, from the same subcategory when one is left, never a
  motion the video already has. Test motions are never used (their normalisation statistics and the test protocol
  stay untouched); validation is handled by the consumer (ViMoDataset drops any pair sharing a video or motion with
  its validation split, which is carved from train.txt as before).

Deterministic: the same dataset, K and seed give the same file.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import taxonomy
from .dataset import PairSpec, SynthConfig, reaction_probabilities, sample_pair_scene

MAX_PAIRS_PER_VIDEO = 8


def _scene_probabilities(job: tuple[SynthConfig, PairSpec]) -> tuple[str, str, np.ndarray]:
    config, spec = job
    row, _, scene, reaction, _ = sample_pair_scene(config, spec)
    return spec.pair_id, reaction, reaction_probabilities(row, scene)


def _dataset_config(root: Path) -> SynthConfig:
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: more pairs can only be derived for a ViMo-Synth dataset "
                                "(make_synth.py); for ViMo, pair the videos by hand as the paper did")
    meta = json.loads(meta_path.read_text())
    if meta.get("generator") != "vimo-synth":
        raise ValueError(f"{meta_path}: generator is {meta.get('generator')!r}, not 'vimo-synth'")
    args = meta["args"]
    return SynthConfig(pairs=args["pairs"], seed=args["seed"], unseen=tuple(args["unseen"]),
                       subcategories=tuple(args["subcategories"]), size=args["size"], fps=args["fps"],
                       noise=args["noise"])


def more_pairs(root: str | Path, pairs_per_video: int, seed: int = 0, workers: int | None = None) -> list[str]:
    """The lines of train_t<pairs_per_video>.txt for the ViMo-Synth dataset at root (sorted, without newlines)."""
    if not 2 <= pairs_per_video <= MAX_PAIRS_PER_VIDEO:
        raise ValueError(f"pairs_per_video must be in [2, {MAX_PAIRS_PER_VIDEO}], got {pairs_per_video}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    root = Path(root)
    config = _dataset_config(root)
    labels = json.loads((root / "labels.json").read_text())
    train = sorted((pid, lab) for pid, lab in labels.items() if lab["split"] == "train")
    if not train:
        raise ValueError(f"{root}/labels.json has no training pairs")

    jobs = [(config, PairSpec(lab["subcategory"], int(pid.rsplit("-", 1)[1]), "train")) for pid, lab in train]
    specs = [spec for _, spec in jobs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        derived = [_scene_probabilities(job) for job in jobs]
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            derived = pool.map(_scene_probabilities, jobs, chunksize=16)

    motions_by_reaction: dict[str, list[tuple[str, str]]] = defaultdict(list)  # reaction -> [(subcategory, motion)]
    for pid, lab in train:
        motions_by_reaction[lab["reaction"]].append((lab["subcategory"], lab["motion"]))
    sub_index = {s.name: i for i, s in enumerate(taxonomy.SUBCATEGORIES)}
    lines = []
    for (pid, lab), spec, (_, reaction, probabilities) in zip(train, specs, derived):
        if reaction != lab["reaction"]:
            raise ValueError(f"{root}/labels.json: pair {pid} has reaction {lab['reaction']!r} but its seed gives "
                             f"{reaction!r}; the dataset was written by another ViMo-Synth version: regenerate it")
        row = taxonomy.get(lab["subcategory"])
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(sub_index[row.name], spec.number)))
        used = {lab["motion"]}
        lines.append(f"{lab['video']} {lab['motion']}")
        for _ in range(pairs_per_video - 1):
            # Reactions whose TRAIN motions are all used (or absent) cannot be drawn: renormalise over the rest.
            free = {r: [m for m in motions_by_reaction[r] if m[1] not in used] for r in row.reactions}
            p = np.array([probabilities[i] if free[r] else 0.0 for i, r in enumerate(row.reactions)])
            if p.sum() == 0.0:
                break
            drawn = row.reactions[int(rng.choice(len(row.reactions), p=p / p.sum()))]
            same_sub = [m for s, m in free[drawn] if s == row.name]
            pool = same_sub or [m for _, m in free[drawn]]
            motion = pool[int(rng.integers(len(pool)))]
            used.add(motion)
            lines.append(f"{lab['video']} {motion}")
    return sorted(lines)


def write_more_pairs(root: str | Path, pairs_per_video: int, seed: int = 0, workers: int | None = None) -> Path:
    """Write <root>/train_t<pairs_per_video>.txt (more_pairs); returns its path."""
    lines = more_pairs(root, pairs_per_video, seed=seed, workers=workers)
    path = Path(root) / f"train_t{pairs_per_video}.txt"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two runs may derive it at once: never a half-written list
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)
    return path
