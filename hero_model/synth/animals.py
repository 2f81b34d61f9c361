"""Procedural animals for the animal-human subcategories: a dog (runs at you / trots up and jumps up at you) and a
bird (swoops at your head). Each is a handful of capsules and polygons posed analytically per time step.

Frames: world = the reactor's frame (camera.py). An animal's local frame has +Z = its heading, +Y up, +X its left;
`_Pose.to_world` places it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .human import _random_colour
from .raster import Capsule, GroundShadow, Polygon, Sphere, rotation_x, rotation_y

REAR_UP_DEG = 68.0  # body pitch of a dog standing on its hind legs
DOG_COATS = np.array([[40, 32, 28], [110, 72, 40], [196, 160, 110], [230, 225, 215], [150, 110, 70], [90, 90, 95]],
                     dtype=np.float64)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class _Pose:
    """Where an animal is: position of its local origin and rotation (3, 3), columns = local axes in world."""

    origin: np.ndarray
    rotation: np.ndarray

    def to_world(self, local: np.ndarray) -> np.ndarray:
        return self.origin + np.asarray(local, dtype=np.float64) @ self.rotation.T


@dataclass
class DogLook:
    """size: overall scale (1 = a 0.55 m tall labrador); coat/patch: RGB; pointy_ears; tail_up."""

    size: float
    coat: np.ndarray
    patch: np.ndarray
    pointy_ears: bool
    tail_up: bool

    def __post_init__(self) -> None:
        if not 0.4 <= self.size <= 1.6:
            raise ValueError(f"DogLook: size must be in [0.4, 1.6], got {self.size}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "DogLook":
        coat = DOG_COATS[rng.integers(len(DOG_COATS))] + rng.uniform(-10, 10, size=3)
        patch = DOG_COATS[rng.integers(len(DOG_COATS))] + rng.uniform(-10, 10, size=3)
        return cls(size=float(rng.uniform(0.8, 1.3)), coat=np.clip(coat, 0, 255), patch=np.clip(patch, 0, 255),
                   pointy_ears=bool(rng.random() < 0.5), tail_up=bool(rng.random() < 0.5))


class DogActor:
    """A dog following a scripted path towards the camera.

    action: "run_at_you" (gallops straight at the camera) or "jump_up" (trots up, then rears up on its hind legs
    with the front paws at the reactor's chest).
    start_s: when the dog starts moving; start/stop positions are (x, z) on the floor.
    """

    def __init__(self, action: str, look: DogLook, start_xz: tuple[float, float], stop_xz: tuple[float, float],
                 start_s: float, speed: float, rng: np.random.Generator):
        if action not in ("run_at_you", "jump_up"):
            raise ValueError(f"DogActor: action must be 'run_at_you' or 'jump_up', got {action!r}")
        if not 0.3 <= speed <= 12.0:
            raise ValueError(f"DogActor: speed must be in [0.3, 12] m/s, got {speed}")
        self.action, self.look = action, look
        self.start = np.array(start_xz, dtype=np.float64)
        self.stop = np.array(stop_xz, dtype=np.float64)
        self.start_s, self.speed = float(start_s), float(speed)
        path = self.stop - self.start
        self.distance = float(np.linalg.norm(path))
        self.heading = math.atan2(path[0], path[1])  # yaw taking local +Z to the path direction
        self.travel_s = self.distance / self.speed
        self.gait_hz = float(rng.uniform(2.4, 3.2) if action == "run_at_you" else rng.uniform(1.6, 2.2))
        self.phase0 = float(rng.uniform(0, 2 * np.pi))
        self.wag_hz = float(rng.uniform(2.0, 4.0))

    def _state(self, t: float) -> tuple[np.ndarray, float, float, float]:
        """Floor position (x, z), gait phase, gait amplitude (0 when standing) and rear-up angle (radians) at t."""
        moving_t = t - self.start_s
        ramp = 0.35  # seconds to reach full speed
        if moving_t <= 0:
            travelled, amp = 0.0, 0.0
        else:
            # Distance under a linear speed ramp, then constant speed; clamp at the stop point.
            ramp_part = min(moving_t, ramp)
            travelled = self.speed * (ramp_part ** 2 / (2 * ramp) + max(moving_t - ramp, 0.0))
            amp = min(moving_t / ramp, 1.0)
        arrived = travelled >= self.distance
        travelled = min(travelled, self.distance)
        position = self.start + (self.stop - self.start) * (travelled / max(self.distance, 1e-9))
        rear = 0.0
        if arrived:
            amp = 0.0
            if self.action == "jump_up":
                arrive_t = self.start_s + self.travel_s + ramp / 2
                rear = math.radians(REAR_UP_DEG) * float(_smoothstep((t - arrive_t) / 0.35))
        phase = self.phase0 + 2 * np.pi * self.gait_hz * max(moving_t, 0.0)
        return position, phase, amp, rear

    def primitives(self, t: float) -> list:
        look = self.look
        k = look.size
        position, phase, amp, rear = self._state(t)
        leg = 0.3 * k          # hip height above the paws when standing
        body_len = 0.62 * k
        bob = 0.03 * k * amp * abs(math.sin(phase))
        # Rearing pivots the body about the hips: local frame rotated about X by -rear (front end up).
        body_rot = rotation_y(self.heading) @ rotation_x(-rear)
        pose = _Pose(np.array([position[0], leg + bob, position[1]]), body_rot)
        yaw = rotation_y(self.heading)
        prims: list = []
        shoulders_local = np.array([0.0, 0.04 * k, body_len])
        body_r = 0.13 * k
        prims.append(Capsule(pose.to_world([0, 0, 0]), pose.to_world(shoulders_local), body_r, body_r * 1.08,
                             look.coat))
        prims.append(Sphere(pose.to_world([0, -0.03 * k, 0.55 * body_len]), body_r * 0.9, look.patch,
                            depth_bias=0.01))
        # Head and neck: the head stays nearly level while rearing (it looks at you).
        head_pose = _Pose(pose.to_world(shoulders_local), yaw @ rotation_x(-rear * 0.25))
        head_c = head_pose.to_world([0, 0.2 * k, 0.14 * k])
        head_r = 0.1 * k
        prims.append(Capsule(pose.to_world(shoulders_local), head_c, 0.075 * k, 0.07 * k, look.coat))
        prims.append(Sphere(head_c, head_r, look.coat))
        snout_tip = head_pose.to_world([0, 0.16 * k, 0.32 * k])
        prims.append(Capsule(head_c, snout_tip, 0.06 * k, 0.04 * k, look.patch))
        prims.append(Sphere(snout_tip + head_pose.rotation @ np.array([0, 0.01, 0.01]) * k, 0.022 * k,
                            (20, 18, 18)))
        for side in (1.0, -1.0):
            eye = head_pose.to_world([side * 0.045 * k, 0.24 * k, 0.225 * k])
            prims.append(Sphere(eye, 0.018 * k, (15, 12, 10)))
            ear_base = head_pose.to_world([side * 0.065 * k, 0.28 * k, 0.12 * k])
            if look.pointy_ears:
                ear_tip = head_pose.to_world([side * 0.08 * k, 0.4 * k, 0.1 * k])
            else:
                ear_tip = head_pose.to_world([side * 0.12 * k, 0.16 * k, 0.1 * k])
            prims.append(Capsule(ear_base, ear_tip, 0.035 * k, 0.02 * k, look.patch * 0.8, depth_bias=0.01))
        # Legs: two segments each; diagonal pairs swing together (trot/gallop), amplitude ~35 degrees. While the dog
        # rears, the hind legs stay planted and the front legs reach forward to the reactor's chest.
        swing = math.radians(35) * amp
        reach = rear / math.radians(REAR_UP_DEG)
        for side in (1.0, -1.0):
            for front, offset in ((True, 0.0), (False, np.pi)):
                attach = pose.to_world(np.array([side * 0.09 * k, -0.02 * k, body_len if front else 0.0]))
                angle = swing * math.sin(phase + offset + (0.0 if side > 0 else np.pi / 2))
                bend = 0.3 * amp * max(0.0, math.sin(phase + offset))
                upper = np.array([0.0, -math.cos(angle), math.sin(angle)])
                lower = np.array([0.0, -math.cos(angle - bend), math.sin(angle - bend)])
                if front and reach > 0:
                    upper = (1 - reach) * upper + reach * np.array([0.0, -0.25, 0.97])
                    lower = (1 - reach) * lower + reach * np.array([0.0, -0.7, 0.7])
                knee = attach + yaw @ upper * (0.5 * leg)
                paw = knee + yaw @ lower * (0.5 * leg)
                paw[1] = max(paw[1], 0.025 * k)
                prims.append(Capsule(attach, knee, 0.05 * k, 0.04 * k, look.coat))
                prims.append(Capsule(knee, paw, 0.037 * k, 0.032 * k, look.coat))
                prims.append(Sphere(paw, 0.04 * k, look.patch))
        # Tail: wags sideways.
        wag = math.radians(35) * math.sin(2 * np.pi * self.wag_hz * t)
        tail_dir = np.array([math.sin(wag) * 0.6, 0.7 if look.tail_up else 0.1, -0.75])
        tail_tip = pose.to_world(np.array([0, 0.05 * k, -0.02 * k]) + tail_dir * 0.28 * k)
        prims.append(Capsule(pose.to_world([0, 0.05 * k, -0.02 * k]), tail_tip, 0.035 * k, 0.018 * k, look.coat))
        return prims

    def shadows(self, t: float) -> list[GroundShadow]:
        position, _, _, rear = self._state(t)
        k = self.look.size
        centre = position + 0.3 * k * np.array([math.sin(self.heading), math.cos(self.heading)]) * math.cos(rear)
        return [GroundShadow(float(centre[0]), float(centre[1]), 0.25 * k, 0.45 * k, 0.45)]


@dataclass
class BirdLook:
    """size: wingspan scale (1 = a 0.6 m wingspan gull); body/wing/beak: RGB colours."""

    size: float
    body: np.ndarray
    wing: np.ndarray
    beak: np.ndarray

    def __post_init__(self) -> None:
        if not 0.3 <= self.size <= 2.5:
            raise ValueError(f"BirdLook: size must be in [0.3, 2.5], got {self.size}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "BirdLook":
        body = _random_colour(rng, saturation=(0.0, 0.5), value=(0.2, 0.95))
        wing = np.clip(body * rng.uniform(0.5, 1.1) + rng.uniform(-20, 20, size=3), 0, 255)
        beak = np.array([230.0, 170.0, 40.0]) if rng.random() < 0.6 else np.array([40.0, 35.0, 30.0])
        return cls(size=float(rng.uniform(0.7, 1.6)), body=body, wing=wing, beak=beak)


class BirdActor:
    """A bird cruising far away, then swooping along a cubic Bezier curve at the reactor's head.

    waypoints: (4, 3) Bezier control points of the swoop; start_s/duration_s: when and how long the swoop takes.
    Before the swoop the bird glides sideways near waypoint 0; afterwards it keeps going past the camera.
    """

    def __init__(self, look: BirdLook, waypoints: np.ndarray, start_s: float, duration_s: float,
                 rng: np.random.Generator):
        self.look = look
        self.waypoints = np.asarray(waypoints, dtype=np.float64).reshape(4, 3)
        if not 0.3 <= duration_s <= 5.0:
            raise ValueError(f"BirdActor: duration_s must be in [0.3, 5], got {duration_s}")
        self.start_s, self.duration_s = float(start_s), float(duration_s)
        self.flap_hz = float(rng.uniform(3.0, 6.0))
        self.glide_velocity = np.array([rng.uniform(-1.2, 1.2), 0.0, 0.0])

    def _bezier(self, s: float) -> tuple[np.ndarray, np.ndarray]:
        p0, p1, p2, p3 = self.waypoints
        u = 1.0 - s
        pos = u ** 3 * p0 + 3 * u * u * s * p1 + 3 * u * s * s * p2 + s ** 3 * p3
        vel = 3 * u * u * (p1 - p0) + 6 * u * s * (p2 - p1) + 3 * s * s * (p3 - p2)
        return pos, vel

    def _state(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        s = (t - self.start_s) / self.duration_s
        if s < 0:  # cruising before the swoop: glide sideways towards waypoint 0
            pos0, vel0 = self._bezier(0.0)
            pos = pos0 + self.glide_velocity * s * self.duration_s
            return pos, self.glide_velocity + 0.3 * vel0 / self.duration_s
        if s > 1:  # past the camera: continue on the final tangent
            pos1, vel1 = self._bezier(1.0)
            return pos1 + vel1 * (s - 1.0), vel1
        return self._bezier(s)

    def primitives(self, t: float) -> list:
        look = self.look
        k = look.size
        pos, vel = self._state(t)
        heading = math.atan2(vel[0], vel[2])
        pitch = math.atan2(-vel[1], math.hypot(vel[0], vel[2]))
        pose = _Pose(pos, rotation_y(heading) @ rotation_x(np.clip(pitch, -0.8, 0.8)))
        prims: list = [Capsule(pose.to_world([0, 0, -0.12 * k]), pose.to_world([0, 0.01 * k, 0.08 * k]),
                               0.045 * k, 0.05 * k, look.body)]
        head = pose.to_world([0, 0.03 * k, 0.13 * k])
        prims.append(Sphere(head, 0.038 * k, look.body))
        prims.append(Capsule(head, pose.to_world([0, 0.02 * k, 0.2 * k]), 0.018 * k, 0.004 * k, look.beak))
        for side in (1.0, -1.0):
            prims.append(Sphere(pose.to_world([side * 0.026 * k, 0.045 * k, 0.15 * k]), 0.009 * k, (10, 10, 10)))
        # Wings: flat quads hinged at the body, flapping +-45 degrees.
        flap = math.radians(45) * math.sin(2 * np.pi * self.flap_hz * t)
        span = 0.3 * k
        for side in (1.0, -1.0):
            tip_dir = np.array([side * math.cos(flap), math.sin(flap), 0.0])
            root_f, root_b = np.array([side * 0.03 * k, 0.01 * k, 0.05 * k]), np.array([side * 0.03 * k, 0.01 * k,
                                                                                         -0.07 * k])
            tip_f = root_f + tip_dir * span + np.array([0, 0, -0.05 * k])
            tip_b = root_b + tip_dir * span * 0.9 + np.array([0, 0, -0.02 * k])
            prims.append(Polygon(pose.to_world(np.stack([root_f, tip_f, tip_b, root_b])), look.wing))
        prims.append(Polygon(pose.to_world(np.array([[0.0, 0.0, -0.1], [0.06, 0.0, -0.22], [-0.06, 0.0, -0.22]]) * k),
                             look.wing))
        return prims

    def shadows(self, t: float) -> list[GroundShadow]:
        pos, _ = self._state(t)
        height = max(pos[1], 0.0)
        return [GroundShadow(float(pos[0]), float(pos[2]), 0.15 * self.look.size, 0.1 * self.look.size,
                             0.35 / (1.0 + height))]
