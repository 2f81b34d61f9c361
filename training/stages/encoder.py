"""Stage `encoder`: pretrain the small per-frame CNN on the training videos, then freeze it (paper Sec. 3.1).

HERO's video encoder is TC-CLIP, pretrained on Kinetics-400 action recognition and frozen. The CPU stand-in plays
the same role: a frame backbone trained as an action classifier on the training split's frames (ViMo's
subcategories; on ViMo-Synth also the actor's facial emotion from labels.json), then frozen. Its classifier heads are
thrown away; the generator sees the 512-d per-frame features, 16 per clip, and gets its temporal information from
their order (IIE and DIE attend over them).

Training sample: a clip, `frames_per_clip` of its 16 segment-centre frames, lightly augmented. Loss per head:
cross-entropy of the clip's mean logits (what v_g = mean(v_l) sees) + frame_loss_weight x the per-frame
cross-entropy (every single frame must be informative, since DIE attends to frames one by one).
Selection: validation accuracy of the whole 16-frame clip -- the mean of subcategory accuracy and facial-emotion
accuracy on clips with a face (ties: validation loss); test is never read.
Temporal context (encoder.temporal_layers > 0): TC-CLIP's features carry temporal context, the CNN's do not (a
single frame cannot tell a wave from a point). After the CNN is selected and frozen, a TemporalContext
(hero_model/video/temporal.py) is trained on its per-frame features of the same clips, with fresh heads and the
same losses on the contextualised features, and selected on validation the same way (`train_temporal_context`).
Output: <run>/encoder/video_encoder.{safetensors,json}, written with save_small_cnn, with the feature standardisation
folded into the CNN's last linear layer (see `fold_standardisation`) and the temporal module, if any, after it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hero_model.checkpoint import load_checkpoint
from hero_model.data.video_io import sample_frames
from hero_model.data.vimo import ViMoDataset
from hero_model.video import build_small_cnn, save_small_cnn
from hero_model.video.preprocess import preprocess_frames

from .common import (StageCheckpoints, autocast, clip_gradients, epoch_seed, finished, log_epoch, lr_at,
                     seed_everything)

logger = logging.getLogger("training.encoder")

ENCODER_FILE = "video_encoder"
NO_LABEL = -100  # cross_entropy's ignore_index


class FrameClassifier(nn.Module):
    """SmallFrameCNN + one linear head per label: (B, k, 3, S, S) frames -> {head: (B, k, classes)} logits."""

    def __init__(self, backbone: nn.Module, feature_dim: int, classes: dict[str, int]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, n) for name, n in classes.items()})

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        b, k = frames.shape[:2]
        features = self.backbone(frames.flatten(0, 1)).view(b, k, -1)  # (B, k, d) per-frame features
        return {name: head(features) for name, head in self.heads.items()}


def load_clips(root: Path, videos: list[str], image_size: int, num_segments: int, progress: bool = True
               ) -> torch.Tensor:
    """The segment-centre frames of every video, resized as FrozenVideoEncoder resizes them: (N, T, S, S, 3) uint8.

    Decoded once and held in memory (480 clips x 16 frames x 112 px = 290 MB), so epochs never touch the videos.
    """
    out = torch.empty(len(videos), num_segments, image_size, image_size, 3, dtype=torch.uint8)
    for i, video in enumerate(tqdm(videos, desc="encoder: decoding clips", leave=False, disable=not progress)):
        frames, _ = sample_frames(root / video, num_segments, None)         # (T, H, W, 3) at the video's size
        # mean 0 / std 1 = the encoder's own resize (bilinear, antialiased, aspect not kept) without normalising
        resized = preprocess_frames(frames, image_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # (T, 3, S, S)
        out[i] = resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return out


# SeedSequence entropy tag of the extra pretraining clips: ViMo-Synth pairs use SeedSequence(seed, spawn_key=(sub,
# number)); these use SeedSequence([seed, EXTRA_CLIP_TAG], spawn_key=(i,)), a stream no dataset pair can share.
EXTRA_CLIP_TAG = 0x7C11


def _init_render_worker() -> None:
    from hero_model.synth.dataset import init_render_worker

    init_render_worker()
    torch.set_num_threads(1)  # the clips' resize runs in torch here: one core per worker as well


def _render_extra_clip(job: tuple) -> tuple[np.ndarray, str, str]:
    """Worker: one freshly sampled ViMo-Synth scene -> its segment-centre frames resized like load_clips."""
    from hero_model.synth import taxonomy
    from hero_model.synth.scene import RenderConfig, child_seeds, render_scene, sample_scene
    from hero_model.video.sampling import segment_indices

    seed, index, subcategory, size, fps, image_size, num_segments = job
    label_ss, scene_ss = child_seeds(np.random.SeedSequence([seed, EXTRA_CLIP_TAG], spawn_key=(index,)), 2)
    row = taxonomy.get(subcategory)
    emotion = row.emotions[int(np.random.default_rng(label_ss).integers(len(row.emotions)))]
    scene = sample_scene(subcategory, emotion, scene_ss, RenderConfig(size=size, fps=fps))
    # only the segment centres: the same bytes as sampling them from the whole clip, for a fraction of the time
    frames = render_scene(scene, frame_indices=segment_indices(scene.num_frames, num_segments)).frames  # (T,H,W,3)
    resized = preprocess_frames(frames, image_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy(), subcategory, emotion


def render_extra_clips(root: Path, count: int, subcategories: list[str], image_size: int, num_segments: int,
                       workers: int, progress: bool = True) -> tuple[torch.Tensor, list[str], list[str]]:
    """`count` extra ViMo-Synth clips of the given (training) subcategories, dealt round-robin, rendered with the
    dataset's size and fps (root/meta.json) from seeds disjoint from every dataset pair: (N, T, S, S, 3) uint8, and
    their subcategory and emotion labels."""
    import multiprocessing

    meta_file = root / "meta.json"
    try:
        args = json.loads(meta_file.read_text())["args"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"encoder.extra_clips needs a ViMo-Synth dataset ({meta_file}: {exc})") from exc
    jobs = [(int(args["seed"]), i, subcategories[i % len(subcategories)], int(args["size"]), int(args["fps"]),
             image_size, num_segments) for i in range(count)]
    bar = tqdm(total=count, desc="encoder: rendering extra clips", leave=False, disable=not progress)
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(_render_extra_clip(job))
            bar.update(1)
    else:
        # spawn, not fork: this runs after torch has started its OpenMP thread pool (the clips were resized with
        # it), and a forked child that runs a parallel torch op then waits forever on the parent's dead threads.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_render_worker) as pool:
            for result in pool.imap(_render_extra_clip, jobs, chunksize=4):
                results.append(result)
                bar.update(1)
    bar.close()
    clips = torch.from_numpy(np.stack([r[0] for r in results]))
    return clips, [r[1] for r in results], [r[2] for r in results]


EXTRA_CLIPS_FILE = "extra_clips.safetensors"


def cached_extra_clips(path: Path, root: Path, count: int, subcategories: list[str], image_size: int,
                       num_segments: int, workers: int, progress: bool = True
                       ) -> tuple[torch.Tensor, list[str], list[str]]:
    """render_extra_clips, kept in the run's encoder folder: a resumed run does not render them again (minutes on
    CPU). The file records what it was rendered from (the dataset's meta.json and the arguments) and is rendered
    afresh when any of that differs."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    key = json.dumps({"meta": json.loads((root / "meta.json").read_text()) if (root / "meta.json").is_file() else None,
                      "count": count, "subcategories": subcategories, "image_size": image_size,
                      "num_segments": num_segments, "tag": EXTRA_CLIP_TAG}, sort_keys=True)
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("key") == key:
                logger.info("encoder: %d extra clips read from %s", count, path)
                return f.get_tensor("clips"), json.loads(meta["subcategories"]), json.loads(meta["emotions"])
        logger.info("encoder: %s was rendered for other settings; rendering again", path)
    clips, subs, emotions = render_extra_clips(root, count, subcategories, image_size, num_segments, workers, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # DDP: every rank renders the same clips; each writes its own
    save_file({"clips": clips.contiguous()}, str(tmp),
              metadata={"key": key, "subcategories": json.dumps(subs), "emotions": json.dumps(emotions)})
    tmp.replace(path)
    return clips, subs, emotions


def augment(x: torch.Tensor, max_shift: float, color_jitter: float, generator: torch.Generator) -> torch.Tensor:
    """x (B, k, 3, S, S) on the 0-255 scale -> lightly augmented copy.

    Geometry per frame (head sway): a random zoom-in of up to max_shift and a translation of up to max_shift of the
    side. Colour per clip (a camera's grading is constant within a video): brightness, contrast and per-channel
    gain within +-color_jitter, then pixel noise. No flip: the side a ball comes from decides the dodge direction.
    """
    b, k, c, s, _ = x.shape
    n = b * k

    def uniform(*shape, lo=-1.0, hi=1.0):
        return torch.rand(*shape, generator=generator).mul(hi - lo).add(lo).to(x.device)

    scale = 1.0 - max_shift * torch.rand(n, generator=generator).to(x.device)       # (n,) zoom in, never out
    shift = max_shift * uniform(n, 2)                                                 # (n, 2) in half-sides
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (n, c, s, s), align_corners=False)
    x = F.grid_sample(x.reshape(n, c, s, s), grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x.view(b, k, c, s, s)
    brightness = 1.0 + color_jitter * uniform(b, 1, 1, 1, 1)
    contrast = 1.0 + color_jitter * uniform(b, 1, 1, 1, 1)
    gain = 1.0 + 0.25 * color_jitter * uniform(b, 1, c, 1, 1)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    x = ((x * brightness - mean * brightness) * contrast + mean * brightness) * gain
    x = x + 3.0 * torch.randn(x.shape, generator=generator).to(x.device)             # sensor noise, ~1% of range
    return x.clamp(0.0, 255.0)


def normalise(x: torch.Tensor, video_config) -> torch.Tensor:
    """(..., 3, S, S) 0-255 -> (x - mean) / std with the encoder's statistics (as preprocess_frames)."""
    mean = torch.tensor(video_config.mean, device=x.device).view(3, 1, 1)
    std = torch.tensor(video_config.std, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def label_table(dataset: ViMoDataset, weights: dict[str, float]) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Class names per head, from the training pairs: subcategory always; emotion / reaction from labels.json when
    every training pair has them and the head's weight is > 0."""
    classes = {"subcategory": sorted({p.subcategory for p in dataset.pairs})}
    head_weights = {"subcategory": 1.0}
    for head in ("emotion", "reaction"):
        if weights[head] <= 0:
            continue
        values = [dataset.labels.get(p.pair_id, {}).get(head) for p in dataset.pairs]
        if any(v is None for v in values):
            logger.info("encoder: no %s labels for every training pair (labels.json): %s head left out", head, head)
            continue
        classes[head] = sorted(set(values))
        head_weights[head] = weights[head]
    return classes, head_weights


def targets_of(dataset: ViMoDataset, classes: dict[str, list[str]]) -> dict[str, torch.Tensor]:
    """(N,) class index per head and pair; NO_LABEL where a validation pair's class never occurs in training."""
    out = {}
    for head, names in classes.items():
        index = {name: i for i, name in enumerate(names)}
        values = [p.subcategory if head == "subcategory" else dataset.labels.get(p.pair_id, {}).get(head)
                  for p in dataset.pairs]
        out[head] = torch.tensor([index.get(v, NO_LABEL) for v in values], dtype=torch.long)
    return out


def clip_losses(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], head_weights: dict[str, float],
                frame_weight: float, smoothing: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum over heads of CE(mean-over-frames logits) + frame_weight x CE(per-frame logits)."""
    total, parts = 0.0, {}
    for head, weight in head_weights.items():
        lg, y = logits[head].float(), targets[head]                            # (B, k, C), (B,)
        clip = F.cross_entropy(lg.mean(dim=1), y, label_smoothing=smoothing, ignore_index=NO_LABEL)
        frame = F.cross_entropy(lg.flatten(0, 1), y.repeat_interleave(lg.shape[1]), label_smoothing=smoothing,
                                ignore_index=NO_LABEL)
        parts[head] = clip
        total = total + weight * (clip + frame_weight * frame)
    return total, parts


@torch.no_grad()
def validate(model: FrameClassifier, clips: torch.Tensor, targets: dict[str, torch.Tensor],
             head_weights: dict[str, float], video_config, cfg_enc, device: torch.device,
             faces: torch.Tensor | None) -> dict[str, float]:
    """Whole-clip (all 16 frames, no augmentation) accuracy per head, per-frame subcategory accuracy, and loss."""
    model.eval()
    correct = {h: 0 for h in head_weights}
    frame_correct, frames_seen, loss_sum, face_correct = 0, 0, 0.0, 0
    for start in range(0, len(clips), 8):
        x = normalise(clips[start:start + 8].to(device).permute(0, 1, 4, 2, 3).float(), video_config)
        y = {h: t[start:start + 8].to(device) for h, t in targets.items()}
        with autocast(device):
            logits = model(x)                                                  # {head: (b, T, C)}
        loss, _ = clip_losses(logits, y, head_weights, cfg_enc.frame_loss_weight, 0.0)
        loss_sum += float(loss) * len(x)
        for head in head_weights:
            pred = logits[head].float().mean(dim=1).argmax(-1)
            correct[head] += int((pred == y[head]).sum())
            if head == "emotion" and faces is not None:
                face_correct += int(((pred == y[head]) & faces[start:start + 8].to(device)).sum())
        per_frame = logits["subcategory"].argmax(-1)                           # (b, T)
        frame_correct += int((per_frame == y["subcategory"][:, None]).sum())
        frames_seen += per_frame.numel()
    model.train()
    n = len(clips)
    metrics = {f"val_{h}_acc": correct[h] / n for h in head_weights}
    metrics["val_subcategory_frame_acc"] = frame_correct / max(frames_seen, 1)
    if "emotion" in head_weights and faces is not None and int(faces.sum()):
        metrics["val_emotion_acc_faces"] = face_correct / int(faces.sum())
    metrics["val_loss"] = loss_sum / n
    return metrics


def selection_score(metrics: dict[str, float]) -> float:
    """Mean of the validation subcategory accuracy and, where there are faces, the facial-emotion accuracy: the
    two things the generator needs from the frames (which interaction, and in what mood)."""
    accuracies = [metrics["val_subcategory_acc"]]
    if "val_emotion_acc_faces" in metrics:
        accuracies.append(metrics["val_emotion_acc_faces"])
    return sum(accuracies) / len(accuracies)


@torch.no_grad()
def fold_standardisation(backbone: nn.Module, clips: torch.Tensor, video_config,
                         device: torch.device) -> tuple[dict, torch.Tensor]:
    """Centre the features per dimension and scale them to unit mean variance over the training frames, folded into
    the final linear layer (f' = (W h + b - mu) / sigma = (W / sigma) h + (b - mu) / sigma).

    Returns (statistics, the clips' features (N, T, d) as the folded backbone gives them): f' computed from the
    features measured for the statistics, so the temporal phase need not encode the clips again.

    The generator's first op on v_l is a linear projection trained from a N(0, 0.02) initialisation; features of
    a known scale make its learning rate mean the same whatever the CNN's raw output scale happens to be. One global
    sigma (not one per dimension) keeps the geometry of the feature space, as CLIP's features are used as they are.
    """
    features = frame_features(backbone, clips, video_config, device)            # (N, T, d)
    f = features.flatten(0, 1)                                                 # (N*T, d)
    mu = f.mean(dim=0)                                                         # (d,)
    sigma = f.var(dim=0).mean().sqrt().clamp(min=1e-6)                         # scalar
    proj = backbone.proj
    proj.weight.div_(sigma.to(proj.weight.device))
    proj.bias.sub_(mu.to(proj.bias.device)).div_(sigma.to(proj.bias.device))
    stats = {"feature_mean_norm": float(mu.norm()), "feature_sigma": float(sigma)}
    return stats, (features - mu) / sigma                                      # f' = (f - mu) / sigma


class ContextClassifier(nn.Module):
    """TemporalContext + one linear head per label: (B, T, d) frozen per-frame features -> {head: (B, T, C)}."""

    def __init__(self, temporal: nn.Module, feature_dim: int, classes: dict[str, int]):
        super().__init__()
        self.temporal = temporal
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, n) for name, n in classes.items()})

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        context = self.temporal(features)                                      # (B, T, d)
        return {name: head(context) for name, head in self.heads.items()}


@torch.no_grad()
def frame_features(backbone: nn.Module, clips: torch.Tensor, video_config, device: torch.device,
                   augment_seed: int | None = None, enc=None) -> torch.Tensor:
    """(N, T, S, S, 3) uint8 clips -> (N, T, d) per-frame features of the frozen backbone, optionally of an
    augmented copy of the clips (`augment` with the stage's settings, seeded)."""
    backbone.eval()
    gen = torch.Generator().manual_seed(augment_seed) if augment_seed is not None else None
    out = []
    for start in range(0, len(clips), 16):
        x = clips[start:start + 16].to(device).permute(0, 1, 4, 2, 3).float()  # (b, T, 3, S, S)
        if gen is not None:
            x = augment(x, enc.max_shift, enc.color_jitter, gen)
        b, t = x.shape[:2]
        out.append(backbone(normalise(x, video_config).flatten(0, 1)).float().view(b, t, -1).cpu())
    return torch.cat(out)


def _validate_context(model: ContextClassifier, features: torch.Tensor, targets: dict[str, torch.Tensor],
                      head_weights: dict[str, float], frame_weight: float, device: torch.device,
                      faces: torch.Tensor | None) -> dict[str, float]:
    """validate()'s metrics for the temporal phase: whole-clip accuracy per head, per-frame subcategory accuracy."""
    model.eval()
    with torch.no_grad():
        logits = model(features.to(device))                                    # {head: (N, T, C)}
        y = {h: t.to(device) for h, t in targets.items()}
        loss, _ = clip_losses(logits, y, head_weights, frame_weight, 0.0)
    model.train()
    metrics = {f"val_{h}_acc": float((logits[h].mean(dim=1).argmax(-1) == y[h]).float().mean()) for h in head_weights}
    frame_pred = logits["subcategory"].argmax(-1)                              # (N, T)
    metrics["val_subcategory_frame_acc"] = float((frame_pred == y["subcategory"][:, None]).float().mean())
    if "emotion" in head_weights and faces is not None and int(faces.sum()):
        right = logits["emotion"].mean(dim=1).argmax(-1) == y["emotion"]
        metrics["val_emotion_acc_faces"] = float(right[faces.to(device)].float().mean())
    metrics["val_loss"] = float(loss)
    return metrics


def train_temporal_context(backbone: nn.Module, train_clips: torch.Tensor, train_targets: dict[str, torch.Tensor],
                           val_clips: torch.Tensor, val_targets: dict[str, torch.Tensor], classes: dict[str, list],
                           head_weights: dict[str, float], video_config, enc, seed: int, device: torch.device,
                           writer, faces: torch.Tensor | None, progress: bool = True,
                           clean_features: torch.Tensor | None = None) -> dict[str, float]:
    """Train backbone.temporal (a fresh TemporalContext) on the frozen backbone's features; keep the best epoch.

    clean_features: the training clips' un-augmented features (N, T, d) when the caller has them already
    (fold_standardisation's); None encodes them here.
    Returns the selected epoch's validation metrics (prefixed temporal_) and sets backbone.temporal in eval mode.
    """
    from hero_model.video.temporal import TemporalContext

    t0 = time.time()
    if clean_features is None:
        clean_features = frame_features(backbone, train_clips, video_config, device)
    if clean_features.shape[:2] != train_clips.shape[:2]:
        raise ValueError(f"train_temporal_context: clean_features {tuple(clean_features.shape)} do not match "
                         f"train_clips {tuple(train_clips.shape)}")
    views = [clean_features]                                                   # (N, T, d) clean frames
    views += [frame_features(backbone, train_clips, video_config, device, epoch_seed(seed, 10_000 + v), enc)
              for v in range(1, enc.temporal_views)]
    train_features = torch.stack(views)                                        # (V, N, T, d)
    val_features = frame_features(backbone, val_clips, video_config, device)  # (N_val, T, d)
    logger.info("encoder: temporal context: %d x %d clips encoded in %.0f s", *train_features.shape[:2],
                time.time() - t0)

    seed_everything(seed)
    temporal = TemporalContext(video_config.feature_dim, enc.temporal_width, enc.temporal_layers,
                               enc.temporal_heads, video_config.num_segments)
    model = ContextClassifier(temporal, video_config.feature_dim, {h: len(c) for h, c in classes.items()}).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=enc.temporal_lr, weight_decay=enc.temporal_weight_decay)
    n = train_features.shape[1]
    steps_per_epoch = math.ceil(n / enc.temporal_batch_size)
    total = enc.temporal_epochs * steps_per_epoch
    step, best, best_state = 0, None, None
    bar = tqdm(total=total, desc="encoder: temporal context", dynamic_ncols=True, mininterval=2.0,
               disable=not progress)
    for epoch in range(enc.temporal_epochs):
        gen = torch.Generator().manual_seed(epoch_seed(seed, 20_000 + epoch))
        order = torch.randperm(n, generator=gen)
        view = torch.randint(len(train_features), (n,), generator=gen)         # which view each clip shows
        model.train()
        for start in range(0, n, enc.temporal_batch_size):
            idx = order[start:start + enc.temporal_batch_size]
            x = train_features[view[idx], idx]                                 # (b, T, d)
            x = x + enc.temporal_noise * torch.randn(x.shape, generator=gen)
            y = {h: t[idx].to(device) for h, t in train_targets.items()}
            # linear warm-up over the first epoch, then cosine decay to 0
            lr = enc.temporal_lr * min(1.0, (step + 1) / steps_per_epoch) * 0.5 * (1 + math.cos(math.pi * step / total))
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts = clip_losses(model(x.to(device)), y, head_weights, enc.frame_loss_weight,
                                      enc.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model.parameters(), enc.grad_clip)
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=f"{epoch + 1}/{enc.temporal_epochs}")
        metrics = _validate_context(model, val_features, val_targets, head_weights, enc.frame_loss_weight, device,
                                    faces)
        writer.add_scalar("encoder_temporal/loss", loss.item(), step)
        for k, v in metrics.items():
            writer.add_scalar(f"encoder_temporal/{k}", v, step)
        score = [selection_score(metrics), -metrics["val_loss"]]
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, **metrics}
            best_state = {k: v.detach().clone() for k, v in model.temporal.state_dict().items()}
    bar.close()
    temporal.load_state_dict(best_state)
    backbone.temporal = temporal.eval()
    chosen = {f"temporal_{k}": v for k, v in best.items() if k != "score"}
    logger.info("encoder: temporal context: best epoch %d of %d in %.0f s: %s", best["epoch"], enc.temporal_epochs,
                time.time() - t0, ", ".join(f"{k}={v:.3f}" for k, v in chosen.items() if "_val_" in k))
    return chosen


def _write_vit_config(cfg, out: Path) -> Path:
    """ViT backbones are not trained here: the model folder names their weight file (as convert_official does)."""
    video_config = cfg.encoder.video_config()
    if video_config.weights is None:
        raise ValueError(f"encoder.weights must name the {cfg.encoder.backbone} weight file (nothing is downloaded)")
    out.mkdir(parents=True, exist_ok=True)
    meta = out / f"{ENCODER_FILE}.json"
    meta.write_text(json.dumps({"config": dataclasses.asdict(video_config)}, indent=2))
    return out / ENCODER_FILE


def run(cfg, dist, writer) -> Path:
    """Train (or resume) the frame backbone; returns <run>/encoder/video_encoder (without suffix)."""
    out = cfg.run_dir / "encoder"
    final = out / ENCODER_FILE
    if cfg.encoder.backbone != "small-cnn":
        return _write_vit_config(cfg, out) if dist.is_main else final
    ckpt = StageCheckpoints(out)
    state = ckpt.read_state() if cfg.resume else None
    enc = cfg.encoder
    if state is not None and state.get("phase") == "done" and finished(state, enc.epochs, enc.max_steps) \
            and final.with_suffix(".safetensors").is_file():
        logger.info("encoder: finished earlier (%s)", final)
        return final

    enc = cfg.encoder
    device = dist.device
    root = Path(cfg.data.root)
    video_config = enc.video_config()
    train_set = ViMoDataset(root, "train", return_video=False, seed=cfg.seed)
    val_set = ViMoDataset(root, "val", return_video=False, seed=cfg.seed)
    classes, head_weights = label_table(train_set, {"emotion": enc.emotion_weight, "reaction": enc.reaction_weight})
    train_targets, val_targets = targets_of(train_set, classes), targets_of(val_set, classes)
    faces = None
    if "emotion" in classes and "none" in classes["emotion"]:
        faces = val_targets["emotion"] != classes["emotion"].index("none")  # clips whose actor has a face
    progress = dist.is_main
    t_load = time.time()
    train_clips = load_clips(root, [p.video for p in train_set.pairs], video_config.image_size,
                             video_config.num_segments, progress)
    val_clips = load_clips(root, [p.video for p in val_set.pairs], video_config.image_size,
                           video_config.num_segments, progress)
    logger.info("encoder: %d training / %d validation clips decoded in %.0f s; heads %s", len(train_clips),
                len(val_clips), time.time() - t_load, {h: len(c) for h, c in classes.items()})
    if enc.extra_clips:
        t_render = time.time()
        extra, extra_subs, extra_emotions = cached_extra_clips(
            out / EXTRA_CLIPS_FILE, root, enc.extra_clips, classes["subcategory"], video_config.image_size,
            video_config.num_segments, enc.render_workers, progress)
        train_clips = torch.cat([train_clips, extra])
        for head, values in (("subcategory", extra_subs), ("emotion", extra_emotions)):
            if head in classes:
                index = {name: i for i, name in enumerate(classes[head])}
                extra_targets = torch.tensor([index.get(v, NO_LABEL) for v in values], dtype=torch.long)
                train_targets[head] = torch.cat([train_targets[head], extra_targets])
        for head in set(train_targets) - {"subcategory", "emotion"}:  # e.g. reaction: no label for scene-only clips
            train_targets[head] = torch.cat([train_targets[head], torch.full((len(extra),), NO_LABEL)])
        logger.info("encoder: %d extra clips ready in %.0f s (%d training clips in all)", len(extra),
                    time.time() - t_render, len(train_clips))

    seed_everything(cfg.seed)  # the initial weights depend on the seed only, not on what ran before
    # the CNN trains without the temporal module (trained afterwards, on its frozen features)
    model = FrameClassifier(build_small_cnn(dataclasses.replace(video_config, temporal_layers=0)),
                            video_config.feature_dim,
                            {h: len(c) for h, c in classes.items()}).to(device)
    model.backbone.to(memory_format=torch.channels_last)  # ~15% faster convolutions on CPU (oneDNN) and GPU
    optimizer = torch.optim.AdamW(model.parameters(), lr=enc.lr, betas=enc.betas, weight_decay=enc.weight_decay)
    arch = {"video": {k: getattr(video_config, k) for k in ("cnn_widths", "cnn_groups", "feature_dim", "image_size")},
            "classes": classes}
    arch = json.loads(json.dumps(arch))  # tuples -> lists, as they come back from JSON
    state = {"phase": "train", "epoch": 0, "step": 0, "best": None}
    if cfg.resume and ckpt.read_state() is not None:
        state = ckpt.read_state()
        ckpt.load_latest(model, optimizer, device, config=arch)
        logger.info("encoder: resuming at epoch %d step %d", state["epoch"], state["step"])

    per_rank = math.ceil(len(train_clips) / dist.world_size)
    steps_per_epoch = math.ceil(per_rank / enc.batch_size)
    total_steps = enc.epochs * steps_per_epoch if enc.max_steps is None else min(enc.max_steps,
                                                                                 enc.epochs * steps_per_epoch)
    milestone_steps = [m * steps_per_epoch for m in enc.milestones]
    ddp_model = dist.wrap(model)
    step, t0, step0 = state["step"], time.time(), state["step"]
    bar = tqdm(total=total_steps, initial=step, desc="encoder", dynamic_ncols=True, mininterval=2.0,
               disable=not progress)
    for epoch in range(state["epoch"], enc.epochs):
        if step >= total_steps:
            break
        seed_everything(epoch_seed(cfg.seed, epoch, dist.rank))
        gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch, dist.rank))
        # DistributedSampler's rule: one permutation per epoch (same on every rank), padded to a multiple of the
        # world size so every rank takes the same number of steps, rank r taking every r-th clip
        order = torch.randperm(len(train_clips),
                               generator=torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch)))
        order = torch.cat([order, order[:per_rank * dist.world_size - len(order)]])[dist.rank::dist.world_size]
        model.train()
        for start in range(0, len(order), enc.batch_size):
            idx = order[start:start + enc.batch_size]
            # frames_per_clip distinct segment frames per clip, drawn afresh every step
            pick = torch.rand(len(idx), video_config.num_segments, generator=gen).argsort(dim=1)
            pick = pick[:, :enc.frames_per_clip]
            frames = train_clips[idx[:, None], pick]                              # (B, k, S, S, 3) uint8
            x = frames.to(device).permute(0, 1, 4, 2, 3).float()                  # (B, k, 3, S, S)
            if enc.augment:
                x = augment(x, enc.max_shift, enc.color_jitter, gen)
            x = normalise(x, video_config)
            y = {h: t[idx].to(device) for h, t in train_targets.items()}
            lr = lr_at(step, enc.lr, enc.warmup_steps, milestone_steps, enc.gamma)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(device):
                logits = ddp_model(x)
            loss, parts = clip_losses(logits, y, head_weights, enc.frame_loss_weight, enc.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = clip_gradients(model.parameters(), enc.grad_clip)
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=f"{epoch + 1}/{enc.epochs}")
            if step % 5 == 0:
                writer.add_scalar("encoder/loss", loss.item(), step)
                writer.add_scalar("encoder/lr", lr, step)
                writer.add_scalar("encoder/grad_norm", grad_norm, step)
                for head, value in parts.items():
                    writer.add_scalar(f"encoder/loss_{head}", value.item(), step)
            if step >= total_steps:
                break
        if dist.is_main:
            metrics = validate(model, val_clips, val_targets, head_weights, video_config, enc, device, faces)
            for k, v in metrics.items():
                writer.add_scalar(f"encoder/{k}", v, step)
            score = [selection_score(metrics), -metrics["val_loss"]]
            if state["best"] is None or score > state["best"]["score"]:
                state["best"] = {"score": score, "epoch": epoch + 1, "step": step, **metrics}
                ckpt.save_best(model.state_dict(), arch, step=step, epoch=epoch + 1, **metrics)
            state.update(epoch=epoch + 1, step=step)
            ckpt.save_latest(model.state_dict(), arch, optimizer, state, step=step)
            log_epoch("encoder", epoch + 1, enc.epochs, step, metrics, time.time() - t0,
                      (step - step0) / max(total_steps - step0, 1))
        dist.barrier()
    bar.close()

    if dist.is_main:
        weights, meta = load_checkpoint(out / "best", map_location=device)
        model.load_state_dict(weights)
        stats, clean_features = fold_standardisation(model.backbone, train_clips, video_config, device)
        best = {k: v for k, v in state["best"].items() if k != "score"}
        if enc.temporal_layers:
            best.update(train_temporal_context(model.backbone, train_clips, train_targets, val_clips, val_targets,
                                               classes, head_weights, video_config, enc, cfg.seed, device, writer,
                                               faces, progress, clean_features=clean_features))
        del clean_features
        save_small_cnn(final, model.backbone.cpu(), video_config, dataset=str(root), classes=classes, **best, **stats)
        state["phase"] = "done"
        ckpt.write_state(state)
        logger.info("encoder: best epoch %d: %s", best["epoch"],
                    ", ".join(f"{k}={v:.3f}" for k, v in best.items() if k.startswith("val_")))
    dist.barrier()
    return final
