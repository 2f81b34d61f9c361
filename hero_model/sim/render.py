"""Offscreen rendering of the simulated G1: frames from a camera that follows the robot, an mp4, a frame strip.

GL: MuJoCo picks its GL back-end from MUJOCO_GL when mujoco is first imported; hero_model.sim sets MUJOCO_GL=egl
(headless Mesa) before that unless the user chose one. osmesa failed here inside PyOpenGL (reference.md section 8).

Camera: a free camera aimed explicitly, not MuJoCo's default free camera (which need not frame the robot). It looks at
a point at fixed height above the pelvis' ground position, from the robot's front-right (the G1 faces +x), so a
crouch or a fall stays in view and the camera never bobs with the pelvis.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import mujoco
import numpy as np

from .robot import BASE_BODY


@dataclass
class CameraConfig:
    """width, height: pixels; distance: camera to its target point, m; azimuth: deg, direction of view (180 looks
    along -x, i.e. at the robot's front); elevation: deg (negative looks down); target_height: m above the floor."""

    width: int = 320
    height: int = 240
    distance: float = 2.2
    azimuth: float = 150.0
    elevation: float = -12.0
    target_height: float = 0.55

    def __post_init__(self):
        if not (16 <= self.width <= 4096 and 16 <= self.height <= 4096):
            raise ValueError(f"image size {self.width}x{self.height}: each side must lie in [16, 4096]")
        if not 0.3 <= self.distance <= 50.0:
            raise ValueError(f"distance={self.distance}: must lie in [0.3, 50] m")


def _load_triton_before_gl() -> None:
    """Import triton (torch's compiler backend) before the first GL context, when it is installed.

    Mesa's software renderer (llvmpipe, behind MUJOCO_GL=egl on these CPU machines) and triton each bring their own
    LLVM. Once a Mesa context exists, a later `import triton` -- which torchvision / open_clip / torch.compile do
    through torch._dynamo -- segfaults the whole process (torch 2.14.1's triton, Mesa 22.3). In the opposite order
    both work, so every context made here loads triton first (about 1 s, once per process)."""
    try:
        import triton  # noqa: F401
    except Exception:  # not installed (CPU-only torch builds) or unusable: nothing can clash then
        pass


def rendering_available() -> tuple[bool, str]:
    """(True, "") if an offscreen MuJoCo context can be made here, else (False, the reason)."""
    _load_triton_before_gl()
    try:
        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='.1'/></worldbody></mujoco>")
        renderer = mujoco.Renderer(model, 16, 16)
        renderer.close()
        return True, ""
    except Exception as exc:  # no EGL / GL library, no device: the message says which
        from . import MUJOCO_IMPORTED_WITHOUT_GL

        hint = (" -- mujoco was imported before hero_model.sim could set MUJOCO_GL=egl; set it in the environment"
                if MUJOCO_IMPORTED_WITHOUT_GL else "")
        return False, f"MuJoCo offscreen rendering unavailable (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}{hint}"


class SimRenderer:
    """RGB frames (H, W, 3) uint8 of a model's current state."""

    def __init__(self, model: mujoco.MjModel, camera: CameraConfig | None = None):
        self.camera_config = camera or CameraConfig()
        c = self.camera_config
        self.model = model
        _load_triton_before_gl()
        self.renderer = mujoco.Renderer(model, c.height, c.width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance, self.camera.azimuth, self.camera.elevation = c.distance, c.azimuth, c.elevation
        self.base = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        x, y = data.xpos[self.base, :2]
        self.camera.lookat[:] = [x, y, self.camera_config.target_height]
        self.renderer.update_scene(data, self.camera)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> "SimRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _letterbox(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` scaled to fit (height, width) with its aspect ratio kept, centred on white."""
    import cv2

    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    scaled = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 255, np.uint8)
    y, x = (height - size[1]) // 2, (width - size[0]) // 2
    out[y: y + size[1], x: x + size[0]] = scaled
    return out


def sample_evenly(count: int, n: int) -> np.ndarray:
    """n indices spread evenly over range(count), first and last included."""
    return np.unique(np.round(np.linspace(0, count - 1, min(n, count))).astype(int))


def frame_strip(robot_frames: np.ndarray, n: int = 6, input_frames: np.ndarray | None = None,
                fps: float = 20.0, out_png=None, robot_label: str = "G1", input_fps: float | None = None
                ) -> np.ndarray:
    """n evenly spaced robot frames (at `fps`) in a row, labelled with their time; with input_frames (the camera clip
    the reaction answers), the clip's frames above them: the frame at the same time when input_fps is given (the
    clip's last frame once it has ended), else at the same fraction of its length. Returns the RGB image and writes
    a PNG when out_png is given."""
    from hero_model.render import contact_sheet

    if len(robot_frames) == 0:
        raise ValueError("frame_strip: no robot frames")
    picks = sample_evenly(len(robot_frames), n)
    rows = [[robot_frames[i] for i in picks]]
    labels = [robot_label]
    if input_frames is not None and len(input_frames):
        if input_fps:
            clip_picks = np.minimum(np.round(picks / fps * input_fps).astype(int), len(input_frames) - 1)
        else:
            clip_picks = np.round(picks / max(len(robot_frames) - 1, 1) * (len(input_frames) - 1)).astype(int)
        height, width = np.asarray(robot_frames[0]).shape[:2]
        rows.insert(0, [_letterbox(input_frames[i], height, width) for i in clip_picks])
        labels.insert(0, "input")
    return contact_sheet(rows, row_labels=labels, col_labels=[f"t={i / fps:.2f}s" for i in picks], out_png=out_png)
