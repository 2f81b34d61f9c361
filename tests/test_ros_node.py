"""The reaction node end to end: real rclpy, the node in its own processes, this process as camera and consumer,
loopback only (conftest.py: LOCALHOST discovery, temporary ROS_HOME/ROS_LOG_DIR, a random ROS_DOMAIN_ID that the
node processes inherit). Two nodes start once for the module, on a small random-weight model written here:
  raw         /camera/image_raw, sensor_msgs/Image, reliable QoS, service trigger, window_s given as an int
  compressed  namespace /robot2, /cam2/image, input_type auto (the CompressedImage type is detected from the
              graph), default best-effort QoS
Every wait is bounded and fails with the node's log."""
import shutil
import time

import numpy as np
import pytest
import rclpy
import torch

from hero_model.motion import JOINT_NAMES
from hero_model.pipeline import ReactionPipeline
from hero_ros.client import ReactClient
from hero_ros.human_target import DOF_NAMES
from hero_ros.image_input import RAW_ENCODINGS, compressed_from_rgb, image_from_rgb
from hero_ros.messages import add_seconds, reaction_arrays, stamp_to_seconds
from hero_ros.node_process import NodeProcess, wait_until
from random_model import write_random_model

pytestmark = pytest.mark.ros
STARTUP_S = 120.0   # two nodes importing torch and loading a model on a shared 2-core machine
ANSWER_S = 30.0
WINDOW_FRAMES = 40  # window_s = 2 s at 20 fps
FPS = 20.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small random-weight model folder in the project's format (as tests/test_pipeline.py writes it)."""
    directory = write_random_model(tmp_path_factory.mktemp("model"))
    return directory


@pytest.fixture(scope="module")
def nodes(model_dir, tmp_path_factory):
    logs = tmp_path_factory.mktemp("node_logs")
    common = {"model_dir": str(model_dir), "device": "cpu", "trigger": "service", "stale_after_s": 0.5,
              "max_encode_hz": 60.0}
    started = {
        "raw": NodeProcess({**common, "reliable": True, "window_s": 2}, logs / "raw.log"),   # int for a float
        "compressed": NodeProcess({**common, "image_topic": "/cam2/image", "window_s": 2.0}, logs / "compressed.log",
                                  extra_args=["-r", "__ns:=/robot2"]),
    }
    for node in started.values():
        node.start()
    yield started
    for node in started.values():
        node.stop(timeout=10.0)


@pytest.fixture(scope="module")
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def _ready_client(process: NodeProcess, **kwargs) -> ReactClient:
    client = ReactClient(**kwargs)
    if not client.wait_ready(STARTUP_S, alive=lambda: process.alive):
        client.close()
        pytest.fail(f"node not ready within {STARTUP_S:.0f} s (alive={process.alive}); log:\n"
                    f"{process.log_text()[-4000:]}")
    return client


