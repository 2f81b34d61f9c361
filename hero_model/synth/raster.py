"""Shaded 3D primitives rasterised with numpy + OpenCV: capsules (spheres are capsules of zero length), boxes and
flat polygons, composited back to front (painter's algorithm by camera depth), Lambertian-shaded by one directional
light plus ambient.

Why OpenCV and not MuJoCo (or any GL renderer): a synthetic ViMo clip needs a few dozen primitives per frame at
224-256 px. Drawing them as per-pixel-shaded patches with numpy/OpenCV costs a few milliseconds per frame on one CPU
core, needs no GL context / EGL / OSMesa (absent on headless CI and on the robots), gives bit-identical output on any
machine (no driver-dependent rasterisation), and lets the generator draw faces as 2D decals exactly where it wants.
MuJoCo would add a native dependency and a GL backend for a visual quality the video encoder cannot use at 224 px.

Capsule shading: for a pixel q, the nearest point on the projected axis a->b is c(t) with radius R(t) interpolated
between the projected end radii; o = (q - c(t)) / R(t) is the pixel's offset across the capsule's silhouette, and the
surface normal seen from the camera is (o_x, -o_y, -sqrt(1 - |o|^2)) on the camera axes (right, up, forward). That is
exact for a sphere under orthographic view and a close, cheap approximation for capsules under perspective.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import cv2
import numpy as np

from .camera import NEAR_PLANE_M, PinholeCamera

SUBPIXEL_BITS = 4  # cv2 drawing calls take fixed-point coordinates with this many fractional bits
_SUBPIXEL = float(1 << SUBPIXEL_BITS)


@dataclass
class Light:
    """One directional light plus ambient.

    direction: unit vector pointing from the scene towards the light, world frame.
    ambient: shade of surfaces facing away from the light, in [0, 1].
    diffuse: Lambertian gain of surfaces facing the light.
    tint: (3,) RGB multiplier of the light colour (warm/cool light).
    """

    direction: np.ndarray
    ambient: float = 0.4
    diffuse: float = 0.7
    tint: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, dtype=np.float64).reshape(3)
        norm = float(np.linalg.norm(d))
        if not norm > 0:
            raise ValueError(f"Light: direction must be non-zero, got {self.direction}")
        self.direction = d / norm
        if not 0.0 <= self.ambient <= 1.0:
            raise ValueError(f"Light: ambient must be in [0, 1], got {self.ambient}")
        if not 0.0 <= self.diffuse <= 2.0:
            raise ValueError(f"Light: diffuse must be in [0, 2], got {self.diffuse}")
        self.tint = np.ones(3) if self.tint is None else np.asarray(self.tint, dtype=np.float64).reshape(3)

    @classmethod
    def sample(cls, rng: np.random.Generator, outdoor: bool) -> "Light":
        elevation = rng.uniform(math.radians(20), math.radians(75))
        azimuth = rng.uniform(-math.pi, math.pi)
        direction = np.array([math.cos(elevation) * math.sin(azimuth), math.sin(elevation),
                              math.cos(elevation) * math.cos(azimuth)])
        warmth = rng.uniform(-0.08, 0.08)  # >0 warm (sunset, tungsten), <0 cool (overcast, fluorescent)
        tint = np.array([1.0 + warmth, 1.0, 1.0 - warmth])
        ambient = rng.uniform(0.3, 0.5) if outdoor else rng.uniform(0.4, 0.6)
        return cls(direction=direction, ambient=float(ambient), diffuse=float(rng.uniform(0.5, 0.8)), tint=tint)

    def shade(self, normal: np.ndarray) -> float:
        """Lambert: ambient + diffuse * max(0, n . l) for one world normal."""
        return self.ambient + self.diffuse * max(0.0, float(np.dot(normal, self.direction)))


# A decoration paints on a sphere/capsule after shading, before compositing, so it is clipped to the silhouette.
# Arguments: colour patch (h, w, 3) uint8 to draw on, world normals (h, w, 3) and Lambert shade (h, w) of the patch
# pixels, patch origin (x0, y0) on the canvas, the camera. Used for faces, hair and ball markings.
Decoration = Callable[[np.ndarray, np.ndarray, np.ndarray, tuple[int, int], PinholeCamera], None]


class Primitive(Protocol):
    def project(self, camera: PinholeCamera) -> "Drawable | None": ...


@dataclass
class Drawable:
    """A projected primitive: its painter's depth and a closure that draws it."""

    depth: float
    draw: Callable[[np.ndarray, PinholeCamera, Light], None]


