"""ViMo-Synth: the dataset layout, its consistency, determinism, the Seen/Unseen split, the feature round trip, the
videos, and the rule that emotion shows only in the face."""
from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from hero_model.motion.features import canonicalize_joints, features_to_joints, joints_to_features
from hero_model.motion.normalization import compute_mean_std
from hero_model.synth import taxonomy
from hero_model.synth.dataset import GENERATED, SynthConfig, generate_pair, make_dataset, plan_pairs
from hero_model.synth.motions import REACTIONS
from hero_model.synth.scene import RenderConfig, render_scene, sample_scene

# Three cheap subcategories, five pairs each (numbers 0-4: 4 train + 1 test), one of them held out as Unseen.
SUBCATS = ("walk_towards_happy", "ball_flying", "object_falling")
UNSEEN = ("object_falling",)
CONFIG = SynthConfig(pairs=15, seed=7, unseen=UNSEEN, subcategories=SUBCATS, size=128, fps=20)
LINE = re.compile(r"^videos/(\w+)/(\w+-\d{4})\.mp4 vector_263/(\w+-\d{4})\.npy$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vimo_synth") / "a"
    make_dataset(CONFIG, out, workers=1, progress=False)
    return out


def _read_list(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_taxonomy_table():
    assert len(taxonomy.SUBCATEGORIES) >= 14
    groups = taxonomy.by_broad_category()
    assert set(groups) == set(taxonomy.BROAD_CATEGORIES) and all(groups.values())
    taxonomy.check_reactions(REACTIONS)  # every table reaction exists in the motion library
    # Supp. Table 5: the same action with different emotions calls for different reactions.
    sets = [set(taxonomy.get(f"walk_towards_{e}").reactions) for e in ("neutral", "happy", "angry")]
    assert all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1:])
    assert taxonomy.DEFAULT_UNSEEN and all(taxonomy.get(u).unseen for u in taxonomy.DEFAULT_UNSEEN)
    with pytest.raises(KeyError, match="unknown subcategory"):
        taxonomy.get("juggling")


def test_layout_files_exist_and_parse(dataset):
    for name in ("train.txt", "test.txt", "test_unseen.txt", "motions_train.txt", "motions_test.txt",
                 "motions_test_unseen.txt", "Mean.npy", "Std.npy", "labels.json", "meta.json"):
        assert (dataset / name).is_file(), name
    for split in ("train", "test", "test_unseen"):
        lines = _read_list(dataset / f"{split}.txt")
        assert lines == sorted(lines)
        motions = []
        for line in lines:
            match = LINE.match(line)
            assert match, line
            sub, vid_id, mot_id = match.groups()
            assert vid_id == mot_id and vid_id.startswith(sub + "-")
            video, motion = line.split(" ")
            assert (dataset / video).is_file() and (dataset / motion).is_file()
            motions.append(motion)
        assert _read_list(dataset / f"motions_{split}.txt") == sorted(motions)


def test_split_is_4_to_1_and_unseen_is_held_out(dataset):
    train = _read_list(dataset / "train.txt")
    test = _read_list(dataset / "test.txt")
    unseen = _read_list(dataset / "test_unseen.txt")
    assert len(train) == 8 and len(test) == 2 and len(unseen) == 5
    for sub in SUBCATS:
        in_train = sum(line.startswith(f"videos/{sub}/") for line in train)
        in_test = sum(line.startswith(f"videos/{sub}/") for line in test)
        if sub in UNSEEN:
            assert in_train == in_test == 0
            assert sum(line.startswith(f"videos/{sub}/") for line in unseen) == 5
        else:
            assert (in_train, in_test) == (4, 1)
    assert not any("object_falling" in m for m in _read_list(dataset / "motions_train.txt"))
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["counts"] == {"train": 8, "test": 2, "test_unseen": 5}
    assert meta["args"]["seed"] == 7 and meta["args"]["unseen"] == list(UNSEEN)


def test_motions_and_normalisation(dataset):
    train = [np.load(dataset / m) for m in _read_list(dataset / "motions_train.txt")]
    everything = [np.load(p) for p in sorted((dataset / "vector_263").glob("*.npy"))]
    assert len(everything) == 15
    for feats in everything:
        assert feats.dtype == np.float32 and feats.ndim == 2 and feats.shape[1] == 263
        assert 39 <= feats.shape[0] <= 200  # 2-10 s at 20 fps, at most 200 rows (ViMo's cap)
        assert np.isfinite(feats).all()
        assert set(np.unique(feats[:, -4:])) <= {0.0, 1.0}  # foot contacts
    mean, std = np.load(dataset / "Mean.npy"), np.load(dataset / "Std.npy")
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    ref_mean, ref_std = compute_mean_std(train)  # TRAIN motions only
    np.testing.assert_array_equal(mean, ref_mean)
    np.testing.assert_array_equal(std, ref_std)
    all_mean, _ = compute_mean_std(everything)
    assert not np.array_equal(mean, all_mean)


def test_labels_match_lists_and_taxonomy(dataset):
    labels = json.loads((dataset / "labels.json").read_text())
    assert len(labels) == 15
    for split in ("train", "test", "test_unseen"):
        for line in _read_list(dataset / f"{split}.txt"):
            video, motion = line.split(" ")
            label = labels[Path(motion).stem]
            assert (label["video"], label["motion"], label["split"]) == (video, motion, split)
            assert label["seen"] == (split != "test_unseen")
    for pair_id, label in labels.items():
        row = taxonomy.get(label["subcategory"])
        assert pair_id.startswith(row.name + "-")
        assert label["broad_category"] == row.broad_category and label["action"] == row.action
        assert label["emotion"] in row.emotions
        assert label["plausible_reactions"] == list(row.reactions) and label["reaction"] in row.reactions
        assert label["motion_frames"] == np.load(dataset / label["motion"]).shape[0]