@pytest.fixture(scope="module")
def client(nodes, context):
    c = _ready_client(nodes["raw"], context=context, reliable=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def compressed_client(nodes, context):
    c = _ready_client(nodes["compressed"], context=context, node="/robot2/hero_react", namespace="/robot2",
                      image_topic="/cam2/image", compressed=True, reliable=False, name="hero_camera2")
    yield c
    c.close()


@pytest.fixture(scope="module")
def clip():
    """A ViMo-Synth clip (someone waving), 96x96 at 20 fps."""
    from hero_model.synth.dataset import SynthConfig, generate_pair, plan_pairs

    config = SynthConfig(pairs=1, seed=0, subcategories=("wave",), size=96)
    return generate_pair(config, plan_pairs(config)[0]).frames      # (93, 96, 96, 3)


class StampClock:
    """Start stamps for successive segments: each after everything published so far, so time only moves on
    (unless a test wants it to go back)."""

    def __init__(self):
        self.next = None

    def take(self, client: ReactClient, frames: int, fps: float = FPS):
        now = client.now()
        start = now if self.next is None or stamp_to_seconds(now) > stamp_to_seconds(self.next) else self.next
        self.next = add_seconds(start, (frames + 1) / fps)
        return start


CLOCK = StampClock()


SETTLE_S = 0.6      # frames published just before a trigger must reach the node first (different DDS channels;
                    # 0.25 s was once too short on a busy 2-core machine: the reaction missed the last 27 frames)


def _play(client, frames, rate=4.0, encoding="rgb8", start=None):
    start = CLOCK.take(client, len(frames)) if start is None else start
    stamps = client.play(frames, FPS, start=start, encoding=encoding, rate=rate)
    time.sleep(SETTLE_S)
    return stamps


def _react(client, node, length=0, seed=-1):
    try:
        response, seconds = client.react(length=length, seed=seed, timeout=ANSWER_S)
    except TimeoutError as exc:
        pytest.fail(f"{exc}; node alive={node.alive}; log:\n{node.log_text()[-4000:]}")
    return response, seconds


def _diagnostics(client, node_name, ready, timeout=5.0) -> dict:
    """Values of the newest /diagnostics status of `node_name` for which ready(values) holds (waits for one)."""
    def values_of(msg):
        return {kv.key: kv.value for kv in msg.status[0].values}

    got = client.wait_for("diagnostics", timeout, after=max(client.count("diagnostics") - 2, 0),
                          predicate=lambda m: m.status and m.status[0].name.startswith(node_name + ":")
                          and ready(values_of(m)))
    assert got is not None, f"no /diagnostics from {node_name} satisfying the condition within {timeout} s"
    return values_of(got[1])


def _log_has(node, words, timeout=3.0) -> bool:
    return wait_until(lambda: words in node.log_text(), timeout)


# ------------------------------------------------------------------------------------------------ tests

def test_no_reaction_while_the_buffer_holds_too_little(client, nodes, clip):
    response, _ = _react(client, nodes["raw"])
    assert not response.success and "no frames buffered yet" in response.message
    _play(client, clip[:5])
    response, _ = _react(client, nodes["raw"])
    assert not response.success and "only 5 frames in the last 2 s window, need 16" in response.message
    assert client.count("reaction") == 0 and client.count("trajectory") == 0


def test_clip_gives_the_batch_paths_reaction_and_a_valid_joint_trajectory(client, nodes, clip, model_dir):
    frames = clip[:WINDOW_FRAMES]
    before = {kind: client.count(kind) for kind in ("reaction", "trajectory", "joint_command", "markers")}
    stamps = _play(client, frames)
    response, round_trip = _react(client, nodes["raw"], length=40, seed=3)
    assert response.success, response.message
    reaction = response.reaction
    # outputs carry the input stamps; the window is the whole clip
    assert reaction.header.stamp == stamps[-1] and reaction.window_start == stamps[0]
    assert reaction.window_end == stamps[-1] and reaction.header.frame_id == "hero_reactor"
    assert list(reaction.joint_names) == list(JOINT_NAMES) and reaction.length == 40 and reaction.fps == 20.0
    assert reaction.model_id == "random-test-model" and 0 < reaction.generation_latency_s < round_trip
    # the node samples the same 16 frames as the batch path on the file: same seed, same reaction
    expected = ReactionPipeline.from_dir(model_dir, device="cpu").react_to_frames(frames, length=40, seed=3)
    joints, features = reaction_arrays(reaction)
    np.testing.assert_allclose(features, expected.features, atol=1e-4)
    np.testing.assert_allclose(joints[..., [1, 2, 0]], expected.joints, atol=1e-4)   # REP 103 <- HumanML3D axes

    published = client.wait_for("reaction", 5.0, after=before["reaction"])
    assert published is not None and published[1].header.stamp == stamps[-1]
    got = client.wait_for("trajectory", 5.0, after=before["trajectory"])
    assert got is not None, "no JointTrajectory on /hero/joint_trajectory"
    trajectory = got[1]
    assert trajectory.header.stamp == stamps[-1] and list(trajectory.joint_names) == list(DOF_NAMES)
    assert len(trajectory.joint_names) == 63 and all(name.rsplit("_", 1)[1] in "xyz" for name in DOF_NAMES)
    times = [stamp_to_seconds(p.time_from_start) for p in trajectory.points]
    assert len(times) == 40 and times[0] > 0 and np.all(np.diff(times) > 0)
    assert all(len(p.positions) == 63 and len(p.velocities) == 63 for p in trajectory.points)
    assert list(trajectory.points[-1].velocities) == [0.0] * 63
    assert np.isfinite([p.positions for p in trajectory.points]).all()
    # the JointState stream plays the reaction: stamps input + t, strictly increasing, ends at rest
    assert wait_until(lambda: client.count("joint_command") - before["joint_command"] >= 10, 5.0)
    stream = [m for _, m in client.received["joint_command"][before["joint_command"]:]]
    assert list(stream[0].name) == list(DOF_NAMES)
    stream_times = [stamp_to_seconds(m.header.stamp) for m in stream]
    assert np.all(np.diff(stream_times) > 0) and stream_times[0] >= stamp_to_seconds(stamps[-1])
    markers = client.wait_for("markers", 5.0, after=before["markers"])
    assert markers is not None and len(markers[1].markers[1].points) == 22
    assert len(markers[1].markers[0].points) == 2 * 21                  # one line per bone
    assert client.wait_for("root_pose", 5.0) is not None


def test_every_raw_encoding_is_accepted_end_to_end(client, nodes, clip):
    encodings = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "yuv422", "uyvy", "yuv422_yuy2", "yuyv"]
    assert set(encodings) <= set(RAW_ENCODINGS)
    start = CLOCK.take(client, WINDOW_FRAMES)
    stamps = []
    for i, frame in enumerate(clip[:WINDOW_FRAMES]):
        stamps.append(add_seconds(start, i / FPS))
        client.publish(image_from_rgb(frame, encodings[i % len(encodings)], stamp=stamps[-1], row_padding=i % 3))
        time.sleep(1.0 / (4 * FPS))
    time.sleep(SETTLE_S)
    response, _ = _react(client, nodes["raw"], length=40, seed=1)
    assert response.success, response.message
    assert response.reaction.header.stamp == stamps[-1] and response.reaction.window_start == stamps[0]
    assert "dropped a frame" not in nodes["raw"].log_text()