def _as_colour(colour) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float32).reshape(3)
    if not ((c >= 0).all() and (c <= 255).all()):
        raise ValueError(f"colour must be RGB in [0, 255], got {colour}")
    return c


@dataclass
class Capsule:
    """A capsule from p0 to p1 (world, metres) with end radii r0, r1; p0 == p1 gives a sphere.

    emissive: draw unshaded (lamps, headlights). decoration: optional painter on the shaded surface (faces).
    depth_bias: metres added to the painter's depth (negative draws it later, e.g. eyes on a head).
    """

    p0: np.ndarray
    p1: np.ndarray
    r0: float
    r1: float
    colour: np.ndarray
    emissive: bool = False
    decoration: Decoration | None = None
    depth_bias: float = 0.0

    def project(self, camera: PinholeCamera) -> Drawable | None:
        ends = np.stack([np.asarray(self.p0, float), np.asarray(self.p1, float)])
        cam = camera.to_camera(ends)
        z = cam[:, 2]
        radii = np.array([self.r0, self.r1], dtype=np.float64)
        if (z - radii).max() < NEAR_PLANE_M:
            return None
        if z.min() < NEAR_PLANE_M + radii.max():
            # Clip the axis where it would come too close: keep the part at least one radius beyond the near plane.
            lo, hi = (0, 1) if z[0] < z[1] else (1, 0)
            limit = NEAR_PLANE_M + radii[lo]
            if z[hi] < limit:
                return None
            s = (limit - z[lo]) / (z[hi] - z[lo])
            ends[lo] = ends[lo] + s * (ends[hi] - ends[lo])
            radii[lo] = radii[lo] + s * (radii[hi] - radii[lo])
            cam = camera.to_camera(ends)
            z = cam[:, 2]
        uv, _ = camera.project(ends)
        pix_radii = camera.focal * radii / z  # projected radius f * r / z
        depth = float(z.mean()) + self.depth_bias
        colour = _as_colour(self.colour)

        def draw(canvas: np.ndarray, cam_: PinholeCamera, light: Light) -> None:
            draw_capsule(canvas, uv[0], uv[1], pix_radii[0], pix_radii[1], colour, cam_, light,
                         emissive=self.emissive, decoration=self.decoration)

        return Drawable(depth, draw)


def Sphere(centre, radius: float, colour, **kw) -> Capsule:
    """A sphere is a capsule whose ends coincide."""
    c = np.asarray(centre, dtype=np.float64)
    return Capsule(c, c, radius, radius, colour, **kw)


