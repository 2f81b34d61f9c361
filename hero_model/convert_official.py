"""Convert the official HERO release checkpoints into the project's checkpoint format.

    python -m hero_model.convert_official CHECKPOINTS_DIR --out DIR [--vq FOLDER] [--masked FOLDER] [--residual FOLDER]

Reads the three model folders of the release (docs: official-checkpoint-layout.md) -- the RVQ-VAE
(`opt.txt`, `model/net_best_fid.tar` with `vq_model`, `meta/mean.npy`, `meta/std.npy`), the masked transformer
(`t2m_transformer`) and the residual transformer (`res_transformer`) -- and writes
    DIR/rvq.safetensors + DIR/rvq.json              RVQVAE weights, RVQConfig, normalisation statistics
    DIR/generator.safetensors + DIR/generator.json  HeroGenerator weights, HeroConfig (cfg_null_memory="frames"),
                                                    normalisation statistics, source files
Nothing is unpickled: the .tar files are read with torch.load(weights_only=True). Every source tensor must be
consumed and every target parameter filled, otherwise the conversion fails listing both.

Without flags the folders are found below CHECKPOINTS_DIR by their opt.txt: a transformer folder's opt.txt names
its RVQ folder (`vq_name`), the checkpoint's top-level key tells the masked from the residual transformer.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .hero import HeroConfig, HeroGenerator
from .hero.backbone import sinusoidal_table

OPT_FILE = "opt.txt"
DEFAULT_CHECKPOINT = "net_best_fid.tar"
# Container keys (fallbacks in order) of the three saved models.
RVQ_KEYS = ("vq_model", "net")
MASKED_KEYS = ("t2m_transformer", "trans")
RESIDUAL_KEYS = ("res_transformer",)
# The official sinusoidal table [5000, 1, latent]: recomputed by the project's model, so it is consumed by a check
# that it equals the recomputed table instead of being copied.
POSITION_TABLE_KEY = "position_enc.pe"


class ConversionError(RuntimeError):
    """The official files are missing, unreadable, or do not have the expected layout."""


# ---------------------------------------------------------------------------------------------------- opt.txt
def parse_opt_txt(path: str | Path) -> dict[str, Any]:
    """Options of an official opt.txt: `key: value` lines between the header and footer lines.

    Values: True/False -> bool, `\\d+\\.\\d+` -> float, digits -> int, everything else stays a str (so `None` is the
    string 'None', as the official parser leaves it).
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"missing options file: {path}")
    options: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("---") or ": " not in line:
            continue  # header / footer / blank
        key, value = line.split(": ", 1)
        key, value = key.strip(), value.strip()
        if value in ("True", "False"):
            options[key] = value == "True"
        elif re.fullmatch(r"-?\d+\.\d+", value):
            options[key] = float(value)
        elif re.fullmatch(r"-?\d+", value):
            options[key] = int(value)
        else:
            options[key] = value
    return options


