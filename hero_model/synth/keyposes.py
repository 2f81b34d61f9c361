"""Key-pose machinery for procedural motions on the 22-joint HumanML3D skeleton.

A motion is authored as a few *channels* keyed in time (root translation and rotation, spine, neck, collars, arms),
plus one *foot plan* per foot (where the foot is planted and when it swings). `solve_pose` turns them into joint
positions: the upper body by forward kinematics of per-joint rotations, the legs by analytic two-bone IK from the
hip to the planted ankle (so a planted foot cannot skate), every bone laid along `rotation x template offset` so bone
lengths equal the template's exactly.

Units: angles in degrees, lengths in *canonical metres* -- authored for the canonical 0.85 m leg and multiplied by
the body's scale (its leg length / 0.85 m) when solved, so a bigger body performs the same motion scaled uniformly.
Axes: Y up, the body faces +Z at the start, +X is the body's left.

Channel conventions (all degrees unless stated):
  root_pos (3)  pelvis offset (x, y, z) in canonical metres; y is relative to the standing pelvis height
  root_rot (3)  yaw (+ turns left), pitch (+ leans forward), roll (+ leans left)
  spine    (3)  forward bend, side bend (+ left), twist (+ left); spread over spine1/2/3
  neck     (3)  nod (+ down), tilt (+ left), turn (+ left)
  l_arm / r_arm (4)  flex, abduction, twist, elbow -- see `arm_directions`
  l_collar / r_collar (2)  shrug (+ up), protraction (+ forward)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ..motion.skeleton import CANONICAL_BONE_LENGTHS, FPS, NUM_JOINTS, PARENTS

X_AXIS = np.array([1.0, 0.0, 0.0])
Y_AXIS = np.array([0.0, 1.0, 0.0])
Z_AXIS = np.array([0.0, 0.0, 1.0])
MIRROR_X = np.array([-1.0, 1.0, 1.0])  # left <-> right: the right limbs use the left limbs' parameters mirrored

CANONICAL_LEG = float(CANONICAL_BONE_LENGTHS[4] + CANONICAL_BONE_LENGTHS[7])  # thigh + shin, metres
# The template's rest directions (HumanML3D's raw offsets: hips and collar bones sideways, head and toes forward) are
# IK references, not a body shape. These fixed tilts give the neutral pose SMPL-like proportions: hip joints below
# and beside the pelvis, shoulders raised by collar bones running up and out, the head above the neck.
HIP_TILT_DEG = 35.0         # pelvis -> hip bones point 35 deg below horizontal
COLLAR_ELEVATION_DEG = 55.0  # spine3 -> collar bones point 55 deg above horizontal
HEAD_ELEVATION_DEG = 70.0   # the neck -> head bone points 70 deg up from forward (head above, a bit in front)
SPINE_SHARE = (0.3, 0.35, 0.35)  # how a spine bend is spread over spine1, spine2, spine3

CHANNEL_SIZES = {"root_pos": 3, "root_rot": 3, "spine": 3, "neck": 3, "l_arm": 4, "r_arm": 4,
                 "l_collar": 2, "r_collar": 2}


# ----------------------------------------------------------------------------------------------- rotations

def rot_x(deg: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +X by `deg` degrees (+ tilts +Y towards +Z)."""
    a = np.radians(np.asarray(deg, dtype=np.float64))
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(a.shape + (3, 3))


