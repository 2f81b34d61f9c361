"""The ViMo dataset (video-motion pairs) in its published layout, for HERO's transformers and RVQ fine-tuning.

Layout read (reference section 4):
    ROOT/train.txt, ROOT/test.txt [, ROOT/test_unseen.txt]   "<video relpath> <motion relpath>" per line
    ROOT/motions_train.txt, ROOT/motions_test.txt             one motion per line (relpath or bare id), RVQ only
    ROOT/vector_263/<id>.npy                                  (N, 263) HumanML3D features, 20 fps
    ROOT/videos/<subcategory>/<name>.mp4                      the subcategory is the video's folder
    ROOT/Mean.npy, ROOT/Std.npy                               normalisation statistics
    ROOT/labels.json (optional)                               {pair_id: {...}} annotations, exposed as `labels`

Splits: "train" and "val" both come from train.txt (val = a stratified, leak-aware hold-out, see val_split.py, used
for model selection); "test" is test.txt and "test_unseen" test_unseen.txt, read as they are and never used to
select anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..motion.normalization import Normalizer
from ..video.sampling import NUM_SEGMENTS
from .cropping import CropRule, floored_length, item_rng, pad_motion, sample_crop
from .motion_windows import MotionWindowDataset, as_normalizer
from .split_files import PairEntry, read_motion_list, read_pair_list
from .val_split import stratified_val_split
from .validation import DataFileError, load_motion, resolve_problems
from .video_io import VideoInfo, as_size, probe_video, sample_frames

MOTION_DIR = "vector_263"
PAIR_SPLITS = {"train": "train.txt", "val": "train.txt", "test": "test.txt", "test_unseen": "test_unseen.txt"}

# Shortest usable ViMo motion: 20 frames (1 s). The official ViMo evaluation dataset drops motions under 20 frames,
# and 20 is HERO's RVQ fine-tuning window, so every motion kept here can also train the RVQ.
MIN_MOTION_LENGTH = 20


class ViMoDataset(torch.utils.data.Dataset):
    """Video-motion pairs of one ViMo split. Each item is a dict:

        motion      (max_motion_length, 263) float32, z-normalised crop, zero-padded after `length`
        length      int, crop length in frames (a multiple of unit_length, <= max_motion_length)
        frames      (frames, H, W, 3) uint8 RGB, the segment-centre frames (if return_video)
        features    (frames, d) float32 from feature_cache (if given)
        video, motion_file   paths relative to root;  pair_id (motion file stem);  subcategory;  index

    root: dataset folder. split: "train" | "val" | "test" | "test_unseen". normalizer: a Normalizer, a folder
    with Mean.npy/Std.npy (e.g. a checkpoint's meta/), or None for the root's. frames: frames sampled per video.
    image_size: frames stretched to this size (int or (H, W)); None keeps the video's size. max_motion_length,
    unit_length, drop_unit_prob: the crop rule (cropping.CropRule). min_motion_length: shorter motions are invalid.
    val_fraction, seed: the train/val hold-out (val_split.py); seed also seeds the crops. random_crop: False gives
    the deterministic crop (start 0, floored length, no unit drop). skip_bad: leave out invalid pairs (listed in
    `skipped`, count logged) instead of raising one error naming them all. feature_cache: callable
    video_relpath -> (frames, d) precomputed video features. return_video: decode frames (False: videos are
    neither checked nor read, e.g. when features come from the cache). train_list: the pair list split "train"
    reads instead of train.txt, e.g. train_t2.txt (ViMo-T2/T3, paper supp. Table 7: train.txt's videos paired with
    more motions; synth/pairing.py writes them for ViMo-Synth). Validation is still carved from train.txt, so it is
    the same for every train_list, and a listed pair sharing a video or a motion with a validation pair is dropped
    (counted in `dropped_for_val`); a listed video that is not in train.txt, or a motion of a test list, is refused.

    Crops are drawn from item_rng(seed, epoch, index): call set_epoch(e) before each epoch (as with
    DistributedSampler; with persistent DataLoader workers the workers keep the epoch they were started with).
    """

    def __init__(self, root: str | Path, split: str = "train", normalizer: Normalizer | str | Path | None = None,
                 frames: int = NUM_SEGMENTS, image_size: int | tuple[int, int] | None = 224,
                 max_motion_length: int = 200, unit_length: int = 4, drop_unit_prob: float = 1.0 / 3.0,
                 min_motion_length: int = MIN_MOTION_LENGTH, val_fraction: float = 0.1, seed: int = 0,
                 random_crop: bool = True, skip_bad: bool = False,
                 feature_cache: Callable[[str], torch.Tensor] | None = None, return_video: bool = True,
                 train_list: str = "train.txt"):
        root = Path(root)
        if split not in PAIR_SPLITS:
            raise ValueError(f"ViMoDataset: split must be one of {tuple(PAIR_SPLITS)}, got {split!r}")
        if frames < 1:
            raise ValueError(f"ViMoDataset: frames must be >= 1, got {frames}")
        if seed < 0:
            raise ValueError(f"ViMoDataset: seed must be >= 0, got {seed}")
        if split == "val" and val_fraction == 0.0:
            raise ValueError("ViMoDataset: split='val' needs val_fraction > 0, got 0")
        self.rule = CropRule(max_length=max_motion_length, unit_length=unit_length, drop_unit_prob=drop_unit_prob)
        if min_motion_length < unit_length:
            raise ValueError(f"ViMoDataset: min_motion_length must be >= unit_length ({unit_length}), "
                             f"got {min_motion_length}")
        self.root, self.split, self.seed, self.epoch = root, split, seed, 0
        self.num_frames, self.image_size, self.random_crop = frames, as_size(image_size), random_crop
        self.feature_cache, self.return_video = feature_cache, return_video
        self.normalizer = as_normalizer(normalizer, root)
        name = f"ViMo {split} ({root})"

        pairs = read_pair_list(root / PAIR_SPLITS[split], MOTION_DIR)
        self.val_shared = self.dropped_for_val = 0
        if split in ("train", "val"):
            # The split is drawn on the full list, before validation, so a bad file never reshuffles it.
            held_out = stratified_val_split(pairs, val_fraction, seed)
            self.val_shared = held_out.shared
            if split == "train" and train_list != PAIR_SPLITS["train"]:
                pairs, self.dropped_for_val = self._listed_train_pairs(root, train_list, pairs, held_out.val)
            else:
                pairs = [pairs[i] for i in (held_out.val if split == "val" else held_out.train)]
            if not pairs:
                raise ValueError(f"{name}: the {split} split is empty (val_fraction={val_fraction}; only "
                                 "subcategories with >= 2 train pairs give validation pairs)")

        problems: list[DataFileError] = []
        self._motions: dict[str, np.ndarray] = {}
        self._videos: dict[str, VideoInfo] = {}
        bad: dict[str, DataFileError] = {}
        self.pairs: list[PairEntry] = []
        self.skipped_pairs: list[PairEntry] = []  # pairs left out because one of their files is in `skipped`
        for pair in pairs:
            if pair.motion not in self._motions and pair.motion not in bad:
                try:
                    self._motions[pair.motion] = load_motion(root / pair.motion, min_length=min_motion_length)
                except DataFileError as exc:
                    bad[pair.motion] = exc
                    problems.append(exc)
            if return_video and pair.video not in self._videos and pair.video not in bad:
                try:
                    self._videos[pair.video] = probe_video(root / pair.video)
                except DataFileError as exc:
                    bad[pair.video] = exc
                    problems.append(exc)
            if pair.motion in bad or (return_video and pair.video in bad):
                self.skipped_pairs.append(pair)
            else:
                self.pairs.append(pair)
        self.skipped = resolve_problems(problems, name, skip_bad)
        if not self.pairs:
            raise ValueError(f"{name}: no valid pair left ({len(self.skipped)} skipped)")
        self.labels = self._read_labels(root / "labels.json")

    @staticmethod
    def _listed_train_pairs(root: Path, train_list: str, base: list[PairEntry], val: tuple[int, ...]
                            ) -> tuple[list[PairEntry], int]:
        """The pairs of <root>/<train_list> that share nothing with the validation pairs base[val], and how many were
        dropped for sharing; refuses a list that reaches outside train.txt's videos or into a test list's motions."""
        path = root / train_list
        listed = read_pair_list(path, MOTION_DIR)
        train_videos = {p.video for p in base}
        outside = sorted({p.video for p in listed} - train_videos)
        if outside:
            raise DataFileError(path, f"{len(outside)} video(s) not in train.txt, e.g. {outside[0]!r}: a "
                                "ViMo-T2/T3 list pairs train.txt's videos with more motions")
        for test_list in (PAIR_SPLITS["test"], PAIR_SPLITS["test_unseen"]):
            if (root / test_list).is_file() and (root / test_list).read_text().strip():  # an empty split: no leak
                test_motions = {p.motion for p in read_pair_list(root / test_list, MOTION_DIR)}
                leaked = sorted({p.motion for p in listed} & test_motions)
                if leaked:
                    raise DataFileError(path, f"{len(leaked)} motion(s) of {test_list} in a training list, e.g. "
                                        f"{leaked[0]!r}")
        held = {base[i].video for i in val} | {base[i].motion for i in val}
        kept = [p for p in listed if p.video not in held and p.motion not in held]
        return kept, len(listed) - len(kept)

    @staticmethod
    def _read_labels(path: Path) -> dict:
        if not path.is_file():
            return {}
        try:
            labels = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFileError(path, f"not readable JSON ({exc})") from exc
        if not isinstance(labels, dict):
            raise DataFileError(path, f"expected an object {{pair_id: {{...}}}}, got {type(labels).__name__}")
        return labels

    def set_epoch(self, epoch: int) -> None:
        """Use the crops of this epoch: item i draws from item_rng(seed, epoch, i)."""
        if epoch < 0:
            raise ValueError(f"ViMoDataset: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def subcategories(self) -> list[str]:
        return sorted({p.subcategory for p in self.pairs})

    def raw_motion(self, index: int) -> np.ndarray:
        """The whole source motion of pair `index`, (N, 263) float32, not normalised."""
        return self._motions[self.pairs[index].motion]

    def crop_window(self, index: int) -> tuple[int, int]:
        """(start, length) of pair `index`'s motion crop in the current epoch."""
        num_frames = self.raw_motion(index).shape[0]
        if not self.random_crop:
            return 0, floored_length(num_frames, self.rule)
        return sample_crop(num_frames, self.rule, item_rng(self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"ViMoDataset: index {index} out of range for {len(self)} pairs")
        pair = self.pairs[index]
        start, length = self.crop_window(index)
        crop = self.raw_motion(index)[start:start + length]                   # (length, 263)
        motion = pad_motion(self.normalizer.normalize(crop), self.rule.max_length)  # (max_length, 263)
        item = {
            "motion": torch.from_numpy(np.ascontiguousarray(motion, dtype=np.float32)),
            "length": length,
            "video": pair.video,
            "motion_file": pair.motion,
            "pair_id": pair.pair_id,
            "subcategory": pair.subcategory,
            "index": index,
        }
        if self.return_video:
            frames, _ = sample_frames(self.root / pair.video, self.num_frames, self.image_size,
                                      info=self._videos[pair.video])
            item["frames"] = torch.from_numpy(frames)  # (frames, H, W, 3) uint8
        if self.feature_cache is not None:
            features = torch.as_tensor(self.feature_cache(pair.video), dtype=torch.float32)
            if features.ndim != 2 or features.shape[0] != self.num_frames:
                raise DataFileError(self.root / pair.video, f"feature_cache returned shape {tuple(features.shape)}, "
                                    f"expected ({self.num_frames}, d)")
            item["features"] = features
        return item


class ViMoMotionDataset(MotionWindowDataset):
    """ViMo motions as (window, 263) normalised windows for RVQ fine-tuning (HERO: window 20); see
    MotionWindowDataset for `windows`, `seed`, `skip_bad`, `preload`.

    split "train" / "val": motions_train.txt, with the motions of ViMoDataset's val pairs (same val_fraction and
    seed, read from train.txt) held out as "val", so the RVQ never trains on the motions used to select the
    generator; without a train.txt, a seeded `val_fraction` of the motions is held out. "test": motions_test.txt.
    """

    def __init__(self, root: str | Path, split: str = "train", window: int = 20,
                 normalizer: Normalizer | str | Path | None = None, windows: str = "all", seed: int = 0,
                 val_fraction: float = 0.1, skip_bad: bool = False, preload: bool = True):
        root = Path(root)
        if split not in ("train", "val", "test"):
            raise ValueError(f"ViMoMotionDataset: split must be 'train', 'val' or 'test', got {split!r}")
        if split == "val" and val_fraction == 0.0:
            raise ValueError("ViMoMotionDataset: split='val' needs val_fraction > 0, got 0")
        list_name = "motions_test.txt" if split == "test" else "motions_train.txt"
        refs = read_motion_list(root / list_name, MOTION_DIR)
        if split in ("train", "val"):
            held = self._held_out_motions(root, refs, val_fraction, seed)
            refs = [r for r in refs if (r in held) == (split == "val")]
        super().__init__([root / r for r in refs], window=window, normalizer=as_normalizer(normalizer, root),
                         windows=windows, seed=seed, skip_bad=skip_bad, preload=preload,
                         name=f"ViMo motions {split} ({root})")
        self.root, self.split = root, split

    @staticmethod
    def _held_out_motions(root: Path, refs: list[str], val_fraction: float, seed: int) -> set[str]:
        if val_fraction == 0.0:
            return set()
        if (root / "train.txt").is_file():
            pairs = read_pair_list(root / "train.txt", MOTION_DIR)
            return {pairs[i].motion for i in stratified_val_split(pairs, val_fraction, seed).val}
        rng = np.random.default_rng(seed)
        count = max(1, int(np.floor(val_fraction * len(refs) + 0.5)))
        return {refs[i] for i in rng.choice(len(refs), size=min(count, len(refs) - 1), replace=False)}
