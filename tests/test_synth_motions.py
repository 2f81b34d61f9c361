"""ViMo-Synth motion library (hero_model.synth.motions) and the stick-figure renderer (hero_model.render)."""
import numpy as np
import pytest

from hero_model.motion.skeleton import FPS, JOINT_INDEX, PARENTS, canonical_template_offsets
from hero_model.synth.motions import (ACTOR_ACTIONS, REACTIONS, make_motion, motion_duration_range,
                                      sample_template_offsets)

ALL_NAMES = REACTIONS + ACTOR_ACTIONS
SEEDS = (0, 1, 2)  # semantic checks run on each of these seeds
J = JOINT_INDEX
PELVIS, HEAD = J["pelvis"], J["head"]
WRISTS = (J["left_wrist"], J["right_wrist"])
TOES = (J["left_foot"], J["right_foot"])

REQUIRED_REACTIONS = ("wave_back", "shake_hands", "hug", "block_arms", "dodge_left", "dodge_right", "step_back",
                      "duck", "catch", "jump_aside", "turn_away", "walk_forward", "stay_still")
REQUIRED_ACTOR_ACTIONS = ("wave", "handshake_offer", "hug_approach", "punch", "push", "kick", "throw", "point",
                          "walk_towards", "idle")


def motion(name, seed, **kwargs):
    return make_motion(name, np.random.default_rng(seed), **kwargs)


def bone_lengths(joints):
    return np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1)  # (T, 21)


def toe_speed(joints):
    """Horizontal speed of each toe, metres per frame (T-1, 2)."""
    return np.linalg.norm(np.diff(joints[:, TOES][..., [0, 2]], axis=0), axis=-1)


def heading_deg(joints, t):
    """Facing direction of frame t from the hip line (left hip - right hip = the body's +X), degrees about Y."""
    across = joints[t, J["left_hip"]] - joints[t, J["right_hip"]]
    return np.degrees(np.arctan2(-across[2], across[0]))


# ------------------------------------------------------------------------------------------- the catalogue

