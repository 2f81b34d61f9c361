"""Assemble a finished run into a model folder for hero_model.pipeline, and install one as the embedded default.

    <run>/model/video_encoder.json (+ .safetensors)   the frozen encoder of stage `encoder`
    <run>/model/rvq.{safetensors,json}                 stage `rvq`'s best checkpoint (normalisation statistics inside)
    <run>/model/generator.{safetensors,json}           the `mask` part + the `res` part, with a model_id; each part
                                                       is the stage's best-loss or last-epoch checkpoint, whichever
                                                       pair gives the lower validation FID (select_checkpoints)

Each part may come from base_run (training.config.TrainConfig.stage_dir). The folder is loaded back with
ReactionPipeline.from_dir before it counts as written.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from hero_model.checkpoint import HALF_PRECISION_ID_SUFFIX, CheckpointError, load_checkpoint
from hero_model.hero import HeroConfig, HeroGenerator
from hero_model.pipeline import DEFAULT_MODEL_DIR, MODEL_FILES, ReactionPipeline

logger = logging.getLogger("training.export")

OPTIONAL_FILES = ("video_encoder.safetensors",)


def missing_parts(cfg) -> list[str]:
    """The files an export needs that do not exist yet (empty: the run can be exported)."""
    wanted = [cfg.stage_dir("encoder") / "video_encoder.json", cfg.stage_dir("rvq") / "best.json",
              cfg.stage_dir("mask") / "best.json", cfg.stage_dir("res") / "best.json"]
    return [str(p) for p in wanted if not p.is_file()]


def select_checkpoints(cfg) -> tuple[dict[str, str], dict]:
    """Which checkpoint of each transformer the model is assembled from: {"mask": "best"|"latest", "res": ...}.

    Each stage keeps two candidates: `best` (lowest validation token loss) and `latest` (its last epoch). On a set as
    small as ViMo-Synth's ~430 training pairs the token loss starts rising early while the decoded reactions keep
    improving (the loss punishes confident predictions of one of several plausible reactions), so with
    cfg.select == "val_fid" and an evaluator at cfg.evaluator the four combinations are decoded on the validation
    split and the lowest validation FID wins -- the paper's metric, measured on held-out training pairs, never on
    test. Otherwise (no evaluator, or select == "best") both `best` checkpoints are used.
    Returns the choice and a report {"criterion", "val_fid": {"mask=<m>,res=<r>": fid, ...}}.
    """
    default = {"mask": "best", "res": "best"}
    if cfg.select == "best" or cfg.evaluator is None or not (Path(cfg.evaluator) / "evaluator.json").is_file():
        return default, {"criterion": "best validation token loss per stage"}
    import torch

    from hero_model.eval.evaluator import MotionEvaluator
    from hero_model.eval.protocol import validation_fid
    from hero_model.pipeline import load_rvq

    from .features import build_feature_cache
    from .val_fid import FID_SEED

    rvq, normalizer = load_rvq(cfg.stage_dir("rvq") / "best", torch.device("cpu"))
    cache = build_feature_cache(cfg, cfg.stage_dir("encoder"), ("train.txt",), progress=False)
    evaluator = MotionEvaluator.load(Path(cfg.evaluator) / "evaluator", "cpu")
    scores: dict[str, float] = {}
    best_choice, best_fid = default, float("inf")
    for mask_kind in ("best", "latest"):
        for res_kind in ("best", "latest"):
            generator, _, _ = assemble_generator(cfg.stage_dir("mask") / mask_kind, cfg.stage_dir("res") / res_kind)
            fid = validation_fid((generator.eval(), rvq.eval(), normalizer), cfg.data.root, evaluator,
                                 video_features=cache, data_seed=cfg.seed, seed=FID_SEED)
            scores[f"mask={mask_kind},res={res_kind}"] = round(fid, 4)
            logger.info("export: validation FID with mask/%s + res/%s: %.4f", mask_kind, res_kind, fid)
            if fid < best_fid:
                best_choice, best_fid = {"mask": mask_kind, "res": res_kind}, fid
    return best_choice, {"criterion": "validation FID over {best token loss, last epoch} per stage",
                         "val_fid": scores}


def _recorded_epoch(cfg, stage: str, kind: str) -> int | None:
    """The epoch a stage's `latest` checkpoint belongs to (its state file names it; `best` carries it itself)."""
    state_file = cfg.stage_dir(stage) / "latest_state.json"
    if kind != "latest" or not state_file.is_file():
        return None
    return json.loads(state_file.read_text()).get("epoch")


def assemble_generator(mask_path: Path, res_path: Path) -> tuple[HeroGenerator, dict, dict]:
    """HeroGenerator from the `mask` and `res` stage checkpoints, which must share one HeroConfig."""
    mask_state, mask_meta = load_checkpoint(mask_path)
    res_state, res_meta = load_checkpoint(res_path)
    if mask_meta.get("config") != res_meta.get("config"):
        raise CheckpointError(f"{mask_path}.json and {res_path}.json hold different generator configs; train both "
                              "stages with the same generator.* settings")
    for key in ("rvq", "encoder_id"):
        if mask_meta.get(key) != res_meta.get(key):
            raise CheckpointError(f"{mask_path}.json and {res_path}.json were trained on different {key}: "
                                  f"{mask_meta.get(key)} vs {res_meta.get(key)}")
    generator = HeroGenerator(HeroConfig.from_dict(mask_meta["config"]))
    generator.load_state_dict({**mask_state, **res_state}, strict=True)  # strict: every tensor from one part
    return generator, mask_meta, res_meta


