"""Dataset loaders on small ViMo- and HumanML3D-layout trees written here: real .npy motions and real mp4 videos.

Every video frame is a solid colour from a 64-colour palette (4 levels per channel, 64 apart), so the index of a
decoded frame can be read back from its colour after lossy-free H.264 (crf 0) and the RGB/YUV round trip.
"""
from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from hero_model.data import (  # noqa: E402
    CropRule, DataFileError, DatasetValidationError, HumanML3DMotionDataset, PairEntry, VideoDecodeError, VideoInfo,
    ViMoDataset, ViMoMotionDataset, decode_frames, item_rng, probe_video, read_motion_list, read_pair_list,
    sample_crop, sample_frames, stratified_val_split,
)
from hero_model.motion.normalization import Normalizer  # noqa: E402
from hero_model.video.sampling import segment_indices  # noqa: E402

FEATURE_DIM = 263
LEVELS = np.array([32, 96, 160, 224])
PALETTE = np.array([[LEVELS[(k >> 4) & 3], LEVELS[(k >> 2) & 3], LEVELS[k & 3]] for k in range(64)], np.uint8)
SUBCATEGORIES = ("chat", "dog", "storm")
# Source motion lengths (frames) of the 5 pairs of each subcategory: over 200, non-multiples of 4, near the minimum.
MOTION_LENGTHS = {
    "chat": (37, 203, 83, 120, 61),
    "dog": (200, 21, 150, 311, 45),
    "storm": (22, 99, 250, 64, 130),
}


def write_colour_video(path: Path, num_frames: int, fps: int = 20, size: tuple[int, int] = (48, 64)) -> None:
    """Frame k is PALETTE[k], encoded with libx264 at crf 0 (hero_model.render.write_video is another helper's
    work in progress; this test writes its own, with frame-exact control over the codec)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for k in range(num_frames):
            image = np.broadcast_to(PALETTE[k], (*size, 3)).copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def colour_indices(frames: np.ndarray) -> list[int]:
    """Palette index of each (H, W, 3) frame, from its mean colour."""
    means = frames.reshape(frames.shape[0], -1, 3).mean(axis=1)                     # (T, 3)
    distances = ((means[:, None, :] - PALETTE[None].astype(float)) ** 2).sum(-1)   # (T, 64)
    assert distances.min(axis=1).max() < 100, "a decoded frame is far from every palette colour"
    return distances.argmin(axis=1).tolist()


def write_vimo_tree(root: Path, seed: int = 0) -> dict:
    """3 subcategories x 5 pairs (4 train + 1 test each); chat's first two train pairs share one motion."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    train, test, motions = [], [], {}
    for s, sub in enumerate(SUBCATEGORIES):
        for k, length in enumerate(MOTION_LENGTHS[sub]):
            motion_id = f"{sub}_{k:03d}"
            motions[motion_id] = (rng.normal(size=(length, FEATURE_DIM)) * 0.5 + 0.1).astype(np.float32)
            video = f"videos/{sub}/{sub}-{k:04d}.mp4"
            write_colour_video(root / video, num_frames=17 + 9 * k + s)  # 17..55 frames
            pair_motion = "chat_000" if (sub == "chat" and k == 1) else motion_id
            (test if k == 4 else train).append(f"{video} vector_263/{pair_motion}.npy")
    (root / "vector_263").mkdir()
    for motion_id, motion in motions.items():
        np.save(root / "vector_263" / f"{motion_id}.npy", motion)
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("\n".join(test) + "\n")
    used_train = sorted({line.split()[1] for line in train})
    # The motion lists mix the two accepted forms: relpaths and bare ids.
    (root / "motions_train.txt").write_text(
        "\n".join(ref if i % 2 else Path(ref).stem for i, ref in enumerate(used_train)) + "\n")
    (root / "motions_test.txt").write_text("\n".join(line.split()[1] for line in test) + "\n")
    labels = {Path(line.split()[1]).stem: {"subcategory": Path(line.split()[0]).parent.name} for line in train + test}
    (root / "labels.json").write_text(json.dumps(labels))
    all_frames = np.concatenate(list(motions.values()))
    Normalizer(all_frames.mean(0), all_frames.std(0) + 0.05).save(root)
    return {"train": train, "test": test, "motions": motions}


@pytest.fixture(scope="module")
def vimo(tmp_path_factory):
    root = tmp_path_factory.mktemp("vimo")
    info = write_vimo_tree(root)
    return root, info


