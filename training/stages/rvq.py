"""Stage `rvq`: train the residual VQ-VAE tokenizer (paper Sec. 3.2; reference.md section 2).

Optional pre-training on a HumanML3D folder (MoMask's recipe), then fine-tuning on the ViMo-layout dataset's
training motions (HERO's recipe). The checkpoint with the lowest validation reconstruction error (validation motions
are carved from train; test is never looked at) is exported as <run>/rvq/best.{safetensors,json}.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hero_model.checkpoint import load_checkpoint, save_checkpoint
from hero_model.data.humanml3d import HumanML3DMotionDataset
from hero_model.data.vimo import ViMoMotionDataset
from hero_model.motion import Normalizer, apply_feat_bias, features_to_joints
from hero_model.rvq import RVQVAE

logger = logging.getLogger("training.rvq")


def warmup_lr(step: int, peak: float, warmup: int) -> float:
    """Linear warm-up to the peak learning rate over `warmup` steps, constant afterwards."""
    return peak * min(1.0, (step + 1) / max(1, warmup))


@torch.no_grad()
def validate(model: RVQVAE, dataset: ViMoMotionDataset, normalizer: Normalizer, device: torch.device) -> dict:
    """Whole-clip reconstruction on the validation motions: L1 on normalised features and MPJPE in millimetres."""
    model.eval()
    l1, mpjpe, frames = 0.0, 0.0, 0
    for c in range(len(dataset.files)):
        clip = dataset.clip(c)
        n = (len(clip) // 4) * 4
        if n < 4:
            continue
        x = torch.from_numpy(normalizer.normalize(clip[:n])).float()[None].to(device)
        recon = model.decode(model.encode(x))
        l1 += (recon - x).abs().mean().item() * n
        joints_true = features_to_joints(normalizer.denormalize(x[0].double()))
        joints_recon = features_to_joints(normalizer.denormalize(recon[0].double()))
        mpjpe += (joints_true - joints_recon).norm(dim=-1).mean().item() * n
        frames += n
    model.train()
    return {"val_l1": l1 / max(frames, 1), "val_mpjpe_mm": 1000.0 * mpjpe / max(frames, 1)}


def _phase(name: str, model, optimizer, loader, epochs: int, start_epoch: int, step: int, cfg, writer, device,
           on_epoch_end) -> int:
    total_steps = cfg.rvq.max_steps
    for epoch in range(start_epoch, epochs):
        loader.dataset.set_epoch(epoch)
        bar = tqdm(loader, desc=f"rvq/{name} epoch {epoch + 1}/{epochs}", leave=False, dynamic_ncols=True)
        for batch in bar:
            for group in optimizer.param_groups:
                group["lr"] = warmup_lr(step, cfg.rvq.lr, cfg.rvq.warmup_steps)
            out = model(batch.to(device))
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            step += 1
            if step % 10 == 0:
                writer.add_scalar(f"rvq/{name}/loss", out["loss"].item(), step)
                writer.add_scalar(f"rvq/{name}/loss_recon", out["loss_recon"].item(), step)
                writer.add_scalar(f"rvq/{name}/loss_commit", out["loss_commit"].item(), step)
                writer.add_scalar(f"rvq/{name}/perplexity_layer0", out["perplexity"][0].item(), step)
            bar.set_postfix(loss=f"{out['loss'].item():.4f}", ppl0=f"{out['perplexity'][0].item():.0f}")
            if total_steps is not None and step >= total_steps:
                break
        on_epoch_end(name, epoch, step)
        if total_steps is not None and step >= total_steps:
            break
    return step


def run(cfg, device: torch.device, writer) -> Path:
    """Train (or resume) the RVQ-VAE; returns the path (without suffix) of the best checkpoint."""
    out = cfg.run_dir / "rvq"
    out.mkdir(parents=True, exist_ok=True)
    root = Path(cfg.data.root)
    rvq_config = cfg.rvq.rvq_config()
    base = Normalizer.from_dir(root)
    # MoMask/HERO up-weight the root and contact channels by dividing their std by feat_bias (applied once here).
    normalizer = Normalizer(base.mean, apply_feat_bias(base.std, cfg.rvq.feat_bias))

    model = RVQVAE(rvq_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.rvq.lr, betas=cfg.rvq.betas,
                                  weight_decay=cfg.rvq.weight_decay)
    state_file = out / "latest_state.json"
    state = {"phase": "pretrain" if cfg.data.humanml3d_root else "finetune", "epoch": 0, "step": 0,
             "best_val_l1": math.inf}
    if cfg.resume and state_file.is_file():
        state = json.loads(state_file.read_text())
        weights, _ = load_checkpoint(out / "latest", map_location=device)
        model.load_state_dict(weights)
        optimizer.load_state_dict(torch.load(out / "latest_optimizer.pt", map_location=device, weights_only=True))
        logger.info("rvq: resuming at phase %s epoch %d step %d", state["phase"], state["epoch"], state["step"])
    if state["phase"] == "done":
        return out / "best"

    val_set = ViMoMotionDataset(root, "val", window=cfg.rvq.window, normalizer=normalizer, seed=cfg.seed)
    meta = {"normalizer_mean": normalizer.mean, "normalizer_std": normalizer.std, "feat_bias": cfg.rvq.feat_bias,
            "dataset": str(root)}

    def on_epoch_end(phase: str, epoch: int, step: int) -> None:
        metrics = validate(model, val_set, normalizer, device)
        for k, v in metrics.items():
            writer.add_scalar(f"rvq/{k}", v, step)
        logger.info("rvq/%s epoch %d step %d: %s", phase, epoch + 1, step,
                    ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if metrics["val_l1"] < state["best_val_l1"]:
            state["best_val_l1"] = metrics["val_l1"]
            save_checkpoint(out / "best", model.state_dict(), rvq_config, kind="rvq", step=step, **metrics, **meta)
        state.update(phase=phase, epoch=epoch + 1, step=step)
        save_checkpoint(out / "latest", model.state_dict(), rvq_config, kind="rvq", step=step, **meta)
        torch.save(optimizer.state_dict(), out / "latest_optimizer.pt")
        state_file.write_text(json.dumps(state))

    loader_kw = dict(batch_size=cfg.rvq.batch_size, shuffle=True, drop_last=False, num_workers=cfg.data.num_workers,
                     generator=torch.Generator().manual_seed(cfg.seed))
    t0 = time.time()
    step = state["step"]
    if state["phase"] == "pretrain":
        pre = HumanML3DMotionDataset(cfg.data.humanml3d_root, "train", window=cfg.rvq.window, normalizer=normalizer,
                                     seed=cfg.seed)
        step = _phase("pretrain", model, optimizer, DataLoader(pre, **loader_kw), cfg.rvq.pretrain_epochs,
                      state["epoch"], step, cfg, writer, device, on_epoch_end)
        state.update(phase="finetune", epoch=0)
        state_file.write_text(json.dumps(state))
    if state["phase"] == "finetune":
        train_set = ViMoMotionDataset(root, "train", window=cfg.rvq.window, normalizer=normalizer, seed=cfg.seed)
        logger.info("rvq: %d training windows from %d clips, %d validation clips", len(train_set),
                    len(train_set.files), len(val_set.files))
        step = _phase("finetune", model, optimizer, DataLoader(train_set, **loader_kw), cfg.rvq.epochs,
                      state["epoch"], step, cfg, writer, device, on_epoch_end)
    state["phase"] = "done"
    state_file.write_text(json.dumps(state))
    logger.info("rvq: %d steps in %.0f s; best val L1 %.4f", step, time.time() - t0, state["best_val_l1"])
    return out / "best"
