"""Scene objects for the scene-human subcategories and props thrown by human actors: a ball in ballistic flight, a car
driving at the camera, an object falling from above. Positions are in the reactor's world frame (camera.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .human import _random_colour
from .raster import Box, Capsule, GroundShadow, Polygon, Sphere, rotation_y

GRAVITY = np.array([0.0, -9.81, 0.0])  # m/s^2, world Y up
BALL_KINDS = ("soccer", "basketball", "volleyball", "tennis", "beach")


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` radians about unit `axis` (Rodrigues)."""
    x, y, z = axis / np.linalg.norm(axis)
    c, s = math.cos(angle), math.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


@dataclass
class BallLook:
    """kind: one of BALL_KINDS; radius: metres; the markings follow the kind."""

    kind: str
    radius: float

    def __post_init__(self) -> None:
        if self.kind not in BALL_KINDS:
            raise ValueError(f"BallLook: kind must be one of {BALL_KINDS}, got {self.kind!r}")
        if not 0.02 <= self.radius <= 0.5:
            raise ValueError(f"BallLook: radius must be in [0.02, 0.5] m, got {self.radius}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "BallLook":
        kind = BALL_KINDS[rng.integers(len(BALL_KINDS))]
        base = {"soccer": 0.11, "basketball": 0.12, "volleyball": 0.105, "tennis": 0.05, "beach": 0.2}[kind]
        return cls(kind=kind, radius=float(base * rng.uniform(0.95, 1.1)))

    @property
    def colour(self) -> np.ndarray:
        return np.array({"soccer": (240, 240, 240), "basketball": (225, 110, 30), "volleyball": (245, 240, 220),
                         "tennis": (205, 230, 60), "beach": (245, 245, 245)}[self.kind], dtype=np.float64)


# Directions of the 12 pentagon centres of a football (icosahedron vertices), for the spot pattern.
_PHI = (1 + 5 ** 0.5) / 2
_ICOSA = np.array([[0, 1, _PHI], [0, -1, _PHI], [0, 1, -_PHI], [0, -1, -_PHI], [1, _PHI, 0], [-1, _PHI, 0],
                   [1, -_PHI, 0], [-1, -_PHI, 0], [_PHI, 0, 1], [-_PHI, 0, 1], [_PHI, 0, -1], [-_PHI, 0, -1]])
_ICOSA = _ICOSA / np.linalg.norm(_ICOSA, axis=1, keepdims=True)


class BallMarkings:
    """raster.Decoration painting a ball's pattern in the ball's own (spinning) frame."""

    def __init__(self, kind: str, rotation: np.ndarray):
        self.kind, self.rotation = kind, rotation

    def __call__(self, col, normals, shade, origin, camera) -> None:
        local = normals @ self.rotation.astype(np.float32)  # world normal -> ball frame: R^T n, as row vectors
        lit = shade[..., None]

        def paint(mask, rgb):
            if mask.any():
                col[mask] = np.clip((lit * np.asarray(rgb, np.float32))[mask], 0, 255).astype(np.uint8)

        x, y, z = local[..., 0], local[..., 1], local[..., 2]
        if self.kind == "soccer":
            paint((local @ _ICOSA.T.astype(np.float32)).max(axis=-1) > 0.93, (25, 25, 25))
        elif self.kind == "basketball":
            paint((np.abs(x) < 0.05) | (np.abs(y) < 0.05) | (np.abs(np.abs(z) - 0.75) < 0.05), (30, 20, 15))
        elif self.kind == "volleyball":
            paint((np.abs(x) > 0.55) & (y > 0), (40, 80, 200))
            paint((np.abs(z) > 0.55) & (y < 0), (240, 200, 40))
        elif self.kind == "tennis":
            paint(np.abs(x * x - y * y + 0.3 * z) < 0.08, (245, 245, 245))
        else:  # beach ball: six coloured gores around the Y axis
            sector = ((np.arctan2(z, x) + np.pi) / (np.pi / 3)).astype(np.int32) % 6
            for i, rgb in enumerate(((230, 40, 40), (245, 245, 245), (40, 90, 220), (245, 245, 245),
                                     (250, 200, 30), (245, 245, 245))):
                paint((sector == i) & (np.abs(y) < 0.92), rgb)


class BallActor:
    """A ball: held at `hold(t)` until launch_s (or hidden when hold is None), then in ballistic flight from
    `launch_pos` to pass through `target_pos` after `flight_s` seconds, spinning."""

    def __init__(self, look: BallLook, launch_s: float, flight_s: float, target_pos: np.ndarray,
                 launch_pos: np.ndarray | None = None, hold: Callable[[float], np.ndarray] | None = None,
                 spin_hz: float = 2.0, spin_axis: np.ndarray | None = None):
        if not 0.05 <= flight_s <= 10.0:
            raise ValueError(f"BallActor: flight_s must be in [0.05, 10] s, got {flight_s}")
        if launch_pos is None and hold is None:
            raise ValueError("BallActor: give launch_pos or a hold(t) function")
        self.look, self.launch_s, self.flight_s = look, float(launch_s), float(flight_s)
        self.hold = hold
        start = np.asarray(launch_pos if launch_pos is not None else hold(launch_s), dtype=np.float64)
        self.launch_pos = start
        self.target_pos = np.asarray(target_pos, dtype=np.float64)
        # p(t) = p0 + v0 t + g t^2 / 2 through the target at t = flight_s  =>  v0 = (p1 - p0)/T - g T / 2.
        self.velocity = (self.target_pos - start) / self.flight_s - 0.5 * GRAVITY * self.flight_s
        self.spin_hz = float(spin_hz)
        self.spin_axis = np.array([1.0, 0.2, 0.0]) if spin_axis is None else np.asarray(spin_axis, float)

    def position(self, t: float) -> np.ndarray | None:
        tau = t - self.launch_s
        if tau < 0:
            return None if self.hold is None else np.asarray(self.hold(t), dtype=np.float64)
        return self.launch_pos + self.velocity * tau + 0.5 * GRAVITY * tau * tau

    def primitives(self, t: float) -> list:
        pos = self.position(t)
        if pos is None or pos[1] < -1.0:
            return []
        rotation = _axis_angle(self.spin_axis, 2 * np.pi * self.spin_hz * max(t - self.launch_s, 0.0))
        return [Sphere(pos, self.look.radius, self.look.colour, decoration=BallMarkings(self.look.kind, rotation))]

    def shadows(self, t: float) -> list[GroundShadow]:
        pos = self.position(t)
        if pos is None:
            return []
        r = self.look.radius
        return [GroundShadow(float(pos[0]), float(pos[2]), 1.2 * r, 1.2 * r, 0.4 / (1.0 + max(pos[1], 0.0)))]


@dataclass
class CarLook:
    """paint/glass: RGB; length/width/height: metres of the body including the cabin."""

    paint: np.ndarray
    glass: np.ndarray
    length: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for name, lo, hi in (("length", 2.5, 6.0), ("width", 1.4, 2.3), ("height", 1.1, 2.2)):
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"CarLook: {name} must be in [{lo}, {hi}] m, got {value}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "CarLook":
        paint = _random_colour(rng, saturation=(0.0, 0.9), value=(0.15, 0.95))
        glass = np.array([50.0, 62.0, 78.0]) + rng.uniform(-10, 10, size=3)
        return cls(paint=paint, glass=glass, length=float(rng.uniform(3.8, 4.8)), width=float(rng.uniform(1.65, 1.9)),
                   height=float(rng.uniform(1.35, 1.7)))


class CarActor:
    """A car driving from start_xz towards stop_xz (front bumper stops there) at `speed`, starting at start_s."""

    def __init__(self, look: CarLook, start_xz, stop_xz, start_s: float, speed: float):
        if not 1.0 <= speed <= 30.0:
            raise ValueError(f"CarActor: speed must be in [1, 30] m/s, got {speed}")
        self.look = look
        self.start = np.asarray(start_xz, dtype=np.float64)
        self.stop = np.asarray(stop_xz, dtype=np.float64)
        self.start_s, self.speed = float(start_s), float(speed)
        path = self.stop - self.start
        self.distance = float(np.linalg.norm(path))
        self.heading = math.atan2(path[0], path[1])

    def front_position(self, t: float) -> np.ndarray:
        travelled = min(max(t - self.start_s, 0.0) * self.speed, self.distance)
        return self.start + (self.stop - self.start) * (travelled / max(self.distance, 1e-9))

    def primitives(self, t: float) -> list:
        look = self.look
        front = self.front_position(t)
        yaw = rotation_y(self.heading)
        half_len, half_w = look.length / 2, look.width / 2
        centre = np.array([front[0], 0.0, front[1]]) - yaw @ np.array([0.0, 0.0, half_len])
        moving = 0.0 < t - self.start_s < self.distance / self.speed
        bounce = 0.01 * math.sin(2 * np.pi * 3.0 * t) if moving else 0.0
        body_h = 0.55 * look.height

        def at(local) -> np.ndarray:
            return centre + np.asarray(local, dtype=np.float64) @ yaw.T + np.array([0.0, bounce, 0.0])

        prims: list = []
        wheel_r = 0.32
        for sx in (1.0, -1.0):
            for sz in (1.0, -1.0):
                prims.append(Box(at([sx * (half_w - 0.12), wheel_r - bounce, sz * (half_len - 0.75)]), yaw,
                                 np.array([0.11, wheel_r, wheel_r]), (25, 25, 28), depth_bias=10.0))
        # Lower body, cabin (glass all round) and roof; the cabin sits back from the nose.
        prims.append(Box(at([0, 0.25 + body_h / 2, 0]), yaw, np.array([half_w, body_h / 2, half_len]), look.paint))
        cabin_h = look.height - 0.25 - body_h
        prims.append(Box(at([0, 0.25 + body_h + cabin_h / 2, -0.25]), yaw,
                         np.array([half_w - 0.1, cabin_h / 2, half_len * 0.5]), look.glass, depth_bias=5.0))
        prims.append(Box(at([0, look.height - 0.03, -0.3]), yaw, np.array([half_w - 0.12, 0.04, half_len * 0.42]),
                         look.paint, depth_bias=4.0))
        # Front details, drawn after the body (negative depth bias): headlights, grille, bumper, plate.
        nose = half_len + 0.005
        for sx in (1.0, -1.0):
            prims.append(Sphere(at([sx * (half_w - 0.28), 0.25 + body_h * 0.7, nose]), 0.09, (255, 250, 220),
                                emissive=True, depth_bias=-1.0))
        prims.append(Polygon(at(np.array([[-0.45, 0.45, nose], [0.45, 0.45, nose], [0.45, 0.25 + body_h * 0.58, nose],
                                          [-0.45, 0.25 + body_h * 0.58, nose]])), (30, 30, 32), depth_bias=-1.0))
        prims.append(Box(at([0, 0.3, half_len + 0.04]), yaw, np.array([half_w, 0.08, 0.05]), (60, 60, 64),
                         depth_bias=-0.5))
        prims.append(Polygon(at(np.array([[-0.22, 0.26, nose + 0.1], [0.22, 0.26, nose + 0.1],
                                          [0.22, 0.37, nose + 0.1], [-0.22, 0.37, nose + 0.1]])), (235, 235, 225),
                             depth_bias=-1.5))
        return prims

    def shadows(self, t: float) -> list[GroundShadow]:
        front = self.front_position(t)
        centre = front - np.array([math.sin(self.heading), math.cos(self.heading)]) * self.look.length / 2
        return [GroundShadow(float(centre[0]), float(centre[1]), self.look.width * 0.65, self.look.length * 0.6,
                             0.55)]


FALLING_KINDS = ("box", "pot", "ball")


class FallingObjectActor:
    """An object released at `drop_pos` at drop_s, free-falling (tumbling), bouncing once and coming to rest."""

    def __init__(self, kind: str, drop_pos, drop_s: float, rng: np.random.Generator):
        if kind not in FALLING_KINDS:
            raise ValueError(f"FallingObjectActor: kind must be one of {FALLING_KINDS}, got {kind!r}")
        self.kind = kind
        self.drop_pos = np.asarray(drop_pos, dtype=np.float64)
        self.drop_s = float(drop_s)
        if kind == "box":
            self.half = np.array(rng.uniform(0.2, 0.35, size=3))
            self.colour = np.array([190, 150, 100]) + rng.uniform(-25, 25, size=3)
            self.rest_height = float(self.half[1])
        elif kind == "pot":
            self.pot_r = float(rng.uniform(0.13, 0.2))
            self.colour = np.array([185, 90, 55]) + rng.uniform(-20, 20, size=3)
            self.plant = np.array([60, 140, 60]) + rng.uniform(-25, 25, size=3)
            self.rest_height = self.pot_r
        else:
            self.ball = BallLook(kind=("basketball", "soccer", "beach")[int(rng.integers(3))],
                                 radius=float(rng.uniform(0.12, 0.22)))
            self.rest_height = self.ball.radius
        self.tumble_axis = np.array([rng.uniform(-1, 1), 0.0, rng.uniform(-1, 1)]) + 1e-3
        height = self.drop_pos[1] - self.rest_height
        if height <= 0:
            raise ValueError(f"FallingObjectActor: drop height must exceed the rest height, got {self.drop_pos[1]}")
        self.fall_s = math.sqrt(2.0 * height / 9.81)  # y0 - g t^2 / 2 = rest  =>  t = sqrt(2 h / g)
        # Tumble a whole number of quarter turns during the fall so a box lands flat.
        self.tumble_rate = (math.pi / 2) * int(rng.integers(1, 4)) / self.fall_s

    def _state(self, t: float) -> tuple[float, float]:
        """Height of the object's centre and tumble angle at t."""
        tau = t - self.drop_s
        if tau <= 0:
            return float(self.drop_pos[1]), 0.0
        if tau < self.fall_s:
            return float(self.drop_pos[1] - 4.905 * tau * tau), self.tumble_rate * tau
        # One bounce with restitution 0.3: up at 0.3 * impact speed, then rest.
        v_up = 0.3 * 9.81 * self.fall_s
        tb = tau - self.fall_s
        hop = max(v_up * tb - 4.905 * tb * tb, 0.0)
        return self.rest_height + hop, self.tumble_rate * self.fall_s

    def primitives(self, t: float) -> list:
        y, angle = self._state(t)
        centre = np.array([self.drop_pos[0], y, self.drop_pos[2]])
        rot = _axis_angle(self.tumble_axis, angle)
        if self.kind == "box":
            tape = np.array([0.0, self.half[1] + 0.003, 0.0])
            return [Box(centre, rot, self.half, self.colour),
                    Box(centre + rot @ tape, rot, np.array([self.half[0] + 0.002, 0.004, 0.04]), (200, 190, 150),
                        depth_bias=-0.01)]
        if self.kind == "pot":
            r = self.pot_r
            top = centre + rot @ np.array([0.0, r * 0.8, 0.0])
            return [Capsule(centre - rot @ np.array([0.0, r * 0.5, 0.0]), top, r * 0.75, r, self.colour),
                    Sphere(top + rot @ np.array([0.0, r * 0.9, 0.0]), r * 1.2, self.plant, depth_bias=0.02)]
        return [Sphere(centre, self.ball.radius, self.ball.colour, decoration=BallMarkings(self.ball.kind, rot))]

    def shadows(self, t: float) -> list[GroundShadow]:
        y, _ = self._state(t)
        size = {"box": 0.3, "pot": 0.2, "ball": 0.15}[self.kind]
        return [GroundShadow(float(self.drop_pos[0]), float(self.drop_pos[2]), size, size,
                             0.55 / (1.0 + 0.6 * max(y, 0.0)))]