def test_catalogue_names_and_duration_ranges():
    assert set(REQUIRED_REACTIONS) <= set(REACTIONS)
    assert set(REQUIRED_ACTOR_ACTIONS) <= set(ACTOR_ACTIONS)
    assert not set(REACTIONS) & set(ACTOR_ACTIONS)
    for name in REACTIONS:
        lo, hi = motion_duration_range(name)
        assert 2.0 <= lo < hi <= 10.0, name
    for name in ACTOR_ACTIONS:
        lo, hi = motion_duration_range(name)
        assert 2.0 <= lo < hi <= 5.0, name


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown motion 'moonwalk'.*wave_back.*walk_towards"):
        make_motion("moonwalk", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown motion"):
        motion_duration_range("moonwalk")
    with pytest.raises(ValueError, match=r"duration_s=12.*\[2.0, 6.0\].*duck"):
        make_motion("duck", np.random.default_rng(0), duration_s=12)
    with pytest.raises(ValueError, match="template_offsets must have shape"):
        make_motion("duck", np.random.default_rng(0), template_offsets=np.zeros((21, 3)))
    with pytest.raises(ValueError, match="amplitude=5"):
        make_motion("duck", np.random.default_rng(0), amplitude=5)
    with pytest.raises(TypeError, match="Generator"):
        make_motion("duck", 0)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_motion_is_a_valid_clip(name):
    """Finite (T, 22, 3), T within the duration range at 20 fps, bone lengths exactly the template's on every
    frame (FK), nothing below the floor, and a clean start: pelvis at the XZ origin, toes on the floor, facing +Z."""
    lo, hi = motion_duration_range(name)
    for seed in (0, 1):
        template = sample_template_offsets(np.random.default_rng(100 + seed)) if seed else None
        joints = motion(name, seed, template_offsets=template)
        assert joints.dtype == np.float64 and joints.ndim == 3 and joints.shape[1:] == (22, 3)
        assert np.isfinite(joints).all()
        assert round(lo * FPS) <= len(joints) <= round(hi * FPS)
        expected = np.linalg.norm(canonical_template_offsets() if template is None else template, axis=-1)[1:]
        np.testing.assert_allclose(bone_lengths(joints), np.broadcast_to(expected, (len(joints), 21)), atol=1e-6)
        assert joints[..., 1].min() >= -1e-6
        np.testing.assert_allclose(joints[0, PELVIS, [0, 2]], 0.0, atol=1e-9)
        np.testing.assert_allclose(joints[0, TOES, 1], 0.0, atol=1e-6)
        assert abs(heading_deg(joints, 0)) < 1e-6
        assert joints[0, HEAD, 1] > joints[0, PELVIS, 1] + 0.4  # starts upright


def test_explicit_duration_sets_the_frame_count():
    assert len(motion("duck", 0, duration_s=3.0)) == 60
    assert len(motion("walk_forward", 0, duration_s=10.0)) == 200
    assert len(motion("punch", 0, duration_s=2.0)) == 40


def test_same_seed_same_motion_other_seed_other_motion():
    for name in ("wave_back", "walk_forward", "punch"):
        a, b = motion(name, 7), motion(name, 7)
        np.testing.assert_array_equal(a, b)
        c = motion(name, 8)
        assert a.shape != c.shape or np.abs(a - c).max() > 0.01


def test_uniformly_scaled_template_scales_the_motion():
    scale = 1.07
    small = motion("dodge_left", 4)
    big = motion("dodge_left", 4, template_offsets=canonical_template_offsets() * scale)
    np.testing.assert_allclose(big, small * scale, atol=1e-9)


def test_amplitude_scales_the_action():
    for name, measure in (("dodge_left", lambda j: j[:, PELVIS, 0].max()),
                          ("duck", lambda j: j[0, PELVIS, 1] - j[:, PELVIS, 1].min()),
                          ("step_back", lambda j: -j[-1, PELVIS, 2])):
        small, big = measure(motion(name, 3, amplitude=0.6)), measure(motion(name, 3, amplitude=1.4))
        assert big > 1.2 * small, name


# ------------------------------------------------------------------------------------------- semantics

@pytest.mark.parametrize("seed", SEEDS)
def test_wave_raises_a_wrist_above_the_head(seed):
    for name in ("wave_back", "wave"):
        joints = motion(name, seed)
        assert (joints[:, WRISTS, 1].max(1) - joints[:, HEAD, 1]).max() > 0.05, name


@pytest.mark.parametrize("seed", SEEDS)
def test_duck_and_crouch_lower_the_pelvis(seed):
    for name, drop in (("duck", 0.25), ("crouch_protect", 0.35)):
        joints = motion(name, seed)
        assert joints[0, PELVIS, 1] - joints[:, PELVIS, 1].min() > drop, name
        assert np.abs(joints[:, PELVIS, [0, 2]]).max() < 0.3, name  # down, not away


@pytest.mark.parametrize("seed", SEEDS)
def test_dodges_move_the_pelvis_sideways(seed):
    left, right = motion("dodge_left", seed), motion("dodge_right", seed)
    assert left[:, PELVIS, 0].max() > 0.2 and left[:, PELVIS, 0].min() > -0.05  # +X is the body's left
    assert right[:, PELVIS, 0].min() < -0.2 and right[:, PELVIS, 0].max() < 0.05
    jump = motion("jump_aside", seed)
    assert np.abs(jump[:, PELVIS, 0]).max() > 0.3
    assert (jump[:, TOES, 1].min(1) > 0.05).any()  # both feet off the floor at once


@pytest.mark.parametrize("seed", SEEDS)
def test_step_back_and_walks_translate_the_root(seed):
    back = motion("step_back", seed)
    assert back[-1, PELVIS, 2] < -0.25 and back[:, PELVIS, 2].max() < 0.05
    walk = motion("walk_forward", seed)
    assert walk[-1, PELVIS, 2] - walk[0, PELVIS, 2] > 1.0
    assert np.abs(walk[:, PELVIS, 0]).max() < 0.1  # straight ahead
    towards = motion("walk_towards", seed)
    assert towards[-1, PELVIS, 2] > 0.8
    run = motion("run_away", seed)
    assert np.linalg.norm(run[-1, PELVIS, [0, 2]]) > 2.0
    assert (run[:, TOES, 1].min(1) > 0.02).any()  # a flight phase: both feet off the floor


@pytest.mark.parametrize("seed", SEEDS)
def test_walk_alternates_legs_with_planted_stance_feet(seed):
    joints = motion("walk_forward", seed)
    airborne = joints[:, TOES, 1] > 1e-6                      # (T, 2): toe off the floor
    # order of lift-offs: which foot leaves the floor at each rising edge
    lifts = [(t, k) for k in (0, 1) for t in np.flatnonzero(airborne[1:, k] & ~airborne[:-1, k])]
    feet = [k for _, k in sorted(lifts)]
    assert len(feet) >= 4
    assert all(a != b for a, b in zip(feet[:-2], feet[1:-1])), feet  # left, right, left ... (the last may pair)
    # a toe on the floor does not slide: planted frames (on the floor now and next frame) move < 2 mm
    on_floor = ~airborne[1:] & ~airborne[:-1]
    assert toe_speed(joints)[on_floor].max() < 0.002


@pytest.mark.parametrize("seed", SEEDS)
def test_standing_motions_keep_feet_planted(seed):
    for name in ("stay_still", "wave_back", "clap", "idle"):
        joints = motion(name, seed)
        assert toe_speed(joints).max() < 0.02, name
        np.testing.assert_allclose(joints[:, TOES, 1], 0.0, atol=1e-6)
    still = motion("stay_still", seed)
    assert np.abs(still - still[0]).max() < 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_arm_reactions_reach_where_their_names_say(seed):
    def forward_reach(joints, wrists=WRISTS):
        return (joints[:, wrists, 2] - joints[:, [PELVIS], 2]).max()

    assert forward_reach(motion("catch", seed)) > 0.35
    assert forward_reach(motion("shake_hands", seed), (J["right_wrist"],)) > 0.3
    assert forward_reach(motion("punch", seed)) > 0.45
    assert forward_reach(motion("point_back", seed)) > 0.4
    hug = motion("hug", seed)
    wrapped = (hug[:, WRISTS, 2] - hug[:, [PELVIS], 2]).min(1) > 0.15
    assert (wrapped & (np.abs(hug[:, WRISTS, 0] - hug[:, [PELVIS], 0]).max(1) < 0.3)).any()
    block = motion("block_arms", seed)
    guard = (block[:, WRISTS, 1].min(1) > block[:, [J["neck"]], 1].min(1) - 0.25) & \
            ((block[:, WRISTS, 2] - block[:, [PELVIS], 2]).min(1) > 0.15)
    assert guard.any()
    hands_up = motion("raise_hands", seed)
    assert (hands_up[:, WRISTS, 1].min(1) > hands_up[:, HEAD, 1]).any()
    clap = motion("clap", seed)
    gap = np.linalg.norm(clap[:, WRISTS[0]] - clap[:, WRISTS[1]], axis=-1)
    assert gap.min() < 0.12 and gap.max() > 0.25


@pytest.mark.parametrize("seed", SEEDS)
def test_turns_kicks_and_bows(seed):
    turn = motion("turn_away", seed)
    assert abs((heading_deg(turn, -1) - heading_deg(turn, 0) + 180) % 360 - 180) > 100
    for name in ("kick", "kick_away"):
        kick = motion(name, seed)
        toes = kick[:, TOES]
        assert toes[..., 1].max() > 0.35 and (toes[..., 2] - kick[:, [PELVIS], 2]).max() > 0.4, name
    bow = motion("bow_back", seed)  # the head goes down and forward, the pelvis stays up
    lead = bow[:, HEAD, 2] - bow[:, PELVIS, 2]
    assert bow[0, HEAD, 1] - bow[:, HEAD, 1].min() > 0.07 and lead.max() - lead[0] > 0.2
    assert bow[0, PELVIS, 1] - bow[:, PELVIS, 1].min() < 0.05


def test_round_trip_through_features_matches_the_canonical_motion():
    """A motion performed by a scaled body, turned into HumanML3D features (retargeted onto the canonical
    template) and back, equals the same motion generated directly on the canonical template."""
    features = pytest.importorskip("hero_model.motion.features", reason="hero_model.motion.features not available")
    for name, seed in (("walk_forward", 0), ("dodge_left", 1), ("turn_away", 2), ("kick", 3)):
        scaled = motion(name, seed, template_offsets=canonical_template_offsets() * 1.12)
        back = features.features_to_joints(features.joints_to_features(scaled).astype(np.float64))
        canonical = motion(name, seed)
        np.testing.assert_allclose(back, canonical[:-1], atol=1e-5, err_msg=name)


# ------------------------------------------------------------------------------------------- rendering

av = pytest.importorskip("av")


def decode(path):
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_render_frames_follow_the_motion():
    from hero_model.render import BACKGROUND, render_skeleton_frames

    joints = motion("wave_back", 0, duration_s=2.0)
    frames = render_skeleton_frames(joints, size=(160, 120), title="wave_back")
    assert frames.shape == (40, 120, 160, 3) and frames.dtype == np.uint8
    assert (frames[0] == BACKGROUND).all(-1).mean() > 0.5  # mostly background
    # the stick figure's pixels change between a rest frame and a waving frame
    assert (np.abs(frames[0].astype(int) - frames[25].astype(int)).sum(-1) > 60).sum() > 50
    still = render_skeleton_frames(np.repeat(joints[:1], 3, axis=0), size=(160, 120), title=None, trail=False)
    assert (np.abs(still[0].astype(int) - still[2].astype(int)).sum(-1) > 60).sum() < 40  # only the clock text


def test_mp4_is_decodable_deterministic_and_gif_works(tmp_path, monkeypatch):
    from PIL import Image

    from hero_model.render import render_skeleton_frames, write_video

    frames = render_skeleton_frames(motion("duck", 0, duration_s=2.0), size=(224, 224))
    first = write_video(frames, tmp_path / "a.mp4", fps=20)
    write_video(frames, tmp_path / "b.mp4", fps=20)
    decoded = decode(first)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 4.0  # lossy, but the same picture
    assert first.read_bytes() == (tmp_path / "b.mp4").read_bytes()
    odd = write_video(frames[:5, :101, :99], tmp_path / "odd.mp4", fps=30)  # odd sizes are padded to even
    assert decode(odd).shape == (5, 102, 100, 3)
    gif = write_video(frames[:10], tmp_path / "c.gif", fps=20)
    with Image.open(gif) as image:
        assert image.n_frames == 10 and image.size == (224, 224)
    # without Pillow the GIF goes through FFmpeg's gif encoder (a fixed 3-3-2 palette)
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    fallback = write_video(frames[:10], tmp_path / "d.gif", fps=20)
    assert decode(fallback).shape == (10, 224, 224, 3)
    with pytest.raises(ValueError, match="unsupported video extension"):
        write_video(frames, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="uint8"):
        write_video(frames.astype(np.float32), tmp_path / "x.mp4")


def test_render_motion_from_features_cli_and_layouts(tmp_path):
    features = pytest.importorskip("hero_model.motion.features", reason="hero_model.motion.features not available")
    from hero_model.render import contact_sheet, main, render_skeleton_frames, side_by_side

    joints = motion("jump_aside", 0, duration_s=2.0)
    np.save(tmp_path / "joints.npy", joints)
    np.save(tmp_path / "features.npy", features.joints_to_features(joints))
    assert main([str(tmp_path / "joints.npy"), str(tmp_path / "j.mp4"), "--title", "jump", "--size", "160x120"]) == 0
    assert decode(tmp_path / "j.mp4").shape == (40, 120, 160, 3)
    assert main([str(tmp_path / "features.npy"), str(tmp_path / "f.gif"), "--fps", "10"]) == 0
    assert (tmp_path / "f.gif").stat().st_size > 0
    np.save(tmp_path / "bad.npy", np.zeros((10, 21, 3)))
    assert main([str(tmp_path / "bad.npy"), str(tmp_path / "bad.mp4")]) == 2

    a = render_skeleton_frames(joints[:20], size=(160, 120))
    b = render_skeleton_frames(joints[:10], size=(80, 60))
    both = side_by_side(a, b, ("source", "reconstruction"))
    assert both.shape == (20, 120, 160 + 4 + 160, 3)
    sheet = contact_sheet([[a[0], a[5]], [b[0], b[9]]], ["row a", "row b"], ["t0", "t1"], tmp_path / "sheet.png")
    assert sheet.shape[0] > 2 * 120 and sheet.shape[1] > 2 * 160
    import cv2

    assert cv2.imread(str(tmp_path / "sheet.png")).shape == sheet.shape


def test_render_snapshots_are_stamped_with_their_own_times():
    """Poses picked out of a longer motion (the reaction grid's snapshots) carry their time in the motion, not their
    index in the picked array: frames 0 and 39 of a 2 s motion are labelled 0.0 s and 1.9 s."""
    from hero_model.render import render_skeleton_frames

    joints = np.repeat(motion("wave_back", 0, duration_s=2.0)[:1], 2, axis=0)   # one pose twice: only the clock differs
    by_index = render_skeleton_frames(joints, size=(160, 120), trail=False)     # "0.0s", "0.1s"
    by_time = render_skeleton_frames(joints, size=(160, 120), trail=False, times=np.array([0.0, 39 / 20]))
    assert np.array_equal(by_index[0], by_time[0])
    assert (np.abs(by_time[1].astype(int) - by_index[1].astype(int)).sum(-1) > 60).sum() > 5
    with pytest.raises(ValueError, match="one entry per frame"):
        render_skeleton_frames(joints, times=[0.0])