def _require(options: dict[str, Any], key: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    if key not in options:
        raise ConversionError(f"{path}: option '{key}' is missing")
    value = options[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConversionError(f"{path}: option '{key}' = {value!r} is not a {getattr(kind, '__name__', kind)}")
    return value


# ---------------------------------------------------------------------------------------------------- locating
@dataclass
class ModelFolder:
    path: Path
    options: dict[str, Any]
    checkpoint: Path
    state: dict[str, torch.Tensor] | None = None   # filled when loaded
    epoch: Any = None
    container_key: str | None = None


def _load_container(path: Path, keys: tuple[str, ...]) -> tuple[dict[str, torch.Tensor], str, Any]:
    if not path.is_file():
        raise ConversionError(f"missing checkpoint file: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ConversionError(f"cannot read {path} with torch.load(weights_only=True): {exc}") from exc
    if not isinstance(blob, dict):
        raise ConversionError(f"{path}: expected a dict with one of the keys {list(keys)}, got {type(blob).__name__}")
    for key in keys:
        if key in blob:
            state = blob[key]
            if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
                raise ConversionError(f"{path}: '{key}' is not a state dict of tensors")
            return state, key, blob.get("ep")
    raise ConversionError(f"{path}: none of the keys {list(keys)} present (found {sorted(blob)})")


def _folder(path: Path, checkpoint_name: str) -> ModelFolder:
    path = Path(path)
    if not path.is_dir():
        raise ConversionError(f"missing model folder: {path}")
    return ModelFolder(path, parse_opt_txt(path / OPT_FILE), path / "model" / checkpoint_name)


def _container_kind(folder: ModelFolder) -> str:
    """'masked' or 'residual', from the checkpoint's top-level key (loads the checkpoint once and keeps it)."""
    try:
        folder.state, folder.container_key, folder.epoch = _load_container(folder.checkpoint,
                                                                           MASKED_KEYS + RESIDUAL_KEYS)
    except ConversionError as exc:
        raise ConversionError(f"transformer folder {folder.path}: {exc}") from exc
    return "masked" if folder.container_key in MASKED_KEYS else "residual"


def locate_model_folders(root: str | Path, vq: str | Path | None = None, masked: str | Path | None = None,
                         residual: str | Path | None = None, checkpoint_name: str = DEFAULT_CHECKPOINT
                         ) -> dict[str, ModelFolder]:
    """The 'vq', 'masked' and 'residual' folders: given explicitly, or found below root by their opt.txt."""
    root = Path(root)
    if not root.is_dir():
        raise ConversionError(f"missing checkpoints directory: {root}")
    found: dict[str, ModelFolder] = {}
    if masked is not None:
        found["masked"] = _folder(Path(masked), checkpoint_name)
        if _container_kind(found["masked"]) != "masked":
            raise ConversionError(f"--masked {masked}: checkpoint holds '{found['masked'].container_key}', "
                                  f"not a masked transformer")
    if residual is not None:
        found["residual"] = _folder(Path(residual), checkpoint_name)
        if _container_kind(found["residual"]) != "residual":
            raise ConversionError(f"--residual {residual}: checkpoint holds '{found['residual'].container_key}', "
                                  f"not a residual transformer")
    if "masked" not in found or "residual" not in found:
        candidates: dict[str, list[ModelFolder]] = {"masked": [], "residual": []}
        for opt in sorted(root.rglob(OPT_FILE)):
            options = parse_opt_txt(opt)
            if "vq_name" not in options or not (opt.parent / "model" / checkpoint_name).is_file():
                continue
            folder = ModelFolder(opt.parent, options, opt.parent / "model" / checkpoint_name)
            kind = _container_kind(folder)
            candidates[kind].append(folder)
        for kind in ("masked", "residual"):
            if kind in found:
                continue
            if not candidates[kind]:
                raise ConversionError(f"no {kind} transformer found below {root} (a folder with {OPT_FILE} naming "
                                      f"vq_name and model/{checkpoint_name}); pass --{kind}")
            if len(candidates[kind]) > 1:
                names = [str(f.path) for f in candidates[kind]]
                raise ConversionError(f"several {kind} transformers below {root}: {names}; choose one with --{kind}")
            found[kind] = candidates[kind][0]
    if vq is not None:
        found["vq"] = _folder(Path(vq), checkpoint_name)
    else:
        names = {found[k].options.get("vq_name") for k in ("masked", "residual")}
        if len(names) != 1 or None in names:
            raise ConversionError(f"the transformers name different or no RVQ folders "
                                  f"(vq_name {sorted(map(str, names))}); pass --vq")
        vq_name = names.pop()
        matches = sorted({opt.parent for opt in root.rglob(OPT_FILE) if opt.parent.name == vq_name})
        if len(matches) != 1:
            raise ConversionError(f"RVQ folder '{vq_name}' (vq_name of {found['masked'].path / OPT_FILE}) "
                                  f"{'not found' if not matches else f'ambiguous: {matches}'} below {root}; pass --vq")
        found["vq"] = _folder(matches[0], checkpoint_name)
    return found


# ---------------------------------------------------------------------------------------------------- configs
def rvq_config_from_opt(options: dict[str, Any], path: Path, state: dict[str, torch.Tensor]):
    from .rvq import RVQConfig

    opt_file = path / OPT_FILE
    if options.get("shared_codebook", False):
        raise ConversionError(f"{opt_file}: shared_codebook True is not supported (HERO's RVQ has separate codebooks)")
    if str(options.get("vq_act", "relu")) != "relu":
        raise ConversionError(f"{opt_file}: vq_act {options['vq_act']!r} is not supported (only relu)")
    if str(options.get("vq_norm", "None")) != "None":
        raise ConversionError(f"{opt_file}: vq_norm {options['vq_norm']!r} is not supported (only None)")
    code_dim = _require(options, "code_dim", opt_file, int)
    if options.get("output_emb_width", code_dim) != code_dim:
        raise ConversionError(f"{opt_file}: output_emb_width {options['output_emb_width']} != code_dim {code_dim}")
    first = state.get("encoder.model.0.weight")
    if first is None:
        raise ConversionError(f"{path}: RVQ state has no encoder.model.0.weight")
    defaults = RVQConfig()
    return RVQConfig(
        input_dim=int(first.shape[1]),
        width=_require(options, "width", opt_file, int),
        code_dim=code_dim,
        down_t=_require(options, "down_t", opt_file, int),
        stride_t=_require(options, "stride_t", opt_file, int),
        depth=_require(options, "depth", opt_file, int),
        dilation_growth_rate=_require(options, "dilation_growth_rate", opt_file, int),
        num_quantizers=_require(options, "num_quantizers", opt_file, int),
        num_codes=_require(options, "nb_code", opt_file, int),
        quantize_dropout_prob=float(options.get("quantize_dropout_prob", defaults.quantize_dropout_prob)),
        ema_decay=float(options.get("mu", defaults.ema_decay)),
    )


ARCHITECTURE_OPTIONS = ("latent_dim", "ff_size", "n_layers", "n_heads", "dropout", "unit_length",
                        "max_motion_length")


def hero_config_from_opts(masked: ModelFolder, residual: ModelFolder, vq_options: dict[str, Any],
                          vq_path: Path) -> HeroConfig:
    """HeroConfig of the official pair. Sizes come from opt.txt; what opt.txt does not hold (video width, IIE MLP,
    which modules exist) is read from the tensors; the IIE's 8 heads are hard-coded in the official code."""
    arch = {}
    for folder in (masked, residual):
        opt_file = folder.path / OPT_FILE
        if folder.options.get("share_weight", False):
            raise ConversionError(f"{opt_file}: share_weight True (MoMask '_sw' layout) is not supported")
        values = {k: _require(folder.options, k, opt_file, float if k == "dropout" else int)
                  for k in ARCHITECTURE_OPTIONS if k not in ("unit_length", "max_motion_length")}
        values["unit_length"] = int(folder.options.get("unit_length", 4))
        values["max_motion_length"] = int(folder.options.get("max_motion_length", 200))
        arch[folder.path] = values
    if arch[masked.path] != arch[residual.path]:
        raise ConversionError(f"masked and residual transformers differ in architecture: "
                              f"{arch[masked.path]} vs {arch[residual.path]}")
    values = arch[masked.path]
    state = masked.state
    assert state is not None
    use_iie = any(k.startswith("global_local_crossatt_block.") for k in state)
    use_die = any(".multihead_attn." in k for k in state)
    variant = {(True, True): "hero", (False, True): "no_iie", (True, False): "no_die",
               (False, False): "momask"}[(use_iie, use_die)]
    vq_opt = vq_path / OPT_FILE
    return HeroConfig(
        num_codes=_require(vq_options, "nb_code", vq_opt, int),
        code_dim=_require(vq_options, "code_dim", vq_opt, int),
        num_quantizers=_require(vq_options, "num_quantizers", vq_opt, int),
        max_motion_tokens=values["max_motion_length"] // values["unit_length"],
        unit_length=values["unit_length"],
        video_dim=int(state["cond_emb.weight"].shape[1]),
        iie_heads=8,
        iie_mlp=int(state["global_local_crossatt_block.mlp.0.weight"].shape[0]) if use_iie else 2048,
        latent_dim=values["latent_dim"], ff_size=values["ff_size"], n_layers=values["n_layers"],
        n_heads=values["n_heads"], dropout=values["dropout"],
        cond_drop_prob=_require(masked.options, "cond_drop_prob", masked.path / OPT_FILE, float),
        res_cond_drop_prob=_require(residual.options, "cond_drop_prob", residual.path / OPT_FILE, float),
        cfg_null_memory="frames",  # the official models were trained without dropping the frame memory
        variant=variant,
        length_head=False,         # the release has no length estimator
    )


# ---------------------------------------------------------------------------------------------------- transfer
@dataclass
class TransferReport:
    consumed: list[str] = field(default_factory=list)   # source keys
    filled: list[str] = field(default_factory=list)     # target keys


def transfer(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], prefix: str, origin: str,
             checked: dict[str, torch.Tensor] | None = None) -> tuple[dict[str, torch.Tensor], TransferReport]:
    """Map source key k to target key prefix + k with equal shapes.

    checked: source keys that are consumed by comparison with a reference tensor instead of being copied.
    Raises ConversionError listing the unconsumed source keys and the unfilled target keys if either exists.
    """
    checked = checked or {}
    out: dict[str, torch.Tensor] = {}
    report = TransferReport()
    unconsumed: list[str] = []
    for key, tensor in source.items():
        if key in checked:
            if not _leading_rows_match(tensor, checked[key]):
                raise ConversionError(f"{origin}: '{key}' {tuple(tensor.shape)} differs from the table the model "
                                      f"recomputes {tuple(checked[key].shape)}")
            report.consumed.append(key)
            continue
        name = prefix + key
        if name not in target:
            unconsumed.append(key)
            continue
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise ConversionError(f"{origin}: '{key}' has shape {tuple(tensor.shape)}, the model expects "
                                  f"{tuple(target[name].shape)}")
        out[name] = tensor.detach().to(target[name].dtype).clone()
        report.consumed.append(key)
        report.filled.append(name)
    unfilled = [k for k in target if k.startswith(prefix) and k not in out]
    if unconsumed or unfilled:
        raise ConversionError(f"{origin}: layout mismatch; unconsumed source keys {unconsumed}; "
                              f"unfilled target parameters {unfilled}")
    return out, report


def _leading_rows_match(tensor: torch.Tensor, reference: torch.Tensor) -> bool:
    """tensor (L, ..., d) starts with the rows of reference (n, d) (the official pe is [5000, 1, d])."""
    rows = tensor.reshape(tensor.shape[0], -1)
    if rows.shape[0] < reference.shape[0] or rows.shape[1] != reference.shape[1]:
        return False
    return torch.allclose(rows[: reference.shape[0]].float(), reference, atol=1e-4)


def _load_statistics(vq_path: Path) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name in ("mean.npy", "std.npy"):
        path = vq_path / "meta" / name
        if not path.is_file():
            raise ConversionError(f"missing normalisation file: {path}")
        array = np.load(path, allow_pickle=False).astype(np.float32).reshape(-1)
        if not np.isfinite(array).all():
            raise ConversionError(f"{path}: contains NaN or inf")
        arrays.append(array)
    mean, std = arrays
    if mean.shape != std.shape:
        raise ConversionError(f"{vq_path / 'meta'}: mean {mean.shape} and std {std.shape} differ in shape")
    return mean, std


# ---------------------------------------------------------------------------------------------------- main entry
def convert(root: str | Path, out: str | Path, vq: str | Path | None = None, masked: str | Path | None = None,
            residual: str | Path | None = None, checkpoint_name: str = DEFAULT_CHECKPOINT,
            video_weights: str | Path | None = None, video_backbone: str = "tcclip-vit-b16") -> dict[str, Any]:
    """Convert the release below `root` into `out`; returns a summary (paths, configs, key counts).

    `out` becomes a complete model folder for hero_model.pipeline: rvq.*, generator.* and video_encoder.json, which
    names `video_weights` (the TC-CLIP .pth the release was trained with, or a CLIP ViT-B/16 file); without it the
    JSON leaves the path empty and `python -m hero_model.generate --video-weights FILE` supplies it.
    """
    from .checkpoint import save_checkpoint
    from .rvq import RVQVAE

    folders = locate_model_folders(root, vq, masked, residual, checkpoint_name)
    vq_folder = folders["vq"]
    rvq_state, rvq_key, rvq_epoch = _load_container(vq_folder.checkpoint, RVQ_KEYS)
    rvq_config = rvq_config_from_opt(vq_folder.options, vq_folder.path, rvq_state)
    mean, std = _load_statistics(vq_folder.path)
    if mean.shape != (rvq_config.input_dim,):
        raise ConversionError(f"{vq_folder.path / 'meta'}: statistics have shape {mean.shape}, the RVQ reads "
                              f"{rvq_config.input_dim} features")
    if (std <= 0).any():
        raise ConversionError(f"{vq_folder.path / 'meta' / 'std.npy'}: std must be positive")
    # std.npy already carries the feat_bias division of the root and contact channels (twice, see
    # hero_model/motion/normalization.py); the release normalises and de-normalises with it, so it is kept as is.

    rvq = RVQVAE(rvq_config)
    rvq_target = rvq.state_dict()
    rvq_weights, rvq_report = transfer(rvq_state, rvq_target, "", f"{vq_folder.checkpoint}['{rvq_key}']")
    rvq.load_state_dict(rvq_weights, strict=True)

    config = hero_config_from_opts(folders["masked"], folders["residual"], vq_folder.options, vq_folder.path)
    if config.num_codes != rvq_config.num_codes or config.num_quantizers != rvq_config.num_quantizers:
        raise ConversionError("the transformers' vocabulary does not match the RVQ's")
    generator = HeroGenerator(config)
    target = generator.state_dict()
    weights: dict[str, torch.Tensor] = {}
    reports = {}
    for kind, prefix in (("masked", "masked."), ("residual", "residual.")):
        folder = folders[kind]
        assert folder.state is not None
        pe_reference = sinusoidal_table(config.max_motion_tokens, config.latent_dim)
        part, reports[kind] = transfer(folder.state, target, prefix,
                                       f"{folder.checkpoint}['{folder.container_key}']",
                                       checked={POSITION_TABLE_KEY: pe_reference})
        weights.update(part)
    generator.load_state_dict(weights, strict=True)

    out = Path(out)
    sources = {"rvq": str(vq_folder.checkpoint), "masked": str(folders["masked"].checkpoint),
               "residual": str(folders["residual"].checkpoint),
               "mean": str(vq_folder.path / "meta" / "mean.npy"), "std": str(vq_folder.path / "meta" / "std.npy")}
    epochs = {"rvq": rvq_epoch, "masked": folders["masked"].epoch, "residual": folders["residual"].epoch}
    save_checkpoint(out / "rvq", rvq.state_dict(), rvq_config, normalizer_mean=mean, normalizer_std=std,
                    source=sources, epochs=epochs, converted_from="official HERO release")
    generator.save(out / "generator", mean=mean, std=std, source=sources, epochs=epochs,
                   cfg_null_memory=config.cfg_null_memory, converted_from="official HERO release")
    video_config = {"backbone": video_backbone, "weights": None if video_weights is None else str(video_weights),
                    "feature_dim": config.video_dim}
    (out / "video_encoder.json").write_text(json.dumps({"config": video_config}, indent=2))
    return {"out": str(out), "sources": sources, "hero_config": config.to_dict(), "rvq_config": rvq_config,
            "consumed": {"rvq": len(rvq_report.consumed), "masked": len(reports["masked"].consumed),
                         "residual": len(reports["residual"].consumed)},
            "filled": {"rvq": len(rvq_report.filled), "masked": len(reports["masked"].filled),
                       "residual": len(reports["residual"].filled)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hero_model.convert_official", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints_dir", type=Path, help="the release's checkpoints/ directory")
    parser.add_argument("--out", type=Path, required=True, help="output directory (rvq.*, generator.*)")
    parser.add_argument("--vq", type=Path, help="RVQ model folder (default: the transformers' vq_name)")
    parser.add_argument("--masked", type=Path, help="masked transformer folder")
    parser.add_argument("--residual", type=Path, help="residual transformer folder")
    parser.add_argument("--checkpoint-name", default=DEFAULT_CHECKPOINT,
                        help=f"file under each model/ folder (default {DEFAULT_CHECKPOINT})")
    parser.add_argument("--video-weights", type=Path, default=None,
                        help="the TC-CLIP checkpoint (zero_shot_k400_tc_clip*.pth) or CLIP ViT-B/16 weight file")
    parser.add_argument("--video-backbone", choices=("tcclip-vit-b16", "clip-vit-b16"), default="tcclip-vit-b16")
    args = parser.parse_args(argv)
    try:
        summary = convert(args.checkpoints_dir, args.out, args.vq, args.masked, args.residual, args.checkpoint_name,
                          args.video_weights, args.video_backbone)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {summary['out']}/rvq.*, generator.* and video_encoder.json")
    for name, count in summary["consumed"].items():
        print(f"  {name}: {count} source tensors consumed, {summary['filled'][name]} parameters filled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
