"""Frame-feature cache: v_l of every clip under one frozen video encoder, computed once and kept on disk.

The encoder is frozen (paper Sec. 3.1), so its output for a clip never changes: the generator stages read v_l from
here instead of decoding and encoding 16 frames per pair per epoch. Layout:

    <cache_dir>/<encoder_id>/<list>.safetensors    one (16, d) float32 tensor per video relpath of <list>.txt
                                                   (train.txt holds the train and val pairs, test.txt the test pairs)

`encoder_id` hashes the encoder's weights and preprocessing, so a retrained encoder never meets stale features.
The file's metadata records each video's byte size and modification time; a video that changed is re-encoded.
Features are computed exactly as at inference: the segment-centre frames at the video's own size, resized and
normalised by FrozenVideoEncoder.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from hero_model.data.split_files import read_pair_list
from hero_model.data.video_io import sample_frames
from hero_model.data.vimo import MOTION_DIR, PAIR_SPLITS
from hero_model.video import FrozenVideoEncoder, VideoEncoderConfig

logger = logging.getLogger("training.features")

# Fields of VideoEncoderConfig that change the features (device, batching and random-init flags do not).
# The small CNN's temporal_* fields are not listed: its temporal weights are part of the hashed weight file.
FEATURE_FIELDS = ("backbone", "image_size", "mean", "std", "num_segments", "feature_dim", "cnn_widths",
                  "cnn_groups", "clip_model", "clip_vision_overrides")


def _file_digest(path: Path, h) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def encoder_id(config: VideoEncoderConfig) -> str:
    """16 hex digits identifying what the encoder computes: its feature-relevant config and its weight bytes."""
    h = hashlib.sha256()
    h.update(json.dumps({k: getattr(config, k) for k in FEATURE_FIELDS}, sort_keys=True, default=list).encode())
    if config.weights is not None:
        weights = Path(config.weights)
        if config.backbone == "small-cnn":
            weights = weights.with_suffix(".safetensors") if weights.suffix != ".safetensors" else weights
        if not weights.is_file():
            raise FileNotFoundError(f"video encoder weights not found: {weights}")
        _file_digest(weights, h)
    return f"{config.backbone}-{h.hexdigest()[:16]}"


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


class FrameFeatureCache:
    """Callable video relpath -> (num_segments, d) float32 features, for ViMoDataset(feature_cache=...).

    directory: <cache_dir>/<encoder_id>. `ensure(root, lists, encoder)` encodes what is missing or stale and
    loads everything into memory; `encoded` counts the clips this object has run through the encoder.
    """

    def __init__(self, directory: str | Path, encoder_id: str):
        self.directory = Path(directory)
        self.encoder_id = encoder_id
        self.encoded = 0
        self._features: dict[str, torch.Tensor] = {}

    def __call__(self, video: str) -> torch.Tensor:
        try:
            return self._features[video]
        except KeyError:
            raise KeyError(f"feature cache {self.directory}: no features for {video!r}; call ensure() with the "
                           "pair list that holds it") from None

    def __contains__(self, video: str) -> bool:
        return video in self._features

    def __len__(self) -> int:
        return len(self._features)

    def _read(self, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        if not path.is_file():
            return {}, {}
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("encoder_id") != self.encoder_id:
                logger.warning("feature cache %s was written by encoder %s, not %s: re-encoding", path,
                               meta.get("encoder_id"), self.encoder_id)
                return {}, {}
            stamps = json.loads(meta.get("stamps", "{}"))
            return {k: f.get_tensor(k) for k in f.keys()}, stamps

    def ensure(self, root: str | Path, list_name: str, encoder: FrozenVideoEncoder, batch_videos: int = 8,
               progress: bool = True) -> int:
        """Make every video of <root>/<list_name> (e.g. "train.txt") available; returns how many were encoded."""
        root = Path(root)
        videos = sorted({p.video for p in read_pair_list(root / list_name, MOTION_DIR)})
        path = self.directory / (Path(list_name).stem + ".safetensors")
        features, stamps = self._read(path)
        current = {v: _stamp(root / v) for v in videos}
        todo = [v for v in videos if v not in features or stamps.get(v) != current[v]]
        if todo:
            logger.info("feature cache: encoding %d of %d clips of %s with %s", len(todo), len(videos), list_name,
                        self.encoder_id)
            bar = tqdm(total=len(todo), desc=f"features {list_name}", leave=False, dynamic_ncols=True, mininterval=2.0,
                       disable=not progress)
            for start in range(0, len(todo), batch_videos):
                chunk = todo[start:start + batch_videos]
                clips = [sample_frames(root / v, encoder.config.num_segments, None)[0] for v in chunk]
                shapes = {c.shape for c in clips}
                # one backbone call per chunk: (n*T, H, W, 3) when the videos share a size, else a list of frames
                frames = np.concatenate(clips) if len(shapes) == 1 else [f for c in clips for f in c]
                with torch.inference_mode():
                    flat = encoder.encode_frames(frames)                     # (n*T, d)
                    v_l = encoder.contextualize(flat.view(len(chunk), encoder.config.num_segments, -1))
                for video, clip_features in zip(chunk, v_l.float().cpu()):
                    features[video] = clip_features.clone()                  # (T, d)
                self.encoded += len(chunk)
                bar.update(len(chunk))
            bar.close()
            keep = {v: features[v].contiguous() for v in videos}
            path.parent.mkdir(parents=True, exist_ok=True)
            # one temporary file per process: two runs sharing an encoder (base_run) may fill the cache at once,
            # and a shared name would let one rename the other's half-written file
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            save_file(keep, str(tmp), metadata={"encoder_id": self.encoder_id, "root": str(root.resolve()),
                                                "stamps": json.dumps({v: current[v] for v in videos})})
            os.replace(tmp, path)  # never leave a half-written cache behind a kill
        self._features.update({v: features[v] for v in videos})
        return len(todo)


def cache_directory(cfg, video_config: VideoEncoderConfig) -> Path:
    """<data.feature_cache_dir or the encoder's run folder/features>/<encoder_id>."""
    base = cfg.stage_dir("encoder").parent / "features"
    if cfg.data.feature_cache_dir:
        base = Path(cfg.data.feature_cache_dir)
    return base / encoder_id(video_config)


def build_feature_cache(cfg, encoder_dir: Path, lists: tuple[str, ...] = ("train.txt",), device: str = "cpu",
                        progress: bool = True) -> FrameFeatureCache:
    """The cache of the run's frozen encoder (<encoder_dir>/video_encoder.json), filled for the given pair lists."""
    from hero_model.pipeline import load_video_encoder

    encoder = load_video_encoder(Path(encoder_dir), torch.device(device))
    cache = FrameFeatureCache(cache_directory(cfg, encoder.config), encoder_id(encoder.config))
    root = Path(cfg.data.root)
    for list_name in lists:
        if list_name not in PAIR_SPLITS.values():
            raise ValueError(f"feature cache: unknown pair list {list_name!r}; expected one of "
                             f"{sorted(set(PAIR_SPLITS.values()))}")
        cache.ensure(root, list_name, encoder, progress=progress)
    return cache
