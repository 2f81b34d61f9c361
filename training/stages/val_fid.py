"""Validation FID during training: the paper's metric on the held-out validation pairs, logged to TensorBoard.

The token losses the stages select checkpoints on say how well tokens are predicted, not how good the decoded
reactions are; FID on the validation split (carved from train.txt, never test) says the latter. It needs the whole
generator, so it is measured in the `res` stage: the best masked transformer of stage `mask` plus the residual
transformer being trained, decoded as at inference (guidance, 10 steps) at the real crops' lengths.

It needs an evaluator (`python training/evaluate.py train-evaluator`, written to TrainConfig.evaluator); without one
the probe is off and says so once. One repeat with fixed crops and seeds, so epochs are comparable.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from hero_model.checkpoint import load_checkpoint
from hero_model.hero import HeroGenerator

logger = logging.getLogger("training.val_fid")

FID_SEED = 20251  # one fixed generation seed: the FID of two epochs differs by the weights only


class ValidationFID:
    """Callable returning the validation FID of `generator` (its residual part as trained right now).

    cfg: the TrainConfig (data.root, seed: the validation split's settings). generator: the HeroGenerator whose
    `residual` is being trained; its masked transformer and length head are loaded here from stage mask's best.
    rvq, normalizer: the frozen tokenizer. features: video relpath -> v_l (the training feature cache).
    max_pairs: validation pairs used (None: all of them).
    """

    def __init__(self, cfg, generator: HeroGenerator, rvq, normalizer, features, evaluator_dir: Path,
                 device: torch.device, max_pairs: int | None = None):
        from hero_model.eval.evaluator import MotionEvaluator

        mask_state, _ = load_checkpoint(cfg.stage_dir("mask") / "best")
        missing, unexpected = generator.load_state_dict(mask_state, strict=False)
        if unexpected or any(k.startswith(("masked.", "length_head.")) for k in missing):
            raise RuntimeError(f"{cfg.stage_dir('mask')}/best does not fit this generator: missing "
                               f"{[k for k in missing if not k.startswith('residual.')][:5]}, unexpected "
                               f"{unexpected[:5]}")
        generator.to(device)  # the masked part is not in the stage's objective, so it was not moved with it
        self.cfg, self.generator, self.rvq, self.normalizer = cfg, generator, rvq, normalizer
        self.features, self.max_pairs = features, max_pairs
        self.evaluator = MotionEvaluator.load(Path(evaluator_dir) / "evaluator", device)

    @classmethod
    def maybe(cls, cfg, generator, rvq, normalizer, features, device: torch.device) -> "ValidationFID | None":
        """The probe when cfg.evaluator holds an evaluator and res.fid_every > 0, else None (logged once)."""
        if cfg.res.fid_every == 0:
            return None
        if cfg.evaluator is None or not (Path(cfg.evaluator) / "evaluator.json").is_file():
            logger.info("res: no evaluator at evaluator=%s, so no validation FID is logged (train one with "
                        "`python training/evaluate.py train-evaluator --data %s --out %s`)", cfg.evaluator,
                        cfg.data.root, cfg.evaluator or "runs/evaluator")
            return None
        return cls(cfg, generator, rvq, normalizer, features, Path(cfg.evaluator), device, cfg.res.fid_max_pairs)

    @torch.no_grad()
    def __call__(self) -> float:
        from hero_model.eval.protocol import validation_fid

        was_training = self.generator.training
        try:
            return validation_fid((self.generator, self.rvq, self.normalizer), self.cfg.data.root, self.evaluator,
                                  video_features=self.features, data_seed=self.cfg.seed, seed=FID_SEED,
                                  max_pairs=self.max_pairs)
        finally:
            self.generator.train(was_training)
