"""Retargeting human reactions onto the Unitree G1 (hero_model.retarget): the robot file, joint limits, tracking,
continuity, left/right semantics, bad robot files and the CLI. Real MuJoCo + mink + daqp, no mocks."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hero_model.motion import from_ros_frame, to_ros_frame
from hero_model.motion.skeleton import JOINT_INDEX
from hero_model.retarget import Retargeter, RobotMotion, RobotSpecError, list_robots, load_robot
from hero_model.retarget.robot import ROBOTS_DIR
from hero_model.synth.motions import make_motion

ROOT = Path(__file__).resolve().parents[1]
LEG = ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
ARM = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw")
G1_JOINTS = (*(f"{side}_{j}_joint" for side in ("left", "right") for j in LEG),
             "waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint",
             *(f"{side}_{j}_joint" for side in ("left", "right") for j in ARM))
# Bounds measured on the library (seed 0): mean target error 9-12 mm for upright motions, 58 mm for crouch_protect
# (the G1's waist pitches at most 0.52 rad, a crouching human's spine bends further); stated with margin.
MEAN_ERROR_M = {"wave_back": 0.025, "step_back": 0.025, "raise_hands": 0.025, "crouch_protect": 0.09}
END_EFFECTOR_ERROR_M = 0.03        # mean over both wrists and ankles, upright motions
MAX_STEP_RAD = 1.0                 # max_joint_velocity 20 rad/s / 20 fps: the VelocityLimit's per-frame bound


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def retargeter(g1):
    return Retargeter(g1)


@pytest.fixture(scope="module")
def motions():
    return {name: make_motion(name, np.random.default_rng(0)) for name in MEAN_ERROR_M}


@pytest.fixture(scope="module")
def retargeted(retargeter, motions):
    return {name: retargeter.retarget(joints, fps=20.0) for name, joints in motions.items()}


def test_g1_loads_with_its_29_hinges_in_mjcf_order(g1, retargeter):
    assert "g1" in list_robots()
    assert g1.joint_names == G1_JOINTS and g1.dof == 29 and g1.mjcf_path.is_file()
    assert g1.mjcf_path.parts[-5:] == ("asset_zoo", "robots", "unitree_g1", "xmls", "g1.xml")
    assert retargeter.model.nq == 7 + 29


@pytest.mark.parametrize("name", list(MEAN_ERROR_M))
def test_retargeting_stays_in_limits_follows_the_targets_and_is_continuous(name, retargeter, retargeted, motions):
    motion = retargeted[name]
    n = len(motions[name])
    assert isinstance(motion, RobotMotion) and motion.joint_names == G1_JOINTS
    assert motion.joint_positions.shape == (n, 29) and motion.root_pose.shape == (n, 7) and motion.fps == 20.0
    assert np.isfinite(motion.joint_positions).all() and np.isfinite(motion.root_pose).all()
    model = retargeter.model
    low, high = model.jnt_range[1:, 0], model.jnt_range[1:, 1]              # hinges follow the free joint
    assert (motion.joint_positions >= low - 1e-6).all() and (motion.joint_positions <= high + 1e-6).all()
    report = motion.error_report()
    assert report["mean_mm"] < 1e3 * MEAN_ERROR_M[name], report
    if name != "crouch_protect":
        ends = [report[f"{j}_mean_mm"] for j in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
        assert np.mean(ends) < 1e3 * END_EFFECTOR_ERROR_M, report
    steps = np.abs(np.diff(motion.joint_positions, axis=0))
    assert steps.max() <= MAX_STEP_RAD + 1e-6, steps.max()
    velocities = motion.joint_velocities()
    assert velocities.shape == (n, 29) and not velocities[-1].any()
    np.testing.assert_allclose(np.linalg.norm(motion.root_pose[:, 3:], axis=1), 1.0, atol=1e-6)
    # the base stands on the robot's legs: the pelvis near its rest height (0.79 m), above the floor
    assert 0.3 < motion.root_pose[:, 2].min() and motion.root_pose[:, 2].max() < 1.0


def _body_z(retargeter, motion, frame, body):
    import mujoco

    data = mujoco.MjData(retargeter.model)
    data.qpos[:7] = motion.root_pose[frame]
    data.qpos[7:] = motion.joint_positions[frame]
    mujoco.mj_kinematics(retargeter.model, data)
    return data.body(body).xpos.copy()


def test_a_raised_right_hand_raises_the_robots_right_hand(retargeter):
    """Take standing still, lift the human's right arm straight up (ROS z): the robot's right wrist goes above its
    head, its left stays below the waist; the hand that rises is the one on the robot's right (y < 0)."""
    standing = to_ros_frame(make_motion("stay_still", np.random.default_rng(0), duration_s=2.0))
    raised = standing.copy()
    shoulder = raised[:, JOINT_INDEX["right_shoulder"]]
    for joint, length in (("right_elbow", 0.27), ("right_wrist", 0.52)):
        raised[:, JOINT_INDEX[joint]] = shoulder + np.array([0.0, 0.0, length])
    motion = retargeter.retarget(from_ros_frame(raised), fps=20.0)
    right = _body_z(retargeter, motion, -1, "right_wrist_yaw_link")
    left = _body_z(retargeter, motion, -1, "left_wrist_yaw_link")
    torso = _body_z(retargeter, motion, -1, "torso_link")
    assert right[2] > torso[2] + 0.5 and left[2] < torso[2], (right, left, torso)
    assert right[1] < 0 < left[1]
    still = retargeter.retarget(from_ros_frame(standing), fps=20.0)
    assert _body_z(retargeter, still, -1, "right_wrist_yaw_link")[2] < torso[2]


