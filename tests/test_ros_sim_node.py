"""The G1 simulation node end to end: real rclpy, the node in its own processes (kinematic with recording; physics
in namespace /robot2), this process publishing G1 JointTrajectory messages and listening to joint_states and
sim/result, loopback only (conftest.py). Every wait is bounded and fails with the node's log."""
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Duration
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from hero_model.sim import JOINT_NAMES, Trajectory, rendering_available, standing_angles
from hero_ros.messages import stamp_to_seconds
from hero_ros.node_process import NodeProcess, wait_until
from hero_ros.sim_node import RELIABLE

pytestmark = pytest.mark.ros
STARTUP_S = 120.0   # two nodes importing rclpy + mujoco and compiling the G1 on a shared 2-core machine
ANSWER_S = 30.0
FPS = 20.0
ROOT = Path(__file__).resolve().parents[1]


def sim_process(parameters: dict, log: Path, extra_args=None) -> NodeProcess:
    """NodeProcess running hero-sim (NodeProcess itself starts hero-react)."""
    process = NodeProcess(parameters, log, extra_args)
    script = Path(sys.executable).with_name("hero-sim")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "hero_ros.sim_node"]
    process.args = command + process.args[process.args.index("--ros-args"):]
    return process


def raised_arm(seconds: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, times (N,), positions (N, 29)): the right arm rises forward and comes back, the waist turns a little."""
    t = np.arange(int(round(seconds * FPS)) + 1) / FPS
    q = np.repeat(standing_angles()[None], len(t), axis=0)
    phase = np.sin(np.pi * t / seconds)
    q[:, JOINT_NAMES.index("right_shoulder_pitch_joint")] = 0.2 - 0.9 * phase ** 2
    q[:, JOINT_NAMES.index("right_elbow_joint")] = 1.0 - 0.5 * phase
    q[:, JOINT_NAMES.index("waist_yaw_joint")] = 0.1 * phase
    return list(JOINT_NAMES), t, q


def trajectory_message(names, times, positions, stamp) -> JointTrajectory:
    msg = JointTrajectory(header=Header(stamp=stamp), joint_names=list(names))
    for t, q in zip(times, positions):
        ns = int(round(t * 1e9))
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=Duration(sec=ns // 10**9, nanosec=ns % 10**9)))
    return msg


class Peer:
    """This test's ROS side: trajectory publishers, joint_states / sim/result collectors, spun in a thread."""

    def __init__(self, namespaces=("", "/robot2")):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("sim_test_peer", context=self.context)
        self.lock = threading.Lock()
        self.states = {ns: [] for ns in namespaces}
        self.results = {ns: [] for ns in namespaces}
        self.publishers = {}
        for ns in namespaces:
            self.publishers[ns] = self.node.create_publisher(JointTrajectory, f"{ns}/hero/joint_trajectory", RELIABLE)
            self.node.create_subscription(JointState, f"{ns}/joint_states",
                                          lambda m, ns=ns: self._keep(self.states[ns], m), RELIABLE)
            self.node.create_subscription(String, f"{ns}/sim/result",
                                          lambda m, ns=ns: self._keep(self.results[ns], json.loads(m.data)), RELIABLE)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, where, item):
        with self.lock:
            where.append(item)

    def now(self):
        return self.node.get_clock().now().to_msg()

    def result_count(self, ns):
        with self.lock:
            return len(self.results[ns])

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, record_dir):
    logs = tmp_path_factory.mktemp("sim_logs")
    started = {
        "": sim_process({"mode": "kinematic", "record_path": str(record_dir), "record_width": 64,
                         "record_height": 48, "publish_hz": 50}, logs / "kinematic.log"),     # int for a float
        "/robot2": sim_process({"mode": "physics", "hold_s": 0.3, "publish_hz": 50.0}, logs / "physics.log",
                               extra_args=["-r", "__ns:=/robot2"]),
    }
    for process in started.values():
        process.start()
    yield started
    for process in started.values():
        process.stop(timeout=10.0)


