"""Contact sheets of ViMo-Synth clips, to check by eye that actors, faces and objects read.

"readme": one row per broad category, six tiles each (human-human: six subcategories incl. the three walk_towards
emotions; animal-human and scene-human: three subcategories x two moments). "full": every subcategory, six frames
evenly spaced over the clip.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import taxonomy
from .scene import RenderConfig, child_seeds, render_scene, sample_scene

# (subcategory, moment) per tile for the README sheet, where the action reads: a float in [0, 1] is a fraction of
# the clip, a string "+S" is S seconds after the action starts (scene meta "action_start_s").
README_TILES: dict[str, list[tuple[str, float | str]]] = {
    "human-human": [("walk_towards_neutral", 0.97), ("walk_towards_happy", 0.97), ("walk_towards_angry", 0.97),
                    ("wave", 0.5), ("punch", 0.6), ("hug_approach", 0.75)],
    "animal-human": [("dog_run_at_you", 0.45), ("dog_run_at_you", 0.9), ("dog_jump_up", 0.5), ("dog_jump_up", 0.97),
                     ("bird_swoop", 0.6), ("bird_swoop", 0.97)],
    "scene-human": [("ball_flying", 0.6), ("ball_flying", 0.99), ("car_approaching", 0.4), ("car_approaching", 0.95),
                    ("object_falling", "+0.45"), ("object_falling", 0.9)],
}


def _caption(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    scale = image.shape[0] / 400.0
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (0, image.shape[0] - h - base - 4), (w + 6, image.shape[0]), (0, 0, 0), -1)
    cv2.putText(image, text, (3, image.shape[0] - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return image


def _clip(subcategory: str, seed: int, size: int, number: int = 0):
    from .dataset import pair_seed

    row = taxonomy.get(subcategory)
    label_ss, scene_ss, _ = child_seeds(pair_seed(seed, subcategory, number), 3)
    emotion = row.emotions[int(np.random.default_rng(label_ss).integers(len(row.emotions)))]
    scene = sample_scene(subcategory, emotion, scene_ss, RenderConfig(size=size))
    return scene, render_scene(scene)


def contact_sheet(out_png: str | Path, seed: int = 0, layout: str = "readme", size: int = 224,
                  tile: int = 192) -> np.ndarray:
    """Render the sheet (frames of the clips pair_seed(seed, subcategory, 0) would produce) and write a PNG."""
    from ..render import contact_sheet as tile_sheet

    rows, labels = [], []
    if layout == "readme":
        for broad, tiles in README_TILES.items():
            clips: dict = {}
            images = []
            for sub, moment in tiles:
                if sub not in clips:
                    clips[sub] = _clip(sub, seed, size)
                scene, clip = clips[sub]
                frames = clip.frames
                if isinstance(moment, str):
                    index = int(round((scene.meta["action_start_s"] + float(moment)) * clip.fps))
                else:
                    index = int(round(moment * (len(frames) - 1)))
                index = min(max(index, 0), len(frames) - 1)
                image = cv2.resize(frames[index], (tile, tile), interpolation=cv2.INTER_AREA)
                images.append(_caption(image, f"{sub} t={index / clip.fps:.1f}s"))
            rows.append(images)
            labels.append(broad)
    elif layout == "full":
        for row in taxonomy.SUBCATEGORIES:
            frames = _clip(row.name, seed, size)[1].frames
            picks = np.linspace(0, len(frames) - 1, 6).round().astype(int)
            rows.append([cv2.resize(frames[i], (tile, tile), interpolation=cv2.INTER_AREA) for i in picks])
            labels.append(row.name)
    else:
        raise ValueError(f"contact_sheet: layout must be 'readme' or 'full', got {layout!r}")
    return tile_sheet(rows, row_labels=labels, out_png=out_png)
