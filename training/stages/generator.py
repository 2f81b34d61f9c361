"""Stages `mask` and `res`: the HERO generator's two transformers (paper Sec. 3.3; reference.md section 3).

`mask` trains the masked transformer (base RVQ layer, Eq. 2) and the reaction-length head; `res` trains the
residual transformer (layers 1..Q-1). They share no parameters, so they train one after the other, as MoMask and
HERO do, on the same data:

    pair -> fresh random crop of the reaction (set_epoch), normalised with the RVQ's statistics
         -> codes (B, 50, Q) from the frozen best RVQ (encoded per batch: crops change every epoch)
         -> v_l (B, 16, d) from the frame-feature cache of the frozen encoder (features.py)

AdamW (0.9, 0.99), weight decay 1e-5, linear warm-up then MultiStepLR, global-norm gradient clipping, bf16 autocast
on CUDA. The best checkpoint is chosen on the validation pairs' loss (carved from train.txt; test is never used);
with an evaluator, stage res also logs the validation FID of the whole generator (val_fid.py).
Outputs: <run>/<stage>/best.{safetensors,json} holding that part's HeroGenerator tensors (same key names), so the
export can assemble the full generator from the two files.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from hero_model.checkpoint import CheckpointError
from hero_model.data.vimo import ViMoDataset
from hero_model.hero import HeroConfig, HeroGenerator
from hero_model.pipeline import load_rvq

from .common import (StageCheckpoints, autocast, clip_gradients, epoch_seed, finished, log_epoch, lr_at,
                     seed_everything)
from .features import build_feature_cache
from .val_fid import ValidationFID

logger = logging.getLogger("training.generator")

GENERATOR_STAGES = ("mask", "res")
SELECT_ON = {"mask": "val_masked_loss", "res": "val_residual_loss"}  # lower is better
VAL_SEED = 20250  # validation masks / residual layers are drawn from this seed every time: comparable epochs


class PartObjective(nn.Module):
    """One stage's share of HeroGenerator as a module whose forward() is the training loss (what DDP wraps).

    Submodule names match HeroGenerator's, so state_dict() keys are the generator's keys of this part.
    """

    def __init__(self, generator: HeroGenerator, stage: str):
        super().__init__()
        if stage not in GENERATOR_STAGES:
            raise ValueError(f"stage must be one of {GENERATOR_STAGES}, got {stage!r}")
        self.stage = stage
        if stage == "mask":
            self.masked = generator.masked
            self.length_head = generator.length_head  # None when HeroConfig.length_head is False
        else:
            self.residual = generator.residual

    def forward(self, frames: torch.Tensor, codes: torch.Tensor, token_lengths: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """frames v_l (B, T_v, d); codes (B, n, Q) with -1 padding; token_lengths (B,) -> losses and accuracies."""
        if self.stage == "res":
            loss, acc = self.residual.loss(codes, token_lengths, frames)
            return {"loss": loss, "residual_loss": loss, "residual_acc": acc}
        loss, acc = self.masked.loss(codes[..., 0], token_lengths, frames)      # Eq. 2 on RVQ layer 0
        out = {"masked_loss": loss, "masked_acc": acc}
        if self.length_head is not None:
            out["length_loss"], out["length_acc"] = self.length_head.loss(frames, token_lengths)
            loss = loss + out["length_loss"]
        out["loss"] = loss
        return out


def frozen_parts(cfg, device: torch.device):
    """The trained RVQ (model, normaliser, checkpoint path) and the encoder folder this run's generator builds on."""
    rvq_path = cfg.stage_dir("rvq") / "best"
    encoder_dir = cfg.stage_dir("encoder")
    if not rvq_path.with_suffix(".json").is_file():
        raise CheckpointError(f"{rvq_path}.json not found: run the rvq stage first (or set base_run to a run that "
                              "has it)")
    if not (encoder_dir / "video_encoder.json").is_file():
        raise CheckpointError(f"{encoder_dir}/video_encoder.json not found: run the encoder stage first (or set "
                              "base_run to a run that has it)")
    rvq, normalizer = load_rvq(rvq_path, device)
    video_dim = json.loads((encoder_dir / "video_encoder.json").read_text())["config"]["feature_dim"]
    return rvq.eval(), normalizer, rvq_path, encoder_dir, int(video_dim)