def export_model(cfg, out: Path | None = None) -> Path:
    """Write <run>/model/ (or `out`) and check that ReactionPipeline.from_dir loads it; returns the folder."""
    missing = missing_parts(cfg)
    if missing:
        raise CheckpointError(f"cannot export run {cfg.run_dir}: missing {missing}")
    out = Path(out) if out is not None else cfg.run_dir / "model"
    out.mkdir(parents=True, exist_ok=True)
    encoder_dir, rvq_best = cfg.stage_dir("encoder"), cfg.stage_dir("rvq") / "best"
    shutil.copyfile(encoder_dir / "video_encoder.json", out / "video_encoder.json")
    if (encoder_dir / "video_encoder.safetensors").is_file():
        shutil.copyfile(encoder_dir / "video_encoder.safetensors", out / "video_encoder.safetensors")
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(rvq_best.with_suffix(suffix), out / f"rvq{suffix}")

    choice, selection = select_checkpoints(cfg)
    generator, mask_meta, res_meta = assemble_generator(cfg.stage_dir("mask") / choice["mask"],
                                                        cfg.stage_dir("res") / choice["res"])
    digest = hashlib.sha256()
    for name in ("video_encoder.safetensors", "rvq.safetensors"):
        if (out / name).is_file():
            digest.update((out / name).read_bytes())
    for tensor in generator.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    model_id = f"hero-ros-{cfg.name}-{cfg.generator.variant}-{digest.hexdigest()[:8]}"
    metrics = {f"mask_{k}": v for k, v in mask_meta.items() if k.startswith("val_")}
    metrics.update({f"res_{k}": v for k, v in res_meta.items() if k.startswith("val_")})
    generator.save(out / "generator", model_id=model_id, trained_by="training/train.py", run=str(cfg.run_dir),
                   dataset=str(cfg.data.root), encoder_id=mask_meta.get("encoder_id"), rvq=mask_meta.get("rvq"),
                   epochs={stage: meta.get("epoch") or _recorded_epoch(cfg, stage, choice[stage])
                           for stage, meta in (("mask", mask_meta), ("res", res_meta))},
                   checkpoints=choice, selection=selection, **metrics)
    pipeline = ReactionPipeline.from_dir(out, device="cpu")  # the folder must load as users will load it
    logger.info("exported %s (model_id %s)", out, pipeline.model_id)
    return out


def _save_half_precision(source: Path, target: Path) -> None:
    """Write the generator checkpoint with float16 storage: the embedded default lives in git, and the two
    transformers in fp32 (27 MB at the "cpu" preset) are over the repository's 20 MB per-file limit. Loading copies
    the tensors into the fp32 modules (load_state_dict converts), so inference still runs in fp32; the rounding
    (relative 5e-4) changes sampled tokens only where two candidates are nearly tied. The model id gets "-fp16"."""
    import torch

    from hero_model.checkpoint import save_checkpoint

    state, meta = load_checkpoint(source)
    state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in state.items()}
    extra = {k: v for k, v in meta.items() if k not in ("format_version", "config")} | {
        "model_id": meta.get("model_id", source.parent.name) + HALF_PRECISION_ID_SUFFIX, "stored_dtype": "float16"}
    save_checkpoint(target, state, meta["config"], **extra)


def export_default(model_dir: Path, target: Path = DEFAULT_MODEL_DIR, classifier: Path | None = None) -> Path:
    """Copy a model folder into hero_model/assets/default/ after checking that it loads; with `classifier` (the
    plausibility classifier of the evaluator folder, <evaluator>/plausibility) also that, as plausibility.*, which
    `python -m hero_ros.replay` scores labelled bags with by default."""
    model_dir = Path(model_dir)
    ReactionPipeline.from_dir(model_dir, device="cpu")
    if classifier is not None:
        from hero_model.eval.plausibility import ReactionClassifier

        ReactionClassifier.load(classifier)  # must load before anything is copied
        target.mkdir(parents=True, exist_ok=True)
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(Path(classifier).with_suffix(suffix), target / f"plausibility{suffix}")
    target.mkdir(parents=True, exist_ok=True)
    names = list(MODEL_FILES) + [n for n in OPTIONAL_FILES if (model_dir / n).is_file()]
    for name in names:
        if name.startswith("generator."):
            continue
        shutil.copyfile(model_dir / name, target / name)
    _save_half_precision(model_dir / "generator", target / "generator")
    for name in OPTIONAL_FILES:  # e.g. small-cnn weights left over from an earlier default with a ViT encoder now
        if name not in names and (target / name).is_file():
            (target / name).unlink()
    model_id = json.loads((target / "generator.json").read_text()).get("model_id")
    logger.info("installed %s as the embedded default (%s): %s", model_dir, model_id, ", ".join(names))
    return target