def _bad_frame(client, frame, **changes):
    msg = image_from_rgb(frame, "rgb8", stamp=CLOCK.take(client, 1))
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


def test_bad_input_is_dropped_and_the_node_keeps_reacting(client, nodes, clip):
    node = nodes["raw"]
    frame = clip[0]
    size = frame.size
    cases = [
        ("wrong data size", lambda: [_bad_frame(client, frame, data=bytes(size - 7))], "data has"),
        ("unknown encoding", lambda: [_bad_frame(client, frame, encoding="hsv8")], "unknown image encoding 'hsv8'"),
        ("empty data", lambda: [_bad_frame(client, frame, data=b"")], "empty rgb8 image"),
        ("duplicate stamp", lambda: [_bad_frame(client, frame)] * 2, "repeats the previous frame's"),
    ]
    for name, make, words in cases:
        for msg in make():
            client.publish(msg)
        assert _log_has(node, words), f"{name}: no warning containing {words!r}; log:\n{node.log_text()[-3000:]}"
        stamps = _play(client, clip[:WINDOW_FRAMES], rate=4.0)
        response, _ = _react(client, node)
        assert node.alive and response.success, f"{name}: {response.message}; log:\n{node.log_text()[-3000:]}"
        assert response.reaction.header.stamp == stamps[-1], name

    # time going backwards (a looping bag): the buffer restarts on the new timeline
    back = add_seconds(CLOCK.take(client, 0), -30.0)
    stamps = _play(client, clip[:WINDOW_FRAMES], rate=4.0, start=back)
    assert _log_has(node, "went back"), node.log_text()[-3000:]
    response, _ = _react(client, node)
    assert response.success and response.reaction.window_start == stamps[0], response.message
    CLOCK.next = add_seconds(stamps[-1], 1.0 / FPS)

    # a camera that stops: throttled warning, then business as usual
    time.sleep(1.0)
    assert _log_has(node, "no frames on /camera/image_raw for"), node.log_text()[-3000:]
    stamps = _play(client, clip[:WINDOW_FRAMES], rate=4.0)
    response, _ = _react(client, node)
    assert node.alive and response.success, f"{response.message}; log:\n{node.log_text()[-3000:]}"
    assert response.reaction.header.stamp == stamps[-1]

    # /diagnostics counted every drop
    values = _diagnostics(client, "/hero_react", lambda v: int(v.get("buffer resets", 0)) >= 1)
    assert int(values["dropped: bad_image_size"]) >= 1 and int(values["dropped: bad_image_encoding"]) >= 1
    assert int(values["dropped: bad_image_empty"]) >= 1 and int(values["dropped: duplicate_stamp"]) >= 1


