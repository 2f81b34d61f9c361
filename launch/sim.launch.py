"""Launch the Unitree G1 simulation node (needs a ROS 2 install with launch_ros; the pip environment has none --
there, run `.venv/bin/hero-sim --ros-args ...` with the same parameters).

    ros2 launch hero_ros sim.launch.py mode:=physics
    ros2 launch hero_ros sim.launch.py trajectory_topic:=/g1/joint_trajectory record_path:=/tmp/g1 namespace:=robot1
    ros2 launch hero_ros sim.launch.py params_file:=/path/my_sim.yaml publish_hz:=100

Arguments left empty keep the value of the parameters file (default: the installed config/sim.yaml). Numbers typed
on the command line arrive as strings and are converted here to the parameter's type (`publish_hz:=100` becomes
100.0, `hold_s:=2` becomes 2.0), booleans from true/false.
"""
import os

from hero_ros.launch_args import parse_bool, typed_overrides


# launch argument -> (node parameter, type); only non-empty arguments override the parameters file
OVERRIDES = {
    "trajectory_topic": ("trajectory_topic", str),
    "root_pose_topic": ("root_pose_topic", str),
    "mode": ("mode", str),
    "record_path": ("record_path", str),
    "publish_hz": ("publish_hz", float),
    "hold_s": ("hold_s", float),
    "level_feet": ("level_feet", parse_bool),
    "realtime": ("realtime", parse_bool),
}


def parameter_overrides(arguments):
    """{launch argument: text} -> {parameter: typed value} for the non-empty arguments."""
    return typed_overrides(OVERRIDES, arguments)


def generate_launch_description():
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    default_params = os.path.join(get_package_share_directory("hero_ros"), "config", "sim.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameters YAML"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("trajectory_topic", default_value="", description="JointTrajectory topic with G1 "
                              "joint names; empty: file"),
        DeclareLaunchArgument("root_pose_topic", default_value="", description="PoseStamped base poses "
                              "(kinematic mode); empty: file"),
        DeclareLaunchArgument("mode", default_value="", description="kinematic or physics; empty: file"),
        DeclareLaunchArgument("record_path", default_value="", description="folder for one mp4 per trajectory; "
                              "empty: file (whose empty value means no recording)"),
        DeclareLaunchArgument("publish_hz", default_value="", description="joint_states rate"),
        DeclareLaunchArgument("hold_s", default_value="", description="physics: seconds the start pose is held"),
        DeclareLaunchArgument("level_feet", default_value="", description="physics: keep the soles level"),
        DeclareLaunchArgument("realtime", default_value="", description="true: play at the trajectory's speed"),
    ]

    def node(context):
        values = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
        return [Node(package="hero_ros", executable="sim", name="hero_sim",
                     namespace=LaunchConfiguration("namespace").perform(context),
                     parameters=[LaunchConfiguration("params_file").perform(context), parameter_overrides(values)],
                     output="screen", emulate_tty=True)]

    return LaunchDescription(arguments + [OpaqueFunction(function=node)])
