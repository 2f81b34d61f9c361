"""Bag tools end to end: `python -m hero_ros.bagify` writes real rosbag2 bags (mcap and sqlite3) from a tiny
ViMo-Synth set made here; rosbags' own reader checks them; `python -m hero_ros.replay` plays one into a real node
process (random-weight model, loopback, a random ROS_DOMAIN_ID) and scores the reactions with a real, saved
ReactionClassifier."""
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from rosbags.image import message_to_cvimage
from rosbags.rosbag2 import Reader

from hero_model.data.video_io import read_video
from hero_model.eval.plausibility import ClassifierConfig, ReactionClassifier
from hero_model.synth.dataset import SynthConfig, make_dataset
from hero_ros import bagify
from hero_ros.bagify import BagSpec
from hero_ros.bag_index import header_stamp_ns
from hero_ros.replay import ReplayOptions
from random_model import random_normalizer, write_random_model

SUBCATS = ("wave", "punch")
CLIPS = 3                 # the first 3 train pairs go into the bags
GAP_S = 0.5
REPLAY_TIMEOUT_S = 240    # node start-up (torch import, model load) on a shared 2-core machine + the replay


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """4 pairs (2 per subcategory, all train), 64 px, 20 fps."""
    root = tmp_path_factory.mktemp("synth") / "data"
    make_dataset(SynthConfig(pairs=4, seed=3, subcategories=SUBCATS, size=64), root, workers=1, progress=False)
    return root