def test_periodic_and_scene_change_triggers(client, nodes, clip, model_dir):
    node = nodes["raw"]
    results = client.set_parameters(trigger="periodic", period_s=0.5)
    assert all(r.successful for r in results), [r.reason for r in results]
    before = client.count("reaction")
    _play(client, clip[:WINDOW_FRAMES + 20], rate=1.0)                    # 3 s of video in real time
    assert wait_until(lambda: client.count("reaction") >= before + 2, 5.0), node.log_text()[-3000:]
    assert client.set_parameters(trigger="service")[0].successful
    time.sleep(0.6)
    settled = client.count("reaction")
    time.sleep(0.8)
    assert client.count("reaction") == settled                           # service mode: nothing automatic

    # scene change: a static scene A, then a different scene B; threshold halfway between them
    scene_a, scene_b = np.repeat(clip[:1], WINDOW_FRAMES, axis=0), np.zeros_like(clip[:10])
    features = ReactionPipeline.from_dir(model_dir, device="cpu").encode_frames(np.stack([clip[0], scene_b[0]]))
    distance = float(1.0 - torch.nn.functional.cosine_similarity(features[0], features[1], dim=0))
    assert distance > 0.02, f"scene B too close to A for this test ({distance:.4f})"
    _play(client, scene_a, rate=4.0)
    assert _react(client, node)[0].success                               # reacting re-bases the scene on A
    results = client.set_parameters(trigger="scene_change", scene_threshold=distance / 2, scene_cooldown_s=0)
    assert all(r.successful for r in results), [r.reason for r in results]
    quiet = client.count("reaction")
    _play(client, scene_a[:10], rate=4.0)
    time.sleep(0.5)
    assert client.count("reaction") == quiet, "a static scene must not trigger"
    _play(client, scene_b, rate=4.0)
    assert wait_until(lambda: client.count("reaction") > quiet, 5.0), node.log_text()[-3000:]
    assert _log_has(node, "scene change (cosine distance")
    assert client.set_parameters(trigger="service")[0].successful


def test_bad_parameters_are_refused_at_run_time(client, nodes):
    cases = {"period_s": -1.0, "min_frames": 0, "trigger": "sometimes", "window_s": 5.0, "device": "cuda",
             "reliable": "yes", "seed": -7}
    for name, value in cases.items():
        result = client.set_parameters(**{name: value})[0]
        assert not result.successful, f"{name}={value!r} was accepted"
        assert name in result.reason or "read-only" in result.reason, result.reason
    assert client.set_parameters(period_s=7)[0].successful                # an int for a float parameter is fine
    assert nodes["raw"].alive