def test_videos_decode_to_stated_size_fps_duration(dataset):
    labels = json.loads((dataset / "labels.json").read_text())
    for label in labels.values():
        with av.open(str(dataset / label["video"])) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            assert stream.average_rate == 20
        assert len(frames) == label["video_frames"]
        assert frames[0].shape == (128, 128, 3)
        assert 2.0 - 1e-9 <= len(frames) / 20 <= 5.0 + 1e-9
        assert np.std(frames[len(frames) // 2]) > 5  # not a blank frame


def test_features_come_from_the_generated_joints(dataset):
    spec = next(s for s in plan_pairs(CONFIG) if s.subcategory == "walk_towards_happy")
    pair = generate_pair(CONFIG, spec)
    saved = np.load(dataset / spec.motion)
    np.testing.assert_array_equal(joints_to_features(pair.joints), saved)
    # The saved features describe the source joints after HumanML3D's canonicalisation (retarget, floor, origin,
    # facing +Z): recovering positions from them gives those joints back.
    recovered = features_to_joints(saved)
    expected = canonicalize_joints(pair.joints)[:-1]
    assert np.abs(recovered - expected).max() < 1e-4


def test_same_seed_same_bytes_any_worker_count_different_seed_differs(dataset, tmp_path):
    again = tmp_path / "b"
    make_dataset(CONFIG, again, workers=2, progress=False)
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (dataset / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "c"
    make_dataset(SynthConfig(pairs=3, seed=8, subcategories=SUBCATS, size=128), other, workers=1, progress=False)
    for spec in plan_pairs(SynthConfig(pairs=3, seed=8, subcategories=SUBCATS, size=128)):
        assert (other / spec.motion).read_bytes() != (dataset / spec.motion).read_bytes()
        assert (other / spec.video).read_bytes() != (dataset / spec.video).read_bytes()


def test_bad_arguments_are_rejected(dataset):
    with pytest.raises(KeyError, match="unknown subcategory"):
        SynthConfig(pairs=5, unseen=("juggling",))
    with pytest.raises(ValueError, match="unseen subcategories"):
        SynthConfig(pairs=5, subcategories=("wave",), unseen=("punch",))
    with pytest.raises(ValueError, match="pairs"):
        SynthConfig(pairs=0)
    with pytest.raises(FileExistsError, match="not empty"):
        make_dataset(CONFIG, dataset, workers=1, progress=False)
    assert "videos" in GENERATED and "vector_263" in GENERATED


def test_emotion_shows_only_in_the_face():
    seed = np.random.SeedSequence(11)
    config = RenderConfig(size=224, fps=20, noise=False)
    clips = {e: render_scene(sample_scene(f"walk_towards_{e}", e, seed, config)) for e in ("neutral", "happy",
                                                                                           "angry")}
    base = clips["neutral"]
    margin = 4  # px: bilinear head sway warp + optional defocus blur (sigma <= 0.9) spread an edge this far
    for emotion in ("happy", "angry"):
        clip = clips[emotion]
        assert clip.frames.shape == base.frames.shape
        np.testing.assert_array_equal(clip.head_boxes, base.head_boxes)  # same body, same head, same motion
        outside = np.ones(base.frames.shape[:3], dtype=bool)
        for i, (x0, y0, x1, y1) in enumerate(base.head_boxes):
            if x0 >= 0:
                outside[i, max(y0 - margin, 0):y1 + margin, max(x0 - margin, 0):x1 + margin] = False
        diff = np.abs(clip.frames.astype(np.int16) - base.frames.astype(np.int16)).max(axis=-1)
        assert diff[outside].max() == 0, f"{emotion}: pixels outside the head differ"
        # ... and the faces really differ: at the end of the walk the face is big and clearly changed.
        assert (diff[-1] > 40).sum() > 30, f"{emotion}: the face does not change"


@pytest.mark.parametrize("subcategory, emotion", [("walk_towards_angry", "angry"), ("ball_flying", "none"),
                                                  ("dog_run_at_you", "none")])
def test_rendering_chosen_frames_gives_the_same_bytes(subcategory, emotion):
    """The encoder's extra clips render only the 16 segment centres; those must be exactly the full clip's rows
    (sensor noise included), or the cached extra clips would depend on how they were rendered."""
    from hero_model.video.sampling import segment_indices

    scene = sample_scene(subcategory, emotion, np.random.SeedSequence(5), RenderConfig(size=96, fps=20))
    full = render_scene(scene)
    picks = segment_indices(scene.num_frames, 16)
    chosen = render_scene(scene, frame_indices=picks)
    np.testing.assert_array_equal(chosen.frames, full.frames[picks])
    np.testing.assert_array_equal(chosen.head_boxes, full.head_boxes[picks])
    reordered = render_scene(scene, frame_indices=picks[::-1].copy())
    np.testing.assert_array_equal(reordered.frames, full.frames[picks[::-1]])
    with pytest.raises(ValueError, match="frame_indices must lie in"):
        render_scene(scene, frame_indices=np.array([0, scene.num_frames]))
    with pytest.raises(ValueError, match="1-D integer"):
        render_scene(scene, frame_indices=np.array([0.5]))