def draw_capsule(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour: np.ndarray,
                 camera: PinholeCamera, light: Light, emissive: bool = False,
                 decoration: Decoration | None = None) -> None:
    """Rasterise one shaded capsule onto `canvas` (H, W, 3) uint8 in place; a, b in canvas pixels."""
    height, width = canvas.shape[:2]
    x0 = max(int(math.floor(min(a[0] - ra, b[0] - rb))) - 1, 0)
    x1 = min(int(math.ceil(max(a[0] + ra, b[0] + rb))) + 2, width)
    y0 = max(int(math.floor(min(a[1] - ra, b[1] - rb))) - 1, 0)
    y1 = min(int(math.ceil(max(a[1] + ra, b[1] + rb))) + 2, height)
    if x1 <= x0 or y1 <= y0 or max(ra, rb) < 0.3:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5  # pixel centres
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    axis = (b - a).astype(np.float32)
    length2 = float(axis @ axis)
    if length2 > 1e-6:
        t = np.clip(((xs - a[0]) * axis[0] + (ys - a[1]) * axis[1]) / length2, 0.0, 1.0)  # (h, w)
    else:
        t = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    radius = ra + t * (rb - ra)
    ox = (xs - (a[0] + t * axis[0])) / radius
    oy = (ys - (a[1] + t * axis[1])) / radius
    q = ox * ox + oy * oy
    dist = np.sqrt(q)
    alpha = np.clip((1.0 - dist) * radius + 0.5, 0.0, 1.0)  # one-pixel feathered silhouette (anti-aliasing)
    if not alpha.any():
        return
    nz = np.sqrt(np.clip(1.0 - q, 0.0, 1.0))
    if emissive:
        shade = np.ones_like(alpha)
        col = np.broadcast_to(colour, alpha.shape + (3,)).astype(np.float32)
    else:
        lc = camera.light_in_camera(light.direction)
        # n . l with n = (o_x, -o_y, -nz) on the camera axes (module docstring).
        lam = np.maximum(ox * lc[0] - oy * lc[1] - nz * lc[2], 0.0)
        shade = light.ambient + light.diffuse * lam
        col = shade[..., None] * (colour * light.tint.astype(np.float32))
    if decoration is not None:
        normals = (ox[..., None] * camera.right - oy[..., None] * camera.up
                   - nz[..., None] * camera.forward).astype(np.float32)
        col8 = np.clip(col, 0, 255).astype(np.uint8)
        decoration(col8, normals, shade.astype(np.float32), (x0, y0), camera)
        col = col8.astype(np.float32)
    _blend(canvas, x0, y0, x1, y1, col, alpha)


def _blend(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, col: np.ndarray, alpha: np.ndarray) -> None:
    patch = canvas[y0:y1, x0:x1].astype(np.float32)
    patch += alpha[..., None] * (col - patch)
    canvas[y0:y1, x0:x1] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)


def to_fixed(points_uv: np.ndarray) -> np.ndarray:
    """Canvas pixel coordinates (pixel-centre convention) -> cv2 fixed-point int32 coordinates."""
    return np.round((np.asarray(points_uv) - 0.5) * _SUBPIXEL).astype(np.int32)


# Box faces: (axis, sign) and the four corner indices (corner bits: x = bit 0, y = bit 1, z = bit 2), wound so that
# fillConvexPoly gets a convex quad.
_BOX_FACES = (
    (0, +1, (1, 3, 7, 5)), (0, -1, (0, 4, 6, 2)),
    (1, +1, (2, 6, 7, 3)), (1, -1, (0, 1, 5, 4)),
    (2, +1, (4, 5, 7, 6)), (2, -1, (0, 2, 3, 1)),
)
BOX_FACE_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")


@dataclass
class Box:
    """An oriented box: centre, rotation (3, 3) whose columns are its local axes in world, half extents (3,).

    face_colours: optional {face name ('+x', '-z', ...): colour} overriding `colour` for single faces (a windscreen).
    """

    centre: np.ndarray
    rotation: np.ndarray
    half: np.ndarray
    colour: np.ndarray
    face_colours: dict | None = None
    depth_bias: float = 0.0

    def project(self, camera: PinholeCamera) -> Drawable | None:
        centre = np.asarray(self.centre, float)
        rot = np.asarray(self.rotation, float)
        half = np.asarray(self.half, float)
        signs = np.array([[(i >> k) & 1 for k in range(3)] for i in range(8)], dtype=np.float64) * 2 - 1
        corners = centre + (signs * half) @ rot.T  # (8, 3)
        uv, z = camera.project(corners)
        if z.min() < NEAR_PLANE_M:
            return None
        base = _as_colour(self.colour)
        faces = []
        for (axis, sign, idx), name in zip(_BOX_FACES, BOX_FACE_NAMES):
            normal = sign * rot[:, axis]
            face_centre = centre + normal * half[axis]
            if np.dot(normal, camera.position - face_centre) <= 0:  # back face
                continue
            colour = _as_colour(self.face_colours[name]) if self.face_colours and name in self.face_colours else base
            faces.append((to_fixed(uv[list(idx)]), colour, normal))
        depth = float(camera.to_camera(centre)[2]) + self.depth_bias

        def draw(canvas: np.ndarray, cam_: PinholeCamera, light: Light) -> None:
            for pts, colour, normal in faces:
                shaded = np.clip(colour * light.tint * light.shade(normal), 0, 255)
                cv2.fillConvexPoly(canvas, pts, tuple(float(c) for c in shaded), lineType=cv2.LINE_AA,
                                   shift=SUBPIXEL_BITS)

        return Drawable(depth, draw)


