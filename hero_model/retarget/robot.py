"""Robots are data: one YAML file per robot in hero_model/retarget/robots/ (the MJCF location, hinge order, which
human joint drives which robot body, scaling, IK settings). Adding a robot means adding a file, no code.

    robot = load_robot("g1")            # a name from list_robots(), or a path to a YAML file

`mjcf` is `mjlab:<path inside the mjlab package>` (found with importlib.util.find_spec, never imported: its import
pulls heavy dependencies), `$ENV_VAR/...` or an absolute path, or a path relative to the YAML file. The environment
variable HERO_MJCF_<NAME> (e.g. HERO_MJCF_G1) overrides it with a path, for a model file kept elsewhere. Every field is
checked on load; a bad one raises RobotSpecError naming the file and the field.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..mjlab_assets import mjlab_file
from ..motion import JOINT_NAMES

ROBOTS_DIR = Path(__file__).resolve().parent / "robots"
SCALE_GROUPS = ("legs", "torso", "arms", "hip_width", "shoulder_width")
# human joints every robot must map: the scaling and the heading are measured on them
REQUIRED_TARGETS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")


class RobotSpecError(ValueError):
    """A robot file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Target:
    """One IK position target. human_joint: a name from JOINT_NAMES; body: the robot body that follows it;
    weight: position cost (> 0; relative importance); offset: (3,) metres in the body's frame, where on the body
    the human joint sits (e.g. the hip-joint centre below a pelvis link)."""

    human_joint: str
    body: str
    weight: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class IKSettings:
    """iterations: solver steps per motion frame (>= 1), each warm-started from the last; first_frame_iterations:
    steps from the rest pose to frame 0 (>= 1); posture_cost: pull towards the rest pose (>= 0); heading_cost:
    orientation cost of the pelvis towards the human's heading, upright (>= 0); damping: Levenberg-Marquardt
    damping of the velocity (>= 0); max_joint_velocity: rad/s bound on every hinge (> 0)."""

    iterations: int = 2
    first_frame_iterations: int = 60
    posture_cost: float = 0.02
    heading_cost: float = 1.0
    damping: float = 1e-3
    max_joint_velocity: float = 20.0

    def __post_init__(self):
        for name in ("iterations", "first_frame_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ik.{name}={value!r}: must be an integer >= 1")
        for name in ("posture_cost", "heading_cost", "damping", "max_joint_velocity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"ik.{name}={value!r}: must be a number >= 0")
        if self.max_joint_velocity <= 0:
            raise ValueError(f"ik.max_joint_velocity={self.max_joint_velocity!r}: must be > 0")


@dataclass(frozen=True)
class RobotSpec:
    """name; mjcf_path: the resolved MJCF file; root_body: the floating-base body; joint_names: the hinges in MJCF
    order (the order of every joint array); targets: the IK targets; scale: {group: factor or "auto"} for
    SCALE_GROUPS (human bone vectors of that group are multiplied by it; auto measures the robot's rest pose against
    the human, see Retargeter); ik: solver settings; source: the YAML file it came from."""

    name: str
    mjcf_path: Path
    root_body: str
    joint_names: tuple[str, ...]
    targets: tuple[Target, ...]
    scale: dict = field(default_factory=dict)
    ik: IKSettings = field(default_factory=IKSettings)
    source: Path | None = None

    @property
    def dof(self) -> int:
        return len(self.joint_names)


def list_robots() -> tuple[str, ...]:
    """Names of the robots shipped in hero_model/retarget/robots/."""
    return tuple(sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml")))


def _resolve_mjcf(text: str, source: Path) -> Path:
    if text.startswith("mjlab:"):
        return mjlab_file(text[len("mjlab:"):])
    else:
        path = Path(os.path.expandvars(os.path.expanduser(text)))
        if not path.is_absolute():
            path = source.parent / path
    if not path.is_file():
        raise FileNotFoundError(f"MJCF file not found: {path}")
    return path


def load_robot(name_or_path: str | Path) -> RobotSpec:
    """The RobotSpec of a shipped robot (list_robots()) or of a YAML file; RobotSpecError names file and field."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        if str(name_or_path) not in list_robots():
            raise RobotSpecError(f"unknown robot {str(name_or_path)!r}; known: {', '.join(list_robots())}")
        path = ROBOTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise RobotSpecError(f"robot file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RobotSpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RobotSpecError(f"{path}: must be a mapping of fields")

    def fail(field_name: str, why: str):
        raise RobotSpecError(f"{path}: field {field_name!r}: {why}")

    known = {"name", "mjcf", "root_body", "joint_names", "targets", "scale", "ik"}
    for key in data:
        if key not in known:
            fail(key, f"unknown field (known: {', '.join(sorted(known))})")
    for key in ("name", "mjcf", "root_body", "joint_names", "targets"):
        if key not in data:
            fail(key, "missing")
    for key in ("name", "mjcf", "root_body"):
        if not isinstance(data[key], str) or not data[key].strip():
            fail(key, f"must be a non-empty string, got {data[key]!r}")
    override = os.environ.get(f"HERO_MJCF_{data['name'].upper()}")
    try:
        mjcf_path = _resolve_mjcf(override or data["mjcf"], path)
    except FileNotFoundError as exc:
        fail("mjcf", str(exc))
    joints = data["joint_names"]
    if not isinstance(joints, list) or not joints or not all(isinstance(j, str) for j in joints):
        fail("joint_names", "must be a non-empty list of strings")
    if len(set(joints)) != len(joints):
        fail("joint_names", "names repeat")

    targets = []
    if not isinstance(data["targets"], dict) or not data["targets"]:
        fail("targets", "must be a mapping human joint -> {body, weight, offset}")
    for joint, entry in data["targets"].items():
        where = f"targets.{joint}"
        if joint not in JOINT_NAMES:
            fail(where, f"{joint!r} is not a human joint (one of {', '.join(JOINT_NAMES)})")
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            fail(where, "must be a mapping with a string 'body'")
        for key in entry:
            if key not in ("body", "weight", "offset"):
                fail(f"{where}.{key}", "unknown field (known: body, weight, offset)")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            fail(f"{where}.weight", f"must be a number > 0, got {weight!r}")
        offset = entry.get("offset", [0.0, 0.0, 0.0])
        if (not isinstance(offset, list) or len(offset) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in offset)):
            fail(f"{where}.offset", f"must be a list of 3 numbers, got {offset!r}")
        targets.append(Target(joint, entry["body"], float(weight), tuple(float(v) for v in offset)))
    for joint in REQUIRED_TARGETS:
        if joint not in data["targets"]:
            fail("targets", f"must map the human joint {joint!r} (needed for scaling and heading)")

    scale = data.get("scale", {}) or {}
    if not isinstance(scale, dict):
        fail("scale", f"must be a mapping of {', '.join(SCALE_GROUPS)}")
    for group, value in scale.items():
        if group not in SCALE_GROUPS:
            fail(f"scale.{group}", f"unknown group (known: {', '.join(SCALE_GROUPS)})")
        if value != "auto" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10):
            fail(f"scale.{group}", f"must be auto or a number in (0, 10), got {value!r}")
    scale = {group: scale.get(group, "auto") for group in SCALE_GROUPS}

    ik = data.get("ik", {}) or {}
    if not isinstance(ik, dict):
        fail("ik", "must be a mapping")
    try:
        ik_settings = IKSettings(**ik)
    except TypeError as exc:
        fail("ik", str(exc).replace("IKSettings.__init__() ", ""))
    except ValueError as exc:
        fail(str(exc).split("=", 1)[0], str(exc))
    return RobotSpec(name=data["name"], mjcf_path=mjcf_path, root_body=data["root_body"], joint_names=tuple(joints),
                     targets=tuple(targets), scale=scale, ik=ik_settings, source=path)