def rot_y(deg: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +Y by `deg` degrees (+ turns +Z towards +X, i.e. to the body's left)."""
    a = np.radians(np.asarray(deg, dtype=np.float64))
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(a.shape + (3, 3))


def rot_z(deg: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +Z by `deg` degrees (+ tilts +X towards +Y)."""
    a = np.radians(np.asarray(deg, dtype=np.float64))
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(a.shape + (3, 3))


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def orthonormal_frame(direction: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """(..., 3, 3) right-handed frame with columns (direction, hint made perpendicular, their cross product)."""
    direction, hint = np.broadcast_arrays(np.asarray(direction, float), np.asarray(hint, float))
    e1 = normalize(direction)
    h = hint - (hint * e1).sum(-1, keepdims=True) * e1
    # A hint parallel to the direction leaves no perpendicular part: fall back to X (or Z if the direction is X).
    weak = np.linalg.norm(h, axis=-1) < 1e-9
    if weak.any():
        fallback = np.where(np.abs(e1[weak, :1]) < 0.9, X_AXIS, Z_AXIS)
        h[weak] = fallback - (fallback * e1[weak]).sum(-1, keepdims=True) * e1[weak]
    e2 = normalize(h)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def align(rest_dir, rest_hint, direction, hint) -> np.ndarray:
    """Rotation taking the rest frame (rest_dir, rest_hint) onto the target frame (direction, hint): R = B A^T.

    It maps rest_dir exactly onto direction; the hints fix the twist about the bone.
    """
    a = orthonormal_frame(rest_dir, rest_hint)
    b = orthonormal_frame(direction, hint)
    return b @ np.swapaxes(a, -1, -2)


# ------------------------------------------------------------------------------------------ easing, noise

def smoothstep(s):
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def smootherstep(s):
    """C2 easing 0 -> 1 (zero velocity and acceleration at both ends)."""
    s = np.clip(s, 0.0, 1.0)
    return s ** 3 * (s * (6.0 * s - 15.0) + 10.0)


def bump(s):
    """C1 bump, 0 at s = 0 and 1 with zero slope there, 1 at s = 0.5."""
    s = np.clip(s, 0.0, 1.0)
    return 16.0 * s * s * (1.0 - s) ** 2


def smooth_noise(rng: np.random.Generator, n_frames: int, dims: int, amplitude, freq_hz=(0.15, 0.7)) -> np.ndarray:
    """(n_frames, dims) slow random wobble: three sinusoids per dimension with random frequency and phase.

    Scaled so each dimension's peak is about `amplitude` (scalar or per-dimension), and shifted to be exactly 0 at
    frame 0 so that every motion starts from its clean key pose (frame 0 then faces +Z exactly).
    """
    t = np.arange(n_frames)[:, None, None] / FPS
    freq = rng.uniform(*freq_hz, size=(1, dims, 3))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(1, dims, 3))
    weight = rng.uniform(0.5, 1.0, size=(1, dims, 3))
    wave = (weight * np.sin(2.0 * np.pi * freq * t + phase)).sum(-1) / weight.sum(-1)  # (T, dims), |.| <= 1
    return (wave - wave[:1]) * np.asarray(amplitude, dtype=np.float64)


# ------------------------------------------------------------------------------------------------- the body

@dataclass(frozen=True)
class Body:
    """A skeleton to animate.

    offsets: (22, 3) per-joint offset from the parent in the rest pose (metres); bone lengths are their norms.
    """

    offsets: np.ndarray

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.float64)
        if offsets.shape != (NUM_JOINTS, 3):
            raise ValueError(f"template_offsets must have shape ({NUM_JOINTS}, 3), got {offsets.shape}")
        if not np.isfinite(offsets).all():
            raise ValueError("template_offsets contain NaN or inf")
        lengths = np.linalg.norm(offsets, axis=-1)
        short = [j for j in range(1, NUM_JOINTS) if lengths[j] < 1e-3]
        if short:
            raise ValueError(f"template_offsets: bones of joints {short} are shorter than 1 mm")
        object.__setattr__(self, "offsets", offsets)

    @property
    def scale(self) -> float:
        """Leg length (left thigh + shin) relative to the canonical template's 0.85 m."""
        return float((np.linalg.norm(self.offsets[4]) + np.linalg.norm(self.offsets[7])) / CANONICAL_LEG)

    def rest_direction(self, joint: int) -> np.ndarray:
        """Unit direction of the bone parent -> joint in the rest pose."""
        return normalize(self.offsets[joint])

    def length(self, joint: int) -> float:
        return float(np.linalg.norm(self.offsets[joint]))


# ---------------------------------------------------------------------------------------------- the style

@dataclass
class Style:
    """Per-motion personal style: the neutral standing pose that every motion starts from and returns to.

    l_arm, r_arm: (flex, abduction, twist, elbow) degrees of the relaxed arms.
    collar: (shrug, protraction) degrees, the same on both sides so that frame 0 faces +Z exactly.
    spine: (bend, side, twist) degrees; neck: (nod, tilt, turn) degrees.
    half_width: lateral distance of each ankle from the pelvis, canonical metres.
    toe_out: outward yaw of each foot, degrees.
    knee_soft: how much lower than the straight-legged height the pelvis stands, canonical metres.
    foot_pitch: angle of the ankle -> toe bone below horizontal when the foot is flat, degrees (ankle ~7 cm up).
    """

    l_arm: np.ndarray
    r_arm: np.ndarray
    collar: np.ndarray
    spine: np.ndarray
    neck: np.ndarray
    half_width: float
    toe_out: float
    knee_soft: float
    foot_pitch: float = 31.0

    def __post_init__(self) -> None:
        for name in ("l_arm", "r_arm", "collar", "spine", "neck"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if not 0.0 < self.half_width < 0.4:
            raise ValueError(f"Style.half_width must be in (0, 0.4) m, got {self.half_width}")
        if not 0.0 <= self.knee_soft < 0.2:
            raise ValueError(f"Style.knee_soft must be in [0, 0.2) m, got {self.knee_soft}")
        if not 0.0 < self.foot_pitch < 80.0:
            raise ValueError(f"Style.foot_pitch must be in (0, 80) degrees, got {self.foot_pitch}")

    @staticmethod
    def sample(rng: np.random.Generator) -> "Style":
        arm = np.array([rng.uniform(0, 8), rng.uniform(6, 14), rng.uniform(0, 25), rng.uniform(8, 22)])
        return Style(
            l_arm=arm + rng.uniform(-3, 3, size=4),
            r_arm=arm + rng.uniform(-3, 3, size=4),
            collar=np.array([rng.uniform(-8, 2), rng.uniform(0, 8)]),
            spine=np.array([rng.uniform(-2, 4), 0.0, 0.0]),
            neck=np.array([rng.uniform(-5, 10), rng.uniform(-3, 3), 0.0]),
            half_width=rng.uniform(0.09, 0.14),
            toe_out=rng.uniform(3, 12),
            knee_soft=rng.uniform(0.008, 0.02),
        )

    def neutral(self) -> dict[str, np.ndarray]:
        return {"root_pos": np.zeros(3), "root_rot": np.zeros(3), "spine": self.spine.copy(),
                "neck": self.neck.copy(), "l_arm": self.l_arm.copy(), "r_arm": self.r_arm.copy(),
                "l_collar": self.collar.copy(), "r_collar": self.collar.copy()}


# ---------------------------------------------------------------------------------------------- timelines

class Timeline:
    """Keyed channels over a clip of `n_frames` frames at 20 fps, interpolated by monotone cubic (PCHIP) splines.

    PCHIP passes through every key without overshoot and has zero slope at local extremes, so a key pose is reached
    exactly, alternating keys give smooth oscillations, and a channel never swings past its keys. Every keyed
    channel implicitly starts from the neutral pose at t = 0; after its last key it holds.
    """

    def __init__(self, n_frames: int, neutral: dict[str, np.ndarray]):
        self.n_frames = n_frames
        self.neutral = {k: np.asarray(v, dtype=np.float64) for k, v in neutral.items()}
        self.keys: dict[str, dict[float, np.ndarray]] = {name: {} for name in CHANNEL_SIZES}

    @property
    def duration(self) -> float:
        return (self.n_frames - 1) / FPS

    def key(self, t: float, **channels) -> "Timeline":
        """Key the given channels at time t (seconds); a value of None keys the channel's neutral value."""
        for name, value in channels.items():
            if name not in CHANNEL_SIZES:
                raise KeyError(f"unknown channel {name!r}; channels are {sorted(CHANNEL_SIZES)}")
            value = self.neutral[name] if value is None else np.asarray(value, dtype=np.float64)
            if value.shape != (CHANNEL_SIZES[name],):
                raise ValueError(f"channel {name}: expected {CHANNEL_SIZES[name]} values, got shape {value.shape}")
            self.keys[name][round(float(t), 6)] = value
        return self

    def hold(self, t0: float, t1: float, **channels) -> "Timeline":
        """Key the same values at t0 and t1 (the channel rests there)."""
        return self.key(t0, **channels).key(t1, **channels)

    def evaluate(self, *names: str) -> dict[str, np.ndarray]:
        """{channel: (n_frames, size)} values at every frame, for the named channels (default: all)."""
        times = np.arange(self.n_frames) / FPS
        out = {}
        for name in names or tuple(self.keys):
            keys = self.keys[name]
            if not keys:
                out[name] = np.tile(self.neutral[name], (self.n_frames, 1))
                continue
            if min(keys) > 0.0:
                keys = {0.0: self.neutral[name], **keys}
            knot_t = np.array(sorted(keys))
            knot_v = np.stack([keys[t] for t in knot_t])
            if len(knot_t) == 1:
                out[name] = np.tile(knot_v[0], (self.n_frames, 1))
                continue
            spline = PchipInterpolator(knot_t, knot_v, axis=0)
            out[name] = spline(np.clip(times, knot_t[0], knot_t[-1]))
        return out


# --------------------------------------------------------------------------------------------- foot plans

@dataclass(eq=False)
class _Step:
    t_lift: float
    t_land: float
    ankle_xz: np.ndarray
    yaw: float
    clearance: float
    heel_raise: float
    heel_time: float
    arc_skew: float
    via: list  # [(t, toe_xyz (3,), pitch_deg)]


class FootPlan:
    """Where one foot is planted over time and how it swings between plants (canonical metres, degrees).

    A plant is given by its ankle's ground point and the foot's yaw; the toe (ball of the foot) is what touches
    the floor, `foot_len x cos(foot_pitch)` in front of it. Before each lift the heel rises about the planted toe,
    so the toe does not move until the swing starts.
    """

    def __init__(self, ankle_xz, yaw: float):
        self.start_xz = np.asarray(ankle_xz, dtype=np.float64)
        self.start_yaw = float(yaw)
        self.steps: list[_Step] = []

    @property
    def last_xz(self) -> np.ndarray:
        return self.steps[-1].ankle_xz if self.steps else self.start_xz

    @property
    def last_yaw(self) -> float:
        return self.steps[-1].yaw if self.steps else self.start_yaw

    @property
    def free_from(self) -> float:
        """Time after which the foot may lift again."""
        return self.steps[-1].t_land if self.steps else 0.0

    def step(self, t_lift: float, t_land: float, ankle_xz, yaw: float | None = None, clearance: float = 0.07,
             heel_raise: float = 20.0, heel_time: float = 0.15, arc_skew: float = 1.0, via=None) -> "FootPlan":
        """Swing from the current plant to a new one between t_lift and t_land (seconds).

        heel_raise / heel_time: the heel rises by this many degrees about the planted toe during the heel_time
        seconds before the lift (walking rolls over the toes for the second half of the stance).
        arc_skew: < 1 makes the toe rise early in the swing (a running foot kicks up behind) -- height at swing
        fraction s is clearance x bump(s ** arc_skew).
        via: optional [(t, toe_xyz, pitch_deg)] knots of the toe path (kicks); else a low arc of height `clearance`.
        """
        if t_land <= t_lift:
            raise ValueError(f"step: t_land ({t_land}) must come after t_lift ({t_lift})")
        if t_lift < self.free_from - 1e-9:
            raise ValueError(f"step: lift at {t_lift} s before the previous landing at {self.free_from} s")
        self.steps.append(_Step(float(t_lift), float(t_land), np.asarray(ankle_xz, dtype=np.float64),
                                self.last_yaw if yaw is None else float(yaw), clearance, heel_raise,
                                max(float(heel_time), 1e-3), float(arc_skew), list(via or [])))
        return self

    def evaluate(self, n_frames: int, foot_len: float, foot_pitch: float):
        """Per frame: toe position (T, 3), foot yaw (T,) deg, foot pitch (T,) deg, toe planted (T,) bool.

        foot_len: ankle -> toe length in canonical metres. Pitch is the angle of ankle -> toe below horizontal.
        """
        times = np.arange(n_frames) / FPS
        reach = foot_len * math.cos(math.radians(foot_pitch))

        def toe_of(xz, yaw):
            a = math.radians(yaw)
            return np.array([xz[0] + reach * math.sin(a), 0.0, xz[1] + reach * math.cos(a)])

        toe = np.tile(toe_of(self.start_xz, self.start_yaw), (n_frames, 1))
        yaw = np.full(n_frames, self.start_yaw)
        pitch = np.full(n_frames, float(foot_pitch))
        planted = np.ones(n_frames, dtype=bool)
        prev_toe, prev_yaw = toe[0].copy(), self.start_yaw
        landed = -np.inf
        for st in self.steps:
            new_toe = toe_of(st.ankle_xz, st.yaw)
            # Heel rise about the planted toe just before the lift (not before the foot has landed).
            ramp = max(min(st.heel_time, st.t_lift - landed, st.t_lift), 1e-3)
            pre = (times >= st.t_lift - ramp) & (times < st.t_lift)
            pitch[pre] = foot_pitch + st.heel_raise * smoothstep((times[pre] - st.t_lift + ramp) / ramp)
            swing = (times >= st.t_lift) & (times < st.t_land)
            s = (times[swing] - st.t_lift) / (st.t_land - st.t_lift)
            if st.via:
                knot_t = [st.t_lift] + [v[0] for v in st.via] + [st.t_land]
                knot_p = np.stack([prev_toe] + [np.asarray(v[1], float) for v in st.via] + [new_toe])
                knot_a = [foot_pitch + st.heel_raise] + [v[2] for v in st.via] + [foot_pitch]
                toe[swing] = CubicSpline(knot_t, knot_p, axis=0, bc_type="clamped")(times[swing])
                pitch[swing] = CubicSpline(knot_t, knot_a, bc_type="clamped")(times[swing])
            else:
                h = smootherstep(s)[:, None]
                toe[swing] = (1 - h) * prev_toe + h * new_toe
                toe[swing, 1] = st.clearance * bump(s ** st.arc_skew)
                # the foot leaves heel-first (raised heel) and lands flat, pointing its toe down a little mid-swing
                pitch[swing] = foot_pitch + st.heel_raise * (1 - smoothstep(s)) + 10.0 * bump(s)
            yaw[swing] = prev_yaw + (st.yaw - prev_yaw) * smoothstep(s)
            planted[swing] = False
            after = times >= st.t_land
            toe[after], yaw[after], pitch[after] = new_toe, st.yaw, foot_pitch
            prev_toe, prev_yaw, landed = new_toe, st.yaw, st.t_land
        toe[:, 1] = np.maximum(toe[:, 1], 0.0)
        return toe, yaw, pitch, planted


# ------------------------------------------------------------------------------------------------- solving

def arm_directions(params: np.ndarray):
    """Upper-arm direction u, elbow-bend direction b and forearm direction f of an arm, in the chest frame with
    +X pointing *outwards* for that arm (the right arm is mirrored afterwards).

    params (T, 4) degrees: flex (raise forward; 90 = horizontal forward), abduction (raise sideways; 90 =
    horizontal out, 180 = straight up), twist (rotation about the upper arm; + turns the elbow bend towards the
    body's midline), elbow (0 = straight). u = Rz(abd) Rx(-flex) (0, -1, 0); the untwisted bend direction is du/dflex
    (forward for a hanging arm), rotated about u by the twist.
    """
    f, a, twist, e = np.radians(params).T
    u = np.stack([np.cos(f) * np.sin(a), -np.cos(f) * np.cos(a), np.sin(f)], axis=-1)
    r = np.stack([-np.sin(f) * np.sin(a), np.sin(f) * np.cos(a), np.cos(f)], axis=-1)
    b = np.cos(twist)[:, None] * r + np.sin(twist)[:, None] * np.cross(u, r)
    forearm = np.cos(e)[:, None] * u + np.sin(e)[:, None] * b
    forearm_hint = -np.sin(e)[:, None] * u + np.cos(e)[:, None] * b
    return u, b, forearm, forearm_hint


def _collar_direction(params: np.ndarray) -> np.ndarray:
    """Collar -> shoulder direction (outward, raised by the shrug, pushed forward by the protraction)."""
    shrug, protract = np.radians(params).T
    return np.stack([np.cos(shrug) * np.cos(protract), np.sin(shrug), np.cos(shrug) * np.sin(protract)], axis=-1)


def _leg_ik(hip, ankle, thigh, shin, knee_hint):
    """Two-bone IK: knee position and the reached ankle (pulled towards the hip when out of reach).

    hip, ankle, knee_hint (T, 3). The knee lies in the plane of hip->ankle and the hint, on the hint's side.
    """
    d = ankle - hip
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    d_hat = d / np.maximum(dist, 1e-12)
    dist = np.clip(dist, abs(thigh - shin) + 1e-6, thigh + shin)
    reached = hip + d_hat * dist
    along = (thigh ** 2 - shin ** 2 + dist ** 2) / (2.0 * dist)  # law of cosines: hip -> knee projected on hip->ankle
    height = np.sqrt(np.maximum(thigh ** 2 - along ** 2, 0.0))
    side = normalize(knee_hint - (knee_hint * d_hat).sum(-1, keepdims=True) * d_hat)
    knee = hip + along * d_hat + height * side
    return knee, reached, side


def solve_pose(body: Body, style: Style, channels: dict[str, np.ndarray], feet: tuple[FootPlan, FootPlan]):
    """Joint positions (T, 22, 3) float64 of the channels and foot plans (left, right) on `body`."""
    T = channels["root_pos"].shape[0]
    off, s = body.offsets, body.scale
    G = np.zeros((T, NUM_JOINTS, 3, 3))  # global rotation of each joint (rotates the bones to its children)
    # Bones hanging off a joint with several children (pelvis -> hips, spine3 -> collars) get their own rotation
    # (HumanML3D, too, stores one rotation per bone); bone_rot[j] rotates the offset parent -> j.
    bone_rot = {}

    yaw, pitch, roll = channels["root_rot"].T
    G[:, 0] = rot_y(yaw) @ rot_x(pitch) @ rot_z(-roll)

    # spine: one bend, spread over the three spine joints
    bend, side, twist = channels["spine"].T
    parent = G[:, 0]
    for joint, share in zip((3, 6, 9), SPINE_SHARE):
        parent = G[:, joint] = parent @ rot_y(twist * share) @ rot_x(bend * share) @ rot_z(-side * share)
    chest = G[:, 9]
    for joint, mirror in ((13, np.ones(3)), (14, MIRROR_X)):
        bone_rot[joint] = chest @ align(body.rest_direction(joint), Z_AXIS, _tilted(COLLAR_ELEVATION_DEG) * mirror,
                                        Z_AXIS)
    for joint, mirror in ((1, np.ones(3)), (2, MIRROR_X)):
        bone_rot[joint] = G[:, 0] @ hip_bone_rotation(body, joint)

    nod, tilt, turn = channels["neck"].T
    head_rest = align(body.rest_direction(15), Y_AXIS, Z_AXIS, Y_AXIS)  # rest head bone -> +Z
    G[:, 12] = chest @ rot_y(turn) @ rot_z(-tilt) @ rot_x(-(HEAD_ELEVATION_DEG - nod)) @ head_rest

    for mirror, collar, shoulder, elbow, name in ((np.ones(3), 13, 16, 18, "l"), (MIRROR_X, 14, 17, 19, "r")):
        collar_dir = _collar_direction(channels[f"{name}_collar"]) * mirror
        G[:, collar] = chest @ align(body.rest_direction(shoulder), Z_AXIS, collar_dir, Z_AXIS)
        u, b, forearm, forearm_hint = arm_directions(channels[f"{name}_arm"])
        G[:, shoulder] = chest @ align(body.rest_direction(elbow), Z_AXIS, u * mirror, b * mirror)
        G[:, elbow] = chest @ align(body.rest_direction(elbow + 2), Z_AXIS, forearm * mirror,
                                    forearm_hint * mirror)

    # root height: standing height for this body and stance, plus the channel, lowered where a leg cannot reach
    root = channels["root_pos"] * s
    root[:, 1] += standing_height(body, style)

    foot_len = [body.length(10) / s, body.length(11) / s]  # canonical metres
    targets = []
    for k, (plan, hip_joint) in enumerate(zip(feet, (1, 2))):
        toe, foot_yaw, foot_pitch, planted = plan.evaluate(T, foot_len[k], style.foot_pitch)
        yaw_r, pitch_r = np.radians(foot_yaw), np.radians(foot_pitch)
        forward = np.stack([np.sin(yaw_r), np.zeros(T), np.cos(yaw_r)], axis=-1)
        toe_dir = np.cos(pitch_r)[:, None] * forward - np.sin(pitch_r)[:, None] * Y_AXIS
        ankle = (toe - foot_len[k] * toe_dir) * s
        targets.append((toe * s, ankle, toe_dir, forward, planted, hip_joint))
    root[:, 1] = _reachable_height(body, G[:, 0], root, targets)

    joints = np.zeros((T, NUM_JOINTS, 3))
    joints[:, 0] = root
    for toe, ankle, toe_dir, forward, planted, hip_joint in targets:
        knee_joint, ankle_joint = hip_joint + 3, hip_joint + 6
        hip = root + bone_rot[hip_joint] @ off[hip_joint]
        thigh, shin = body.length(knee_joint), body.length(ankle_joint)
        # The knee points over the toes; a raised foot (kick, knee up) turns the bend upwards.
        lift = np.clip((ankle[:, 1] / s - 0.15) * 4.0, 0.0, 2.0)[:, None]
        knee, reached, bend_side = _leg_ik(hip, ankle, thigh, shin, forward + lift * Y_AXIS)
        G[:, hip_joint] = align(body.rest_direction(knee_joint), Z_AXIS, knee - hip, bend_side)
        G[:, knee_joint] = align(body.rest_direction(ankle_joint), Z_AXIS, reached - knee, bend_side)
        G[:, ankle_joint] = align(body.rest_direction(ankle_joint + 3), Y_AXIS, toe_dir, Y_AXIS)

    # Forward kinematics: every bone = its rotation x template offset, so its length is exact.
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        joints[:, j] = joints[:, p] + bone_rot.get(j, G[:, p]) @ off[j]
    return joints


def _tilted(elevation_deg: float) -> np.ndarray:
    """Unit vector pointing outwards (+X) and `elevation_deg` up (negative: down)."""
    e = math.radians(elevation_deg)
    return np.array([math.cos(e), math.sin(e), 0.0])


def hip_bone_rotation(body: Body, hip_joint: int) -> np.ndarray:
    """(3, 3) fixed rotation of the pelvis -> hip bone in the pelvis frame (outwards and HIP_TILT_DEG down)."""
    mirror = np.ones(3) if hip_joint == 1 else MIRROR_X
    return align(body.rest_direction(hip_joint), Z_AXIS, _tilted(-HIP_TILT_DEG) * mirror, Z_AXIS)


def standing_height(body: Body, style: Style) -> float:
    """Pelvis height (metres) of the neutral stance: ankles under the hips at `half_width`, knees softened."""
    s = body.scale
    heights = []
    for hip_joint, sign in ((1, 1.0), (2, -1.0)):
        hip = hip_bone_rotation(body, hip_joint) @ body.offsets[hip_joint]
        foot = body.length(hip_joint + 9)
        ankle_y = foot * math.sin(math.radians(style.foot_pitch))
        leg = body.length(hip_joint + 3) + body.length(hip_joint + 6)
        lateral = sign * style.half_width * s - hip[0]
        vertical = math.sqrt(max(leg ** 2 - lateral ** 2 - hip[2] ** 2, 0.0))
        heights.append(ankle_y - hip[1] + vertical)
    return min(heights) - style.knee_soft * s


def _reachable_height(body: Body, pelvis_rot: np.ndarray, root: np.ndarray, targets) -> np.ndarray:
    """Root heights (T,) no higher than the channel asks and low enough for every planted foot to be reached.

    The deficit (how much lower the pelvis must go) is widened by a max filter and blurred, so the pelvis dips
    smoothly in time instead of following the reach limit's kinks; a final minimum keeps the hard limit.
    """
    s = body.scale
    wanted = root[:, 1].copy()
    limit = np.full_like(wanted, np.inf)
    for toe, ankle, toe_dir, forward, planted, hip_joint in targets:
        # hip position with the root at height 0
        hip_vector = hip_bone_rotation(body, hip_joint) @ body.offsets[hip_joint]
        hip = root * np.array([1.0, 0.0, 1.0]) + pelvis_rot @ hip_vector
        reach = body.length(hip_joint + 3) + body.length(hip_joint + 6) - 1e-4 * s
        horizontal = (hip[:, 0] - ankle[:, 0]) ** 2 + (hip[:, 2] - ankle[:, 2]) ** 2
        # planted feet, and swinging feet still (or again) close to the floor, where pulling them up would show
        ok = (planted | (toe[:, 1] < 0.03 * s)) & (horizontal < reach ** 2)
        limit[ok] = np.minimum(limit[ok], ankle[ok, 1] - hip[ok, 1] + np.sqrt(reach ** 2 - horizontal[ok]))
    deficit = np.maximum(wanted - limit, 0.0)
    if not deficit.any():
        return wanted
    deficit = gaussian_filter1d(maximum_filter1d(deficit, size=5), sigma=1.2, mode="nearest")
    return np.minimum(wanted - deficit, limit)