@pytest.fixture(scope="module")
def peer(nodes):
    p = Peer()
    for ns, process in nodes.items():
        if not wait_until(lambda: p.publishers[ns].get_subscription_count() >= 1 or not process.alive, STARTUP_S) \
                or not process.alive:
            p.close()
            pytest.fail(f"sim node {ns or '/'} not subscribed within {STARTUP_S:.0f} s (alive={process.alive}); log:\n"
                        f"{process.log_text()[-4000:]}")
    yield p
    p.close()


def _send_and_wait(peer, nodes, ns, names, times, positions, status="done"):
    before = peer.result_count(ns)
    stamp = peer.now()
    peer.publishers[ns].publish(trajectory_message(names, times, positions, stamp))
    if not wait_until(lambda: peer.result_count(ns) > before, ANSWER_S + times[-1]):
        pytest.fail(f"no sim/result from {ns or '/'} within {ANSWER_S:.0f} s; log:\n{nodes[ns].log_text()[-3000:]}")
    with peer.lock:
        result = peer.results[ns][before]
        states = [m for m in peer.states[ns] if stamp_to_seconds(m.header.stamp) >= stamp_to_seconds(stamp) - 1e-9]
    assert result["status"] == status, result
    return stamp_to_seconds(stamp), result, states


def test_kinematic_joint_states_follow_the_trajectory_and_a_video_is_recorded(peer, nodes, record_dir):
    names, times, positions = raised_arm(1.0)
    start, result, states = _send_and_wait(peer, nodes, "", names, times, positions)
    reference = Trajectory(times, positions)
    assert result["mode"] == "kinematic" and result["points"] == 21 and not result["fell"]
    assert result["tracking"]["all"]["max_rad"] == 0.0
    assert result["joint_states"] == 51 and len(states) >= 45, len(states)   # 51 at 50 Hz over 1 s (reliable QoS)
    for msg in states:
        assert list(msg.name) == list(JOINT_NAMES)
        t = stamp_to_seconds(msg.header.stamp) - start
        assert -1e-6 <= t <= 1.0 + 1e-6
        np.testing.assert_allclose(msg.position, reference.angles(t), atol=1e-6)
    ok, why = rendering_available()
    if ok:
        import av

        assert result["rendered_frames"] == 21 and Path(result["record"]).parent == record_dir
        with av.open(result["record"]) as container:
            assert sum(1 for _ in container.decode(video=0)) == 21
    else:
        assert "record" not in result or result["rendered_frames"] == 0, why


def test_physics_tracks_the_trajectory_standing(peer, nodes):
    """Bound: every published joint within 0.15 rad of the reference at its stamp, RMS < 0.04 rad, no fall."""
    names, times, positions = raised_arm(1.0)
    start, result, states = _send_and_wait(peer, nodes, "/robot2", names, times, positions)
    reference = Trajectory(times, positions)
    assert result["mode"] == "physics" and not result["fell"], result
    assert result["tracking"]["all"]["rms_rad"] < 0.04, result["tracking"]
    assert len(states) >= 45
    for msg in states:
        assert list(msg.name) == list(JOINT_NAMES) and len(msg.effort) == 29
        t = stamp_to_seconds(msg.header.stamp) - start
        assert np.abs(np.asarray(msg.position) - reference.angles(t)).max() < 0.15


def test_unknown_joints_are_refused_and_the_node_keeps_running(peer, nodes):
    _, result, _ = _send_and_wait(peer, nodes, "", ["pelvis_x", "left_knee_joint"], np.array([0.0, 0.5]),
                                  np.zeros((2, 2)), status="rejected")
    assert "pelvis_x" in result["error"]
    assert nodes[""].alive and "trajectory refused: unknown joint" in nodes[""].log_text()
    names, times, positions = raised_arm(0.5)                    # still plays what comes next
    _send_and_wait(peer, nodes, "", names, times, positions)


