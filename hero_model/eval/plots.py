"""Figures: training curves from a run's TensorBoard logs, and a grid of generated reactions per subcategory.

Both are drawn with OpenCV (already a dependency for rendering), so plotting adds no package.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

_BG, _AXIS, _GRID, _TEXT = (255, 255, 255), (60, 60, 60), (225, 225, 225), (30, 30, 30)
_LINE = (31, 119, 180)   # RGB
_FONT = cv2.FONT_HERSHEY_SIMPLEX


# --- training curves -----------------------------------------------------------------------------------------------

def read_scalars(log_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{tag: (steps, values)} of every scalar in the TensorBoard event files under log_dir (searched recursively;
    tags of a sub-folder are prefixed with its relative path)."""
    from tensorboard.backend.event_processing import event_accumulator

    log_dir = Path(log_dir)
    if not log_dir.exists():
        raise FileNotFoundError(f"TensorBoard log folder {log_dir} does not exist")
    folders = sorted({p.parent for p in log_dir.rglob("events.out.tfevents.*")})
    if not folders:
        raise FileNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) under {log_dir}")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for folder in folders:
        acc = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        prefix = "" if folder == log_dir else f"{folder.relative_to(log_dir).as_posix()}/"
        for tag in acc.Tags().get("scalars", []):
            events = acc.Scalars(tag)
            steps = np.array([e.step for e in events], dtype=np.int64)
            values = np.array([e.value for e in events], dtype=np.float64)
            order = np.argsort(steps, kind="stable")
            out[prefix + tag] = (steps[order], values[order])
    return out


def _put(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.4, colour=_TEXT) -> None:
    cv2.putText(image, text, org, _FONT, scale, colour, 1, cv2.LINE_AA)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def draw_curve(steps: np.ndarray, values: np.ndarray, title: str, size: tuple[int, int] = (360, 240)) -> np.ndarray:
    """One panel (H, W, 3) RGB uint8: the curve, a light grid, min/max labels on both axes, the last value."""
    width, height = size
    image = np.full((height, width, 3), _BG, np.uint8)
    left, right, top, bottom = 52, 10, 24, 28
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    _put(image, title[:48], (6, 15), 0.42)
    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    cv2.rectangle(image, (x0, y0), (x1, y1), _AXIS, 1)
    if len(values) == 0:
        _put(image, "no finite values", (x0 + 8, (y0 + y1) // 2))
        return image
    s_lo, s_hi = float(steps.min()), float(max(steps.max(), steps.min() + 1))
    v_lo, v_hi = float(values.min()), float(values.max())
    if v_hi - v_lo < 1e-12:
        v_lo, v_hi = v_lo - 0.5, v_hi + 0.5
    pad = 0.05 * (v_hi - v_lo)
    v_lo, v_hi = v_lo - pad, v_hi + pad
    for k in range(1, 4):  # horizontal grid lines at quarters
        y = int(round(y0 + k * (y1 - y0) / 4))
        cv2.line(image, (x0 + 1, y), (x1 - 1, y), _GRID, 1)
    px = x0 + (steps - s_lo) / (s_hi - s_lo) * (x1 - x0)
    py = y1 - (values - v_lo) / (v_hi - v_lo) * (y1 - y0)
    points = np.stack([px, py], axis=1)
    if len(points) == 1:
        cv2.circle(image, tuple(int(round(c)) for c in points[0]), 3, _LINE, -1, cv2.LINE_AA)
    else:
        cv2.polylines(image, [np.round(points * 16).astype(np.int32).reshape(-1, 1, 2)], False, _LINE, 1,
                      cv2.LINE_AA, 4)
    _put(image, _fmt(v_hi - pad), (2, y0 + 10), 0.35)
    _put(image, _fmt(v_lo + pad), (2, y1), 0.35)
    _put(image, str(int(s_lo)), (x0, y1 + 14), 0.35)
    label = str(int(s_hi))
    _put(image, label, (x1 - 7 * len(label), y1 + 14), 0.35)
    _put(image, f"last {_fmt(float(values[-1]))}", (x0 + 4, height - 4), 0.35, _LINE)
    return image


def plot_training_curves(log_dir: str | Path, out_png: str | Path, tags: Sequence[str] | None = None,
                         columns: int = 3, panel_size: tuple[int, int] = (360, 240)) -> list[str]:
    """Draw every scalar (or the given tags) of a run's TensorBoard logs as a grid of panels into out_png.
    Returns the tags drawn."""
    scalars = read_scalars(log_dir)
    chosen = list(tags) if tags else sorted(scalars)
    missing = [t for t in chosen if t not in scalars]
    if missing:
        raise KeyError(f"tags {missing} are not in {log_dir}; available: {sorted(scalars)}")
    panels = [draw_curve(*scalars[t], t, panel_size) for t in chosen]
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    blank = np.full_like(panels[0], 255)
    grid = [panels[r * columns:(r + 1) * columns] for r in range(rows)]
    grid[-1] += [blank] * (columns - len(grid[-1]))
    image = np.concatenate([np.concatenate(row, axis=1) for row in grid], axis=0)
    _write_png(image, out_png)
    return chosen


def _write_png(image: np.ndarray, out_png: str | Path) -> None:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {out_png}")


# --- reactions per subcategory -------------------------------------------------------------------------------------

def reaction_grid(pipeline, dataset_root: str | Path, out_png: str | Path, split: str = "test", snapshots: int = 5,
                  seed: int = 0, video_features=None, cell_size: tuple[int, int] = (160, 120)) -> list[str]:
    """A PNG with one row per subcategory of the split: the video's centre frame, then `snapshots` evenly spaced
    poses of the reaction the pipeline generates for the subcategory's first pair (real crop length).
    Returns the subcategories drawn (row order)."""
    import torch

    from ..data.video_io import sample_frames
    from ..motion.features import features_to_joints
    from ..motion.skeleton import FPS
    from ..render import contact_sheet, render_skeleton_frames
    from .protocol import EvalSplit, VideoFeatureCache, generate_motions

    if snapshots < 1:
        raise ValueError(f"reaction_grid: snapshots must be >= 1, got {snapshots}")
    eval_split = EvalSplit(dataset_root, split)
    if video_features is None:
        video_features = VideoFeatureCache(pipeline.encoder, dataset_root)
    first: dict[str, int] = {}
    for i, pair in enumerate(eval_split.pairs):
        first.setdefault(pair.subcategory, i)
    subs = sorted(first)
    indices = [first[s] for s in subs]
    crops = eval_split.real_crops(0)
    v_l = torch.stack([torch.as_tensor(video_features(eval_split.pairs[i].video), dtype=torch.float32)
                       for i in indices])                                     # (S, 16, d)
    motions = generate_motions(pipeline, v_l, [len(crops[i]) for i in indices], seed)
    rows = []
    for i, motion in zip(indices, motions):
        frames, _ = sample_frames(Path(dataset_root) / eval_split.pairs[i].video, 1, (cell_size[1], cell_size[0]))
        joints = features_to_joints(motion.astype(np.float64))                # (T, 22, 3)
        pick = np.linspace(0, len(joints) - 1, snapshots).round().astype(int)
        poses = render_skeleton_frames(joints[pick], size=cell_size, trail=False, times=pick / FPS)
        rows.append([frames[0], *poses])
    cols = ["video"] + [f"{k / max(snapshots - 1, 1):.0%}" for k in range(snapshots)]
    contact_sheet(rows, row_labels=subs, col_labels=cols, out_png=out_png)
    return subs
