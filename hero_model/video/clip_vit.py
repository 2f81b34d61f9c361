"""CLIP ViT-B/16 visual tower from open_clip, with weights read from a local file only (never downloaded).

The tower maps normalised frames (N,3,224,224) to the CLS token after ln_post and proj: (N,512) -- open_clip's
VisionTransformer.forward, the same feature official HERO takes from TC-CLIP.
"""
from __future__ import annotations

import glob
import os
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

OPENAI_CLIP_INSTRUCTIONS = (
    "Download OpenAI's ViT-B-16.pt (the URL is in open_clip.get_pretrained_cfg('ViT-B-16', 'openai')['url']) or the "
    "HF hub file timm/vit_base_patch16_clip_224.openai/open_clip_model.safetensors on a machine with internet, and "
    "pass its path as VideoEncoderConfig.weights (or place it in ~/.cache/clip/)")


def _open_clip():
    try:
        import open_clip
    except ImportError as exc:  # optional dependency: only the ViT backbones need it
        raise ImportError("the clip-vit-b16 / tcclip-vit-b16 video backbones need open_clip_torch: "
                          "pip install 'open_clip_torch>=3.0'") from exc
    return open_clip


def build_clip_visual(model_name: str = "ViT-B-16-quickgelu", vision_overrides: dict | None = None) -> nn.Module:
    """A randomly initialised open_clip VisionTransformer (visual tower only, no 63 M-parameter text tower)."""
    open_clip = _open_clip()
    from open_clip.model import _build_vision_tower  # builds the tower alone; create_model would add the text tower

    cfg = open_clip.get_model_config(model_name)
    if cfg is None:
        raise ValueError(f"VideoEncoderConfig.clip_model={model_name!r} is not an open_clip architecture "
                         f"(see open_clip.list_models())")
    vision_cfg = {**cfg["vision_cfg"], **(vision_overrides or {})}
    if isinstance(vision_cfg.get("layers"), (tuple, list)) or vision_cfg.get("timm_model_name"):
        raise ValueError(f"VideoEncoderConfig.clip_model={model_name!r} is not a plain ViT; only ViT towers map "
                         "onto TC-CLIP")
    return _build_vision_tower(cfg["embed_dim"], vision_cfg, quick_gelu=cfg.get("quick_gelu", False))


def cached_openai_weights(model_name: str = "ViT-B-16-quickgelu") -> list[Path]:
    """Where open_clip would have cached OpenAI weights for `model_name` (existing files only, first is preferred).

    open_clip downloads OpenAI URLs into ~/.cache/clip/<file> and HF-hub weights into the HF cache.
    """
    open_clip = _open_clip()
    arch = model_name.removesuffix("-quickgelu")
    pcfg = open_clip.get_pretrained_cfg(arch, "openai") or {}
    candidates = []
    if pcfg.get("url"):
        candidates.append(Path("~/.cache/clip").expanduser() / os.path.basename(pcfg["url"]))
    if pcfg.get("hf_hub"):
        hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
            os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
        repo_dir = os.path.join(hub, "models--" + pcfg["hf_hub"].strip("/").replace("/", "--"))
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            candidates += [Path(p) for p in sorted(glob.glob(os.path.join(repo_dir, "snapshots", "*", name)))]
    return [p for p in candidates if p.is_file()]


def _is_torchscript_archive(path: Path) -> bool:
    # TorchScript zips carry constants.pkl; plain torch.save zips do not (same test torch.load itself uses).
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") for name in archive.namelist())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file without unpickling Python objects: .safetensors, TorchScript archive, or a
    torch.save'd dict read with weights_only=True."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    if _is_torchscript_archive(path):
        # OpenAI distributes CLIP only as a TorchScript archive. torch.jit.load rebuilds it with TorchScript's own
        # restricted loader (tensors + compiled TorchScript, no arbitrary Python), and we keep just its tensors.
        with warnings.catch_warnings():  # torch >= 2.9 flags torch.jit.load as deprecated; it is still the only reader
            warnings.simplefilter("ignore", FutureWarning)
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        raise ValueError(f"{path}: cannot be read with torch.load(weights_only=True): {exc}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # open_clip training checkpoint
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found a {type(obj).__name__}")
    return obj


def clip_visual_state(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Keep the visual tower of a full CLIP state dict (OpenAI or open_clip names) as float32, prefix removed.

    Accepts `module.`-prefixed (DDP) keys, a full CLIP dict (`visual.*`) or an already visual-only dict.
    """
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith("visual.") for k in state):
        state = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    if "conv1.weight" not in state or "class_embedding" not in state:
        hint = (" -- it looks like a TC-CLIP checkpoint: use backbone='tcclip-vit-b16'"
                if any("image_encoder." in k for k in state) else "")
        raise ValueError(f"{source}: no CLIP ViT visual tower found (no visual.conv1.weight / class_embedding){hint}")
    # OpenAI's archive stores most tensors in fp16; the frozen encoder computes in fp32 (autocast is separate).
    return {k: v.float() for k, v in state.items()}


def load_visual_state(visual: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with an error that names the file and the first mismatching keys."""
    own = visual.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or bad_shape:
        raise ValueError(f"{source}: weights do not fit the {len(own)}-key open_clip visual tower: "
                         f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
                         f"shape mismatches {bad_shape[:3]} ({len(bad_shape)})")
    visual.load_state_dict(state, strict=True)


def resolve_clip_weights(weights: str | None, model_name: str) -> Path | None:
    """The CLIP weights file to read: the given path (must exist) or the first open_clip cache hit, else None."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"CLIP ViT-B/16 weights file not found: {path}. {OPENAI_CLIP_INSTRUCTIONS}")
        return path
    cached = cached_openai_weights(model_name)
    return cached[0] if cached else None
