"""Training the project's evaluator and the held-out plausibility classifier on a ViMo-Synth TRAIN split.

    python training/evaluate.py train-evaluator --data data/vimo_synth --out runs/evaluator

Both are reaction classifiers over labels.json's `reaction` field (see hero_model/eval/evaluator.py for why the
evaluator is a classifier and hero_model/eval/plausibility.py for why the second network is independent of it):

  evaluator.{safetensors,json}      MotionEvaluator (T2M movement + BiGRU motion encoder, linear head on the
                                    embedding), seed `seed`; FID / Diversity / MultiModality use its embedding
  plausibility.{safetensors,json}   ReactionClassifier (dilated temporal CNN), seed `seed + 1`, its own crop stream
  report.json                       class names, train/val/test accuracy, epochs, seconds, dataset fingerprint

Only the train part of train.txt is fitted; the validation hold-out (ViMoDataset's, the same pairs the generator
is selected on) picks the best epoch; test accuracy is measured for the report only.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from hero_model.data.vimo import ViMoDataset
from hero_model.eval.evaluator import EvaluatorConfig, MotionEvaluator, pad_batch
from hero_model.eval.plausibility import ClassifierConfig, ReactionClassifier

logger = logging.getLogger("training.eval")

CLASSIFIER_CROP_EPOCH_OFFSET = 100_000  # the plausibility classifier draws its crops from other epochs' streams


@dataclass
class EvaluatorTrainConfig:
    """How the evaluator and the plausibility classifier are trained.

    evaluator: "small" (CPU), "t2m" (the T2M sizes), or a mapping of EvaluatorConfig fields.
    classifier_width: channels of the plausibility classifier's temporal CNN.
    epochs: passes over the training pairs (fresh random crops each epoch, the generator's crop rule).
    batch_size: pairs per optimiser step.
    lr, weight_decay: AdamW settings; the learning rate follows a cosine decay to 0 over the epochs.
    label_smoothing: cross-entropy label smoothing (keeps the embedding from collapsing each class to a point,
        which would make FID blind to within-class differences).
    val_fraction: ViMoDataset's validation hold-out of train.txt (the generator's too; keep them equal).
    seed: data seed (crops, hold-out) and the evaluator's initialisation seed; the classifier uses seed + 1.
    skip_classifier: train only the evaluator (no plausibility).
    """

    evaluator: Any = "small"
    classifier_width: int = 96
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    val_fraction: float = 0.1
    seed: int = 0
    skip_classifier: bool = False

    def __post_init__(self) -> None:
        for name in ("classifier_width", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"EvaluatorTrainConfig.{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"EvaluatorTrainConfig.lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"EvaluatorTrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"EvaluatorTrainConfig.label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"EvaluatorTrainConfig.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"EvaluatorTrainConfig.seed must be an int >= 0, got {self.seed!r}")
        self.evaluator_config(0)  # validates `evaluator`

    def evaluator_config(self, num_classes: int) -> EvaluatorConfig:
        if self.evaluator in ("small", "t2m"):
            return getattr(EvaluatorConfig, self.evaluator)(num_classes=num_classes)
        if isinstance(self.evaluator, dict):
            return EvaluatorConfig.from_dict({**self.evaluator, "num_classes": num_classes})
        raise ValueError(f"EvaluatorTrainConfig.evaluator must be 'small', 't2m' or a mapping, got {self.evaluator!r}")


def dataset_fingerprint(root: str | Path) -> str:
    """Hash of a dataset's split lists and statistics: an evaluator is only comparable on the data it fits."""
    digest = hashlib.sha1()
    for name in ("train.txt", "test.txt", "Mean.npy", "Std.npy"):
        path = Path(root) / name
        if path.is_file():
            digest.update(name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def reaction_labels(dataset: ViMoDataset) -> list[str]:
    """The `reaction` label of every pair of a ViMoDataset; one error naming what is missing otherwise."""
    if not dataset.labels:
        raise ValueError(f"{dataset.root}/labels.json is missing or empty: the evaluator trains on its `reaction` "
                         "labels (ViMo-Synth writes them)")
    out = []
    for pair in dataset.pairs:
        entry = dataset.labels.get(pair.pair_id)
        if not entry or "reaction" not in entry:
            raise ValueError(f"{dataset.root}/labels.json: pair {pair.pair_id!r} has no `reaction` label")
        out.append(entry["reaction"])
    return out


def _crops(dataset: ViMoDataset, epoch: int) -> list[np.ndarray]:
    """De-normalised crops of every pair for one epoch (the generator's crop rule)."""
    dataset.set_epoch(epoch)
    crops = []
    for i in range(len(dataset)):
        start, length = dataset.crop_window(i)
        crops.append(dataset.raw_motion(i)[start:start + length])
    return crops


def accuracy(model, crops: list[np.ndarray], targets: np.ndarray) -> float:
    """Share of crops whose predicted class is the target (targets -1: a reaction unknown to the model: wrong)."""
    return float((model.predict(crops) == targets).mean()) if len(crops) else float("nan")


def fit_classifier(model, train: ViMoDataset, train_targets: np.ndarray, val: ViMoDataset, val_targets: np.ndarray,
                   cfg: EvaluatorTrainConfig, crop_epoch_offset: int = 0, log: Callable[[str], None] = logger.info,
                   writer=None, tag: str = "evaluator") -> dict[str, Any]:
    """Cross-entropy training of model.classify_logits on random crops; keeps the weights of the best validation
    accuracy (ties: the later epoch). Returns the history."""
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs * steps_per_epoch)
    val_crops = [val.raw_motion(i)[slice(*_window(val, i))] for i in range(len(val))]  # fixed crops: comparable
    rng = np.random.default_rng([cfg.seed, crop_epoch_offset])
    best = (-1.0, None, -1)
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "val_acc": []}
    for epoch in range(cfg.epochs):
        model.train()
        crops = _crops(train, crop_epoch_offset + epoch)
        order = rng.permutation(len(crops))
        losses, hits = [], 0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            motion, lengths = pad_batch([crops[i] for i in idx], model.normalizer, device)
            target = torch.as_tensor(train_targets[idx], device=device)
            logits = model.classify_logits(motion, lengths)
            loss = F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            hits += int((logits.argmax(-1) == target).sum())
        val_acc = accuracy(model, val_crops, val_targets)
        history["loss"].append(float(np.mean(losses)))
        history["train_acc"].append(hits / len(order))
        history["val_acc"].append(val_acc)
        if writer is not None:
            writer.add_scalar(f"{tag}/loss", history["loss"][-1], epoch)
            writer.add_scalar(f"{tag}/train_acc", history["train_acc"][-1], epoch)
            writer.add_scalar(f"{tag}/val_acc", val_acc, epoch)
        log(f"{tag} epoch {epoch + 1}/{cfg.epochs}: loss {history['loss'][-1]:.4f}, "
            f"train acc {history['train_acc'][-1]:.3f}, val acc {val_acc:.3f}")
        if val_acc >= best[0]:
            best = (val_acc, copy.deepcopy(model.state_dict()), epoch)
    model.load_state_dict(best[1])
    model.eval()
    history["best_epoch"] = best[2]
    history["best_val_acc"] = best[0]
    return history