def test_a_newer_trajectory_replaces_the_one_playing(peer, nodes):
    names, times, positions = raised_arm(3.0)
    before = peer.result_count("")
    first_stamp = peer.now()
    peer.publishers[""].publish(trajectory_message(names, times, positions, first_stamp))

    def first_is_playing():
        with peer.lock:
            return any(stamp_to_seconds(m.header.stamp) > stamp_to_seconds(first_stamp) + 0.2
                       for m in peer.states[""][-5:])
    assert wait_until(first_is_playing, ANSWER_S), nodes[""].log_text()[-3000:]
    short_names, short_times, short_positions = raised_arm(0.5)
    peer.publishers[""].publish(trajectory_message(short_names, short_times, short_positions, peer.now()))
    assert wait_until(lambda: peer.result_count("") >= before + 2, ANSWER_S), nodes[""].log_text()[-3000:]
    with peer.lock:
        first, second = peer.results[""][before: before + 2]
    assert first["status"] == "replaced" and first["played_s"] < 2.5, first
    assert second["status"] == "done" and second["points"] == 11


def test_bad_parameter_exits_with_code_2_naming_it(tmp_path):
    process = sim_process({"mode": "dance"}, tmp_path / "bad.log").start()
    assert process.wait_exit(STARTUP_S) == 2
    assert "invalid parameter mode='dance'" in process.log_text()


def test_sim_yaml_lists_every_parameter_with_its_default():
    import yaml

    from hero_ros import sim_node

    values = yaml.safe_load((ROOT / "hero_ros" / "config" / "sim.yaml").read_text())["/**"]["ros__parameters"]
    assert list(values) == [spec.name for spec in sim_node.PARAMS]
    for spec in sim_node.PARAMS:
        assert values[spec.name] == spec.default and type(values[spec.name]) is spec.kind, spec.name


@pytest.mark.parametrize("name, value, words", [
    ("mode", "dance", "one of kinematic, physics"), ("publish_hz", 0.0, "must lie in"),
    ("publish_hz", "50", "must be a number"), ("record_width", 64.0, "must be an integer"),
    ("realtime", "yes", "true or false"), ("trajectory_topic", " ", "must not be empty"),
])
def test_bad_parameter_values_are_refused_with_a_message(name, value, words):
    from hero_ros import sim_node

    with pytest.raises(ValueError, match=f"{name}.*{words}"):
        sim_node.validate(name, value)
    assert sim_node.validate("hold_s", 2) == 2.0 and type(sim_node.validate("hold_s", 2)) is float


def test_launch_file_compiles_and_types_its_arguments():
    import py_compile
    import runpy
    import tempfile
    from types import SimpleNamespace

    from hero_ros import sim_node

    path = ROOT / "launch" / "sim.launch.py"
    py_compile.compile(str(path), cfile=str(Path(tempfile.mkdtemp()) / "launch.pyc"), doraise=True)
    module = SimpleNamespace(**runpy.run_path(str(path)))   # launch / launch_ros are imported only when launching
    overrides = module.parameter_overrides({"mode": "physics", "publish_hz": "100", "hold_s": "", "realtime": "False"})
    assert overrides == {"mode": "physics", "publish_hz": 100.0, "realtime": False}
    assert type(overrides["publish_hz"]) is float
    assert all(parameter in sim_node.SPECS for parameter, _ in module.OVERRIDES.values())
    with pytest.raises(ValueError, match="realtime:='maybe' is not a bool"):
        module.parameter_overrides({"realtime": "maybe"})
    assert (ROOT / "hero_ros" / "launch" / "sim.launch.py").is_file()   # hero_ros/launch links to launch/


def test_sigint_stops_the_nodes_with_exit_code_0(nodes, peer):
    for process in nodes.values():
        assert process.stop(timeout=30.0) == 0, process.log_text()[-2000:]
