"""Static backgrounds, rasterised once per clip: an outdoor ground plane under a sky with distant hills, or a room
(floor, back and side walls); procedural floor/wall textures; lighting; distance haze; a few static props.

Every canvas pixel is a ray from the camera; the first surface it meets decides the pixel (floor Y = 0, walls
X = +-half_width, Z = depth, ceiling Y = height), and the texture is looked up at the hit point's world
coordinates, so textures shrink with distance as they should. Props are drawn over that with the primitive
rasteriser; they are kept out of the corridor where the actors move (|X| < clear_half_width up to clear_depth), so
drawing them before the actors never puts a prop in front of an actor that should hide it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera import PinholeCamera
from .human import _random_colour
from .raster import Box, Capsule, GroundShadow, Light, Polygon, Sphere, rasterise, rotation_y

FLOOR_KINDS_OUTDOOR = ("grass", "asphalt", "sand", "paving")
FLOOR_KINDS_INDOOR = ("tiles", "wood", "carpet", "concrete")
NOISE_TILE = 128  # texture tile size in texels


def _noise_tile(rng: np.random.Generator, cells: int) -> np.ndarray:
    """(NOISE_TILE, NOISE_TILE) smooth tileable value noise in [-1, 1]: random cells, bicubic-upsampled with wrap."""
    grid = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    tiled = np.tile(grid, (3, 3))
    up = cv2.resize(tiled, (3 * NOISE_TILE, 3 * NOISE_TILE), interpolation=cv2.INTER_CUBIC)
    return up[NOISE_TILE:2 * NOISE_TILE, NOISE_TILE:2 * NOISE_TILE]


def _sample(tile: np.ndarray, u: np.ndarray, v: np.ndarray, texels_per_m: float) -> np.ndarray:
    """Bilinear lookup of a tileable texture at world coordinates (u, v) metres."""
    map_x = np.mod(u * texels_per_m, NOISE_TILE).astype(np.float32)
    map_y = np.mod(v * texels_per_m, NOISE_TILE).astype(np.float32)
    return cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


@dataclass
class Backdrop:
    """A sampled static environment.

    outdoor: sky + ground plane, else a room. floor_kind: texture name. floor/floor2/wall/sky colours: RGB.
    room_half_width, room_depth, room_height: metres (indoor). haze_m: distance at which haze reaches 63 %.
    hill_phases/hill_amps: the outdoor horizon silhouette. prop_specs: props as (kind, x, z, size, colour, colour2).
    """

    outdoor: bool
    floor_kind: str
    floor: np.ndarray
    floor2: np.ndarray
    wall: np.ndarray
    sky_low: np.ndarray
    sky_high: np.ndarray
    hill: np.ndarray
    room_half_width: float
    room_depth: float
    room_height: float
    haze_m: float
    texture_scale: float
    hill_phases: np.ndarray
    hill_amps: np.ndarray
    noise_seed: int
    prop_specs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        kinds = FLOOR_KINDS_OUTDOOR if self.outdoor else FLOOR_KINDS_INDOOR
        if self.floor_kind not in kinds:
            raise ValueError(f"Backdrop: floor_kind must be one of {kinds} (outdoor={self.outdoor}), "
                             f"got {self.floor_kind!r}")
        if not self.outdoor and not (1.0 <= self.room_half_width and 2.0 <= self.room_depth
                                     and 2.2 <= self.room_height):
            raise ValueError(f"Backdrop: room too small: half_width={self.room_half_width}, "
                             f"depth={self.room_depth}, height={self.room_height}")

    @classmethod
    def sample(cls, rng: np.random.Generator, outdoor: bool, clear_half_width: float, clear_depth: float,
               num_props: int | None = None) -> "Backdrop":
        """Sample an environment. Props stay out of |x| < clear_half_width for z < clear_depth (the actors' lane)."""
        floor_kind = (FLOOR_KINDS_OUTDOOR if outdoor else FLOOR_KINDS_INDOOR)[rng.integers(4)]
        base = {
            "grass": (80, 130, 60), "asphalt": (85, 85, 90), "sand": (200, 180, 140), "paving": (150, 140, 130),
            "tiles": (200, 200, 195), "wood": (150, 105, 65), "carpet": (120, 60, 60), "concrete": (150, 150, 150),
        }[floor_kind]
        floor = np.clip(np.array(base) * rng.uniform(0.75, 1.2, size=3), 0, 255)
        floor2 = np.clip(floor * rng.uniform(0.6, 0.9), 0, 255)
        if floor_kind == "carpet":
            floor = _random_colour(rng, saturation=(0.2, 0.6), value=(0.3, 0.7))
        wall = _random_colour(rng, saturation=(0.0, 0.35), value=(0.55, 0.95))
        sky_high = np.array([70, 120, 200]) * rng.uniform(0.8, 1.15) if rng.random() < 0.75 else np.array(
            [170, 175, 185]) * rng.uniform(0.85, 1.1)
        sky_low = np.clip(sky_high + rng.uniform(40, 90), 0, 255)
        hill = np.clip(np.array([70, 105, 80]) * rng.uniform(0.6, 1.3, size=3), 0, 255)
        depth = float(rng.uniform(max(6.0, clear_depth + 1.0), max(9.0, clear_depth + 5.0)))
        half_width = float(rng.uniform(max(2.5, clear_half_width + 1.0), max(4.5, clear_half_width + 3.0)))
        backdrop = cls(outdoor=outdoor, floor_kind=floor_kind, floor=floor, floor2=floor2, wall=wall,
                       sky_low=np.clip(sky_low, 0, 255), sky_high=np.clip(sky_high, 0, 255), hill=hill,
                       room_half_width=half_width, room_depth=depth, room_height=float(rng.uniform(2.6, 3.4)),
                       haze_m=float(rng.uniform(40.0, 150.0) if outdoor else rng.uniform(40.0, 80.0)),
                       texture_scale=float(rng.uniform(0.7, 1.4)),
                       hill_phases=rng.uniform(0, 2 * np.pi, size=4), hill_amps=rng.uniform(0.01, 0.06, size=4),
                       noise_seed=int(rng.integers(2 ** 31)))
        n = int(rng.integers(2, 7)) if num_props is None else num_props
        for _ in range(n):
            backdrop.prop_specs.append(_sample_prop(rng, backdrop, clear_half_width, clear_depth))
        return backdrop

    # ------------------------------------------------------------------------------------------- rendering
    def render(self, camera: PinholeCamera, light: Light) -> np.ndarray:
        """(S, S, 3) uint8 canvas (S = camera.canvas_size) of the static scene."""
        tex_rng = np.random.default_rng(self.noise_seed)
        coarse, fine = _noise_tile(tex_rng, 8), _noise_tile(tex_rng, 32)
        rays = camera.pixel_rays()  # (S, S, 3)
        dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
        eye = camera.eye_height
        big = np.float64(1e9)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_floor = np.where(dy < -1e-9, eye / -dy, big)
            if self.outdoor:
                t_back = t_left = t_right = t_ceil = np.full_like(dx, big)
            else:
                t_back = np.where(dz > 1e-9, self.room_depth / dz, big)
                t_left = np.where(dx > 1e-9, self.room_half_width / dx, big)
                t_right = np.where(dx < -1e-9, -self.room_half_width / dx, big)
                t_ceil = np.where(dy > 1e-9, (self.room_height - eye) / dy, big)
        ts = np.stack([t_floor, t_back, t_left, t_right, t_ceil])  # surfaces 0..4
        surface = ts.argmin(axis=0)
        t = ts.min(axis=0)
        hit = camera.position + rays * np.where(t < big, t, 0.0)[..., None]
        dist = t * np.linalg.norm(rays, axis=-1)
        ts_f = self.texture_scale
        size = camera.canvas_size
        image = np.zeros((size, size, 3), dtype=np.float32)

        # Floor texture by world (X, Z).
        fx, fz = hit[..., 0], hit[..., 2]
        n1 = _sample(coarse, fx, fz, 6.0 * ts_f)
        n2 = _sample(fine, fx, fz, 40.0 * ts_f)
        floor = self.floor[None, None, :] * (1.0 + 0.12 * n1 + 0.08 * n2)[..., None]
        if self.floor_kind in ("tiles", "paving"):
            tile = 0.5 * ts_f if self.floor_kind == "tiles" else 0.35 * ts_f
            gx, gz = fx / tile, fz / tile
            checker = ((np.floor(gx) + np.floor(gz)) % 2 == 1) & (self.floor_kind == "tiles")
            floor = np.where(checker[..., None], self.floor2[None, None, :] * (1.0 + 0.05 * n2)[..., None], floor)
            grout = (np.abs(gx - np.round(gx)) < 0.04) | (np.abs(gz - np.round(gz)) < 0.04)
            floor = np.where(grout[..., None], floor * 0.7, floor)
        elif self.floor_kind == "wood":
            plank = 0.16 * ts_f
            index = np.floor(fx / plank)
            tint = 0.85 + 0.3 * np.mod(index * 0.618, 1.0)
            grain = _sample(fine, fx * 8.0, fz * 0.3, 10.0)
            floor = self.floor[None, None, :] * (tint * (1.0 + 0.1 * grain))[..., None]
            seam = np.abs(fx / plank - np.round(fx / plank)) < 0.05
            floor = np.where(seam[..., None], floor * 0.6, floor)
        elif self.floor_kind == "asphalt":
            lane = (np.abs(np.abs(fx) - 2.0 * ts_f) < 0.06) & (np.mod(fz, 3.0) < 1.5)
            floor = np.where(lane[..., None], np.array([220, 220, 200], np.float32), floor)
        elif self.floor_kind == "grass":
            floor = floor * (1.0 + 0.15 * _sample(fine, fx * 3.0, fz * 3.0, 40.0))[..., None]
        floor_shade = light.ambient + light.diffuse * max(0.0, light.direction[1])
        floor = floor * floor_shade

        walls = self.wall[None, None, :] * (1.0 + 0.05 * _sample(coarse, fx + fz, hit[..., 1], 3.0))[..., None]
        baseboard = hit[..., 1] < 0.1
        walls = np.where(baseboard[..., None], walls * 0.6, walls)
        wall_normals = {1: np.array([0, 0, -1.0]), 2: np.array([-1.0, 0, 0]), 3: np.array([1.0, 0, 0]),
                        4: np.array([0, -1.0, 0])}

        if self.outdoor:
            # Sky: a vertical gradient by the ray's elevation, with a hill silhouette above the horizon.
            elevation = np.arctan2(dy, np.hypot(dx, dz))
            azimuth = np.arctan2(dx, dz)
            grad = np.clip(elevation / 0.6, 0.0, 1.0)[..., None]
            sky = self.sky_low[None, None, :] * (1 - grad) + self.sky_high[None, None, :] * grad
            ridge = sum(a * np.sin((i + 2) * azimuth + p) for i, (a, p) in enumerate(zip(self.hill_amps,
                                                                                      self.hill_phases)))
            ridge = ridge + 0.03
            hills = (elevation < ridge) & (surface != 0)
            hill_col = (self.hill * 0.6 + self.sky_low * 0.4)[None, None, :]
            image[:] = np.where(hills[..., None], hill_col, sky)
            floor_mask = surface == 0
            image[floor_mask] = floor[floor_mask]
        else:
            image[:] = floor
            for s_id, normal in wall_normals.items():
                mask = surface == s_id
                if mask.any():
                    shade = light.ambient + light.diffuse * max(0.0, float(np.dot(normal, light.direction)))
                    if s_id == 4:
                        image[mask] = (self.wall * 1.05 * (light.ambient + 0.2))[None, :]
                    else:
                        image[mask] = walls[mask] * shade
        # Distance haze towards the horizon colour: c = c (1 - f) + haze f, f = 1 - exp(-d / haze_m).
        haze = 1.0 - np.exp(-np.where(t < big, dist, 1e4) / self.haze_m)
        if self.outdoor:
            haze = np.where(surface == 0, haze, 0.0)
        image = image * (1 - haze[..., None]) + self.sky_low[None, None, :] * haze[..., None]
        image = image * light.tint[None, None, :].astype(np.float32)
        canvas = np.clip(image + 0.5, 0, 255).astype(np.uint8)

        prims, shadows = [], []
        for spec in self.prop_specs:
            p, s = _prop_primitives(spec, self)
            prims += p
            shadows += s
        rasterise(canvas, prims, camera, light, shadows)
        return canvas


PROP_KINDS_OUTDOOR = ("tree", "bush", "rock", "pole", "crate", "cone", "bench")
PROP_KINDS_INDOOR = ("table", "shelf", "plant", "crate", "poster", "window", "lamp")


def _sample_prop(rng: np.random.Generator, backdrop: Backdrop, clear_half_width: float, clear_depth: float):
    kinds = PROP_KINDS_OUTDOOR if backdrop.outdoor else PROP_KINDS_INDOOR
    kind = kinds[rng.integers(len(kinds))]
    size = float(rng.uniform(0.7, 1.3))
    colour = _random_colour(rng, saturation=(0.1, 0.8), value=(0.3, 0.9))
    colour2 = _random_colour(rng, saturation=(0.1, 0.8), value=(0.3, 0.9))
    side = 1.0 if rng.random() < 0.5 else -1.0
    reach = 1.5 if kind == "tree" else 0.8  # how far the prop spreads sideways from its position
    if backdrop.outdoor:
        x = side * float(rng.uniform(clear_half_width + reach, clear_half_width + reach + 8.0))
        z = float(rng.uniform(2.0, 30.0))
    elif kind in ("poster", "window"):
        # On a wall: the back wall, or a side wall beyond the actors' lane.
        if rng.random() < 0.5:
            half = backdrop.room_half_width - 0.8
            x, z = float(rng.uniform(-half, half)), backdrop.room_depth
        else:
            x, z = side * backdrop.room_half_width, float(rng.uniform(1.5, backdrop.room_depth - 0.8))
    else:
        lo, hi = clear_half_width + reach, backdrop.room_half_width - 0.4
        if lo < hi:  # beside the actors' lane
            x, z = side * float(rng.uniform(lo, hi)), float(rng.uniform(1.5, backdrop.room_depth - 0.5))
        else:  # the room is too narrow: behind the lane, against the back wall
            x = float(rng.uniform(-backdrop.room_half_width + 0.5, backdrop.room_half_width - 0.5))
            z = float(rng.uniform(min(clear_depth + 0.5, backdrop.room_depth - 0.6), backdrop.room_depth - 0.5))
    return (kind, x, z, size, colour, colour2, float(rng.uniform(-np.pi, np.pi)))


def _prop_primitives(spec, backdrop: Backdrop) -> tuple[list, list]:
    kind, x, z, size, colour, colour2, yaw = spec
    base = np.array([x, 0.0, z])
    rot = rotation_y(yaw)
    if kind == "tree":
        trunk_h = 1.8 * size
        crown = Sphere(base + [0, trunk_h + 0.7 * size, 0], 1.1 * size, np.array([50, 110, 50]) * (0.8 + 0.4 * size))
        return [Capsule(base, base + [0, trunk_h, 0], 0.14 * size, 0.1 * size, (95, 70, 50)), crown], \
            [GroundShadow(x, z, 1.0 * size, 1.0 * size, 0.35)]
    if kind == "bush":
        return [Sphere(base + [0, 0.25 * size, 0], 0.55 * size, np.array([60, 120, 55]) * size)], \
            [GroundShadow(x, z, 0.6 * size, 0.6 * size, 0.35)]
    if kind == "rock":
        return [Capsule(base + rot @ np.array([-0.3 * size, 0.15, 0]), base + rot @ np.array([0.3 * size, 0.12, 0]),
                        0.28 * size, 0.22 * size, (130, 128, 122))], [GroundShadow(x, z, 0.6 * size, 0.35 * size, 0.3)]
    if kind == "pole":
        top = base + [0, 3.2 * size, 0]
        return [Capsule(base, top, 0.05, 0.04, (70, 70, 75)), Sphere(top, 0.15, (250, 245, 210), emissive=True)], []
    if kind == "cone":
        return [Capsule(base + [0, 0.05, 0], base + [0, 0.55 * size, 0], 0.16 * size, 0.02, (240, 110, 30))], \
            [GroundShadow(x, z, 0.2 * size, 0.2 * size, 0.3)]
    if kind in ("crate", "shelf", "table", "bench"):
        half = {"crate": (0.3, 0.3, 0.3), "shelf": (0.5, 0.9, 0.2), "table": (0.6, 0.38, 0.4),
                "bench": (0.8, 0.22, 0.25)}[kind]
        half = np.array(half) * size
        centre = base + [0, half[1], 0]
        if kind in ("table", "bench"):
            top = Box(centre + [0, half[1] - 0.03, 0], rot, np.array([half[0], 0.03, half[2]]), colour)
            legs = [Box(centre + rot @ np.array([sx * (half[0] - 0.05), -0.03, sz * (half[2] - 0.05)]), rot,
                        np.array([0.03, half[1] - 0.03, 0.03]), colour2)
                    for sx in (1, -1) for sz in (1, -1)]
            return [top] + legs, [GroundShadow(x, z, half[0], half[2], 0.3)]
        return [Box(centre, rot, half, colour)], [GroundShadow(x, z, half[0] * 1.2, half[2] * 1.2, 0.35)]
    if kind == "plant":
        return [Capsule(base + [0, 0.1, 0], base + [0, 0.4 * size, 0], 0.14 * size, 0.18 * size, (170, 90, 60)),
                Sphere(base + [0, 0.75 * size, 0], 0.38 * size, (60, 130, 60))], [GroundShadow(x, z, 0.3, 0.3, 0.3)]
    if kind == "lamp":
        top = base + [0, 1.6 * size, 0]
        return [Capsule(base, top, 0.025, 0.025, (60, 60, 60)), Sphere(top, 0.17, (255, 240, 200), emissive=True)], []
    # poster / window: a rectangle on the wall it touches.
    w, h = (0.5 * size, 0.7 * size) if kind == "poster" else (0.8 * size, 0.6 * size)
    y = 1.5
    colour = colour if kind == "poster" else np.array([170, 200, 235])
    if abs(z - backdrop.room_depth) < 1e-6:
        zz = z - 0.01
        pts = np.array([[x - w, y - h, zz], [x + w, y - h, zz], [x + w, y + h, zz], [x - w, y + h, zz]])
    else:
        xx = x - np.sign(x) * 0.01
        pts = np.array([[xx, y - h, z - w], [xx, y - h, z + w], [xx, y + h, z + w], [xx, y + h, z - w]])
    return [Polygon(pts, colour, emissive=(kind == "window"))], []
