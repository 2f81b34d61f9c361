"""The reaction node with a robot target (target: g1) and the simulator output profiles, end to end: real rclpy, the
nodes in their own processes (random-weight test model from tests/test_ros_node.py), this process as camera and
subscriber, loopback only. Two nodes start once for the module, both with target g1:
  isaac    output_profile isaac_sim:    JointState stream on /joint_command, trajectory on /hero/joint_trajectory
  control  output_profile ros2_control: JointTrajectory on /joint_trajectory_controller/joint_trajectory (stamp
           zero), JointState stream on /hero/joint_command; node name hero_react_ctl, camera /cam_ctl/image
Together they cover the default profile's topics too (hero/joint_trajectory, hero/joint_command). Frames are played
in real time (not faster): with two nodes encoding on a loaded 2-core machine, faster playback outruns the encoders."""
import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from hero_model.motion import from_ros_frame
from hero_model.retarget import Retargeter, load_robot
from hero_ros.messages import reaction_arrays, stamp_to_seconds
from hero_ros.node_process import NodeProcess, wait_until
from test_ros_node import (CLOCK, FPS, STARTUP_S, WINDOW_FRAMES, _play, _react,  # noqa: F401
                           _ready_client, clip, context, model_dir)

pytestmark = pytest.mark.ros
G1 = load_robot("g1")
EXTRA = {"isaac_joint_command": (JointState, "/joint_command"),
         "controller_trajectory": (JointTrajectory, "/joint_trajectory_controller/joint_trajectory")}


@pytest.fixture(scope="module")
def robot_nodes(model_dir, tmp_path_factory):
    logs = tmp_path_factory.mktemp("robot_node_logs")
    common = {"model_dir": str(model_dir), "device": "cpu", "trigger": "service", "reliable": True,
              "window_s": 2.0, "max_encode_hz": 60.0, "target": "g1"}
    started = {
        "isaac": NodeProcess({**common, "output_profile": "isaac_sim"}, logs / "isaac.log"),
        "control": NodeProcess({**common, "output_profile": "ros2_control", "image_topic": "/cam_ctl/image"},
                               logs / "control.log", extra_args=["-r", "__node:=hero_react_ctl"]),
    }
    for node in started.values():
        node.start()
    yield started
    for node in started.values():
        node.stop(timeout=10.0)


def _listen(client):
    """Subscribe the client's node to the simulator topics as well (reliable, keep last 10, like the node)."""
    from hero_ros.client import RELIABLE

    for kind, (msg_type, topic) in EXTRA.items():
        client.node.create_subscription(msg_type, topic, lambda msg, k=kind: client._on_output(k, msg), RELIABLE)
    return client


@pytest.fixture(scope="module")
def isaac_client(robot_nodes, context):
    c = _listen(_ready_client(robot_nodes["isaac"], context=context, reliable=True))
    yield c
    c.close()


@pytest.fixture(scope="module")
def control_client(robot_nodes, context, isaac_client):
    c = _listen(_ready_client(robot_nodes["control"], context=context, node="/hero_react_ctl",
                              image_topic="/cam_ctl/image", reliable=True, name="hero_camera_ctl"))
    yield c
    c.close()


def _check_trajectory(trajectory, length):
    assert list(trajectory.joint_names) == list(G1.joint_names) and len(trajectory.joint_names) == 29
    times = [stamp_to_seconds(p.time_from_start) for p in trajectory.points]
    assert len(times) == length and times[0] > 0 and np.all(np.diff(times) > 0)
    assert all(len(p.positions) == 29 and len(p.velocities) == 29 and not p.effort for p in trajectory.points)
    assert list(trajectory.points[-1].velocities) == [0.0] * 29
    positions = np.array([p.positions for p in trajectory.points])
    model = Retargeter(G1).model
    assert np.isfinite(positions).all()
    assert (positions >= model.jnt_range[1:, 0] - 1e-5).all() and (positions <= model.jnt_range[1:, 1] + 1e-5).all()
    return positions


def _check_stream(messages, reaction_stamp):
    assert len(messages) >= 5
    assert all(list(m.name) == list(G1.joint_names) and len(m.position) == len(m.velocity) == 29 for m in messages)
    times = [stamp_to_seconds(m.header.stamp) for m in messages]
    assert np.all(np.diff(times) > 0) and times[0] >= stamp_to_seconds(reaction_stamp)


