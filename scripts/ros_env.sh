# Sourced by every process that may touch ROS 2 in this project (the venv's activate script, .ci/run, Makefile).
# Keeps DDS discovery on loopback and ROS logs out of $HOME, as the project's safety rules require.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# Fast DDS: shared memory with segments that hold a VGA frame, UDP on 127.0.0.1 only (the XML file says why)
if [ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/hero_ros/config/fastdds_loopback.xml"
fi
if [ -z "${HERO_ROS_TMP:-}" ]; then
  HERO_ROS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hero-ros.XXXXXX")
  export HERO_ROS_TMP
fi
export ROS_HOME="$HERO_ROS_TMP/ros_home"
export ROS_LOG_DIR="$HERO_ROS_TMP/ros_log"
mkdir -p "$ROS_HOME" "$ROS_LOG_DIR"
