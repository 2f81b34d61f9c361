"""Run the reaction node as a child process, the way the demo and the tests need it.

ROS safety first (reference.md section 6): every ROS process here discovers peers on loopback only
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; the Fast DDS profile config/fastdds_loopback.xml keeps data on shared
memory and 127.0.0.1), writes its logs to a temporary folder (ROS_HOME, ROS_LOG_DIR) and -- for the demo -- talks on
a random ROS_DOMAIN_ID, so two demos or a demo and a robot on the same machine never see each other.
`ros_safety_env` must be applied before rclpy is imported; child processes inherit it.

The node is started as `hero-react` from the same environment when that console script exists, else as
`python -m hero_ros.react_node`; parameters go through the standard `--ros-args -p name:=value`. Stopping sends
SIGINT, as ros2 launch does, and expects exit code 0.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


FASTDDS_PROFILE = "fastdds_loopback.xml"


def fastdds_profile() -> Path | None:
    """hero_ros/config/fastdds_loopback.xml (shared memory with segments that hold a VGA frame, UDP on 127.0.0.1
    only; the file says why): from the source tree, else from the installed package's share folder."""
    source = Path(__file__).resolve().parents[1] / "config" / FASTDDS_PROFILE
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("hero_ros")) / "config" / FASTDDS_PROFILE
    except Exception:  # not installed with colcon, or no ament index
        return None
    return installed if installed.is_file() else None


def ros_safety_env(random_domain: bool = True, environ: dict | None = None) -> dict:
    """Set (in `environ`, default os.environ) and return the ROS safety variables; keeps ROS_HOME / ROS_LOG_DIR /
    ROS_DOMAIN_ID already set unless `random_domain` asks for a fresh domain."""
    env = os.environ if environ is None else environ
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile = fastdds_profile()
    if profile is not None:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    if "ROS_HOME" not in env or "ROS_LOG_DIR" not in env:
        tmp = tempfile.mkdtemp(prefix="hero-ros-")
        env.setdefault("ROS_HOME", os.path.join(tmp, "ros_home"))
        env.setdefault("ROS_LOG_DIR", os.path.join(tmp, "ros_log"))
    os.makedirs(env["ROS_LOG_DIR"], exist_ok=True)
    if random_domain or "ROS_DOMAIN_ID" not in env:
        env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    return env


def format_parameter(value) -> str:
    """A value for `-p name:=value` that rclpy parses back to the same type (the value is read as YAML: strings are
    quoted so that '5' or 'true' stay strings, floats keep their decimal point so they stay doubles)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def node_command() -> list[str]:
    script = Path(sys.executable).with_name("hero-react")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hero_ros.react_node"]


class NodeProcess:
    """The node as a child process with its output in `log_path`.

    parameters: {name: value} passed as -p; extra_args: more --ros-args items (e.g. ["-r", "__ns:=/robot"]).
    """

    def __init__(self, parameters: dict, log_path: str | Path, extra_args: list[str] | None = None,
                 env: dict | None = None):
        self.args = node_command() + ["--ros-args"]
        for name, value in parameters.items():
            self.args += ["-p", f"{name}:={format_parameter(value)}"]
        self.args += list(extra_args or [])
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "NodeProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL, each after `timeout` s; returns the exit code (None if never run)."""
        if self.proc is None:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.wait()

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def __enter__(self) -> "NodeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until(condition, timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
