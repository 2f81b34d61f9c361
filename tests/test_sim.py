"""The G1 MuJoCo simulation (hero_model.sim): real MuJoCo on the mjlab wheel's MJCF, synthetic trajectories within
the joint ranges (a raised arm, small sinusoids), physics at 500 Hz, rendering at 96x72 when EGL works here."""
import json

import numpy as np
import pytest

from hero_model.sim import (JOINT_NAMES, G1Simulator, SimConfig, Trajectory, TrajectoryError, frame_strip, play,
                            rendering_available, standing_angles)
from hero_model.sim.__main__ import main as sim_main

FPS = 20.0
RENDER_OK, RENDER_WHY = rendering_available()
needs_gl = pytest.mark.skipif(not RENDER_OK, reason=RENDER_WHY or "rendering unavailable")


def raised_arm(seconds: float = 2.0, fps: float = FPS, root: bool = False) -> Trajectory:
    """The right arm rises forward to shoulder height and comes back (sin^2 profile), elbow stretching; the other
    arm and the waist sway a little. All angles inside the joint ranges."""
    t = np.arange(int(round(seconds * fps)) + 1) / fps
    q = np.repeat(standing_angles()[None], len(t), axis=0)
    phase = np.sin(np.pi * t / seconds)
    q[:, JOINT_NAMES.index("right_shoulder_pitch_joint")] = 0.2 - 1.0 * phase ** 2
    q[:, JOINT_NAMES.index("right_elbow_joint")] = 1.0 - 0.6 * phase
    q[:, JOINT_NAMES.index("left_shoulder_roll_joint")] = 0.2 + 0.2 * np.sin(2 * np.pi * t / seconds)
    q[:, JOINT_NAMES.index("waist_yaw_joint")] = 0.15 * np.sin(2 * np.pi * t / seconds)
    pose = None
    if root:
        pose = np.zeros((len(t), 7))
        pose[:, 0], pose[:, 2] = 0.1 * t, 0.78
        yaw = 0.3 * t
        pose[:, 3], pose[:, 6] = np.cos(yaw / 2), np.sin(yaw / 2)
    return Trajectory(t, q, pose)


@pytest.fixture(scope="module")
def kinematic_sim():
    return G1Simulator(SimConfig(mode="kinematic"))


def test_the_model_has_the_g1s_29_hinges_and_actuators(kinematic_sim):
    m = kinematic_sim.model
    assert m.nu == 29 and m.nq == 7 + 29 and len(JOINT_NAMES) == 29
    assert JOINT_NAMES[0] == "left_hip_pitch_joint" and JOINT_NAMES[-1] == "right_wrist_yaw_joint"
    assert np.all(m.actuator_forcerange[:, 1] > 0) and np.all(m.actuator_forcelimited)


def test_kinematic_playback_reproduces_the_commanded_angles_exactly(kinematic_sim):
    trajectory = raised_arm(root=True)
    sim = kinematic_sim
    sim.start(trajectory)
    for i, t in enumerate(trajectory.times):
        sim.advance(float(t))
        np.testing.assert_array_equal(sim.joint_positions(), trajectory.positions[i])
        np.testing.assert_allclose(sim.base_pose(), trajectory.root_pose[i], atol=1e-12)
    # between samples: linear interpolation of the two neighbours
    sim.start(trajectory)
    t = 0.5 * (trajectory.times[3] + trajectory.times[4])
    sim.advance(t)
    np.testing.assert_allclose(sim.joint_positions(), 0.5 * (trajectory.positions[3] + trajectory.positions[4]),
                               atol=1e-12)
    report = sim.result()
    assert report.tracking["all"]["max_rad"] == 0.0 and not report.clipped_joints and not report.fell


def test_kinematic_without_root_pose_stands_on_the_floor(kinematic_sim):
    from hero_model.sim.robot import lowest_foot_point

    sim = kinematic_sim
    sim.start(raised_arm())
    sim.advance(1.0)
    assert abs(lowest_foot_point(sim.model, sim.data, sim.feet) - 0.001) < 1e-9
    assert 0.7 < sim.pelvis_height() < 0.85 and sim.tilt_deg() < 1e-6