def test_bad_start_up_exits_with_one_line_naming_the_problem(model_dir, tmp_path):
    missing = tmp_path / "missing"
    shutil.copytree(model_dir, missing)
    (missing / "generator.safetensors").unlink()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_dir, corrupt)
    (corrupt / "rvq.safetensors").write_bytes(b"not a safetensors file" * 4)
    cases = {
        "bad parameter": ({"model_dir": str(model_dir), "window_s": -1}, "invalid parameter window_s"),
        "missing file": ({"model_dir": str(missing)}, f"model file not found: {missing / 'generator.safetensors'}"),
        "corrupt file": ({"model_dir": str(corrupt)}, str(corrupt / "rvq.safetensors")),
        "unknown trigger": ({"model_dir": str(model_dir), "trigger": "never"}, "unknown mode(s) never"),
    }
    processes = {name: NodeProcess(parameters, tmp_path / f"{name}.log").start()
                 for name, (parameters, _) in cases.items()}
    try:
        for name, (_, words) in cases.items():
            code = processes[name].wait_exit(STARTUP_S)
            lines = processes[name].log_text().strip().splitlines()
            assert code == 2 and len(lines) == 1 and words in lines[0], (name, code, lines)
    finally:
        for process in processes.values():
            process.stop(timeout=5.0)


def test_compressed_input_end_to_end(compressed_client, client, nodes, clip):
    node = nodes["compressed"]
    raw_reactions = client.count("reaction")
    assert "/cam2/image is published as sensor_msgs/msg/CompressedImage: subscribed" in node.log_text()
    start = CLOCK.take(compressed_client, WINDOW_FRAMES + 3)
    stamps = compressed_client.play(clip[:WINDOW_FRAMES], FPS, start=start, encoding="jpeg", rate=2.0)
    jpeg = compressed_from_rgb(clip[0], "jpeg", stamp=add_seconds(start, WINDOW_FRAMES / FPS))
    truncated = compressed_from_rgb(clip[0], "jpeg", stamp=add_seconds(start, (WINDOW_FRAMES + 1) / FPS))
    truncated.data = bytes(jpeg.data)[: len(jpeg.data) // 2]
    garbage = compressed_from_rgb(clip[0], "jpeg", stamp=add_seconds(start, (WINDOW_FRAMES + 2) / FPS))
    garbage.data = bytes(jpeg.data)[:20] + bytes(300) + b"\xff\xd9"
    png = compressed_from_rgb(clip[1], "png", stamp=add_seconds(start, (WINDOW_FRAMES + 3) / FPS))
    for msg in (truncated, garbage, png):
        compressed_client.publish(msg)
        time.sleep(0.05)
    time.sleep(SETTLE_S)
    assert _log_has(node, "without the end-of-image marker"), node.log_text()[-3000:]
    response, _ = _react(compressed_client, node)
    assert response.success, response.message
    # best-effort transport may lose a frame; the output carries the newest one that arrived (the PNG)
    assert response.reaction.header.stamp in stamps + [png.header.stamp]
    assert compressed_client.wait_for("reaction", 5.0) is not None       # /robot2/hero/reaction ...
    assert client.count("reaction") == raw_reactions                     # ... and not /hero/reaction
    # both corrupt frames were counted (the warning for the second is throttled: same kind within 5 s)
    values = _diagnostics(compressed_client, "/robot2/hero_react",
                          lambda v: int(v.get("dropped: bad_image_corrupt", 0)) >= 2)
    assert int(values["dropped: bad_image_corrupt"]) == 2 and int(values["frames encoded"]) >= WINDOW_FRAMES - 5


def test_sigint_stops_the_nodes_with_exit_code_0(nodes):
    for name, node in nodes.items():
        assert node.alive, f"{name} node died during the tests; log:\n{node.log_text()[-3000:]}"
        assert node.stop(timeout=15.0) == 0, node.log_text()[-3000:]
