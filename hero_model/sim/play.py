"""One call from a trajectory to a report and (optionally) video frames: the CLI's and the ROS node's recorder's
path through the simulator."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .playback import G1Simulator, SimConfig, SimReport
from .render import CameraConfig, SimRenderer
from .trajectory import Trajectory


@dataclass
class PlayResult:
    """report: the SimReport; frames: (F, H, W, 3) uint8 at `fps` from playback time 0 (None without rendering)."""

    report: SimReport
    frames: np.ndarray | None
    fps: float


def frame_times(duration_s: float, fps: float) -> np.ndarray:
    """Video frame times 0, 1/fps, ... up to duration_s (a 20 fps trajectory of N samples gives N frames)."""
    return np.arange(int(np.floor(duration_s * fps + 1e-6)) + 1) / fps


def play(trajectory: Trajectory, config: SimConfig | None = None, render: bool = False,
         camera: CameraConfig | None = None, fps: float | None = None, simulator: G1Simulator | None = None
         ) -> PlayResult:
    """Play `trajectory` to its end. fps: video frame rate (default: the trajectory's own sample rate, else 20);
    simulator: reuse one (its config wins) instead of compiling the model again."""
    camera = camera or CameraConfig()
    sim = simulator or G1Simulator(config, render_size=(camera.width, camera.height))
    if fps is None:
        steps = np.diff(trajectory.times)
        fps = float(1.0 / np.median(steps)) if len(steps) else 20.0
    if not fps > 0:
        raise ValueError(f"fps={fps}: must be positive")
    sim.start(trajectory)
    frames = None
    if render:
        images, render_s = [], 0.0
        with SimRenderer(sim.model, camera) as renderer:
            for t in frame_times(trajectory.duration, fps):
                sim.advance(float(t))
                began = time.perf_counter()
                images.append(renderer.render(sim.data))
                render_s += time.perf_counter() - began
        frames = np.stack(images)
        sim.report.rendered_frames = len(images)
        sim.report.ms_per_frame = round(1e3 * render_s / len(images), 2)
    else:
        for t in trajectory.times:            # kinematic mode poses (and checks) only the times it is given
            sim.advance(float(t))
    report = sim.finish()
    return PlayResult(report, frames, fps)
