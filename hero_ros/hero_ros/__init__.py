"""HERO-ROS: the ROS 2 side of the project. Thin nodes that delegate all modelling to hero_model.

react_node    the reaction node (`ros2 run hero_ros react`, `.venv/bin/hero-react`): threads, triggers, outputs
params        its parameters: defaults, ranges, validation (config/react.yaml mirrors them)
image_input   sensor_msgs/Image and CompressedImage <-> RGB frames, with the checks cameras need
frame_buffer  time-stamped ring buffer of per-frame video features; v_l of the last window_s seconds
triggers      periodic / scene-change / service triggers and the one-slot request queue
human_target  a reaction as 21 joints x 3 revolute DOF on a floating base (joint angles, root pose)
messages      hero_msgs/Reaction, JointTrajectory, JointState, PoseStamped, MarkerArray builders
diagnostics   counters, throttled warnings, /diagnostics
client        camera + service caller + output listener (demo, tests, scripting)
node_process  the node as a child process with the ROS safety environment
demo          `python -m hero_ros.demo`: play a clip into the node, show what it publishes
"""