def test_kinematic_planar_base_takes_ground_position_and_heading_only(kinematic_sim):
    sim = kinematic_sim
    sim.start(raised_arm())
    yaw = 0.8
    tilted = np.array([0.4, -0.2, 1.5, np.cos(yaw / 2), 0.1, 0.0, np.sin(yaw / 2)])   # too high, a little rolled
    tilted[3:] /= np.linalg.norm(tilted[3:])
    sim.advance(0.5, planar_base=tilted)
    base = sim.base_pose()
    np.testing.assert_allclose(base[:2], [0.4, -0.2])
    assert 0.7 < base[2] < 0.85 and sim.tilt_deg() < 1e-6
    heading = 2 * np.arctan2(base[6], base[3])
    w, x, y, z = tilted[3:]
    expected = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    assert heading == pytest.approx(expected)


def test_out_of_range_commands_are_clipped_and_reported(kinematic_sim):
    trajectory = raised_arm()
    trajectory.positions[:, JOINT_NAMES.index("left_knee_joint")] = 3.5        # range [-0.087, 2.88]
    kinematic_sim.start(trajectory)
    report = kinematic_sim.finish()
    assert report.clipped_joints == ["left_knee_joint"]
    assert kinematic_sim.joint_positions()[JOINT_NAMES.index("left_knee_joint")] == pytest.approx(2.8798)
    assert report.tracking["legs"]["max_rad"] == pytest.approx(3.5 - 2.8798)