def test_isaac_sim_profile_streams_g1_joint_states_on_joint_command(isaac_client, robot_nodes, clip):
    client, node = isaac_client, robot_nodes["isaac"]
    assert "output profile isaac_sim (trajectory on /hero/joint_trajectory, joint states on /joint_command)" in \
        node.log_text()
    before = {kind: client.count(kind) for kind in ("trajectory", "isaac_joint_command", "root_pose")}
    stamps = _play(client, clip[:WINDOW_FRAMES], rate=1.0)
    response, _ = _react(client, node, length=40, seed=2)
    assert response.success, response.message
    # the Reaction is still the human reaction; the joint outputs are the robot's. (Which frame is the newest one
    # encoded can vary on a loaded machine; tests/test_ros_node.py checks the window itself.)
    stamp = response.reaction.header.stamp
    assert response.reaction.length == 40 and stamp in stamps
    got = client.wait_for("trajectory", 5.0, after=before["trajectory"])
    assert got is not None, "no JointTrajectory on /hero/joint_trajectory"
    assert got[1].header.stamp == stamp                             # trajectory_stamp input (default)
    _check_trajectory(got[1], 40)
    assert wait_until(lambda: client.count("isaac_joint_command") - before["isaac_joint_command"] >= 10, 5.0), \
        node.log_text()[-3000:]
    _check_stream([m for _, m in client.received["isaac_joint_command"][before["isaac_joint_command"]:]], stamp)
    assert client.count("joint_command") == 0                       # nothing on /hero/joint_command in this profile
    pose = client.wait_for("root_pose", 5.0, after=before["root_pose"])
    assert pose is not None and isinstance(pose[1], PoseStamped)
    q = pose[1].pose.orientation
    # the retargeted base's full orientation (not just a yaw); heights of a random-weight model's reaction vary
    assert abs(np.linalg.norm([q.w, q.x, q.y, q.z]) - 1.0) < 1e-6 and pose[1].header.frame_id == "hero_reactor"
    assert np.isfinite([pose[1].pose.position.x, pose[1].pose.position.y, pose[1].pose.position.z]).all()


def test_ros2_control_profile_sends_the_trajectory_to_the_controller(control_client, isaac_client, robot_nodes,
                                                                     clip):
    client, node = control_client, robot_nodes["control"]
    assert "trajectory on /joint_trajectory_controller/joint_trajectory, joint states on /hero/joint_command" in \
        node.log_text()
    trajectories = isaac_client.count("trajectory")
    before = {kind: client.count(kind) for kind in ("controller_trajectory", "joint_command")}
    _play(client, clip[:WINDOW_FRAMES], rate=1.0)
    response, _ = _react(client, node, length=48, seed=5)
    assert response.success, response.message
    got = client.wait_for("controller_trajectory", 5.0, after=before["controller_trajectory"])
    assert got is not None, "no JointTrajectory on /joint_trajectory_controller/joint_trajectory"
    trajectory = got[1]
    assert (trajectory.header.stamp.sec, trajectory.header.stamp.nanosec) == (0, 0)    # start now
    _check_trajectory(trajectory, 48)
    assert wait_until(lambda: client.count("joint_command") - before["joint_command"] >= 10, 5.0)
    _check_stream([m for _, m in client.received["joint_command"][before["joint_command"]:]],
                  response.reaction.header.stamp)
    assert isaac_client.count("trajectory") == trajectories         # not on /hero/joint_trajectory


def test_the_node_publishes_what_the_retargeter_computes(control_client, robot_nodes, clip):
    """The trajectory is the Retargeter's output for the human reaction the node published with it."""
    client, node = control_client, robot_nodes["control"]
    before = client.count("controller_trajectory")
    _play(client, clip[:WINDOW_FRAMES], rate=1.0)
    response, _ = _react(client, node, length=40, seed=3)
    assert response.success, response.message
    got = client.wait_for("controller_trajectory", 5.0, after=before)
    assert got is not None
    joints, _ = reaction_arrays(response.reaction)                          # (40, 22, 3) REP 103, float32
    robot = Retargeter(G1).retarget(from_ros_frame(joints.astype(np.float64)), fps=FPS)
    positions = np.array([p.positions for p in got[1].points])
    np.testing.assert_allclose(positions, robot.joint_positions, atol=2e-3)   # float32 round trip of the joints


def test_a_missing_robot_model_stops_the_node_with_one_line(model_dir, tmp_path):
    import os

    env = dict(os.environ, HERO_MJCF_G1=str(tmp_path / "no_g1.xml"))
    process = NodeProcess({"model_dir": str(model_dir), "device": "cpu", "target": "g1"}, tmp_path / "node.log",
                          env=env).start()
    try:
        code = process.wait_exit(STARTUP_S)
        lines = process.log_text().strip().splitlines()
        assert code == 2 and len(lines) == 1, (code, lines)
        assert "cannot build the g1 robot target" in lines[0] and str(tmp_path / "no_g1.xml") in lines[0], lines
    finally:
        process.stop(timeout=5.0)


def test_sigint_stops_the_robot_nodes_with_exit_code_0(robot_nodes):
    for name, node in robot_nodes.items():
        assert node.alive, f"{name} node died during the tests; log:\n{node.log_text()[-3000:]}"
        assert node.stop(timeout=15.0) == 0, node.log_text()[-3000:]


@pytest.mark.parametrize("name, value, words", [
    ("target", "h2", "must be one of human, g1"), ("output_profile", "gazebo", "one of default, isaac_sim"),
    ("controller_name", "/arm_controller", "must be a ROS name"), ("controller_name", "", "must be a ROS name"),
])
def test_robot_parameters_are_validated(name, value, words):
    from hero_ros import params

    with pytest.raises(ValueError, match=words):
        params.validate(name, value)
    assert params.validate("target", "g1") == "g1" and params.SPECS["target"].choices[0] == "human"
    assert params.validate("controller_name", "ns/arm_controller") == "ns/arm_controller"
