"""Human reactions on humanoid robots: joint-position retargeting by inverse kinematics (mink) on MuJoCo models.

    from hero_model.retarget import list_robots, load_robot, Retargeter, RobotMotion
    motion = Retargeter(load_robot("g1")).retarget(joints_yup, fps=20.0)

No ROS import here; robots are YAML files in robots/ (robot.py), the solver is retargeter.py, the CLI __main__.py.
"""
import os

# mink imports mujoco, and mujoco picks its GL backend at import: headless offscreen rendering (hero_model.sim) needs
# EGL chosen before that first import, whichever of the two packages comes first. A user's own choice is kept.
os.environ.setdefault("MUJOCO_GL", "egl")

from .retargeter import Retargeter, RobotMotion
from .robot import IKSettings, RobotSpec, RobotSpecError, Target, list_robots, load_robot

__all__ = ["IKSettings", "Retargeter", "RobotMotion", "RobotSpec", "RobotSpecError", "Target", "list_robots",
           "load_robot"]