def find_start(source: np.ndarray, crop: np.ndarray) -> int:
    """Start frame where `crop` is a contiguous slice of `source`; fails if there is none."""
    for start in range(source.shape[0] - crop.shape[0] + 1):
        if np.allclose(source[start:start + crop.shape[0]], crop, atol=1e-5):
            return start
    raise AssertionError("the crop is not a contiguous slice of the source motion")


# ---------------------------------------------------------------------------------------------- crop rule


def test_crop_rule_lengths_and_extra_unit_drop_frequency():
    rule = CropRule(max_length=200, unit_length=4, drop_unit_prob=1 / 3)
    rng = np.random.default_rng(123)
    for num_frames in (21, 83, 200, 203, 311):
        floored = min(num_frames, 200) // 4 * 4
        draws = [sample_crop(num_frames, rule, rng) for _ in range(3000)]
        lengths = np.array([length for _, length in draws])
        starts = np.array([start for start, _ in draws])
        assert set(lengths.tolist()) == {floored, floored - 4}
        # Binomial(3000, 1/3): std of the frequency 0.0086, so +-0.04 is > 4 sigma and a p of 1/2 or 1/4 fails.
        assert abs((lengths == floored - 4).mean() - 1 / 3) < 0.04
        assert starts.min() == 0 and (starts + lengths).max() == num_frames  # every start reachable
    # One unit is never dropped to nothing, and a motion shorter than a unit has no crop.
    assert {sample_crop(5, rule, rng)[1] for _ in range(50)} == {4}
    with pytest.raises(ValueError, match="shorter than one unit"):
        sample_crop(3, rule, rng)
    with pytest.raises(ValueError, match="drop_unit_prob"):
        CropRule(drop_unit_prob=1.5)
    assert item_rng(1, 2, 3).random() == item_rng(1, 2, 3).random() != item_rng(1, 3, 2).random()


# ---------------------------------------------------------------------------------------------- video


