"""ViMo-Synth: write a synthetic dataset in ViMo's exact on-disk layout (reference.md section 4).

    DIR/train.txt, DIR/test.txt         "videos/<sub>/<sub>-NNNN.mp4 vector_263/<sub>-NNNN.npy" per line, sorted
    DIR/test_unseen.txt                 the same for the Unseen subcategories (only with --unseen)
    DIR/motions_train.txt, motions_test.txt (, motions_test_unseen.txt)   "vector_263/<id>.npy" per line (RVQ)
    DIR/vector_263/<id>.npy             float32 (N, 263) HumanML3D features of the reactor's reaction, N <= 200
    DIR/videos/<sub>/<id>.mp4           the egocentric clip (H.264, size x size, fps, 2-5 s)
    DIR/Mean.npy, DIR/Std.npy           compute_mean_std over the TRAIN motions only
    DIR/labels.json                     {id: {video, motion, broad_category, subcategory, action, emotion, reaction,
                                              plausible_reactions, split, seen, scene}}
    DIR/meta.json                       generator version, seed, arguments, counts, taxonomy

Pairing (paper Sec. 4): each video gets one reaction drawn from its subcategory's plausible reactions
(taxonomy.py); the reaction's duration (2-10 s), timing and amplitude are randomised by the motion library.
Split (paper Sec. 5.1): per subcategory 4:1 train/test -- pair number NNNN % 5 == 4 goes to test, so growing the
dataset never moves an existing pair; with `unseen` subcategories (supp. Table 6) those pairs all go to
test_unseen and none to train/test.

Determinism: pair (subcategory s, number n) is a pure function of SeedSequence(seed, spawn_key=(index of s in the
taxonomy, n)) and the render settings, the encoder runs single-threaded without timestamps, and every list is sorted,
so the same arguments give byte-identical files for any worker count (and a bigger dataset contains a smaller one).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import taxonomy
from .scene import RenderConfig, child_seeds, render_scene, sample_scene

GENERATOR = "vimo-synth"
GENERATOR_VERSION = "1.0"
MAX_MOTION_FRAMES = 200        # ViMo motions are at most 10 s at 20 fps (reference.md section 4)
REACTION_SECONDS = (2.0, 10.0)  # reaction length range before the motion library's own per-reaction range
TEST_EVERY = 5                 # 4:1 train/test per subcategory
GENERATED = ("train.txt", "test.txt", "test_unseen.txt", "motions_train.txt", "motions_test.txt",
             "motions_test_unseen.txt", "Mean.npy", "Std.npy", "labels.json", "meta.json", "videos", "vector_263")


@dataclass
class SynthConfig:
    """What to generate.

    pairs: number of video-motion pairs, dealt round-robin over the subcategories (pair i -> subcategory i mod K).
    seed: master seed; every pair derives its own SeedSequence from it.
    unseen: subcategories held out entirely into test_unseen (supp. Table 6); () for the base split.
    subcategories: which taxonomy rows to use (default all, in table order); handy for small test sets.
    size: frame side in pixels. fps: video frame rate. noise: pixel noise on (off only for exact comparisons).
    """

    pairs: int
    seed: int = 0
    unseen: tuple[str, ...] = ()
    subcategories: tuple[str, ...] = field(default_factory=lambda: tuple(s.name for s in taxonomy.SUBCATEGORIES))
    size: int = 224
    fps: int = 20
    noise: bool = True

    def __post_init__(self) -> None:
        self.unseen, self.subcategories = tuple(self.unseen), tuple(self.subcategories)
        if self.pairs < 1:
            raise ValueError(f"SynthConfig: pairs must be >= 1, got {self.pairs}")
        if not 0 <= self.seed < 2 ** 63:
            raise ValueError(f"SynthConfig: seed must be in [0, 2^63), got {self.seed}")
        if not self.subcategories or len(set(self.subcategories)) != len(self.subcategories):
            raise ValueError(f"SynthConfig: subcategories must be distinct and non-empty, got {self.subcategories}")
        for name in self.subcategories + self.unseen:
            taxonomy.get(name)  # raises with the list of valid names
        missing = [u for u in self.unseen if u not in self.subcategories]
        if missing:
            raise ValueError(f"SynthConfig: unseen subcategories {missing} are not among the generated subcategories")
        if len(set(self.unseen)) == len(self.subcategories):
            raise ValueError("SynthConfig: every subcategory is unseen, nothing would be left to train on")
        RenderConfig(size=self.size, fps=self.fps)  # validates size and fps

    def render_config(self) -> RenderConfig:
        return RenderConfig(size=self.size, fps=self.fps, noise=self.noise)


@dataclass(frozen=True)
class PairSpec:
    """Where one pair lives: subcategory, its number within the subcategory, and its split."""

    subcategory: str
    number: int
    split: str  # "train", "test" or "test_unseen"

    @property
    def pair_id(self) -> str:
        return f"{self.subcategory}-{self.number:04d}"

    @property
    def video(self) -> str:
        return f"videos/{self.subcategory}/{self.pair_id}.mp4"

    @property
    def motion(self) -> str:
        return f"vector_263/{self.pair_id}.npy"


def plan_pairs(config: SynthConfig) -> list[PairSpec]:
    """The pairs to generate, in index order: pair i is number i // K of subcategory i mod K."""
    k = len(config.subcategories)
    specs = []
    for i in range(config.pairs):
        sub, number = config.subcategories[i % k], i // k
        if sub in config.unseen:
            split = "test_unseen"
        else:
            split = "test" if number % TEST_EVERY == TEST_EVERY - 1 else "train"
        specs.append(PairSpec(sub, number, split))
    return specs


