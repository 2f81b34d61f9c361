"""TC-CLIP checkpoint <-> open_clip visual tower (official-checkpoint-layout.md, "Mapping TC-CLIP <-> open_clip").

TC-CLIP (ECCV 2024, K400 zero-shot weights used by HERO) is a CLIP ViT-B/16 whose attention keeps separate q/k/v
projections and adds, in blocks 1..11, a `local_global_bias_table` [heads,1,2] used by its temporal
contextualization. We map every CLIP tensor onto open_clip's VisionTransformer (152 keys) and report the bias tables,
which have no counterpart: the encoder built from them runs per frame like CLIP (see README, Video encoder).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

IMAGE_ENCODER = "image_encoder."
QKV = ("q_proj", "k_proj", "v_proj")  # open_clip's in_proj stacks rows in this order: [q; k; v]
NO_COUNTERPART = "attn.local_global_bias_table"
CLIP_HEAD_WIDTH = 64  # ViT-B/16: 768 / 64 = 12 heads, the first dim of each bias table

TCCLIP_INSTRUCTIONS = (
    "Download the zero-shot K400 TC-CLIP checkpoint (zero_shot_k400_tc_clip.pth, model zoo of "
    "github.com/naver-ai/tc-clip; HERO ships it as checkpoints/tcclip/zero_shot_k400_tc_clip_newkeys.pth) on a "
    "machine with internet and pass its path as VideoEncoderConfig.weights")


@dataclass(frozen=True)
class TCCLIPConversionSummary:
    """What a TC-CLIP -> open_clip conversion used and what it left out.

    source: the checkpoint file (or "<state dict>").
    image_encoder_keys: tensors in ckpt['model'] whose name contains `image_encoder`.
    mapped_keys: open_clip visual keys produced (152 for ViT-B/16).
    merged_qkv_blocks: blocks whose q/k/v projections were concatenated into in_proj_weight / in_proj_bias.
    unmapped: image_encoder tensors with no open_clip counterpart (the 11 local_global_bias_table for TC-CLIP).
    other_keys: tensors outside the image encoder (text encoder, prompts...), ignored as in official HERO.
    """

    source: str
    image_encoder_keys: int
    mapped_keys: int
    merged_qkv_blocks: int
    unmapped: tuple[str, ...]
    other_keys: int

    def __str__(self) -> str:
        return (f"TC-CLIP {self.source}: {self.image_encoder_keys} image_encoder tensors -> {self.mapped_keys} "
                f"open_clip visual tensors ({self.merged_qkv_blocks} blocks with q/k/v merged); "
                f"{len(self.unmapped)} without counterpart, not used: {', '.join(self.unmapped) or 'none'}; "
                f"{self.other_keys} non-image-encoder tensors ignored")


def tcclip_to_open_clip(model_state: dict[str, torch.Tensor], source: str = "<state dict>"
                        ) -> tuple[dict[str, torch.Tensor], TCCLIPConversionSummary]:
    """ckpt['model'] of a TC-CLIP checkpoint -> (open_clip visual state dict in float32, summary).

    Keeps keys containing `image_encoder` (as official HERO), strips a leading `module.` and everything up to
    `image_encoder.`, and concatenates attn.{q,k,v}_proj into attn.in_proj_{weight,bias}. Raises ValueError naming
    the source when a block lacks one of q/k/v or when no image encoder is present.
    """
    encoder: dict[str, torch.Tensor] = {}
    other = 0
    for key, value in model_state.items():
        if IMAGE_ENCODER not in key:
            other += 1
            continue
        # "module.image_encoder.x" (upstream TC-CLIP, DDP) and "image_encoder.x" (HERO's _newkeys) both -> "x"
        encoder[key.removeprefix("module.").split(IMAGE_ENCODER, 1)[1]] = value
    if not encoder:
        raise ValueError(f"{source}: no tensor name contains {IMAGE_ENCODER!r}; not a TC-CLIP checkpoint")

    visual: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    qkv_parts: dict[str, dict[str, dict[str, torch.Tensor]]] = {}  # block prefix -> weight/bias -> q/k/v -> tensor
    for name, value in encoder.items():
        block, _, leaf = name.rpartition(".")  # e.g. "transformer.resblocks.3.attn.q_proj", "weight"
        proj = block.rpartition(".")[2]
        if proj in QKV and leaf in ("weight", "bias"):
            qkv_parts.setdefault(block.rpartition(".")[0], {}).setdefault(leaf, {})[proj] = value
        elif name.endswith(NO_COUNTERPART):
            unmapped.append(IMAGE_ENCODER + name)
        else:
            visual[name] = value  # class_embedding, positional_embedding, conv1, ln_*, out_proj, mlp, proj: same name
    for attn, parts in sorted(qkv_parts.items()):
        for leaf in ("weight", "bias"):
            got = parts.get(leaf, {})
            if set(got) != set(QKV):
                raise ValueError(f"{source}: {IMAGE_ENCODER}{attn} has {sorted(got)} {leaf}s, needs all of {QKV}")
            # in_proj_weight [3w, w] = cat(q [w,w], k [w,w], v [w,w]) on dim 0 -- open_clip / nn.MultiheadAttention
            visual[f"{attn}.in_proj_{leaf}"] = torch.cat([got[p] for p in QKV], dim=0)
    visual = {k: v.float() for k, v in visual.items()}  # checkpoints may hold fp16 (CLIP's fp16 round trip)
    summary = TCCLIPConversionSummary(source=source, image_encoder_keys=len(encoder), mapped_keys=len(visual),
                                      merged_qkv_blocks=len(qkv_parts), unmapped=tuple(sorted(unmapped)),
                                      other_keys=other)
    return visual, summary


def open_clip_to_tcclip(visual_state: dict[str, torch.Tensor], bias_tables: dict[int, torch.Tensor] | None = None,
                        module_prefix: bool = False) -> dict[str, torch.Tensor]:
    """open_clip visual state dict -> TC-CLIP `model` dict (the inverse mapping; used to write test checkpoints).

    in_proj rows [0:w], [w:2w], [2w:3w] become q_proj, k_proj, v_proj. `bias_tables` maps block index (>= 1, as in
    TC-CLIP) to its [heads,1,2] local_global_bias_table; None writes zeros for blocks 1..L-1.
    """
    prefix = ("module." if module_prefix else "") + IMAGE_ENCODER
    out: dict[str, torch.Tensor] = {}
    for name, value in visual_state.items():
        if ".attn.in_proj_" in name:
            attn, leaf = name.split(".in_proj_")
            for part, chunk in zip(QKV, value.chunk(3, dim=0), strict=True):  # rows [q; k; v]
                out[f"{prefix}{attn}.{part}.{leaf}"] = chunk.clone()
        else:
            out[prefix + name] = value.clone()
    width = visual_state["class_embedding"].shape[0]
    layers = sum(1 for k in visual_state if k.endswith(".attn.in_proj_weight"))
    if bias_tables is None:
        bias_tables = {i: torch.zeros(width // CLIP_HEAD_WIDTH, 1, 2) for i in range(1, layers)}
    for i, table in bias_tables.items():
        if not 1 <= i < layers:
            raise ValueError(f"bias_tables: block {i} out of range 1..{layers - 1} (block 0 has no bias table)")
        out[f"{prefix}transformer.resblocks.{i}.{NO_COUNTERPART}"] = table.clone()
    return out


def save_tcclip_checkpoint(path: str | Path, visual_state: dict[str, torch.Tensor],
                           bias_tables: dict[int, torch.Tensor] | None = None, module_prefix: bool = False) -> Path:
    """Write {'model': ...} in the TC-CLIP layout with torch.save (as the official .pth files are)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": open_clip_to_tcclip(visual_state, bias_tables, module_prefix)}, path)
    return path


def load_tcclip_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], TCCLIPConversionSummary]:
    """Read `zero_shot_k400_tc_clip*.pth` without unpickling objects and convert it (see tcclip_to_open_clip).

    The summary is also logged at INFO level.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"TC-CLIP checkpoint not found: {path}. {TCCLIP_INSTRUCTIONS}")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        raise ValueError(f"{path}: cannot be read with torch.load(weights_only=True) ({exc}); if it also holds "
                         "optimizer/config objects, re-save only ckpt['model'] on a trusted machine") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        keys = sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected the TC-CLIP layout with its state dict under ckpt['model'], found {keys}")
    visual, summary = tcclip_to_open_clip(ckpt["model"], source=str(path))
    log.info("%s", summary)
    return visual, summary
