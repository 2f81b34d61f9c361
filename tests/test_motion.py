"""HumanML3D representation: round trips, closed-form cases, invariances, normalisation files, axis conventions."""
import numpy as np
import pytest
import torch

from hero_model.motion import (FEATURE_DIM, Normalizer, apply_feat_bias, canonical_template_offsets,
                               canonicalize_joints, compute_mean_std, features_to_joints, from_ros_frame,
                               joints_to_features, rest_pose, to_ros_frame)
from hero_model.motion.features import forward_kinematics, foot_contacts
from hero_model.motion.normalization import FEATURE_GROUPS
from hero_model.motion.quaternion import qmul
from hero_model.motion.skeleton import JOINT_INDEX, PARENTS

ROUND_TRIP_TOL = 1e-5  # metres


def yaw_quat(angle):
    angle = np.asarray(angle, dtype=np.float64)
    return np.stack([np.cos(angle / 2), 0 * angle, np.sin(angle / 2), 0 * angle], axis=-1)


def axis_angle_quat(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(angle / 2), np.sin(angle / 2) * axis], axis=-1)


def synthetic_motion(kind: str, T: int = 160, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Joints (T, 22, 3) of a valid skeleton motion built by forward kinematics (bone lengths exactly constant),
    performed by the canonical template scaled by `scale` (body and root path alike)."""
    rng = np.random.default_rng(seed)
    offsets = canonical_template_offsets() * scale
    t = np.arange(T) / 20.0
    quats = np.zeros((T, 22, 4))
    quats[..., 0] = 1.0
    # small smooth wobble on every joint so that no two frames are alike
    for j in range(1, 22):
        axis = rng.normal(size=3)
        quats[:, j] = axis_angle_quat(axis, 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6)))
    root = np.zeros((T, 3))
    root[:, 1] = 0.85
    heading = np.zeros(T)
    if kind in ("turn_left", "turn_right"):  # 1.8 turns: the heading crosses 180 degrees twice
        # slow enough (~0.05 rad/frame at T=200) that HumanML3D's heavy heading smoothing (sigma 20) follows it
        heading = (1 if kind == "turn_left" else -1) * 3.6 * np.pi * t / t[-1]
        root[:, 0] = 0.3 * np.sin(t)
    elif kind == "walk":      # forward walk with leg swing and a slow turn
        swing = 0.5 * np.sin(2 * np.pi * 1.0 * t)
        quats[:, JOINT_INDEX["left_hip"]] = qmul(quats[:, JOINT_INDEX["left_hip"]], axis_angle_quat([1, 0, 0], swing))
        quats[:, JOINT_INDEX["right_hip"]] = qmul(quats[:, JOINT_INDEX["right_hip"]], axis_angle_quat([1, 0, 0], -swing))
        heading = 0.4 * t
        speed = 1.2
        root[:, 0] = np.cumsum(speed / 20 * np.sin(heading))
        root[:, 2] = np.cumsum(speed / 20 * np.cos(heading))
    elif kind == "crouch":    # pelvis drops while the knees bend
        depth = 0.5 * (1 - np.cos(2 * np.pi * t / t[-1]))
        root[:, 1] = 0.85 - 0.35 * depth
        for hip, knee in (("left_hip", "left_knee"), ("right_hip", "right_knee")):
            quats[:, JOINT_INDEX[knee]] = qmul(quats[:, JOINT_INDEX[knee]], axis_angle_quat([1, 0, 0], -1.2 * depth))
            quats[:, JOINT_INDEX[hip]] = qmul(quats[:, JOINT_INDEX[hip]], axis_angle_quat([1, 0, 0], 0.6 * depth))
    else:
        raise ValueError(kind)
    quats[:, 0] = yaw_quat(heading)
    return forward_kinematics(quats, root * scale, offsets)


@pytest.mark.parametrize("kind", ["turn_left", "turn_right", "walk", "crouch"])
def test_round_trip_recovers_canonical_joints(kind):
    joints = synthetic_motion(kind, T=200, seed=3)
    features = joints_to_features(joints)
    assert features.shape == (len(joints) - 1, FEATURE_DIM) and features.dtype == np.float32
    recovered = features_to_joints(features)
    expected = canonicalize_joints(joints)[:-1]
    assert np.abs(recovered - expected).max() < ROUND_TRIP_TOL


@pytest.mark.parametrize("kind", ["turn_left", "turn_right"])
def test_turn_motion_really_crosses_180_degrees_and_quirk_flag_reproduces_humanml3d(kind):
    joints = synthetic_motion(kind, T=200, seed=1)
    exact = joints_to_features(joints)
    quirk = joints_to_features(joints, heading_flip_quirk=True)
    differing = np.flatnonzero(np.abs(exact - quirk).max(axis=1) > 1e-7)
    assert len(differing) >= 2, "the test motion must cross the 180-degree heading at least twice"
    assert np.abs(exact[:, 1:] - quirk[:, 1:]).max() == 0.0          # only dim 0 is affected
    np.testing.assert_allclose(quirk[differing, 0], -exact[differing, 0], atol=1e-6)
    # the quirk makes the recovered heading drift; the default convention does not
    expected = canonicalize_joints(joints)[:-1]
    assert np.abs(features_to_joints(quirk) - expected).max() > 100 * ROUND_TRIP_TOL


def test_motion_already_canonical_is_returned_unchanged():
    joints = synthetic_motion("walk", seed=5)
    canonical = canonicalize_joints(joints)
    np.testing.assert_allclose(canonicalize_joints(canonical), canonical, atol=1e-9)
    np.testing.assert_allclose(features_to_joints(joints_to_features(canonical)), canonical[:-1], atol=ROUND_TRIP_TOL)


def test_pure_yaw_at_constant_rate_gives_constant_dim0():
    T, rate = 300, 0.05  # radians per frame
    quats = np.zeros((T, 22, 4))
    quats[..., 0] = 1.0
    quats[:, 0] = yaw_quat(rate * np.arange(T))
    root = np.tile([0.0, 0.85, 0.0], (T, 1))
    features = joints_to_features(forward_kinematics(quats, root, canonical_template_offsets()))
    # five sigmas away from the clip ends, where HumanML3D's Gaussian smoothing (sigma 20, 'nearest') bends it
    interior = features[100:-100, 0]
    np.testing.assert_allclose(interior, -rate / 2, atol=1e-6)
    np.testing.assert_allclose(features[100:-100, 1:3], 0.0, atol=1e-6)   # spinning on the spot


def test_standing_still_has_zero_velocities_and_all_contacts():
    joints = np.repeat(rest_pose()[None], 40, axis=0)
    features = joints_to_features(joints)
    np.testing.assert_allclose(features[:, 0:3], 0.0, atol=1e-7)
    np.testing.assert_allclose(features[:, 193:259], 0.0, atol=1e-7)
    assert (features[:, 259:263] == 1.0).all()
    np.testing.assert_allclose(features[:, 3], 0.85, atol=1e-6)         # root height of the template


def test_contacts_follow_the_squared_displacement_threshold():
    joints = np.repeat(rest_pose()[None], 3, axis=0)
    joints[2, JOINT_INDEX["left_foot"], 2] += 0.05                    # 0.0025 m^2 > 0.002: moving
    joints[2, JOINT_INDEX["right_ankle"], 2] += 0.04                  # 0.0016 m^2 < 0.002: in contact
    contacts = foot_contacts(joints)
    np.testing.assert_array_equal(contacts, [[1, 1, 1, 1], [1, 0, 1, 1]])


def test_translated_and_rotated_copy_gives_identical_features():
    joints = synthetic_motion("walk", seed=7)
    c, s = np.cos(2.1), np.sin(2.1)
    yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    moved = joints @ yaw.T + np.array([3.0, 0.4, -7.5])
    np.testing.assert_allclose(joints_to_features(moved), joints_to_features(joints), atol=2e-5)


def test_other_skeleton_is_retargeted_onto_the_template():
    joints = synthetic_motion("walk", seed=2, scale=1.15)
    canonical = canonicalize_joints(joints)
    bones = np.linalg.norm(canonical[:, 1:] - canonical[:, np.array(PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(bones, np.linalg.norm(canonical_template_offsets()[1:], axis=-1)[None].repeat(len(joints), 0),
                               atol=1e-9)
    # the same motion performed by the template itself gives the same features
    same = synthetic_motion("walk", seed=2)
    np.testing.assert_allclose(joints_to_features(joints), joints_to_features(same), atol=1e-4)


def test_features_to_joints_is_batched_for_numpy_and_torch():
    clips = np.stack([joints_to_features(synthetic_motion(k, T=81, seed=9)) for k in ("turn_left", "walk", "crouch")])
    as_numpy = features_to_joints(clips)
    as_torch = features_to_joints(torch.from_numpy(clips))
    assert as_numpy.shape == (3, 80, 22, 3) and isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), as_numpy, atol=1e-4)
    for i in range(3):
        np.testing.assert_allclose(as_numpy[i], features_to_joints(clips[i]), atol=1e-6)


def test_bad_input_is_refused_with_the_problem_named():
    with pytest.raises(ValueError, match="shape"):
        joints_to_features(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match="NaN"):
        bad = synthetic_motion("walk", T=10)
        bad[3, 4, 1] = np.nan
        joints_to_features(bad)
    with pytest.raises(ValueError, match="263"):
        features_to_joints(np.zeros((5, 262)))


def test_ros_frame_axes():
    forward_left_up = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # HumanML3D: +Z, +X, +Y
    np.testing.assert_array_equal(to_ros_frame(forward_left_up), np.eye(3))            # REP 103: +X, +Y, +Z
    np.testing.assert_array_equal(from_ros_frame(to_ros_frame(forward_left_up)), forward_left_up)
    rotation = to_ros_frame(np.eye(3))
    assert np.isclose(np.linalg.det(rotation), 1.0)                                      # no mirroring


def test_mean_std_groups_and_feat_bias(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, FEATURE_DIM)) * rng.uniform(0.1, 3.0, size=FEATURE_DIM) for n in (30, 50)]
    mean, std = compute_mean_std(clips)
    data = np.concatenate(clips)
    np.testing.assert_allclose(mean, data.mean(0), rtol=1e-5, atol=1e-6)
    for group in FEATURE_GROUPS.values():
        np.testing.assert_allclose(std[group], data.std(0)[group].mean(), rtol=1e-5)
    biased = apply_feat_bias(std, 5.0)
    np.testing.assert_allclose(biased[:4], std[:4] / 5, rtol=1e-6)
    np.testing.assert_allclose(biased[-4:], std[-4:] / 5, rtol=1e-6)
    np.testing.assert_array_equal(biased[4:-4], std[4:-4])
    np.testing.assert_allclose(apply_feat_bias(std, 5.0, times=2)[:4], std[:4] / 25, rtol=1e-6)

    norm = Normalizer(mean, biased)
    norm.save(tmp_path)
    loaded = Normalizer.from_dir(tmp_path)
    assert np.load(tmp_path / "Mean.npy").dtype == np.float32 and np.load(tmp_path / "Std.npy").shape == (263,)
    x = clips[0].astype(np.float32)
    np.testing.assert_allclose(loaded.denormalize(loaded.normalize(x)), x, rtol=1e-5, atol=1e-5)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(loaded.normalize(xt).numpy(), loaded.normalize(x), rtol=1e-6, atol=1e-6)


def test_normalizer_rejects_bad_files(tmp_path):
    np.save(tmp_path / "Mean.npy", np.zeros(263, np.float32))
    np.save(tmp_path / "Std.npy", np.ones(262, np.float32))
    with pytest.raises(ValueError, match=r"Std\.npy.*shape"):
        Normalizer.from_dir(tmp_path)
    std = np.ones(263, np.float32)
    std[7] = 0.0
    np.save(tmp_path / "Std.npy", std)
    with pytest.raises(ValueError, match=r"dims \[7\]"):
        Normalizer.from_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="Mean.npy"):
        Normalizer.from_dir(tmp_path / "missing")
