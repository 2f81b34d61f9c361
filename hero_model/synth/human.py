"""A human actor drawn from 22 HumanML3D joints: limb capsules between joints, a torso, a head sphere with a face.

The emotion is visible only in the face (eyes, brows and mouth painted on the camera-facing side of the head, clipped
to the head's silhouette): happy = an open, upturned mouth and raised brows; angry = V-shaped brows and a down-turned
mouth; neutral = straight mouth and level brows. Everything else about the actor (body, clothes, motion) is sampled
without looking at the emotion, so a model can only read the emotion from the face.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import PinholeCamera
from .raster import Capsule, GroundShadow, Sphere, SUBPIXEL_BITS, to_fixed

EMOTIONS = ("neutral", "happy", "angry")

# Skin tones (RGB), light to dark; sampled with a small jitter.
SKIN_TONES = np.array([
    [241, 206, 180], [224, 182, 150], [198, 148, 112], [168, 117, 82], [129, 86, 57], [94, 62, 43],
], dtype=np.float64)
HAIR_COLOURS = np.array([
    [25, 20, 18], [58, 38, 26], [96, 64, 40], [176, 140, 88], [150, 150, 150], [130, 60, 30],
], dtype=np.float64)
HAIR_STYLES = ("short", "long", "bald", "cap")

# Joint indices (hero_model.motion.skeleton.JOINT_NAMES order).
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(10)
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD = range(10, 16)
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(16, 22)


def _random_colour(rng: np.random.Generator, saturation=(0.2, 0.9), value=(0.25, 0.95)) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)


@dataclass
class HumanLook:
    """Appearance of one actor; sampled independently of the action and emotion.

    body_scale: template scale (1 = the canonical 1.7 m adult); also scales limb thickness.
    build: extra limb/torso thickness multiplier (slim < 1 < heavy).
    head_scale: head size multiplier (heads are drawn slightly large so faces read at 224 px).
    skin, shirt, trousers, shoes, hair: RGB colours in [0, 255].
    hair_style: one of HAIR_STYLES. short_sleeves: forearms in skin colour.
    """

    body_scale: float
    build: float
    head_scale: float
    skin: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    shoes: np.ndarray
    hair: np.ndarray
    hair_style: str
    short_sleeves: bool

    def __post_init__(self) -> None:
        if not 0.5 <= self.body_scale <= 1.5:
            raise ValueError(f"HumanLook: body_scale must be in [0.5, 1.5], got {self.body_scale}")
        if not 0.6 <= self.build <= 1.6:
            raise ValueError(f"HumanLook: build must be in [0.6, 1.6], got {self.build}")
        if not 0.8 <= self.head_scale <= 1.5:
            raise ValueError(f"HumanLook: head_scale must be in [0.8, 1.5], got {self.head_scale}")
        if self.hair_style not in HAIR_STYLES:
            raise ValueError(f"HumanLook: hair_style must be one of {HAIR_STYLES}, got {self.hair_style!r}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "HumanLook":
        # Draw every field unconditionally so the number of draws from rng never depends on earlier outcomes.
        tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.uniform(-8, 8, size=3)
        return cls(
            body_scale=float(rng.uniform(0.88, 1.1)),
            build=float(rng.uniform(0.85, 1.12)),
            head_scale=float(rng.uniform(1.0, 1.15)),
            skin=np.clip(tone, 0, 255),
            shirt=_random_colour(rng),
            trousers=_random_colour(rng, saturation=(0.1, 0.6), value=(0.15, 0.7)),
            shoes=_random_colour(rng, saturation=(0.0, 0.4), value=(0.1, 0.6)),
            hair=np.clip(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.uniform(-6, 6, size=3), 0, 255),
            hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
            short_sleeves=bool(rng.random() < 0.4),
        )


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


def head_frame(joints: np.ndarray, gaze_target: np.ndarray | None = None,
               gaze_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, up, left) unit vectors of the head for one pose (22, 3).

    up: the torso's up, neck - spine3. forward: the horizontal part of the neck->head bone (the motion library
    tilts that bone 70 degrees up from the face direction, so it carries the head's turn), or the body's facing
    left x up when that part vanishes, with left = (l_hip - r_hip) + (l_shoulder - r_shoulder) (HumanML3D: X left,
    Y up, Z forward, so Z = X x Y). With a gaze target, forward turns towards it by `gaze_weight` (people look at
    whom they interact with), unless the target is behind the head.
    """
    up = _unit(joints[NECK] - joints[SPINE3])
    left = (joints[L_HIP] - joints[R_HIP]) + (joints[L_SHOULDER] - joints[R_SHOULDER])
    forward = _unit(np.cross(left, up))
    bone = joints[HEAD] - joints[NECK]
    turned = bone - up * np.dot(bone, up)
    if np.linalg.norm(turned) > 0.2 * np.linalg.norm(bone) > 0:
        forward = _unit(turned)
    if gaze_target is not None and gaze_weight > 0:
        to_target = gaze_target - joints[NECK]
        to_target = _unit(to_target - up * np.dot(to_target, up))
        if np.dot(forward, to_target) > -0.2:
            forward = _unit(forward + gaze_weight * to_target)
    left = np.cross(up, forward)
    return forward, up, left


