"""The node's parameters: one table (PARAMS) with default, description, range and mutability of each, the validation
that refuses bad values with a message, and their declaration on an rclpy node.

hero_ros/config/react.yaml lists the same parameters with the same defaults (a test keeps the two in step).

Typing. Numbers reach rclpy typed: `-p period_s:=5` or a launch argument `period_s:=5` is an INTEGER, and rclpy
refuses an integer for a parameter declared with a float default -- the node would die at start-up
(reference.md section 7). Float parameters are therefore declared with dynamic typing and accept integers; the
validation here coerces them and enforces the range for both types. Ranges are also published in the descriptors
(FloatingPointRange / IntegerRange), where `ros2 param describe` shows them. Read-only parameters are fixed at
start-up (they size buffers, pick the model, or create subscriptions); the others can be changed at run time with
set_parameters, and every change goes through the same validation.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hero_model.retarget import list_robots

from .triggers import parse_trigger

TARGETS = ("human", *list_robots())    # a robot is a YAML file in hero_model/retarget/robots/
OUTPUT_PROFILES = ("default", "isaac_sim", "ros2_control")


class ParameterError(ValueError):
    """A parameter value refused at start-up (the message names the parameter and the rule)."""


@dataclass(frozen=True)
class ParamSpec:
    """name, default (its Python type is the parameter type: bool, int, float or str), description, inclusive range
    for numbers, allowed values for strings, read_only (fixed after start-up)."""

    name: str
    default: bool | int | float | str
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    @property
    def kind(self) -> type:
        return type(self.default)


PARAMS: tuple[ParamSpec, ...] = (
    # input
    ParamSpec("image_topic", "/camera/image_raw", "camera topic (sensor_msgs/Image or CompressedImage)",
              read_only=True),
    ParamSpec("input_type", "auto", "message type of image_topic: raw (Image), compressed (CompressedImage), or auto: "
              "compressed when the topic ends in /compressed, else the type its publishers advertise",
              choices=("auto", "raw", "compressed"), read_only=True),
    ParamSpec("reliable", False, "subscribe with reliable QoS instead of best-effort sensor-data QoS (a best-effort "
              "subscription matches every camera; reliable only matches reliable publishers)", read_only=True),
    # sensor-data QoS keeps 5 frames; while the generator competes for the GIL the executor can lag by more than
    # 5 frames of a 30 Hz camera (bench/node.py lost 2-6 of ~1000 VGA frames with 5, none with 30)
    ParamSpec("input_queue_depth", 30, "frames the best-effort camera subscription holds before the executor takes "
              "them (QoS history depth; a reliable subscription holds 300)", 1, 1000, read_only=True),
    ParamSpec("stale_after_s", 1.0, "camera considered stopped after this many seconds without a frame: automatic "
              "triggers pause and a throttled warning is logged", 0.05, 60.0),
    # 10 Hz: a 3 s window then holds 30 frames for its 16 segment centres, and on a 2-core CPU encoding every frame
    # of a 30 Hz VGA camera (25 ms each) starves generation (bench/node.py: p99 3.0 s at 30 Hz, 0.38 s at 8 Hz).
    ParamSpec("max_encode_hz", 10.0, "frames encoded per second at most; faster cameras are decimated (raise it "
              "on a GPU or for short windows: window_s x max_encode_hz must reach min_frames)", 1.0, 240.0),
    # model
    ParamSpec("model_dir", "", "model folder (video_encoder.json, generator.*, rvq.*); empty: the embedded default",
              read_only=True),
    ParamSpec("device", "auto", "torch device: auto (CUDA when available), cpu, cuda or cuda:N", read_only=True),
    ParamSpec("cpu_threads", 0, "torch CPU threads (0: torch's default, one per core); on a CPU shared with other "
              "busy processes 1 is often fastest", 0, 256, read_only=True),
    ParamSpec("precision", "fp32", "generator precision: fp32, or bf16 (a bfloat16 copy of the transformer weights; "
              "fast on CUDA and on CPUs with AMX, slower than fp32 on CPUs without bf16 matrix units)",
              choices=("fp32", "bf16"), read_only=True),
    ParamSpec("target", "human", "what the joint outputs drive: human = 21 joints x 3 revolute DOF on a floating "
              "base; a robot name (" + ", ".join(TARGETS[1:]) + ") = its hinges, retargeted by inverse kinematics",
              choices=TARGETS, read_only=True),
    # window and triggers
    ParamSpec("window_s", 3.0, "seconds of video one reaction sees (16 frames sampled by the segment rule)",
              0.5, 10.0, read_only=True),
    ParamSpec("min_frames", 16, "frames the window must hold before the node reacts", 1, 1000),
    ParamSpec("min_coverage", 0.5, "fraction of window_s the buffered frames must span before the node reacts",
              0.0, 1.0),
    ParamSpec("trigger", "periodic", "automatic triggers, comma-separated: periodic, scene_change; or service (none "
              "automatic). The ~/react service always works"),
    ParamSpec("period_s", 3.0, "seconds between periodic reactions", 0.1, 3600.0),
    ParamSpec("scene_threshold", 0.15, "scene change: cosine distance of the newest frame feature to the last "
              "reacted-to scene that triggers a reaction", 0.0, 2.0),
    ParamSpec("scene_cooldown_s", 2.0, "scene change: minimum seconds between two scene-change reactions", 0.0,
              3600.0),
    # generation (automatic triggers; a service call brings its own length and seed)
    ParamSpec("length", 0, "reaction length in motion frames at 20 fps (0: predicted by the model)", 0, 200),
    ParamSpec("seed", -1, "sampling seed (-1: fresh randomness each time)", -1, 2**31 - 1),
    ParamSpec("steps", 10, "masked-decoding iterations", 1, 50),
    ParamSpec("cond_scale", 4.0, "classifier-free guidance scale of the base layer (1: none)", 0.0, 20.0),
    ParamSpec("res_cond_scale", 5.0, "classifier-free guidance scale of the residual layers", 0.0, 20.0),
    ParamSpec("temperature", 1.0, "sampling temperature (0: greedy)", 0.0, 10.0),
    # outputs
    ParamSpec("frame_id", "hero_reactor", "frame of the output positions: the reactor's start frame (REP 103, "
              "origin on the floor below the pelvis)"),
    ParamSpec("trajectory_stamp", "input", "JointTrajectory header stamp: input (newest frame stamp) or zero "
              "(ros2_control: start now)", choices=("input", "zero")),
    ParamSpec("lead_in_s", 0.05, "time_from_start of the first trajectory point (time to reach the first pose)",
              0.0, 10.0),
    ParamSpec("output_profile", "default", "joint command topics: default (hero/joint_trajectory + "
              "hero/joint_command), isaac_sim (JointState on /joint_command), ros2_control (JointTrajectory on "
              "/<controller_name>/joint_trajectory, stamp zero)", choices=OUTPUT_PROFILES, read_only=True),
    ParamSpec("controller_name", "joint_trajectory_controller", "ros2_control profile: the "
              "joint_trajectory_controller whose <controller_name>/joint_trajectory topic receives the trajectory",
              read_only=True),
    ParamSpec("stream_hz", 50.0, "rate of the JointState / root pose / marker stream while a reaction plays",
              1.0, 1000.0, read_only=True),
    ParamSpec("service_timeout_s", 30.0, "longest a ~/react call waits for its reaction", 1.0, 600.0),
)
SPECS = {spec.name: spec for spec in PARAMS}
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")   # a ROS name (no leading slash)


def check_value(spec: ParamSpec, value):
    """The rules every parameter table shares (this node's and hero-sim's): the type (integers accepted for floats,
    coerced), the inclusive range, the allowed strings. Returns the coerced value or raises ValueError naming the
    parameter, the value and the rule."""
    name, kind = spec.name, spec.kind
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: must be true or false")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
            raise ValueError(f"{name}={value!r}: must be {'an integer' if kind is int else 'a number'}")
        value = kind(value)
        if not math.isfinite(value) or not spec.low <= value <= spec.high:
            low, high = (int(spec.low), int(spec.high)) if kind is int else (spec.low, spec.high)
            raise ValueError(f"{name}={value!r}: must lie in [{low}, {high}]")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name}={value!r}: must be a string")
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{name}={value!r}: must be one of {', '.join(spec.choices)}")
    return value


def validate(name: str, value):
    """Coerced value of parameter `name`, or ValueError naming the parameter, the value and the rule."""
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown parameter {name!r}")
    value = check_value(spec, value)
    if not isinstance(value, str):
        return value
    if name == "device" and not _DEVICE.fullmatch(value):
        raise ValueError(f"device={value!r}: must be auto, cpu, cuda or cuda:N")
    if name == "trigger":
        parse_trigger(value)  # raises with the list of modes
    if name == "controller_name" and not _NAME.fullmatch(value):
        raise ValueError(f"controller_name={value!r}: must be a ROS name (letters, digits, _ and /, no leading /)")
    if name in ("image_topic", "frame_id") and not value.strip():
        raise ValueError(f"{name}: must not be empty")
    return value


def descriptor(spec: ParamSpec):
    """rcl_interfaces/ParameterDescriptor of one parameter."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    d = ParameterDescriptor(name=spec.name, description=spec.description, read_only=spec.read_only)
    if spec.kind is float:
        d.dynamic_typing = True          # accept integers (see the module docstring); validate() coerces
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
        d.additional_constraints = "a number (integers accepted)"
    elif spec.kind is int:
        d.type = ParameterType.PARAMETER_INTEGER
        d.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    elif spec.choices is not None:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    return d


def declare(node) -> dict:
    """Declare every parameter on `node` (overrides from --ros-args / --params-file apply) with validation on every
    later change; returns {name: validated value}. A bad value raises ParameterError naming the parameter."""
    from rcl_interfaces.msg import SetParametersResult
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    def on_set(parameters):
        for p in parameters:
            if p.name not in SPECS:
                continue  # e.g. use_sim_time: rclpy's own
            try:
                validate(p.name, p.value)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    for spec in PARAMS:
        try:
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            # rclpy words it "Invalid parameter value (v) for parameter. Reason: <reason>: <name>"; keep the reason
            text = re.sub(rf": {re.escape(spec.name)}$", "", str(exc))
            raise ParameterError(f"{spec.name}: {text.split('Reason: ', 1)[-1]}") from exc
    return {spec.name: validate(spec.name, node.get_parameter(spec.name).value) for spec in PARAMS}
