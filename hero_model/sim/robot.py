"""The Unitree G1 (29 DoF) as a MuJoCo scene: the mjlab wheel's MJCF plus a floor, lights and one PD actuator per
hinge.

The MJCF (mjlab/asset_zoo/robots/unitree_g1/xmls/g1.xml, Apache-2.0) holds the kinematics, inertias, meshes,
collision capsules and joint ranges, but no actuators, no floor and no keyframe: mjlab adds those in Python.
mjlab itself is never imported (its import pulls heavy dependencies); its files are found with
importlib.util.find_spec, which locates a top-level package without running it.

Actuators. Each hinge gets a MuJoCo position actuator, i.e. a PD torque
    tau = kp * (ctrl - q) - kd * qdot,   clamped to +-effort_limit (forcerange),
whose velocity term MuJoCo integrates implicitly (integrator implicitfast): explicit PD on the light wrist links would
need a far smaller timestep to stay stable. Gains are set per joint group (GAINS); effort limits and armature
(reflected rotor inertia) per motor type (MOTORS) -- the MJCF gives neither, so they are stated here: effort limits
are Unitree's published peak torques of the G1's motors; armatures are rounded approximations (rotor inertia times
gear ratio squared), enough for the stability of the simulation, not identified values.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from ..mjlab_assets import G1_MJCF, mjlab_file

# The G1's 29 hinges in MJCF order (= qpos[7:] order): legs, waist, arms.
JOINT_NAMES: tuple[str, ...] = tuple(
    [f"{side}_{j}_joint" for side in ("left", "right")
     for j in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")]
    + ["waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint"]
    + [f"{side}_{j}_joint" for side in ("left", "right")
       for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch",
                 "wrist_yaw")])
BASE_BODY = "pelvis"
FOOT_GEOM_PREFIXES = ("left_foot", "right_foot")   # the 2 x 7 foot capsules touch the floor when standing


@dataclass(frozen=True)
class Motor:
    """effort_limit: peak torque, N m (the actuator's forcerange); armature: reflected rotor inertia, kg m^2."""

    effort_limit: float
    armature: float


MOTORS: dict[str, Motor] = {
    "7520-14": Motor(88.0, 0.010),
    "7520-22": Motor(139.0, 0.025),
    "5020": Motor(25.0, 0.0036),
    "5020x2": Motor(50.0, 0.0072),      # ankles, waist roll/pitch: a linkage driven by two 5020 motors
    "4010": Motor(5.0, 0.0042),
}


def motor_of(joint: str) -> str:
    if any(k in joint for k in ("hip_pitch", "hip_yaw", "waist_yaw")):
        return "7520-14"
    if any(k in joint for k in ("hip_roll", "knee")):
        return "7520-22"
    if any(k in joint for k in ("ankle", "waist_roll", "waist_pitch")):
        return "5020x2"
    if any(k in joint for k in ("wrist_pitch", "wrist_yaw")):
        return "4010"
    return "5020"                        # shoulders, elbows, wrist roll


@dataclass(frozen=True)
class Gains:
    """kp: stiffness, N m / rad; kd: damping, N m s / rad."""

    kp: float
    kd: float


# Joint groups: the unit of the gains and of the tracking-error report.
GROUPS: tuple[str, ...] = ("legs", "ankles", "waist", "arms", "wrists")
GAINS: dict[str, Gains] = {
    "legs": Gains(500.0, 10.0),     # hips, knees: carry the body
    # No balance controller: the joints must be stiff enough that the body, an inverted pendulum on its ankles,
    # does not deflect into a fall (ankle kp well above m g h ~ 260 N m/rad; softer legs let the COM creep forward
    # until the heels lift).
    "ankles": Gains(800.0, 10.0),
    "waist": Gains(500.0, 10.0),
    "arms": Gains(100.0, 3.0),      # shoulders, elbows
    "wrists": Gains(20.0, 0.5),     # wrist roll/pitch/yaw (pitch/yaw motors saturate at 5 N m)
}


def group_of(joint: str) -> str:
    if "ankle" in joint:
        return "ankles"
    if "hip" in joint or "knee" in joint:
        return "legs"
    if "waist" in joint:
        return "waist"
    if "wrist" in joint:
        return "wrists"
    return "arms"


# A relaxed standing pose (rad): knees slightly bent with hip + knee + ankle pitch = 0, so the feet are flat when the
# pelvis is level; arms a little away from the body. Every joint not named is 0.
STANDING_POSE: dict[str, float] = {
    "left_hip_pitch_joint": -0.1, "right_hip_pitch_joint": -0.1,
    "left_knee_joint": 0.3, "right_knee_joint": 0.3,
    "left_ankle_pitch_joint": -0.2, "right_ankle_pitch_joint": -0.2,
    "left_shoulder_pitch_joint": 0.2, "right_shoulder_pitch_joint": 0.2,
    "left_shoulder_roll_joint": 0.2, "right_shoulder_roll_joint": -0.2,
    "left_elbow_joint": 1.0, "right_elbow_joint": 1.0,
}


def g1_mjcf_path() -> Path:
    """Path of the mjlab wheel's G1 MJCF (the file hero_model/retarget/robots/g1.yaml names), without importing
    mjlab or mink; FileNotFoundError saying how to install it."""
    return mjlab_file(G1_MJCF)


def build_scene(mjcf_path: str | Path | None = None, timestep: float = 0.002, render_size=(640, 480)) -> mujoco.MjModel:
    """Compile the G1 on a floor with lights and PD actuators (one per hinge, named after its joint).

    render_size: the largest offscreen image (width, height) the model must allow."""
    spec = mujoco.MjSpec.from_file(str(mjcf_path or g1_mjcf_path()))
    spec.option.timestep = timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.global_.offwidth = max(int(render_size[0]), 640)
    spec.visual.global_.offheight = max(int(render_size[1]), 480)
    spec.visual.quality.offsamples = 0   # no multisampling: Mesa's software renderer is the bottleneck on CPU
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]

    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.85, 0.9, 0.95], rgb2=[0.55, 0.6, 0.7], width=256, height=256)
    spec.add_texture(name="floor", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.78, 0.78, 0.75], rgb2=[0.62, 0.62, 0.6], width=256, height=256)
    floor = spec.add_material(name="floor", texrepeat=[6, 6])   # no reflectance: it doubles the render cost
    floor.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], material="floor",
                            friction=[0.8, 0.005, 0.0001])
    spec.worldbody.add_light(name="sun", pos=[0, 0, 4], dir=[-0.3, 0.3, -1],
                             type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                             diffuse=[0.6, 0.6, 0.6], castshadow=False)

    names = [j.name for j in spec.joints if j.type == mujoco.mjtJoint.mjJNT_HINGE]
    if tuple(names) != JOINT_NAMES:
        raise ValueError(f"{mjcf_path}: expected the G1's 29 hinges {JOINT_NAMES}, found {names}")
    for name in JOINT_NAMES:
        motor, gains = MOTORS[motor_of(name)], GAINS[group_of(name)]
        spec.joint(name).armature = motor.armature
        actuator = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=gains.kp, kv=gains.kd)
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-motor.effort_limit, motor.effort_limit]
    return spec.compile()


def foot_geom_ids(model: mujoco.MjModel) -> np.ndarray:
    ids = [g for g in range(model.ngeom)
           if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or "").startswith(FOOT_GEOM_PREFIXES)]
    if not ids:
        raise ValueError("the model has no foot collision geoms (left_foot*/right_foot*)")
    return np.asarray(ids)


def lowest_foot_point(model: mujoco.MjModel, data: mujoco.MjData, feet: np.ndarray) -> float:
    """Height (m) of the lowest point of the foot capsules at the current (forward-kinematics) pose."""
    lowest = np.inf
    for g in feet:
        axis = data.geom_xmat[g].reshape(3, 3)[:, 2]
        radius, half_length = model.geom_size[g, 0], model.geom_size[g, 1]
        ends_z = data.geom_xpos[g, 2] + np.array([1.0, -1.0]) * axis[2] * half_length
        lowest = min(lowest, float(ends_z.min() - radius))
    return lowest
