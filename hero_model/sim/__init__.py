"""MuJoCo simulation of the Unitree G1 humanoid performing retargeted reactions (pure mujoco / numpy, no ROS).

    from hero_model.sim import G1Simulator, SimConfig, Trajectory, play
    result = play(Trajectory.load("robot_motion.npz"), SimConfig(mode="physics"), render=True)
    result.report.to_dict(), result.frames                    # tracking error, fall; (F, H, W, 3) uint8

    python -m hero_model.sim ROBOT_MOTION.npz --mode kinematic|physics --out robot.mp4 [--strip strip.png]
        [--video input_clip.mp4] [--report report.json]

Physics has no balance controller: gentle reactions stay up, stepping / deep squats fall (the report says when).
SimConfig(level_feet=True) keeps the soles level, which position-only retargeting does not.

Modules: robot (the MJCF, actuators, gains, standing pose), trajectory (time-interpolated reference), playback
(kinematic playback, PD tracking with physics, the report), render (offscreen camera, frame strip), play (one call).
"""
import os
import sys

# MuJoCo reads MUJOCO_GL once, at its first import: headless EGL unless the user chose a back-end. Too late when
# something imported mujoco before us (render.rendering_available then says so).
MUJOCO_IMPORTED_WITHOUT_GL = "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ
os.environ.setdefault("MUJOCO_GL", "egl")

from .play import PlayResult, frame_times, play  # noqa: E402
from .playback import MODES, G1Simulator, SimConfig, SimReport, standing_trajectory  # noqa: E402
from .render import CameraConfig, SimRenderer, frame_strip, rendering_available  # noqa: E402
from .robot import GAINS, GROUPS, JOINT_NAMES, MOTORS, STANDING_POSE, g1_mjcf_path  # noqa: E402
from .trajectory import Trajectory, TrajectoryError, standing_angles  # noqa: E402

__all__ = ["CameraConfig", "G1Simulator", "GAINS", "GROUPS", "JOINT_NAMES", "MODES", "MOTORS", "PlayResult",
           "STANDING_POSE", "SimConfig", "SimRenderer", "SimReport", "Trajectory", "TrajectoryError", "frame_strip",
           "frame_times", "g1_mjcf_path", "play", "rendering_available", "standing_angles", "standing_trajectory"]