def test_sampled_frames_are_the_segment_centres(vimo):
    root, _ = vimo
    video = root / "videos/dog/dog-0003.mp4"  # 17 + 27 + 1 = 45 frames
    info = probe_video(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (45, 20.0, 64, 48)
    frames, fps = sample_frames(video, 16)
    assert frames.shape == (16, 48, 64, 3) and frames.dtype == np.uint8 and fps == 20.0
    assert colour_indices(frames) == segment_indices(45, 16).tolist()
    # Resized frames (stretched, no aspect kept) keep their identity.
    small, _ = sample_frames(video, 16, size=(24, 40))
    assert small.shape == (16, 24, 40, 3) and colour_indices(small) == segment_indices(45, 16).tolist()
    # Decoding stops after the last requested frame.
    picked, decoded = decode_frames(video, [3, 3, 10])
    assert colour_indices(picked) == [3, 3, 10] and decoded == 11
    with pytest.raises(VideoDecodeError, match="stream ended after 45 frames"):
        decode_frames(video, [45])
    # A header that over-counts the frames: the segments of the frames that really decode are sampled.
    recounted, _ = sample_frames(video, 16, info=VideoInfo(num_frames=60, fps=20.0, width=64, height=48))
    assert colour_indices(recounted) == segment_indices(45, 16).tolist()


def test_containers_without_a_frame_count(tmp_path):
    video = tmp_path / "clip.mkv"  # Matroska stores no frame count: probe counts packets instead
    write_colour_video(video, num_frames=23)
    assert probe_video(video).num_frames == 23
    assert colour_indices(sample_frames(video, 16)[0]) == segment_indices(23, 16).tolist()


def test_undecodable_and_missing_videos_are_named(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 64)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (garbage, empty):
        with pytest.raises(VideoDecodeError, match=f"{path.name}.*cannot open"):
            probe_video(path)
    with pytest.raises(VideoDecodeError, match="missing.mp4: video file not found"):
        sample_frames(tmp_path / "missing.mp4")


# ---------------------------------------------------------------------------------------------- ViMo pairs


def test_items_shapes_padding_and_normalisation(vimo):
    root, info = vimo
    ds = ViMoDataset(root, "test", image_size=32)
    assert len(ds) == 3 and [f"{p.video} {p.motion}" for p in ds.pairs] == info["test"]
    normalizer = Normalizer.from_dir(root)
    for i in range(len(ds)):
        item = ds[i]
        source = info["motions"][Path(item["motion_file"]).stem]
        length = item["length"]
        assert item["motion"].shape == (200, FEATURE_DIM) and item["motion"].dtype == torch.float32
        assert length % 4 == 0 and 0 < length <= min(200, source.shape[0])
        assert length >= min(200, source.shape[0]) // 4 * 4 - 4
        assert torch.count_nonzero(item["motion"][length:]) == 0
        crop = normalizer.denormalize(item["motion"][:length].numpy())
        assert find_start(source, crop) == ds.crop_window(i)[0]
        # Normalised, not raw: the crop as stored differs from the source slice.
        assert not np.allclose(item["motion"][:length].numpy(), crop, atol=1e-3)
        assert item["frames"].shape == (16, 32, 32, 3) and item["frames"].dtype == torch.uint8
        assert item["subcategory"] == Path(item["video"]).parent.name
        assert item["pair_id"] == Path(item["motion_file"]).stem
        assert ds.labels[item["pair_id"]]["subcategory"] == item["subcategory"]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["motion"].shape == (3, 200, FEATURE_DIM) and batch["frames"].shape == (3, 16, 32, 32, 3)
    assert batch["length"].dtype == torch.int64 and len(batch["video"]) == 3


def test_dataset_frames_are_segment_centres(vimo):
    root, _ = vimo
    ds = ViMoDataset(root, "train", image_size=16, val_fraction=0.0)
    for i in (0, len(ds) - 1):
        num_frames = probe_video(root / ds.pairs[i].video).num_frames
        assert colour_indices(ds[i]["frames"].numpy()) == segment_indices(num_frames, 16).tolist()


def test_crops_are_fresh_each_epoch_and_reproducible(vimo):
    root, _ = vimo
    ds = ViMoDataset(root, "train", val_fraction=0.0, return_video=False, seed=7)

    def epoch_crops(dataset, epoch):
        dataset.set_epoch(epoch)
        return [dataset.crop_window(i) for i in range(len(dataset))], [dataset[i]["motion"] for i in range(3)]

    crops0, motions0 = epoch_crops(ds, 0)
    crops1, _ = epoch_crops(ds, 1)
    assert sum(a != b for a, b in zip(crops0, crops1)) >= len(ds) // 2
    again, motions_again = epoch_crops(ds, 0)
    assert again == crops0 and all(torch.equal(a, b) for a, b in zip(motions0, motions_again))
    twin = ViMoDataset(root, "train", val_fraction=0.0, return_video=False, seed=7)
    assert epoch_crops(twin, 0)[0] == crops0
    other_seed = ViMoDataset(root, "train", val_fraction=0.0, return_video=False, seed=8)
    assert epoch_crops(other_seed, 0)[0] != crops0
    # Through the dataset's own rng path, the extra unit is dropped for ~1/3 of the draws (12 pairs x 250 epochs).
    drops = []
    for epoch in range(250):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            floored = min(ds.raw_motion(i).shape[0], 200) // 4 * 4
            drops.append(ds.crop_window(i)[1] == floored - 4)
    assert abs(np.mean(drops) - 1 / 3) < 0.04
    fixed = ViMoDataset(root, "train", val_fraction=0.0, return_video=False, random_crop=False)
    assert all(fixed.crop_window(i) == (0, min(fixed.raw_motion(i).shape[0], 200) // 4 * 4) for i in range(len(fixed)))


def test_val_split_is_stratified_disjoint_and_leaves_test_alone(vimo):
    root, info = vimo
    kwargs = dict(val_fraction=0.25, seed=0, return_video=False)
    train, val = ViMoDataset(root, "train", **kwargs), ViMoDataset(root, "val", **kwargs)
    as_lines = lambda ds: [f"{p.video} {p.motion}" for p in ds.pairs]  # noqa: E731
    assert not set(as_lines(train)) & set(as_lines(val))
    assert sorted(as_lines(train) + as_lines(val)) == sorted(info["train"])
    assert Counter(p.subcategory for p in val.pairs).keys() == set(SUBCATEGORIES)
    assert Counter(p.subcategory for p in train.pairs).keys() == set(SUBCATEGORIES)
    # The two chat pairs sharing a motion are on the same side; nothing in val is shared with train.
    chat_shared = [line for line in info["train"] if line.endswith("chat_000.npy")]
    assert len(chat_shared) == 2 and len({line in as_lines(val) for line in chat_shared}) == 1
    assert not {p.motion for p in val.pairs} & {p.motion for p in train.pairs} and val.val_shared == 0
    listed = read_pair_list(root / "train.txt")
    shared_ids = [i for i, p in enumerate(listed) if p.motion.endswith("chat_000.npy")]
    for seed in range(20):  # held out together or not at all, whichever pairs a seed draws
        split = stratified_val_split(listed, 0.25, seed)
        assert len({i in split.val for i in shared_ids}) == 1 and split.shared == 0
    assert any(shared_ids[0] in stratified_val_split(listed, 0.25, s).val for s in range(20))
    assert as_lines(ViMoDataset(root, "val", **kwargs)) == as_lines(val)  # deterministic
    assert len({tuple(as_lines(ViMoDataset(root, "val", **{**kwargs, "seed": s}))) for s in range(6)}) > 1
    test = ViMoDataset(root, "test", **kwargs)
    assert as_lines(test) == info["test"] and not set(as_lines(test)) & set(info["train"])
    with pytest.raises(DataFileError, match="test_unseen.txt: split list not found"):
        ViMoDataset(root, "test_unseen", **kwargs)


def test_stratified_split_rules_on_larger_lists():
    sizes = {"a": 1, "b": 2, "c": 10, "d": 40, "e": 7}
    pairs = [PairEntry(f"videos/{s}/{s}-{k}.mp4", f"vector_263/{s}{k}.npy") for s, n in sizes.items() for k in range(n)]
    split = stratified_val_split(pairs, 0.1, seed=3)
    assert sorted(split.train + split.val) == list(range(len(pairs))) and split.shared == 0
    val_counts = Counter(pairs[i].subcategory for i in split.val)
    assert val_counts == {"b": 1, "c": 1, "d": 4, "e": 1}  # max(1, round(0.1 n)) for n >= 2; "a" has 1 pair
    assert stratified_val_split(pairs, 0.1, seed=3) == split
    # A subcategory whose pairs all share one motion falls back to holding out a single pair, and says so.
    tied = [PairEntry(f"videos/z/z-{k}.mp4", "vector_263/same.npy") for k in range(3)]
    fallback = stratified_val_split(pairs + tied, 0.1, seed=3)
    assert Counter((pairs + tied)[i].subcategory for i in fallback.val)["z"] == 1 and fallback.shared == 1


# ---------------------------------------------------------------------------------------------- bad files


@pytest.fixture()
def bad_vimo(vimo, tmp_path):
    """A copy of the tree whose test list has one pair per problem, plus one good pair."""
    source, _ = vimo
    root = tmp_path / "bad"
    shutil.copytree(source, root)
    vec = root / "vector_263"
    np.save(vec / "wrong_dim.npy", np.zeros((40, 262), np.float32))
    nan = np.zeros((40, FEATURE_DIM), np.float32)
    nan[7, 100] = np.nan
    np.save(vec / "has_nan.npy", nan)
    np.save(vec / "too_short.npy", np.zeros((10, FEATURE_DIM), np.float32))
    (root / "videos/chat/garbage.mp4").write_bytes(b"garbage bytes, not an mp4" * 40)
    good_video = "videos/chat/chat-0000.mp4"
    lines = [
        f"{good_video} vector_263/missing.npy",
        f"{good_video} vector_263/wrong_dim.npy",
        f"{good_video} vector_263/has_nan.npy",
        f"{good_video} vector_263/too_short.npy",
        "videos/chat/garbage.mp4 vector_263/chat_002.npy",
        "videos/dog/missing.mp4 vector_263/chat_003.npy",
        f"{good_video} vector_263/dog_000.npy",
    ]
    (root / "test.txt").write_text("\n".join(lines) + "\n")
    return root


def test_bad_files_raise_one_error_naming_each(bad_vimo):
    with pytest.raises(DatasetValidationError) as caught:
        ViMoDataset(bad_vimo, "test")
    message = str(caught.value)
    assert "6 bad entries" in message
    for expected in ("missing.npy: motion file not found", "wrong_dim.npy: expected shape (frames, 263), got (40, 262)",
                     "has_nan.npy: contains NaN/inf (first at frame 7, dim 100)",
                     "too_short.npy: 10 frames, shorter than the minimum of 20", "garbage.mp4: cannot open",
                     "missing.mp4: video file not found"):
        assert expected in message
    assert all(isinstance(p, DataFileError) for p in caught.value.problems)


def test_skip_bad_reports_the_count(bad_vimo, caplog):
    with caplog.at_level(logging.WARNING, logger="hero_model.data"):
        ds = ViMoDataset(bad_vimo, "test", skip_bad=True, image_size=None)
    assert len(ds) == 1 and len(ds.skipped) == 6 and len(ds.skipped_pairs) == 6
    assert "skipped 6 bad entries" in caplog.text
    assert ds[0]["pair_id"] == "dog_000"
    # Without videos, only the motion problems count.
    assert len(ViMoDataset(bad_vimo, "test", skip_bad=True, return_video=False).skipped) == 4


def test_errors_after_construction_name_the_file(vimo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(vimo[0], root)
    ds = ViMoDataset(root, "test", image_size=None)
    (root / ds.pairs[0].video).write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=ds.pairs[0].video):
        ds[0]
    with pytest.raises(DataFileError, match="line 2: expected '<video relpath> <motion relpath>'"):
        (root / "test.txt").write_text("videos/a/a-1.mp4 vector_263/x.npy\nonly_one_token\n")
        ViMoDataset(root, "test")


def test_feature_cache_replaces_videos(vimo):
    root, _ = vimo
    seen = []

    def cache(video_relpath: str) -> torch.Tensor:
        seen.append(video_relpath)
        return torch.full((16, 8), float(len(seen)))

    ds = ViMoDataset(root, "test", feature_cache=cache, return_video=False)
    item = ds[1]
    assert "frames" not in item and item["features"].shape == (16, 8) and seen == [ds.pairs[1].video]
    broken = ViMoDataset(root, "test", feature_cache=lambda v: torch.zeros(15, 8), return_video=False)
    with pytest.raises(DataFileError, match=r"feature_cache returned shape \(15, 8\)"):
        broken[0]


# ---------------------------------------------------------------------------------------------- motion windows


def test_vimo_motion_windows_hold_out_the_val_motions(vimo):
    root, info = vimo
    refs = read_motion_list(root / "motions_train.txt", "vector_263")
    assert refs == sorted({line.split()[1] for line in info["train"]})  # bare ids and relpaths both resolved
    kwargs = dict(val_fraction=0.25, seed=0)
    train, val = ViMoMotionDataset(root, "train", **kwargs), ViMoMotionDataset(root, "val", **kwargs)
    val_pairs = ViMoDataset(root, "val", return_video=False, **kwargs)

    def as_rel(ds):  # every listed motion of the split, kept or too short for the window
        return {f.relative_to(root).as_posix() for f in ds.files + [Path(s.path) for s in ds.too_short]}

    assert as_rel(val) == {p.motion for p in val_pairs.pairs}
    assert not as_rel(train) & as_rel(val) and as_rel(train) | as_rel(val) == set(refs)
    assert train[0].shape == (20, FEATURE_DIM) and len(train) == sum(n - 19 for n in train.num_frames)
    test = ViMoMotionDataset(root, "test")
    assert len(test.files) == 3 and test.too_short == []


def test_humanml3d_layout_and_windows(tmp_path, caplog):
    rng = np.random.default_rng(5)
    lengths = {"000001": 30, "000002": 64, "M000003": 70, "000004": 100, "000005": 50}
    (tmp_path / "new_joint_vecs").mkdir()
    for motion_id, n in lengths.items():
        np.save(tmp_path / "new_joint_vecs" / f"{motion_id}.npy", rng.normal(size=(n, FEATURE_DIM)).astype(np.float32))
    (tmp_path / "train.txt").write_text("\n".join(lengths) + "\n")
    (tmp_path / "val.txt").write_text("new_joint_vecs/000004.npy\n000009\n")
    normalizer = Normalizer(np.full(FEATURE_DIM, 0.2), np.full(FEATURE_DIM, 2.0))
    normalizer.save(tmp_path)

    with caplog.at_level(logging.WARNING, logger="hero_model.data"):
        ds = HumanML3DMotionDataset(tmp_path, "train", window=64)
    assert "left out 2 clip(s) shorter than the 64-frame window" in caplog.text
    assert sorted(Path(s.path).stem for s in ds.too_short) == ["000001", "000005"]
    assert len(ds) == (64 - 63) + (70 - 63) + (100 - 63)  # every window position once per epoch
    seen = set()
    for index in range(len(ds)):
        c, start = ds.locate(index)
        seen.add((c, start))
        expected = normalizer.normalize(ds.clip(c)[start:start + 64])
        assert torch.allclose(ds[index], torch.from_numpy(expected))
    assert len(seen) == len(ds)

    rand = HumanML3DMotionDataset(tmp_path, "train", window=64, windows="random", seed=1)
    assert len(rand) == 3 and rand[2].shape == (64, FEATURE_DIM)
    starts = lambda epoch: (rand.set_epoch(epoch), [rand.locate(i)[1] for i in range(3)])[1]  # noqa: E731
    assert starts(0) == starts(0) and any(starts(0) != starts(e) for e in range(1, 4))
    assert torch.utils.data.default_collate([rand[0], rand[1]]).shape == (2, 64, FEATURE_DIM)

    with pytest.raises(DatasetValidationError, match="000009.npy: motion file not found"):
        HumanML3DMotionDataset(tmp_path, "val", window=64)
    assert len(HumanML3DMotionDataset(tmp_path, "val", window=64, skip_bad=True).skipped) == 1