def _window(dataset: ViMoDataset, index: int) -> tuple[int, int]:
    """The deterministic crop (start 0, floored length) as a slice (start, stop)."""
    from hero_model.data.cropping import floored_length

    length = floored_length(dataset.raw_motion(index).shape[0], dataset.rule)
    return 0, length


def train_evaluators(data_root: str | Path, out_dir: str | Path, cfg: EvaluatorTrainConfig | None = None,
                     device: str | torch.device = "cpu", log: Callable[[str], None] = logger.info,
                     tensorboard: bool = True) -> dict[str, Any]:
    """Train the evaluator (and the plausibility classifier) on data_root's TRAIN split; write them to out_dir.

    Returns the report (also written to out_dir/report.json).
    """
    cfg = cfg or EvaluatorTrainConfig()
    root, out = Path(data_root), Path(out_dir)
    t_start = time.perf_counter()
    train = ViMoDataset(root, "train", return_video=False, seed=cfg.seed, val_fraction=cfg.val_fraction)
    val = ViMoDataset(root, "val", return_video=False, seed=cfg.seed, val_fraction=cfg.val_fraction)
    class_names = sorted(set(reaction_labels(train)))
    if len(class_names) < 2:
        raise ValueError(f"{root}: the train split has {len(class_names)} reaction class(es); need >= 2")
    index = {name: i for i, name in enumerate(class_names)}

    def targets(dataset: ViMoDataset) -> np.ndarray:
        return np.array([index.get(r, -1) for r in reaction_labels(dataset)], dtype=np.int64)

    train_targets, val_targets = targets(train), targets(val)
    test = None
    if (root / "test.txt").is_file() and (root / "test.txt").read_text().strip():
        test = ViMoDataset(root, "test", return_video=False, seed=cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))
    report: dict[str, Any] = {"dataset": str(root), "dataset_fingerprint": dataset_fingerprint(root),
                              "class_names": class_names, "pairs": {"train": len(train), "val": len(val),
                                                                    "test": len(test) if test else 0},
                              "config": asdict(cfg)}
    log(f"training the evaluator on {len(train)} train pairs ({len(class_names)} reactions), "
        f"{len(val)} validation pairs")
    try:
        torch.manual_seed(cfg.seed)
        evaluator = MotionEvaluator(cfg.evaluator_config(len(class_names)), train.normalizer, class_names).to(device)
        t0 = time.perf_counter()
        history = fit_classifier(evaluator, train, train_targets, val, val_targets, cfg, 0, log, writer, "evaluator")
        report["evaluator"] = _summary(evaluator, history, test, targets, time.perf_counter() - t0)
        evaluator.save(out / "evaluator", dataset_fingerprint=report["dataset_fingerprint"], report=report["evaluator"])
        if not cfg.skip_classifier:
            torch.manual_seed(cfg.seed + 1)
            classifier = ReactionClassifier(ClassifierConfig(width=cfg.classifier_width,
                                                             num_classes=len(class_names)),
                                            train.normalizer, class_names).to(device)
            t0 = time.perf_counter()
            history = fit_classifier(classifier, train, train_targets, val, val_targets, cfg,
                                     CLASSIFIER_CROP_EPOCH_OFFSET, log, writer, "plausibility")
            report["plausibility"] = _summary(classifier, history, test, targets, time.perf_counter() - t0)
            classifier.save(out / "plausibility", dataset_fingerprint=report["dataset_fingerprint"],
                            report=report["plausibility"])
    finally:
        if writer is not None:
            writer.close()
    report["seconds"] = time.perf_counter() - t_start
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _summary(model, history: dict, test: ViMoDataset | None, targets, seconds: float) -> dict[str, Any]:
    out = {"history": history, "seconds": seconds, "best_val_acc": history["best_val_acc"],
           "parameters": sum(p.numel() for p in model.parameters())}
    if test is not None:
        # Reported, never used to choose anything.
        crops = [test.raw_motion(i)[slice(*_window(test, i))] for i in range(len(test))]
        out["test_acc"] = accuracy(model, crops, targets(test))
    return out
