"""The project's checkpoint format: `<name>.safetensors` (tensors) + `<name>.json` (config and metadata).

Nothing here unpickles: tensors come from safetensors, everything else from JSON.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
# appended to a model id when its tensors are re-stored as float16: the same trained model, another storage
HALF_PRECISION_ID_SUFFIX = "-fp16"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not match the model it is loaded into."""


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy / torch arrays (e.g. normalisation statistics)
        return obj.tolist()
    return obj


def save_checkpoint(path: str | Path, state_dict: dict[str, torch.Tensor], config: Any = None,
                    **metadata: Any) -> Path:
    """Write `path.safetensors` and `path.json` (path given without suffix). Returns the .safetensors path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    weights = path.with_suffix(".safetensors")
    save_file(tensors, str(weights))
    meta = {"format_version": FORMAT_VERSION, "config": _jsonable(config), **_jsonable(metadata)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return weights


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by save_checkpoint. `path` may carry either suffix or none.

    Raises CheckpointError with the offending file named when a file is missing or unreadable.
    """
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    weights, meta_file = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for f in (weights, meta_file):
        if not f.is_file():
            raise CheckpointError(f"checkpoint file not found: {f}")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata {meta_file} is not valid JSON: {exc}") from exc
    try:
        state = load_file(str(weights), device=str(map_location))
    except Exception as exc:  # safetensors raises several types for truncated / corrupt files
        raise CheckpointError(f"checkpoint weights {weights} cannot be read: {exc}") from exc
    return state, meta