@dataclass
class Face:
    """Paints hair and a face on a head sphere (a raster.Decoration)."""

    centre: np.ndarray
    radius: float
    forward: np.ndarray
    up: np.ndarray
    left: np.ndarray
    emotion: str
    look: HumanLook

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise ValueError(f"Face: emotion must be one of {EMOTIONS}, got {self.emotion!r}")

    def _points(self, azimuth, elevation) -> np.ndarray:
        """Points on the head sphere: azimuth towards the actor's left, elevation up, both radians from forward."""
        az, el = np.broadcast_arrays(np.asarray(azimuth, float), np.asarray(elevation, float))
        d = (np.cos(el)[..., None] * (np.cos(az)[..., None] * self.forward + np.sin(az)[..., None] * self.left)
             + np.sin(el)[..., None] * self.up)
        return self.centre + self.radius * d

    def __call__(self, col: np.ndarray, normals: np.ndarray, shade: np.ndarray, origin: tuple[int, int],
                 camera: PinholeCamera) -> None:
        look = self.look
        # Hair: the part of the head above the hairline or behind the ears.
        n_up = normals @ self.up.astype(np.float32)
        n_fwd = normals @ self.forward.astype(np.float32)
        if look.hair_style == "short":
            hair = (n_up > 0.55) | (n_fwd < -0.15)
        elif look.hair_style == "long":
            hair = (n_up > 0.5) | (n_fwd < 0.1)
        elif look.hair_style == "cap":
            hair = (n_up > 0.42) | ((n_fwd < -0.3) & (n_up > 0.0))
        else:  # bald: only a fringe at the back
            hair = (n_fwd < -0.55) & (n_up < 0.3)
        if hair.any():
            col[hair] = np.clip(look.hair[None, :] * shade[hair][:, None], 0, 255).astype(np.uint8)

        centre_depth = camera.to_camera(self.centre)[2]
        pix_radius = camera.focal * self.radius / max(centre_depth, 1e-3)
        thickness = max(1, int(round(0.1 * pix_radius)))
        x0, y0 = origin

        def visible_uv(points: np.ndarray) -> np.ndarray | None:
            normals_ = (points - self.centre) / self.radius
            view = camera.position - points
            view /= np.linalg.norm(view, axis=-1, keepdims=True)
            if (np.sum(normals_ * view, axis=-1) < 0.15).any():  # on the far side of the head: hidden
                return None
            uv, _ = camera.project(points)
            return uv - np.array([x0, y0])

        # Face paint takes the light of the head's centre so it neither glows in the dark nor vanishes in the sun.
        cu, cv = (camera.project(self.centre)[0] - np.array([x0, y0])).astype(int)
        lit = float(shade[min(max(cv, 0), shade.shape[0] - 1), min(max(cu, 0), shade.shape[1] - 1)])
        lit = min(1.0, 0.45 + 0.55 * lit)

        def paint(rgb) -> tuple[float, ...]:
            return tuple(float(c) for c in np.clip(np.asarray(rgb, float) * lit, 0, 255))

        dark = paint((30, 20, 18))
        # Strokes get a light halo first (cartoon outline) so brows and mouth read on every skin tone.
        halo = paint(np.clip(look.skin * 1.35 + 40, 0, 255))

        def stroke(points: np.ndarray | None, colour, width: int) -> None:
            if points is None:
                return
            fixed = [to_fixed(points)]
            cv2.polylines(col, fixed, False, halo, width + 2, cv2.LINE_AA, SUBPIXEL_BITS)
            cv2.polylines(col, fixed, False, colour, width, cv2.LINE_AA, SUBPIXEL_BITS)

        # Eyes: white with a dark pupil, identical for every emotion.
        for side in (1.0, -1.0):
            eye = visible_uv(self._points(side * 0.36, 0.14)[None])
            if eye is None:
                continue
            r_eye = 0.19 * pix_radius
            centre_fixed = tuple(int(v) for v in to_fixed(eye[0]))
            cv2.circle(col, centre_fixed, max(1, int(round(r_eye * 16))), paint((240, 240, 236)), -1, cv2.LINE_AA,
                       SUBPIXEL_BITS)
            cv2.circle(col, centre_fixed, max(1, int(round(0.55 * r_eye * 16))), dark, -1, cv2.LINE_AA,
                       SUBPIXEL_BITS)
        # Brows: (inner, middle, outer) elevations in radians; angry = V (inner ends pulled down), happy = raised arch.
        brows = {"neutral": (0.4, 0.41, 0.4), "happy": (0.46, 0.53, 0.44), "angry": (0.24, 0.34, 0.48)}[self.emotion]
        for side in (1.0, -1.0):
            stroke(visible_uv(self._points(side * np.array([0.1, 0.34, 0.62]), np.array(brows))), dark, thickness)
        # Nose: a short darker stroke, the same for every emotion.
        nose = visible_uv(self._points(np.zeros(2), np.array([0.06, -0.1])))
        if nose is not None:
            cv2.polylines(col, [to_fixed(nose)], False, paint(look.skin * 0.65), max(1, thickness - 1),
                          cv2.LINE_AA, SUBPIXEL_BITS)
        # Mouth: elevation e(a) = base + curve * (a / half_width)^2 across the mouth (a = azimuth to the left).
        half_width = 0.42
        az = np.linspace(-half_width, half_width, 9)
        ramp = (az / half_width) ** 2
        if self.emotion == "happy":
            # An open smile: lower lip upturned (corners higher than the middle), upper lip almost straight.
            lower = visible_uv(self._points(az, -0.44 + 0.2 * ramp))
            upper = visible_uv(self._points(az[::-1], -0.25 + 0.01 * ramp[::-1]))
            if lower is not None and upper is not None:
                outline = to_fixed(np.concatenate([lower, upper]))
                cv2.polylines(col, [outline], True, halo, 2, cv2.LINE_AA, SUBPIXEL_BITS)
                cv2.fillPoly(col, [outline], paint((110, 20, 30)), cv2.LINE_AA, SUBPIXEL_BITS)
                teeth = visible_uv(self._points(az[1:-1] * 0.8, -0.29 + 0.02 * ramp[1:-1]))
                if teeth is not None:
                    cv2.polylines(col, [to_fixed(teeth)], False, paint((240, 240, 235)), thickness, cv2.LINE_AA,
                                  SUBPIXEL_BITS)
        elif self.emotion == "angry":
            stroke(visible_uv(self._points(az, -0.28 - 0.16 * ramp)), dark, thickness + 1)  # down-turned corners
        else:
            stroke(visible_uv(self._points(az * 0.85, -0.34 + 0.0 * ramp)), dark, thickness + 1)  # straight