@dataclass
class GeneratedPair:
    """Everything generate_pair makes for one pair (kept in memory for tests and previews)."""

    spec: PairSpec
    frames: np.ndarray    # (F, H, W, 3) uint8
    head_boxes: np.ndarray
    joints: np.ndarray    # (T, 22, 3) reaction joints that were converted
    features: np.ndarray  # (T - 1, 263) float32
    label: dict


def pair_seed(seed: int, subcategory: str, number: int) -> np.random.SeedSequence:
    """The pair's SeedSequence: a pure function of (seed, taxonomy index of the subcategory, number)."""
    index = [s.name for s in taxonomy.SUBCATEGORIES].index(subcategory)
    return np.random.SeedSequence(seed, spawn_key=(index, number))


def reaction_probabilities(row: taxonomy.Subcategory, scene) -> np.ndarray:
    """P(reaction) over row.reactions for one scene: uniform over the plausible set, unless the scene's geometry
    prefers one (e.g. a ball arriving on the left is dodged to the right); preferred reactions weigh 4x."""
    weights = np.array([(scene.reaction_weights or {}).get(r, 1.0) for r in row.reactions], dtype=np.float64)
    return weights / weights.sum()


def sample_pair_scene(config: SynthConfig, spec: PairSpec):
    """The pair's scene (not rendered) and its drawn reaction: (row, emotion, scene, reaction, reaction seed).
    Cheap next to rendering (~0.1 s), so the pairing of an existing dataset can be re-derived (pairing.py)."""
    row = taxonomy.get(spec.subcategory)
    label_ss, scene_ss, reaction_ss = child_seeds(pair_seed(config.seed, spec.subcategory, spec.number), 3)
    label_rng = np.random.default_rng(label_ss)
    emotion = row.emotions[int(label_rng.integers(len(row.emotions)))]
    scene = sample_scene(spec.subcategory, emotion, scene_ss, config.render_config())
    reaction = row.reactions[int(label_rng.choice(len(row.reactions), p=reaction_probabilities(row, scene)))]
    return row, emotion, scene, reaction, reaction_ss


def generate_pair(config: SynthConfig, spec: PairSpec) -> GeneratedPair:
    """Sample, render and pair one clip with a reaction motion."""
    from ..motion.features import joints_to_features
    from .motions import REACTIONS, make_motion, motion_duration_range

    row, emotion, scene, reaction, reaction_ss = sample_pair_scene(config, spec)
    if reaction not in REACTIONS:
        raise ValueError(f"{spec.subcategory}: reaction {reaction!r} is not in the motion library")
    lo, hi = motion_duration_range(reaction)
    lo, hi = max(lo, REACTION_SECONDS[0]), min(hi, REACTION_SECONDS[1])
    reaction_rng = np.random.default_rng(reaction_ss)
    duration = float(reaction_rng.uniform(lo, hi))
    joints = make_motion(reaction, reaction_rng, duration_s=duration)
    # T joint frames give T - 1 feature rows; keep at most 200 rows (ViMo's 10 s cap).
    joints = joints[:MAX_MOTION_FRAMES + 1]
    features = joints_to_features(joints).astype(np.float32)
    clip = render_scene(scene)
    label = {
        "video": spec.video, "motion": spec.motion, "broad_category": row.broad_category,
        "subcategory": row.name, "action": row.action, "actor_kind": row.actor_kind, "emotion": emotion,
        "reaction": reaction, "plausible_reactions": list(row.reactions), "split": spec.split,
        "seen": spec.split != "test_unseen", "motion_frames": int(features.shape[0]),
        "video_frames": int(clip.frames.shape[0]), "fps": config.fps, "size": config.size,
        "scene": scene.meta,
    }
    return GeneratedPair(spec, clip.frames, clip.head_boxes, joints, features, label)


