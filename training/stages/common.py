"""What the encoder, mask and res stages share: the distributed context (torchrun / DDP), the learning-rate schedule,
seeding, autocast, resumable `latest` checkpoints and `best` selection bookkeeping."""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

from hero_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

logger = logging.getLogger("training")


# --- distributed ------------------------------------------------------------------------------------------------
@dataclass
class DistContext:
    """Where this process sits in a (possibly single-process) run.

    rank / world_size / local_rank: torchrun's RANK / WORLD_SIZE / LOCAL_RANK (0 / 1 / 0 without torchrun).
    device: this process's device. enabled: a torch.distributed process group is up (also for world_size 1 under
    torchrun), so models are wrapped in DistributedDataParallel.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes TensorBoard and checkpoints, validates and builds caches."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.enabled and self.world_size > 1:
            value = value.detach().clone()
            torch_dist.all_reduce(value)
            value /= self.world_size
        return value

    def wrap(self, module: nn.Module) -> nn.Module:
        """DistributedDataParallel around `module` when a process group is up, else the module itself.

        find_unused_parameters: classifier-free-guidance dropout can leave the null memory (or, when a whole batch
        is dropped, the intention extractor) without a gradient in a step."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def shutdown(self) -> None:
        if self.enabled and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
            self.enabled = False


def init_distributed(device_name: str = "auto") -> DistContext:
    """Read torchrun's environment; start a process group (NCCL on CUDA, gloo on CPU) when WORLD_SIZE is set.

    Without torchrun this is a plain single-process context. Under torchrun each rank uses cuda:LOCAL_RANK (or
    the CPU when device_name is "cpu" / no GPU is present).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    launched = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    want_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise SystemExit(f"device={device_name!r} was asked for but torch sees no CUDA device")
    if launched:
        device = torch.device("cuda", local_rank) if want_cuda else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # Rank 0 alone trains the RVQ and builds the feature cache while the others wait: allow a long barrier.
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size,
                                      timeout=datetime.timedelta(hours=4))
        return DistContext(rank, world_size, local_rank, device, enabled=True)
    if want_cuda:
        return DistContext(device=torch.device(device_name if device_name.startswith("cuda") else "cuda"))
    return DistContext(device=torch.device("cpu"))


class NullWriter:
    """TensorBoard writer of the ranks other than 0."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass


# --- schedule, seeds, precision ---------------------------------------------------------------------------------
def lr_at(step: int, peak: float, warmup_steps: int, milestone_steps: list[int] | tuple[int, ...],
          gamma: float) -> float:
    """Linear warm-up to `peak` over warmup_steps, then MultiStepLR: x gamma for every milestone step passed
    (MoMask/HERO step their MultiStepLR once per iteration)."""
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    return peak * warm * gamma ** sum(step >= m for m in milestone_steps)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch on one rank: a resumed run draws the same masks and dropout as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def autocast(device: torch.device):
    """bf16 autocast on CUDA (the paper's GPUs); full precision on CPU, where bf16 matmuls are slower."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


def clip_gradients(parameters, max_norm: float) -> float:
    """Global-norm clipping (0 disables); returns the norm before clipping (for logging)."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])))


# --- resumable checkpoints --------------------------------------------------------------------------------------
class StageCheckpoints:
    """<out>/latest.{safetensors,json} + latest_optimizer.pt + latest_state.json, and <out>/best.{safetensors,json}.

    `latest` is written at the end of every epoch (a kill loses at most that epoch); the state JSON is written last,
    after the weights and optimiser, and names the epoch they belong to.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.state_file = self.out / "latest_state.json"

    def read_state(self) -> dict | None:
        if not self.state_file.is_file():
            return None
        try:
            return json.loads(self.state_file.read_text())
        except ValueError as exc:
            raise CheckpointError(f"{self.state_file} is not valid JSON ({exc}); delete it to restart the stage") \
                from exc

    def write_state(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)

    def save_latest(self, state_dict: dict, config: Any, optimizer: torch.optim.Optimizer, state: dict,
                    **meta: Any) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.out / "latest", state_dict, config, **meta)
        tmp = self.out / "latest_optimizer.pt.tmp"
        torch.save(optimizer.state_dict(), tmp)
        os.replace(tmp, self.out / "latest_optimizer.pt")
        self.write_state(state)

    def load_latest(self, module: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                    config: Any = None) -> None:
        """Weights and optimiser state of `latest` into module / optimizer; refuses a checkpoint of another config."""
        weights, meta = load_checkpoint(self.out / "latest", map_location=device)
        if config is not None and meta.get("config") != config:
            raise CheckpointError(f"{self.out}/latest.json was written with another model config "
                                  f"({meta.get('config')}) than this run's ({config}); use a new run name or "
                                  "resume=false")
        module.load_state_dict(weights)
        optimizer.load_state_dict(torch.load(self.out / "latest_optimizer.pt", map_location=device,
                                             weights_only=True))

    def save_best(self, state_dict: dict, config: Any, **meta: Any) -> Path:
        return save_checkpoint(self.out / "best", state_dict, config, **meta)


def finished(state: dict, epochs: int, max_steps: int | None) -> bool:
    """A stage whose recorded progress reaches the configured epochs / max_steps is complete; raising either later
    continues it from its latest checkpoint."""
    return state.get("epoch", 0) >= epochs or (max_steps is not None and state.get("step", 0) >= max_steps)


def log_epoch(stage: str, epoch: int, epochs: int, step: int, metrics: dict, elapsed: float, done_fraction: float
              ) -> None:
    """One log line per epoch with the metrics, elapsed time and the stage's ETA."""
    eta = elapsed / max(done_fraction, 1e-9) * (1 - done_fraction)
    logger.info("%s epoch %d/%d step %d: %s | %.0f s elapsed, ETA %.0f s", stage, epoch, epochs, step,
                ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), elapsed, eta)