# Capsule radii in metres for body_scale = build = 1: (joint a, joint b, radius a, radius b, garment).
_LIMBS = (
    (L_HIP, R_HIP, 0.105, 0.105, "trousers"),
    (L_HIP, L_KNEE, 0.085, 0.065, "trousers"), (R_HIP, R_KNEE, 0.085, 0.065, "trousers"),
    (L_KNEE, L_ANKLE, 0.06, 0.048, "trousers"), (R_KNEE, R_ANKLE, 0.06, 0.048, "trousers"),
    (L_ANKLE, L_FOOT, 0.045, 0.042, "shoes"), (R_ANKLE, R_FOOT, 0.045, 0.042, "shoes"),
    (PELVIS, SPINE2, 0.12, 0.13, "shirt"), (SPINE2, SPINE3, 0.135, 0.14, "shirt"),
    (L_SHOULDER, L_ELBOW, 0.058, 0.048, "shirt"), (R_SHOULDER, R_ELBOW, 0.058, 0.048, "shirt"),
    (L_ELBOW, L_WRIST, 0.045, 0.038, "forearm"), (R_ELBOW, R_WRIST, 0.045, 0.038, "forearm"),
)


class HumanActor:
    """A human animated by world-frame joints sampled at the clip's frame times.

    joints: (F, 22, 3) world positions, one pose per video frame. look: HumanLook. emotion: one of EMOTIONS.
    gaze_target/gaze_weight: a world point the head turns towards (the reactor's eyes), see head_frame.
    """

    def __init__(self, joints: np.ndarray, look: HumanLook, emotion: str, gaze_target: np.ndarray | None = None,
                 gaze_weight: float = 0.0):
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (22, 3):
            raise ValueError(f"HumanActor: joints must have shape (F, 22, 3), got {joints.shape}")
        if emotion not in EMOTIONS:
            raise ValueError(f"HumanActor: emotion must be one of {EMOTIONS}, got {emotion!r}")
        self.joints = joints
        self.look = look
        self.emotion = emotion
        self.gaze_target = None if gaze_target is None else np.asarray(gaze_target, dtype=np.float64)
        self.gaze_weight = float(gaze_weight)

    @property
    def num_frames(self) -> int:
        return self.joints.shape[0]

    def head(self, frame: int) -> tuple[np.ndarray, float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Head sphere centre (3,), radius and (forward, up, left) axes at a frame."""
        pose = self.joints[frame]
        s = self.look.body_scale
        forward, up, left = head_frame(pose, self.gaze_target, self.gaze_weight)
        radius = 0.105 * s * self.look.head_scale
        centre = pose[NECK] + up * (0.03 * s + 0.8 * radius) + forward * 0.015 * s
        return centre, radius, (forward, up, left)

    def primitives(self, frame: int) -> list:
        pose = self.joints[frame]
        look = self.look
        k = look.body_scale * look.build
        garments = {"trousers": look.trousers, "shoes": look.shoes, "shirt": look.shirt,
                    "forearm": look.skin if look.short_sleeves else look.shirt}
        prims: list = [Capsule(pose[a], pose[b], ra * k, rb * k, garments[g]) for a, b, ra, rb, g in _LIMBS]
        # The canonical skeleton hangs the shoulder joints 0.1 m below the collars and puts the collars 0.2 m below
        # the neck (HumanML3D raw offsets); a human's visible shoulder line sits higher, so the shoulder girdle is
        # drawn through the collars raised towards the neck, and each upper arm starts there.
        torso_up = _unit(pose[NECK] - pose[SPINE3])
        lift = torso_up * 0.09 * look.body_scale
        l_top, r_top = pose[L_COLLAR] + lift, pose[R_COLLAR] + lift
        prims += [
            Capsule(pose[SPINE3], pose[NECK] - lift * 0.5, 0.14 * k, 0.1 * k, look.shirt),
            Capsule(l_top, r_top, 0.075 * k, 0.075 * k, look.shirt),
            Capsule(l_top, pose[L_SHOULDER], 0.064 * k, 0.058 * k, look.shirt),
            Capsule(r_top, pose[R_SHOULDER], 0.064 * k, 0.058 * k, look.shirt),
        ]
        for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
            hand = pose[wrist] + _unit(pose[wrist] - pose[elbow]) * 0.05 * look.body_scale
            prims.append(Sphere(hand, 0.05 * k, look.skin))
        centre, radius, (forward, up, left) = self.head(frame)
        prims.append(Capsule(pose[NECK] - up * 0.02, centre - up * 0.5 * radius, 0.05 * k, 0.045 * k, look.skin,
                             depth_bias=0.03))
        if look.hair_style == "long":
            prims.append(Capsule(centre - forward * 0.35 * radius, centre - forward * 0.45 * radius - up * 2.0 * radius,
                                 0.95 * radius, 0.8 * radius, look.hair * 0.8, depth_bias=0.05))
        face = Face(centre, radius, forward, up, left, self.emotion, look)
        prims.append(Sphere(centre, radius, look.skin, decoration=face))
        return prims

    def shadows(self, frame: int) -> list[GroundShadow]:
        pose = self.joints[frame]
        x, z = pose[PELVIS, 0], pose[PELVIS, 2]
        spread = np.ptp(pose[:, [0, 2]], axis=0) * 0.5 + 0.15
        return [GroundShadow(float(x), float(z), float(spread[0]), float(spread[1]), 0.45)]