@dataclass
class Polygon:
    """A flat convex polygon (N, 3) in world, flat-shaded on whichever side faces the camera (wings, posters)."""

    points: np.ndarray
    colour: np.ndarray
    emissive: bool = False
    depth_bias: float = 0.0

    def project(self, camera: PinholeCamera) -> Drawable | None:
        pts = np.asarray(self.points, float)
        uv, z = camera.project(pts)
        if z.min() < NEAR_PLANE_M:
            return None
        normal = np.cross(pts[1] - pts[0], pts[2] - pts[0])
        norm = np.linalg.norm(normal)
        normal = normal / norm if norm > 1e-9 else np.array([0.0, 1.0, 0.0])
        if np.dot(normal, camera.position - pts.mean(axis=0)) < 0:
            normal = -normal  # two-sided: light the side we see
        colour = _as_colour(self.colour)
        fixed = to_fixed(uv)
        depth = float(z.mean()) + self.depth_bias

        def draw(canvas: np.ndarray, cam_: PinholeCamera, light: Light) -> None:
            shaded = colour if self.emissive else np.clip(colour * light.tint * light.shade(normal), 0, 255)
            cv2.fillConvexPoly(canvas, fixed, tuple(float(c) for c in shaded), lineType=cv2.LINE_AA,
                               shift=SUBPIXEL_BITS)

        return Drawable(depth, draw)


@dataclass
class GroundShadow:
    """A soft dark disc on the floor (Y = 0) under an object: a cheap contact shadow.

    centre: (x, z) on the floor; radius_x/radius_z: metres; strength: darkening in [0, 1] at the centre.
    """

    x: float
    z: float
    radius_x: float
    radius_z: float
    strength: float

    def draw(self, canvas: np.ndarray, camera: PinholeCamera) -> None:
        if self.strength <= 0.01:
            return
        angles = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
        ring = np.stack([self.x + self.radius_x * np.cos(angles), np.zeros_like(angles),
                         self.z + self.radius_z * np.sin(angles)], axis=1)
        uv, z = camera.project(ring)
        if z.min() < NEAR_PLANE_M:
            return
        height, width = canvas.shape[:2]
        x0, y0 = np.floor(uv.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(mask, to_fixed(uv - [x0, y0]), 255, lineType=cv2.LINE_AA, shift=SUBPIXEL_BITS)
        blur = max(1, int(0.15 * (x1 - x0))) | 1
        soft = cv2.GaussianBlur(mask, (blur, blur), 0).astype(np.float32) * (self.strength / 255.0)
        patch = canvas[y0:y1, x0:x1].astype(np.float32)
        canvas[y0:y1, x0:x1] = np.clip(patch * (1.0 - soft[..., None]) + 0.5, 0, 255).astype(np.uint8)


def rasterise(canvas: np.ndarray, primitives: Sequence[Primitive], camera: PinholeCamera, light: Light,
              shadows: Sequence[GroundShadow] = ()) -> None:
    """Draw shadows, then primitives far to near (painter's algorithm by camera depth), in place."""
    for shadow in shadows:
        shadow.draw(canvas, camera)
    drawables = [d for d in (p.project(camera) for p in primitives) if d is not None]
    # Stable sort on -depth: primitives at equal depth keep their listed order (deterministic output).
    for drawable in sorted(drawables, key=lambda d: -d.depth):
        drawable.draw(canvas, camera, light)


def rotation_y(angle: float) -> np.ndarray:
    """(3, 3) rotation about world Y (yaw); angle > 0 turns +Z towards +X."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(angle: float) -> np.ndarray:
    """(3, 3) rotation about X (pitch); angle > 0 turns +Y towards +Z and +Z towards -Y (a +Z-facing body
    pitches nose down)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_z(angle: float) -> np.ndarray:
    """(3, 3) rotation about Z (roll); angle > 0 turns +X towards +Y."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