def test_joints_are_matched_by_name_and_unknown_names_are_refused():
    names = ["right_elbow_joint", "left_knee_joint"]
    trajectory = Trajectory.from_fps(names, np.array([[0.5, 0.4], [0.6, 0.5]]), FPS)
    assert trajectory.positions[1, JOINT_NAMES.index("right_elbow_joint")] == 0.6
    assert trajectory.positions[0, JOINT_NAMES.index("left_knee_joint")] == 0.4
    assert trajectory.positions[0, JOINT_NAMES.index("waist_yaw_joint")] == standing_angles()[12]
    assert trajectory.commanded.sum() == 2
    with pytest.raises(TrajectoryError, match="unknown joint.*pelvis_x"):
        Trajectory.from_fps(["pelvis_x", "left_knee_joint"], np.zeros((2, 2)), FPS)
    with pytest.raises(TrajectoryError, match="strictly increasing"):
        Trajectory.from_named(names, [0.0, 0.0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mode='dance'"):
        SimConfig(mode="dance")


def test_pd_tracking_of_a_gentle_trajectory_keeps_the_robot_standing():
    """Bound: RMS tracking error over all joints < 0.03 rad (1.7 deg), max < 0.12 rad, measured at every 2 ms
    step (observed ~0.01 / 0.05); the pelvis stays above 0.7 m and tilts less than 10 deg."""
    sim = G1Simulator(SimConfig(mode="physics", hold_s=0.5))
    sim.start(raised_arm())
    report = sim.finish()
    assert not report.fell, report.fall_reason
    assert report.tracking["all"]["rms_rad"] < 0.03 and report.tracking["all"]["max_rad"] < 0.12, report.tracking
    assert report.min_pelvis_height_m > 0.7 and report.max_tilt_deg < 10.0
    assert report.steps == round((0.5 + 2.0) / 0.002)
    assert set(report.tracking) == {"legs", "ankles", "waist", "arms", "wrists", "all"}


def test_level_feet_keeps_the_soles_flat_and_the_robot_standing():
    """A reference with the feet pitched 0.3 rad toes-down (as position-only retargeting can leave them): without
    levelling the robot stands on its toes and falls during the hold; levelled, the ankle references become
    -(hip + knee) pitch (the standing rule) and it stays up."""
    trajectory = raised_arm(seconds=1.0)
    for side in ("left", "right"):
        trajectory.positions[:, JOINT_NAMES.index(f"{side}_ankle_pitch_joint")] = -0.2 + 0.3
    plain = G1Simulator(SimConfig(mode="physics", hold_s=0.5))
    plain.start(trajectory)
    assert plain.finish().fell
    sim = G1Simulator(SimConfig(mode="physics", hold_s=0.5, level_feet=True))
    sim.start(trajectory)
    report = sim.finish()
    assert not report.fell and report.level_feet and report.ankle_leveling_max_rad == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(sim.trajectory.positions[:, JOINT_NAMES.index("left_ankle_pitch_joint")], -0.2,
                               atol=1e-6)
    assert np.array_equal(trajectory.positions[:, 0], sim.trajectory.positions[:, 0])   # other joints unchanged


def test_physics_reports_a_fall_and_when():
    """Knees fully bent and hips folded within 0.2 s: the robot drops to the floor."""
    t = np.arange(21) / FPS
    q = np.repeat(standing_angles()[None], len(t), axis=0)
    q[4:, JOINT_NAMES.index("left_hip_pitch_joint")] = -2.0
    q[4:, JOINT_NAMES.index("right_hip_pitch_joint")] = -2.0
    q[4:, JOINT_NAMES.index("waist_pitch_joint")] = 0.5
    sim = G1Simulator(SimConfig(mode="physics", hold_s=0.2))
    sim.start(Trajectory(t, q))
    report = sim.finish()
    assert report.fell and 0.1 < report.fall_time_s <= 1.0, report.to_dict()
    assert report.fall_reason


@needs_gl
def test_render_writes_an_mp4_with_the_right_frames_and_a_strip(tmp_path):
    import av

    from hero_model.render import write_video
    from hero_model.sim import CameraConfig

    trajectory = raised_arm(seconds=1.0)                       # 21 samples -> 21 frames at 20 fps
    result = play(trajectory, SimConfig(mode="kinematic"), render=True, camera=CameraConfig(width=96, height=72))
    assert result.frames.shape == (21, 72, 96, 3) and result.report.rendered_frames == 21
    path = write_video(result.frames, tmp_path / "robot.mp4", fps=result.fps)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 21 and decoded[0].shape == (72, 96, 3)
    # non-trivial content: not a flat image, and the raised arm changes the picture between start and middle
    assert decoded[0].std() > 10.0
    assert np.abs(result.frames[10].astype(int) - result.frames[0].astype(int)).mean() > 0.5
    clip = np.full((30, 48, 64, 3), 80, np.uint8)
    strip = frame_strip(result.frames, 4, clip, result.fps, out_png=tmp_path / "strip.png")
    assert (tmp_path / "strip.png").stat().st_size > 0 and strip.shape[0] > 2 * 72


def test_frame_strip_shows_the_clip_frame_at_the_same_time():
    robot = np.full((21, 48, 64, 3), 255, np.uint8)                    # 1 s at 20 fps
    clip = np.stack([np.full((48, 64, 3), 8 * i, np.uint8) for i in range(30)])   # frame i has grey 8 i
    same_time = tile_greys(frame_strip(robot, 3, clip, 20.0, input_fps=20.0))
    assert same_time == {0, 80, 160, 255}                                # t = 0, 0.5, 1 s -> clip frames 0, 10, 20
    fraction = tile_greys(frame_strip(robot, 3, clip, 20.0))
    assert fraction == {0, 112, 232, 255}                                # start, middle, end of the clip


def tile_greys(strip: np.ndarray) -> set[int]:
    """The grey levels that fill at least half a 48 x 64 tile of a strip (label text is antialiased: its edge
    pixels take many grey levels, a few hundred pixels each at most)."""
    values, counts = np.unique(strip, return_counts=True)
    return {int(v) for v, c in zip(values, counts) if c >= 3 * 48 * 64 // 2}   # 3 channels per pixel


@needs_gl
def test_cli_writes_video_strip_and_report(tmp_path, capsys):
    trajectory = raised_arm(seconds=0.5)
    np.savez(tmp_path / "motion.npz", joint_names=np.array(JOINT_NAMES), joint_positions=trajectory.positions,
             root_pose=np.tile([0, 0, 0.78, 1, 0, 0, 0], (len(trajectory.times), 1)), fps=np.float64(FPS))
    code = sim_main([str(tmp_path / "motion.npz"), "--mode", "physics", "--hold", "0.2", "--out",
                     str(tmp_path / "robot.mp4"), "--strip", str(tmp_path / "strip.png"), "--report",
                     str(tmp_path / "report.json"), "--size", "64x48", "--frames", "3"])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "physics" and report["rendered_frames"] == 11 and report["fell"] is False
    assert (tmp_path / "robot.mp4").stat().st_size > 0 and (tmp_path / "strip.png").stat().st_size > 0
    assert "stayed up" in capsys.readouterr().out


def test_cli_names_unknown_joints(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", joint_names=np.array(["left_knee_joint", "tail_joint"]),
             joint_positions=np.zeros((3, 2)), fps=np.float64(FPS))
    assert sim_main([str(tmp_path / "bad.npz")]) == 2
    assert "tail_joint" in capsys.readouterr().err


def test_rendering_then_importing_torchvision_does_not_crash_the_process():
    """Mesa's llvmpipe and triton both bring an LLVM: a GL context followed by `import triton` (torchvision,
    open_clip, torch.compile import it) segfaulted the process until hero_model.sim loaded triton first."""
    import subprocess
    import sys

    code = ("from hero_model.sim import rendering_available; ok, why = rendering_available(); "
            "import torchvision.models; print('alive', ok)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "alive" in result.stdout, result.stderr[-2000:]
