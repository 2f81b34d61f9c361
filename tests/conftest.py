"""Test-session set-up. ROS safety comes first: these variables must be in place before anything imports rclpy,
and child processes inherit them -- DDS discovery stays on loopback, logs go to a temporary directory, and every
test session talks on its own random domain so parallel runs on one machine cannot see each other."""
import os
import random
import tempfile

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
_ros_tmp = tempfile.mkdtemp(prefix="hero-ros-tests-")
os.environ["ROS_HOME"] = os.path.join(_ros_tmp, "ros_home")
os.environ["ROS_LOG_DIR"] = os.path.join(_ros_tmp, "ros_log")
os.makedirs(os.environ["ROS_LOG_DIR"], exist_ok=True)
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
# shared memory that holds a VGA frame, UDP on 127.0.0.1 only (hero_ros/config/fastdds_loopback.xml says why)
from hero_ros.node_process import fastdds_profile  # noqa: E402  (imports no rclpy)

os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(fastdds_profile()))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global RNG state, so a failure reproduces."""
    torch.manual_seed(0)
    np.random.seed(0)
    yield