def _write_robot(tmp_path, change):
    data = yaml.safe_load((ROBOTS_DIR / "g1.yaml").read_text())
    data["mjcf"] = str(load_robot("g1").mjcf_path)
    change(data)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, words", [
    (lambda d: d["targets"]["left_wrist"].update(weight=-1), "targets.left_wrist.weight"),
    (lambda d: d["targets"]["left_wrist"].update(offset=[0, 1]), "targets.left_wrist.offset"),
    (lambda d: d["targets"].update(tail={"body": "pelvis"}), "targets.tail"),
    (lambda d: d["targets"].pop("right_elbow"), "'right_elbow'"),
    (lambda d: d.update(mjcf="/nowhere/robot.xml"), "'mjcf'"),
    (lambda d: d["scale"].update(arms="big"), "scale.arms"),
    (lambda d: d["ik"].update(iterations=0), "ik.iterations"),
    (lambda d: d.update(wheels=2), "'wheels'"),
    (lambda d: d.pop("joint_names"), "'joint_names'"),
])
def test_bad_robot_files_name_the_field(tmp_path, change, words):
    path = _write_robot(tmp_path, change)
    with pytest.raises(RobotSpecError) as info:
        load_robot(path)
    assert str(path) in str(info.value) and words in str(info.value), str(info.value)


def test_a_wrong_body_or_joint_order_is_named_when_the_model_is_built(tmp_path):
    path = _write_robot(tmp_path, lambda d: d["targets"]["left_wrist"].update(body="left_hand_link"))
    with pytest.raises(ValueError, match="targets.left_wrist.body.*left_hand_link"):
        Retargeter(load_robot(path))
    path = _write_robot(tmp_path, lambda d: d.update(joint_names=d["joint_names"][::-1]))
    with pytest.raises(ValueError, match="joint_names"):
        Retargeter(load_robot(path))
    with pytest.raises(RobotSpecError, match="unknown robot 'h2'"):
        load_robot("h2")


def test_cli_round_trip(tmp_path, retargeter):
    joints = make_motion("wave_back", np.random.default_rng(1), duration_s=2.0)
    reaction = tmp_path / "reaction.npz"
    np.savez(reaction, joints=joints.astype(np.float32), features=np.zeros((len(joints) - 1, 263)),
             length=np.int64(len(joints)))
    out = tmp_path / "g1.npz"
    cmd = [sys.executable, "-m", "hero_model.retarget", str(reaction), "--robot", "g1", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    with np.load(out) as data:
        assert tuple(data["joint_names"]) == G1_JOINTS and float(data["fps"]) == 20.0
        assert data["joint_positions"].shape == (40, 29) and data["root_pose"].shape == (40, 7)
        expected = retargeter.retarget(joints.astype(np.float32), fps=20.0)
        np.testing.assert_allclose(data["joint_positions"], expected.joint_positions, atol=1e-6)
    for bad, words in ((tmp_path / "missing.npz", "reaction file not found"), (out, "no key 'joints'")):
        done = subprocess.run([*cmd[:3], str(bad), *cmd[4:]], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
            done.stderr
