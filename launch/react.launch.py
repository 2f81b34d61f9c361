"""Launch the HERO reaction node (needs a ROS 2 install with launch_ros; the pip environment has none -- there, run
`.venv/bin/hero-react --ros-args ...` with the same parameters).

    ros2 launch hero_ros react.launch.py camera_topic:=/zed/left/image_rect_color device:=cuda
    ros2 launch hero_ros react.launch.py checkpoint:=/models/hero namespace:=robot1 trigger:=scene_change
    ros2 launch hero_ros react.launch.py params_file:=/path/my_react.yaml period_s:=5

Arguments left empty keep the value of the parameters file (default: the installed config/react.yaml). Numbers
typed on the command line arrive as strings and are converted here to the parameter's type (`period_s:=5` becomes
5.0): rclpy refuses an integer for a float parameter declared with a float default, and the node would die at
start-up (reference.md section 7).
"""
import os

from hero_ros.launch_args import typed_overrides

# launch argument -> (node parameter, type); only non-empty arguments override the parameters file
OVERRIDES = {
    "camera_topic": ("image_topic", str),
    "device": ("device", str),
    "checkpoint": ("model_dir", str),
    "trigger": ("trigger", str),
    "period_s": ("period_s", float),
    "window_s": ("window_s", float),
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

    default_params = os.path.join(get_package_share_directory("hero_ros"), "config", "react.yaml")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameters YAML"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("camera_topic", default_value="", description="camera topic (Image or "
                              "CompressedImage); empty: image_topic of the parameters file"),
        DeclareLaunchArgument("device", default_value="", description="auto, cpu, cuda or cuda:N; empty: file"),
        DeclareLaunchArgument("checkpoint", default_value="", description="model folder; empty: file "
                              "(whose empty model_dir means the embedded default model)"),
        DeclareLaunchArgument("trigger", default_value="", description="periodic, scene_change, service or a "
                              "comma-separated mix; empty: file"),
        DeclareLaunchArgument("period_s", default_value="", description="seconds between periodic reactions"),
        DeclareLaunchArgument("window_s", default_value="", description="seconds of video per reaction"),
    ]

    def node(context):
        values = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
        return [Node(package="hero_ros", executable="react", name="hero_react",
                     namespace=LaunchConfiguration("namespace").perform(context),
                     parameters=[LaunchConfiguration("params_file").perform(context), parameter_overrides(values)],
                     output="screen", emulate_tty=True)]

    return LaunchDescription(arguments + [OpaqueFunction(function=node)])