def _bagify(synth, out, *extra):
    code = bagify.main([str(synth), "--out", str(out), "--split", "train", "--limit", str(CLIPS),
                        "--gap-s", str(GAP_S), "--quiet", *extra])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def bags(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("bags")
    return {"mcap": _bagify(synth, out / "mcap_rgb8"),
            "sqlite3": _bagify(synth, out / "sqlite3_jpeg", "--storage", "sqlite3", "--encoding", "jpeg")}


def _clips(synth):
    pairs = [line.split() for line in (synth / "train.txt").read_text().splitlines()][:CLIPS]
    labels = json.loads((synth / "labels.json").read_text())
    return [(read_video(synth / video)[0], labels[motion.split("/")[-1][:-4]]) for video, motion in pairs]


def _read(bag):
    with Reader(bag) as reader:
        conns = {c.topic: c for c in reader.connections}
        messages = [(c.topic, t, raw) for c, t, raw in reader.messages()]
        return conns, messages


@pytest.mark.parametrize("storage, encoding", [("mcap", "rgb8"), ("sqlite3", "jpeg")])
def test_bag_layout_messages_and_frames(bags, synth, storage, encoding):
    from rosbags.typesys import Stores, get_typestore

    bag = bags[storage]
    store = get_typestore(Stores.ROS2_KILTED)
    camera_topic = "/camera/image_raw" + ("/compressed" if encoding == "jpeg" else "")
    camera_type = "sensor_msgs/msg/CompressedImage" if encoding == "jpeg" else "sensor_msgs/msg/Image"
    conns, messages = _read(bag)
    assert {t: c.msgtype for t, c in conns.items()} == {camera_topic: camera_type,
                                                         "/vimo_synth/labels": "std_msgs/msg/String"}
    clips = _clips(synth)
    frames = [m for m in messages if m[0] == camera_topic]
    labels = [json.loads(store.deserialize_cdr(raw, "std_msgs/msg/String").data)
              for topic, _, raw in messages if topic == "/vimo_synth/labels"]
    assert len(frames) == sum(len(f) for f, _ in clips) and len(labels) == CLIPS

    # stamps: log time == header stamp, strictly increasing, 50 ms apart inside a clip, a gap between clips
    log = np.array([t for _, t, _ in frames])
    stamps = np.array([header_stamp_ns(raw) for _, _, raw in frames])
    assert np.array_equal(log, stamps) and np.all(np.diff(stamps) > 0)
    steps = np.diff(stamps) / 1e9
    assert np.allclose(np.sort(steps)[:-(CLIPS - 1)], 0.05, atol=1e-6)
    assert np.allclose(np.sort(steps)[-(CLIPS - 1):], 0.05 + GAP_S, atol=1e-6)

    # labels: one per clip at its first frame, with the dataset's labels and the clip's stamps
    first = 0
    for label, (video, truth) in zip(labels, clips):
        assert label["start_ns"] == stamps[first] and label["end_ns"] == stamps[first + len(video) - 1]
        for key in ("subcategory", "broad_category", "emotion", "reaction", "plausible_reactions"):
            assert label[key] == truth[key], key
        assert label["frames"] == len(video) and label["fps"] == 20.0 and label["video"] == truth["video"]

        # an image decodes back to the original frame: rgb8 exactly, jpeg closely
        index = first + len(video) // 2
        msg = store.deserialize_cdr(frames[index][2], camera_type)
        decoded = message_to_cvimage(msg, "rgb8")
        assert decoded.shape == video[0].shape
        error = np.abs(decoded.astype(np.int16) - video[len(video) // 2].astype(np.int16))
        if encoding == "rgb8":
            assert msg.encoding == "rgb8" and msg.step == 64 * 3 and error.max() == 0
        else:
            assert msg.format == "rgb8; jpeg compressed bgr8" and error.mean() < 4.0
        first += len(video)

    # metadata.yaml: version 9, the storage's file, counts, type hashes; definitions stored for each type
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == storage
    assert [(bag / p).is_file() for p in meta["relative_file_paths"]] == [True]
    assert meta["message_count"] == len(messages)
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    assert counts == {camera_topic: len(frames), "/vimo_synth/labels": CLIPS}
    for topic in meta["topics_with_message_count"]:
        assert topic["topic_metadata"]["type_description_hash"].startswith("RIHS01_")
        assert topic["topic_metadata"]["offered_qos_profiles"][0]["reliability"] == "reliable"
    assert meta["starting_time"]["nanoseconds_since_epoch"] == stamps[0]
    assert ("string format" if encoding == "jpeg" else "uint32 height") in conns[camera_topic].msgdef.data


def test_same_input_same_bytes(synth, tmp_path):
    a = _bagify(synth, tmp_path / "a" / "bag")
    b = _bagify(synth, tmp_path / "b" / "bag")
    names = sorted(p.name for p in a.iterdir())
    assert names == ["bag.mcap", "metadata.yaml"]
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def test_bagify_bad_input_names_it(synth, tmp_path, capsys):
    assert bagify.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
    assert bagify.main([str(synth), "--out", str(tmp_path / "y"), "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert "val.txt" in err and "train" in err and not (tmp_path / "y").exists()
    with pytest.raises(ValueError, match="gap_s"):
        BagSpec(gap_s=-1.0)


def test_bagify_a_folder_of_videos(synth, tmp_path):
    """Plain videos (no dataset files): one clip per file in path order, labels without ViMo-Synth fields."""
    folder = tmp_path / "videos"
    (folder / "b").mkdir(parents=True)
    videos = sorted((synth / "videos").rglob("*.mp4"))[:2]
    (folder / "b" / "second.mp4").write_bytes(videos[1].read_bytes())
    (folder / "first.mp4").write_bytes(videos[0].read_bytes())
    bag = tmp_path / "bag"
    assert bagify.main([str(folder), "--out", str(bag), "--encoding", "jpeg", "--quiet"]) == 0
    conns, messages = _read(bag)
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    labels = [json.loads(store.deserialize_cdr(raw, "std_msgs/msg/String").data)
              for topic, _, raw in messages if topic == "/vimo_synth/labels"]
    assert [(l["clip_id"], l["video"], l["subcategory"]) for l in labels] == [("b__second", "b/second.mp4", None),
                                                                            ("first", "first.mp4", None)]
    frames = sum(1 for topic, _, _ in messages if topic == "/camera/image_raw/compressed")
    assert frames == sum(len(read_video(v)[0]) for v in videos)


# --------------------------------------------------------------------------------------------- replay

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small random-weight model folder (as tests/test_ros_node.py builds it) and a saved, untrained
    plausibility classifier over the reactions of the set."""
    directory = write_random_model(tmp_path_factory.mktemp("model"))
    names = ("wave_back", "block_arms", "dodge_left", "dodge_right")
    classifier = ReactionClassifier(ClassifierConfig(width=16, dilations=(1, 2), num_classes=len(names)),
                                    random_normalizer(), names)
    classifier.save(directory / "classifier")
    return directory


def _replay(*args, timeout=REPLAY_TIMEOUT_S):
    proc = subprocess.Popen([sys.executable, "-m", "hero_ros.replay", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()                                  # SIGTERM: the replay stops its node before exiting
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"replay did not finish within {timeout} s:\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.ros
def test_replay_into_a_real_node(bags, model_dir, tmp_path):
    report_path = tmp_path / "report.json"
    done = _replay(bags["mcap"], "--report", report_path, "--model-dir", model_dir, "--classifier",
                   model_dir / "classifier", "--rate", "2", "--settle-s", "0.1")
    log = report_path.with_suffix(".node.log")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nnode log:\n{log.read_text() if log.exists() else ''}"
    report = json.loads(report_path.read_text())
    assert report_path.with_suffix(".md").is_file()
    frames = report["frames"]
    assert frames["sent"] == frames["in_bag"] == report["frames"]["received_by_node"] == frames["encoded"]
    assert frames["dropped"] == 0 and report["node"]["exit_code"] == 0
    assert report["clips"] == CLIPS and report["triggers"]["clips_with_reaction"] == CLIPS
    for kind in ("trigger_to_trajectory", "stamp_to_trajectory", "service_round_trip"):
        stats = report["latency_ms"][kind]
        assert stats["n"] == CLIPS and 0 < stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"] < 30_000
    # the newest frame was sent settle_s before the trigger: stamp-based latency includes it
    assert report["latency_ms"]["stamp_to_trajectory"]["p50"] > report["latency_ms"]["trigger_to_trajectory"]["p50"]
    assert report["timing"]["error_ms"]["p50"] < 20.0
    assert report["resources"]["rss_mb"]["max"] > 50 and report["resources"]["cpu_percent"]["max"] > 0
    # plausibility: the classifier's verdicts against each clip's plausible set
    verdicts = [rx["plausible"] for row in report["per_clip"] for rx in row["reactions"]]
    assert len(verdicts) == CLIPS and report["plausibility"] == pytest.approx(np.mean(verdicts), abs=1e-4)
    names = ReactionClassifier.load(model_dir / "classifier").class_names
    assert all(rx["predicted"] in names for row in report["per_clip"] for rx in row["reactions"])
    files = report["files"]
    assert list(files) == ["mcap_rgb8.mcap"] and len(report["dataset_sha256"]) == 64


@pytest.mark.ros
def test_replay_with_the_nodes_own_triggers(bags, model_dir, tmp_path):
    """sqlite3 bag, CompressedImage input, periodic triggers: every reaction is assigned to the clip its stamp is in."""
    report_path = tmp_path / "node_triggers.json"
    done = _replay(bags["sqlite3"], "--report", report_path, "--model-dir", model_dir, "--classifier",
                   model_dir / "classifier", "--rate", "2", "--trigger", "node", "--node-param", "period_s=1",
                   "--tail-s", "1.0")
    log = report_path.with_suffix(".node.log")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nnode log:\n{log.read_text() if log.exists() else ''}"
    report = json.loads(report_path.read_text())
    assert report["node"]["parameters"]["input_type"] == "compressed" and report["storage"] == "sqlite3"
    assert report["frames"]["sent"] == report["frames"]["in_bag"] == report["frames"]["received_by_node"]
    assert report["triggers"]["requested"] is None and report["triggers"]["reactions"] >= 2
    assert report["latency_ms"]["service_round_trip"] is None
    assert report["latency_ms"]["trigger_to_trajectory"]["n"] == report["triggers"]["reactions"]
    for row in report["per_clip"]:
        assert all(row["start_ns"] <= rx["stamp_ns"] <= row["end_ns"] for rx in row["reactions"])
    assert 0.0 <= report["plausibility"] <= 1.0


def test_replay_options_are_checked():
    with pytest.raises(ValueError, match="rate"):
        ReplayOptions(rate=0.0)
    with pytest.raises(ValueError, match="trigger"):
        ReplayOptions(trigger="timer")


def test_replay_bad_input_names_it(bags, tmp_path):
    done = _replay(tmp_path / "missing_bag", "--report", tmp_path / "r.json", timeout=60)
    assert done.returncode == 2 and str(tmp_path / "missing_bag") in done.stderr and "not found" in done.stderr
    done = _replay(bags["mcap"], "--report", tmp_path / "r.json", "--topic", "/zed/left/image", timeout=60)
    assert done.returncode == 2 and "/zed/left/image" in done.stderr and "/camera/image_raw" in done.stderr
    done = _replay(bags["mcap"], "--report", tmp_path / "r.json", "--classifier", tmp_path / "no_classifier",
                   timeout=60)
    assert done.returncode == 2 and str(tmp_path / "no_classifier") in done.stderr
    assert not (tmp_path / "r.json").exists()