def pair_datasets(cfg, hero: HeroConfig, normalizer, cache) -> tuple[ViMoDataset, ViMoDataset]:
    common = dict(normalizer=normalizer, return_video=False, feature_cache=cache, seed=cfg.seed,
                  max_motion_length=hero.max_frames, unit_length=hero.unit_length)
    train = ViMoDataset(cfg.data.root, "train", train_list=cfg.data.train_list, **common)
    val = ViMoDataset(cfg.data.root, "val", random_crop=False, **common)  # whole clips, same every epoch
    if train.dropped_for_val:
        logger.info("%s: %d pairs left out of training for sharing a video or motion with a validation pair",
                    cfg.data.train_list, train.dropped_for_val)
    return train, val


def feature_scale(dataset: ViMoDataset, cache) -> torch.Tensor:
    """(d,) standard deviation of each frame-feature dimension over the dataset's clips and their 16 frames."""
    videos = sorted({p.video for p in dataset.pairs})
    v_l = torch.stack([torch.as_tensor(cache(v), dtype=torch.float32) for v in videos])  # (N, T_v, d)
    return v_l.flatten(0, 1).std(dim=0)


def batch_inputs(batch: dict, rvq, unit_length: int, device: torch.device):
    """v_l (B, T_v, d), codes (B, n, Q) of the crop (-1 beyond its length), token lengths (B,)."""
    motion = batch["motion"].to(device)                                         # (B, 200, 263) normalised
    lengths = torch.as_tensor(batch["length"], device=device)                   # (B,) frames, multiples of 4
    with torch.no_grad():
        codes = rvq.encode(motion, lengths)                                     # (B, 50, Q)
    return batch["features"].to(device), codes, lengths // unit_length


@torch.no_grad()
def validate(objective: PartObjective, loader: DataLoader, rvq, unit_length: int, device: torch.device) -> dict:
    """Mean losses / accuracies over the validation pairs, with fixed random masks (VAL_SEED) and no dropout."""
    objective.eval()
    sums: dict[str, float] = {}
    count = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(VAL_SEED)
        for batch in loader:
            frames, codes, token_lengths = batch_inputs(batch, rvq, unit_length, device)
            with autocast(device):
                out = objective(frames, codes, token_lengths)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(frames)
            count += len(frames)
    objective.train()
    return {f"val_{k}": v / max(count, 1) for k, v in sums.items()}