def _write_pair(args: tuple[SynthConfig, PairSpec, str]) -> dict:
    """Worker: generate one pair and write its mp4 and npy; returns its label."""
    from ..render import write_video

    config, spec, out_dir = args
    pair = generate_pair(config, spec)
    out = Path(out_dir)
    (out / spec.video).parent.mkdir(parents=True, exist_ok=True)
    write_video(pair.frames, out / spec.video, fps=config.fps, crf=23, preset="veryfast")
    np.save(out / spec.motion, pair.features)
    return pair.label


def init_render_worker() -> None:
    """Initialiser of a process that renders ViMo-Synth clips (also used by training's encoder stage)."""
    import cv2

    cv2.setNumThreads(1)  # one core per worker process; more threads only fight over the same cores


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in sorted(lines)))


def make_dataset(config: SynthConfig, out_dir: str | Path, workers: int | None = None, overwrite: bool = False,
                 progress: bool = True) -> dict:
    """Generate the dataset into out_dir; returns the meta dict written to meta.json."""
    from ..motion.normalization import Normalizer, compute_mean_std
    from .motions import REACTIONS

    taxonomy.check_reactions(REACTIONS)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace a ViMo-Synth set")
        derived = [p.name for p in out.glob("train_t*.txt")]  # pairing.py's ViMo-T<K> lists of the old pairs
        for name in GENERATED + tuple(derived):  # only what this generator (and pairing.py) writes
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    (out / "vector_263").mkdir(parents=True, exist_ok=True)
    specs = plan_pairs(config)
    workers = max(1, min(workers or os.cpu_count() or 1, len(specs)))
    jobs = [(config, spec, str(out)) for spec in specs]
    labels: dict[str, dict] = {}
    start = time.perf_counter()

    def report(done: int) -> None:
        if progress and (done % 50 == 0 or done == len(specs)):
            rate = done / max(time.perf_counter() - start, 1e-9) * 60.0
            print(f"[make_synth] {done}/{len(specs)} pairs ({rate:.1f} pairs/min)", file=sys.stderr, flush=True)

    if workers == 1:
        init_render_worker()
        for done, job in enumerate(jobs, 1):
            label = _write_pair(job)
            labels[job[1].pair_id] = label
            report(done)
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers, initializer=init_render_worker) as pool:
            for done, label in enumerate(pool.imap_unordered(_write_pair, jobs, chunksize=1), 1):
                labels[Path(label["motion"]).stem] = label
                report(done)
    elapsed = time.perf_counter() - start

    by_split: dict[str, list[PairSpec]] = {"train": [], "test": [], "test_unseen": []}
    for spec in specs:
        by_split[spec.split].append(spec)
    if not by_split["train"]:
        raise ValueError(f"no training pairs: {config.pairs} pairs over {len(config.subcategories)} subcategories "
                         f"leave nothing for train; generate more pairs")
    for split, members in by_split.items():
        if split == "test_unseen" and not config.unseen:
            continue
        _write_lines(out / f"{split}.txt", [f"{s.video} {s.motion}" for s in members])
        _write_lines(out / f"motions_{split}.txt", [s.motion for s in members])
    # Normalisation statistics over the training motions only (the test set must not leak into them).
    train_features = [np.load(out / s.motion) for s in sorted(by_split["train"], key=lambda s: s.pair_id)]
    Normalizer(*compute_mean_std(train_features)).save(out)
    (out / "labels.json").write_text(json.dumps({k: labels[k] for k in sorted(labels)}, indent=1, sort_keys=True)
                                     + "\n")
    counts = {split: len(members) for split, members in by_split.items()}
    per_sub = {}
    for spec in specs:
        per_sub.setdefault(spec.subcategory, {"train": 0, "test": 0, "test_unseen": 0})[spec.split] += 1
    meta = {
        "generator": GENERATOR, "version": GENERATOR_VERSION,
        # Only arguments that change the bytes: not the output path or the worker count.
        "args": {"pairs": config.pairs, "seed": config.seed, "unseen": list(config.unseen),
                 "subcategories": list(config.subcategories), "size": config.size, "fps": config.fps,
                 "noise": config.noise},
        "counts": counts, "per_subcategory": per_sub,
        "motion_frames": {"total": int(sum(l["motion_frames"] for l in labels.values())),
                          "max": int(max(l["motion_frames"] for l in labels.values()))},
        "video_frames_total": int(sum(l["video_frames"] for l in labels.values())),
        "taxonomy": [asdict(s) for s in taxonomy.SUBCATEGORIES if s.name in config.subcategories],
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    if progress:
        print(f"[make_synth] wrote {len(specs)} pairs to {out} in {elapsed:.1f} s with {workers} worker(s) "
              f"({len(specs) / elapsed * 60:.1f} pairs/min)", file=sys.stderr, flush=True)
    return meta