def run(cfg, stage: str, dist, writer) -> Path:
    """Train (or resume) stage `stage` ("mask" or "res"); returns <run>/<stage>/best (without suffix)."""
    if stage not in GENERATOR_STAGES:
        raise ValueError(f"stage must be one of {GENERATOR_STAGES}, got {stage!r}")
    sc = getattr(cfg, stage)
    out = cfg.run_dir / stage
    ckpt = StageCheckpoints(out)
    state = ckpt.read_state() if cfg.resume else None
    if state is not None and state.get("phase") == "done" and finished(state, sc.epochs, sc.max_steps):
        logger.info("%s: finished earlier (%s/best)", stage, out)
        return out / "best"

    device = dist.device
    rvq, normalizer, rvq_path, encoder_dir, video_dim = frozen_parts(cfg, device)
    hero = cfg.generator.hero_config(rvq.config, video_dim)
    t_cache = time.time()
    if dist.is_main:
        cache = build_feature_cache(cfg, encoder_dir, ("train.txt",), device=str(device), progress=True)
    dist.barrier()
    if not dist.is_main:  # the other ranks read what rank 0 wrote
        cache = build_feature_cache(cfg, encoder_dir, ("train.txt",), device=str(device), progress=False)
    logger.info("%s: frame features of %d clips ready in %.0f s (%d encoded now, cache %s)", stage, len(cache),
                time.time() - t_cache, cache.encoded, cache.directory)
    train_set, val_set = pair_datasets(cfg, hero, normalizer, cache)
    noise_scale = (sc.feature_noise * feature_scale(train_set, cache)).to(device) if sc.feature_noise > 0 else None

    seed_everything(cfg.seed)  # the initial weights depend on the seed only, not on what ran before
    generator = HeroGenerator(hero)
    objective = PartObjective(generator, stage).to(device)
    fid_probe = (ValidationFID.maybe(cfg, generator, rvq, normalizer, cache, device)
                 if stage == "res" and dist.is_main else None)
    n_params = sum(p.numel() for p in objective.parameters())
    optimizer = torch.optim.AdamW(objective.parameters(), lr=sc.lr, betas=sc.betas, weight_decay=sc.weight_decay)
    config_dict = hero.to_dict()
    state = {"phase": "train", "epoch": 0, "step": 0, "best": None}
    if cfg.resume and ckpt.read_state() is not None:
        state = ckpt.read_state()
        ckpt.load_latest(objective, optimizer, device, config=config_dict)
        logger.info("%s: resuming at epoch %d step %d", stage, state["epoch"], state["step"])
    logger.info("%s: %s variant, %.2f M parameters, %d training / %d validation pairs", stage, hero.variant,
                n_params / 1e6, len(train_set), len(val_set))

    sampler = DistributedSampler(train_set, num_replicas=dist.world_size, rank=dist.rank, shuffle=True,
                                 seed=cfg.seed, drop_last=False)
    loader = DataLoader(train_set, batch_size=sc.batch_size, sampler=sampler, num_workers=cfg.data.num_workers)
    val_loader = DataLoader(val_set, batch_size=sc.batch_size, shuffle=False, num_workers=cfg.data.num_workers)
    steps_per_epoch = len(loader)
    total_steps = sc.epochs * steps_per_epoch if sc.max_steps is None else min(sc.max_steps,
                                                                               sc.epochs * steps_per_epoch)
    milestone_steps = [m * steps_per_epoch for m in sc.milestones]
    meta = {"kind": f"hero-{stage}", "variant": hero.variant, "rvq": str(rvq_path),
            "encoder": str(encoder_dir), "encoder_id": cache.encoder_id, "dataset": str(cfg.data.root)}
    ddp = dist.wrap(objective)
    select = SELECT_ON[stage]
    step, step0, t0 = state["step"], state["step"], time.time()
    bar = tqdm(total=total_steps, initial=min(step, total_steps), desc=stage, dynamic_ncols=True, mininterval=2.0,
               disable=not dist.is_main)
    for epoch in range(state["epoch"], sc.epochs):
        if step >= total_steps:
            break
        seed_everything(epoch_seed(cfg.seed, epoch, dist.rank))
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)  # fresh crops every epoch (the official loader reuses one set of crops)
        objective.train()
        for batch in loader:
            frames, codes, token_lengths = batch_inputs(batch, rvq, hero.unit_length, device)
            if noise_scale is not None:  # (d,) per-dimension sigma; drawn from the epoch-seeded generator
                frames = frames + noise_scale * torch.randn_like(frames)
            lr = lr_at(step, sc.lr, sc.warmup_steps, milestone_steps, sc.gamma)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(device):
                losses = ddp(frames, codes, token_lengths)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            grad_norm = clip_gradients(objective.parameters(), sc.grad_clip)
            optimizer.step()
            step += 1
            bar.update(1)
            acc_key = "masked_acc" if stage == "mask" else "residual_acc"
            bar.set_postfix(loss=f"{losses['loss'].item():.3f}", acc=f"{losses[acc_key].item():.3f}",
                            epoch=f"{epoch + 1}/{sc.epochs}")
            if step % 5 == 0 or step == total_steps:
                for k, v in losses.items():
                    writer.add_scalar(f"{stage}/{k}", float(v.detach()), step)
                writer.add_scalar(f"{stage}/lr", lr, step)
                writer.add_scalar(f"{stage}/grad_norm", grad_norm, step)
            if step >= total_steps:
                break
        last = epoch + 1 == sc.epochs or step >= total_steps
        if dist.is_main:
            metrics = {}
            if (epoch + 1) % sc.val_every == 0 or last:
                metrics = validate(objective, val_loader, rvq, hero.unit_length, device)
                if fid_probe is not None and ((epoch + 1) % cfg.res.fid_every == 0 or last):
                    metrics["val_fid"] = fid_probe()  # logged and stored with the checkpoint; selection stays on loss
                for k, v in metrics.items():
                    writer.add_scalar(f"{stage}/{k}", v, step)
                if state["best"] is None or metrics[select] < state["best"][select]:
                    state["best"] = {"epoch": epoch + 1, "step": step, **metrics}
                    ckpt.save_best(objective.state_dict(), config_dict, step=step, epoch=epoch + 1, **metrics,
                                   **meta)
            state.update(epoch=epoch + 1, step=step)
            ckpt.save_latest(objective.state_dict(), config_dict, optimizer, state, step=step, **meta)
            log_epoch(stage, epoch + 1, sc.epochs, step, metrics, time.time() - t0,
                      (step - step0) / max(total_steps - step0, 1))
        dist.barrier()
    bar.close()
    if dist.is_main:
        state["phase"] = "done"
        ckpt.write_state(state)
        best = state["best"] or {}
        logger.info("%s: %d steps; best epoch %s: %s", stage, step, best.get("epoch"),
                    ", ".join(f"{k}={v:.4f}" for k, v in best.items() if k.startswith("val_")))
    dist.barrier()
    return out / "best"

