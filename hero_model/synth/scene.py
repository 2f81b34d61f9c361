"""One egocentric ViMo-Synth clip: sample a scene for a subcategory, then render it frame by frame.

A scene is the reactor's view (camera.py) of a static environment (background.py) and one scripted actor --
a human performing `make_motion(action)` (human.py), a dog or a bird (animals.py), or a ball / car / falling object
(objects.py) -- with nuisance variety: environment, light, actor look and size, distance and lateral offset, the
start time of the action within the clip, head sway, blur, colour grading and pixel noise. Rasterisation is numpy +
OpenCV (raster.py explains why not MuJoCo/GL: ~5 ms a frame on one core, no GL stack, bit-identical everywhere).

Determinism and the emotion contract: a scene is a pure function of (subcategory's actor kind and action, emotion,
SeedSequence, RenderConfig). The SeedSequence is split into independent streams (environment, actor look, actor
motion, layout, sway, pixel noise) before any draw, so the emotion -- used only when the face is painted -- cannot
shift any other random choice: the walk_towards_{neutral,happy,angry} clips of one seed differ only inside the head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import taxonomy
from .animals import BirdActor, BirdLook, DogActor, DogLook
from .background import Backdrop
from .camera import HeadSway, PinholeCamera
from .human import HumanActor, HumanLook, R_WRIST, L_WRIST, R_ELBOW, L_ELBOW
from .objects import BallActor, BallLook, CarActor, CarLook, FALLING_KINDS, FallingObjectActor
from .raster import Light, rasterise, rotation_y

MOTION_FPS = 20  # make_motion's frame rate (HumanML3D)
MIN_CLIP_S, MAX_CLIP_S = 2.0, 5.0

# How close (metres, camera Z) the actor's nearest joint comes, per human action: a punch or a hug reaches the
# reactor, a wave or a throw happens at conversational or playing distance.
CLOSEST_APPROACH_M = {
    "wave": (1.6, 3.2), "handshake_offer": (0.5, 0.75), "hug_approach": (0.3, 0.5), "punch": (0.35, 0.6),
    "push": (0.35, 0.55), "kick": (0.6, 0.9), "throw": (2.0, 3.5), "point": (1.6, 3.0),
    "walk_towards": (0.6, 1.0), "idle": (1.5, 3.5),
}
# Probability that the environment is outdoors, per actor kind (cars and birds are outdoor things).
OUTDOOR_PROBABILITY = {"human": 0.6, "dog": 0.7, "bird": 1.0, "ball": 0.8, "car": 1.0, "falling_object": 0.5}
# Head tilt range (degrees, + = looking up) per actor kind: things coming from above are watched looking up a bit.
# Egocentric cameras ride on the head, which usually tilts down a little; a dog is watched looking down.
# For humans the range is relative to the direction of the actor's head at its closest approach (people look at
# faces), so a close, tall actor is not beheaded by the frame edge.
PITCH_RANGE_DEG = {"human": (-10.0, -2.0), "dog": (-38.0, -22.0), "bird": (0.0, 10.0), "ball": (-8.0, 4.0),
                   "car": (-10.0, 0.0), "falling_object": (-12.0, -2.0)}


@dataclass
class RenderConfig:
    """How clips are rendered.

    size: frame side in pixels (square frames, >= 224 so no resize is needed for the video encoder).
    fps: video frame rate (ViMo videos are 20-30 fps; motions are always 20 fps).
    noise: add pixel noise (set False to compare frames exactly, e.g. in tests).
    min_clip_s, max_clip_s: clip duration bounds, seconds.
    """

    size: int = 224
    fps: int = 20
    noise: bool = True
    min_clip_s: float = MIN_CLIP_S
    max_clip_s: float = MAX_CLIP_S

    def __post_init__(self) -> None:
        if not 64 <= self.size <= 1024:
            raise ValueError(f"RenderConfig: size must be in [64, 1024] pixels, got {self.size}")
        if not 10 <= self.fps <= 60:
            raise ValueError(f"RenderConfig: fps must be in [10, 60], got {self.fps}")
        if not 0.5 <= self.min_clip_s <= self.max_clip_s <= 20.0:
            raise ValueError(f"RenderConfig: need 0.5 <= min_clip_s <= max_clip_s <= 20, got "
                             f"min_clip_s={self.min_clip_s}, max_clip_s={self.max_clip_s}")


@dataclass
class Grading:
    """Per-clip camera response: channel gains, gamma, defocus blur sigma (px) and pixel noise sigma (0-255)."""

    gains: np.ndarray
    gamma: float
    blur_sigma: float
    noise_sigma: float

    def __post_init__(self) -> None:
        self.gains = np.asarray(self.gains, dtype=np.float64).reshape(3)
        if not ((self.gains > 0.5) & (self.gains < 1.5)).all():
            raise ValueError(f"Grading: gains must lie in (0.5, 1.5), got {self.gains}")
        if not 0.5 <= self.gamma <= 2.0:
            raise ValueError(f"Grading: gamma must be in [0.5, 2], got {self.gamma}")
        if not 0.0 <= self.blur_sigma <= 0.9:
            raise ValueError(f"Grading: blur_sigma must be in [0, 0.9] px (tests allow a 4 px margin), "
                             f"got {self.blur_sigma}")
        if not 0.0 <= self.noise_sigma <= 20.0:
            raise ValueError(f"Grading: noise_sigma must be in [0, 20], got {self.noise_sigma}")

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Grading":
        gains = rng.uniform(0.9, 1.1, size=3) * rng.uniform(0.85, 1.15)
        blur = float(rng.uniform(0.3, 0.9)) if rng.random() < 0.4 else 0.0
        noise = float(rng.uniform(1.0, 6.0)) if rng.random() < 0.8 else 0.0
        return cls(gains=gains, gamma=float(rng.uniform(0.85, 1.15)), blur_sigma=blur, noise_sigma=noise)

    def lut(self) -> np.ndarray:
        """(256, 1, 3) uint8 lookup: out = 255 * gain_c * (x / 255) ** gamma."""
        x = np.arange(256, dtype=np.float64) / 255.0
        table = 255.0 * (x[:, None] ** self.gamma) * self.gains[None, :]
        return np.clip(table + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


@dataclass
class Scene:
    """A sampled clip, ready to render: camera, light, environment, actors, sway, grading and timing."""

    subcategory: str
    emotion: str
    config: RenderConfig
    camera: PinholeCamera
    light: Light
    backdrop: Backdrop
    actors: list
    sway: HeadSway
    sway_angles: np.ndarray  # (F, 3) yaw, pitch, roll per frame, radians
    grading: Grading
    num_frames: int
    noise_seed: np.random.SeedSequence
    meta: dict = field(default_factory=dict)
    reaction_weights: dict | None = None  # optional preference among the subcategory's reactions (scene geometry)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.config.fps


@dataclass
class RenderedClip:
    """frames: (F, H, W, 3) uint8 RGB; head_boxes: (F, 4) int [x0, y0, x1, y1] of the human actor's head sphere on
    the output frames (clipped; -1 where off-screen or no human); fps."""

    frames: np.ndarray
    head_boxes: np.ndarray
    fps: int


# ----------------------------------------------------------------------------------------------- sampling
def child_seeds(seed: np.random.SeedSequence, n: int) -> list[np.random.SeedSequence]:
    """The first n children of `seed`, as a pure function: SeedSequence.spawn would give different children on a
    second call (it counts), which would make sampling the same seed twice give two different scenes."""
    return [np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (k,), pool_size=seed.pool_size)
            for k in range(n)]


def sample_scene(subcategory: str, emotion: str, seed: np.random.SeedSequence,
                 config: RenderConfig | None = None) -> Scene:
    """Sample a scene for `subcategory` showing `emotion` (ignored for faceless actors) from `seed`."""
    from .motions import make_motion  # the procedural motion library (another module of this package)

    config = config or RenderConfig()
    row = taxonomy.get(subcategory)
    if emotion not in row.emotions:
        raise ValueError(f"sample_scene: emotion {emotion!r} is not one of {row.emotions} for {subcategory}")
    env_ss, look_ss, motion_ss, layout_ss, sway_ss, noise_ss = child_seeds(seed, 6)
    env_rng, look_rng, layout_rng = (np.random.default_rng(s) for s in (env_ss, look_ss, layout_ss))
    motion_rng, sway_rng = np.random.default_rng(motion_ss), np.random.default_rng(sway_ss)
    kind = row.actor_kind

    sway = HeadSway.sample(sway_rng)
    pitch_lo, pitch_hi = PITCH_RANGE_DEG[kind]
    hfov = float(env_rng.uniform(50.0, 65.0))
    focal = (config.size / 2.0) / math.tan(math.radians(hfov) / 2.0)
    # Enough margin that the swayed, rolled output never samples outside the canvas.
    max_angle = sway.max_angle_rad()
    margin = int(math.ceil(focal * math.tan(max_angle) + config.size * 0.7072 * math.sin(max_angle))) + 2
    camera = PinholeCamera(size=config.size, hfov_deg=hfov, eye_height=float(env_rng.uniform(1.5, 1.72)),
                           pitch_deg=float(env_rng.uniform(pitch_lo, pitch_hi)), margin=margin)
    outdoor = bool(env_rng.random() < OUTDOOR_PROBABILITY[kind])
    light = Light.sample(env_rng, outdoor)
    grading = Grading.sample(env_rng)

    builder = _BUILDERS[kind]
    actors, timing, lane, meta, weights = builder(row, emotion, camera, config, look_rng, motion_rng, layout_rng,
                                                  make_motion)
    if "head_elevation_deg" in meta:
        pitch = float(np.clip(camera.pitch_deg + meta["head_elevation_deg"], -25.0, 25.0))
        camera = PinholeCamera(size=camera.size, hfov_deg=camera.hfov_deg, eye_height=camera.eye_height,
                               pitch_deg=pitch, margin=camera.margin)
    if timing < config.min_clip_s:
        # A short event is moved later rather than padded at the end, so the clip still ends on the event.
        delay = config.min_clip_s - timing
        actors = [_Delayed(a, delay) if not isinstance(a, _HumanTrack) else a.delayed(delay) for a in actors]
        meta["action_start_s"] = round(meta.get("action_start_s", 0.0) + delay, 3)
    duration = float(np.clip(timing, config.min_clip_s, config.max_clip_s))
    num_frames = int(round(duration * config.fps))
    for actor in actors:
        if isinstance(actor, _HumanTrack):
            actor.bind(num_frames, config.fps)
    clear_half_width, clear_depth = lane
    backdrop = Backdrop.sample(env_rng, outdoor, clear_half_width, clear_depth)
    angles = sway.angles(np.arange(num_frames) / config.fps, sway_rng)
    meta.update({"actor_kind": kind, "outdoor": outdoor, "floor": backdrop.floor_kind,
                 "pitch_deg": round(camera.pitch_deg, 3),
                 "hfov_deg": round(hfov, 2), "eye_height_m": round(camera.eye_height, 3),
                 "duration_s": round(num_frames / config.fps, 3), "num_frames": num_frames, "fps": config.fps})
    return Scene(subcategory=subcategory, emotion=emotion, config=config, camera=camera, light=light,
                 backdrop=backdrop, actors=actors, sway=sway, sway_angles=angles, grading=grading,
                 num_frames=num_frames, noise_seed=noise_ss, meta=meta, reaction_weights=weights)


class _Delayed:
    """An actor whose whole script starts `delay` seconds later."""

    def __init__(self, actor, delay: float):
        self.actor, self.delay = actor, float(delay)

    def primitives(self, t: float) -> list:
        return self.actor.primitives(t - self.delay)

    def shadows(self, t: float) -> list:
        return self.actor.shadows(t - self.delay)


class _HumanTrack:
    """A human whose 20 fps motion is placed in the world and retimed to the video's frame rate once the clip
    length is known: the first pose is held for `lead_s` seconds, then the action plays, then the last pose holds."""

    def __init__(self, world_joints_20fps: np.ndarray, look: HumanLook, emotion: str, lead_s: float,
                 gaze_target: np.ndarray, gaze_weight: float):
        self.motion = world_joints_20fps
        self.look, self.emotion, self.lead_s = look, emotion, float(lead_s)
        self.gaze_target, self.gaze_weight = gaze_target, gaze_weight
        self.actor: HumanActor | None = None

    def pose_at(self, t: float) -> np.ndarray:
        """(22, 3) world joints at clip time t (linear interpolation of the 20 fps motion)."""
        x = np.clip((t - self.lead_s) * MOTION_FPS, 0.0, self.motion.shape[0] - 1.0)
        i = int(math.floor(x))
        j = min(i + 1, self.motion.shape[0] - 1)
        w = x - i
        return (1.0 - w) * self.motion[i] + w * self.motion[j]

    def delayed(self, delay: float) -> "_HumanTrack":
        return _HumanTrack(self.motion, self.look, self.emotion, self.lead_s + delay, self.gaze_target,
                           self.gaze_weight)

    def bind(self, num_frames: int, fps: int) -> None:
        joints = np.stack([self.pose_at(i / fps) for i in range(num_frames)])
        self.actor = HumanActor(joints, self.look, self.emotion, self.gaze_target, self.gaze_weight)
        self.fps = fps

    def primitives(self, t: float) -> list:
        return self.actor.primitives(self._frame(t))

    def shadows(self, t: float) -> list:
        return self.actor.shadows(self._frame(t))

    def head(self, t: float):
        return self.actor.head(self._frame(t))

    def _frame(self, t: float) -> int:
        return min(int(round(t * self.fps)), self.actor.num_frames - 1)


def _build_human(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    from ..motion.skeleton import canonical_template_offsets

    from .motions import motion_duration_range

    look = HumanLook.sample(look_rng)
    template = canonical_template_offsets() * look.body_scale
    lead_s = float(layout_rng.uniform(0.2, 1.0))  # the action starts this far into the clip
    tail_s = float(layout_rng.uniform(0.3, 1.0))  # and the clip runs on this long after it
    lo, hi = motion_duration_range(row.action)
    if lead_s + tail_s + lo > config.max_clip_s:  # make room for the shortest take of the action
        squeeze = max(config.max_clip_s - lo, 0.0) / (lead_s + tail_s)
        lead_s, tail_s = lead_s * squeeze, tail_s * squeeze
    action_s = float(layout_rng.uniform(lo, max(lo, min(hi, config.max_clip_s - lead_s - tail_s))))
    motion = np.asarray(make_motion(row.action, motion_rng, duration_s=action_s, template_offsets=template),
                        dtype=np.float64)
    if motion.ndim != 3 or motion.shape[1:] != (22, 3) or motion.shape[0] < 2:
        raise ValueError(f"make_motion({row.action!r}) returned shape {motion.shape}, expected (T, 22, 3)")
    # The actor faces the camera (+-12 degrees): turn the +Z-facing motion by 180 degrees about Y.
    yaw = math.pi + float(layout_rng.uniform(-0.15, 0.15))
    closest = float(layout_rng.uniform(*CLOSEST_APPROACH_M[row.action]))
    # Where the actor's pelvis is sideways when it comes closest: within ~20 degrees of straight ahead.
    lateral = float(layout_rng.uniform(-0.35, 0.35)) * min(closest + 0.4, 2.0)
    local = motion - np.array([motion[0, 0, 0], 0.0, motion[0, 0, 2]])
    turned = local @ rotation_y(yaw).T
    # Place the actor so its nearest joint, over the whole motion, comes exactly `closest` metres from the camera.
    depth = closest - turned[..., 2].min()
    nearest_frame = int(turned[..., 2].min(axis=1).argmin())
    world = turned + np.array([lateral - turned[nearest_frame, 0, 0], 0.0, depth])
    action_s = (motion.shape[0] - 1) / MOTION_FPS
    # The actor looks at the reactor, except while pointing (then the head follows the motion: look over there).
    gaze = 0.0 if row.action == "point" else 1.5
    actors: list = [_HumanTrack(world, look, emotion, lead_s, camera.position.copy(), gaze)]
    head = world[nearest_frame, 15]
    elevation = math.degrees(math.atan2(head[1] - camera.eye_height, max(head[2], 0.3)))
    meta = {"actor_distance_m": round(float(depth), 3), "closest_m": round(closest, 3),
            "head_elevation_deg": round(elevation, 3),
            "lateral_m": round(lateral, 3), "action_start_s": round(lead_s, 3), "body_scale": round(look.body_scale, 3)}
    if row.action == "throw":
        actors.append(_thrown_ball(world, lead_s, look_rng, layout_rng, camera))
    extent = np.abs(world[..., 0]).max()
    return actors, lead_s + action_s + tail_s, (extent + 0.6, world[..., 2].max() + 0.5), meta, None


def _thrown_ball(world: np.ndarray, lead_s: float, look_rng, layout_rng, camera) -> BallActor:
    """The throw's ball sits in the throwing hand until the hand moves fastest towards the camera, then flies at
    the reactor's chest."""
    velocity_toward_camera = -(world[1:, :, 2] - world[:-1, :, 2]) * MOTION_FPS  # (T-1, 22)
    wrist, elbow = (R_WRIST, R_ELBOW) if velocity_toward_camera[:, R_WRIST].max() >= velocity_toward_camera[
        :, L_WRIST].max() else (L_WRIST, L_ELBOW)
    release_frame = int(velocity_toward_camera[:, wrist].argmax()) + 1
    release_s = lead_s + release_frame / MOTION_FPS

    def hold(t: float) -> np.ndarray:
        x = np.clip((t - lead_s) * MOTION_FPS, 0.0, world.shape[0] - 1.0)
        i = int(math.floor(x))
        j = min(i + 1, world.shape[0] - 1)
        pose = (1.0 - (x - i)) * world[i] + (x - i) * world[j]
        along = pose[wrist] - pose[elbow]
        return pose[wrist] + along / max(np.linalg.norm(along), 1e-6) * 0.12

    target = np.array([layout_rng.uniform(-0.25, 0.25), camera.eye_height - layout_rng.uniform(0.3, 0.6), 0.35])
    start = hold(release_s)
    speed = float(layout_rng.uniform(3.5, 6.0))
    flight = float(np.linalg.norm(target - start)) / speed
    return BallActor(BallLook.sample(look_rng), launch_s=release_s, flight_s=max(flight, 0.1), target_pos=target,
                     hold=hold, spin_hz=float(layout_rng.uniform(1.0, 4.0)))


def _build_dog(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    look = DogLook.sample(look_rng)
    start_s = float(layout_rng.uniform(0.2, 1.2))
    if row.action == "run_at_you":
        start = (float(layout_rng.uniform(-1.5, 1.5)), float(layout_rng.uniform(6.0, 10.0)))
        stop = (float(layout_rng.uniform(-0.3, 0.3)), float(layout_rng.uniform(1.4, 2.0)))
        speed = float(layout_rng.uniform(3.0, 5.5))
        hold = float(layout_rng.uniform(0.2, 0.6))
    else:
        start = (float(layout_rng.uniform(-1.0, 1.0)), float(layout_rng.uniform(3.0, 5.0)))
        stop = (float(layout_rng.uniform(-0.2, 0.2)), float(layout_rng.uniform(1.0, 1.3)))
        speed = float(layout_rng.uniform(1.5, 2.5))
        hold = float(layout_rng.uniform(0.8, 1.4))  # time to rear up (0.35 s) and stay up
    dog = DogActor(row.action, look, start, stop, start_s, speed, motion_rng)
    # Long approaches are started before the clip does, so the arrival stays inside the 5 s limit.
    end_s = start_s + dog.travel_s + 0.2 + hold
    if end_s > config.max_clip_s:
        dog.start_s -= end_s - config.max_clip_s
        end_s = config.max_clip_s
    meta = {"start_distance_m": round(start[1], 3), "stop_distance_m": round(stop[1], 3), "speed_mps": round(speed, 3),
            "action_start_s": round(dog.start_s, 3), "dog_size": round(look.size, 3)}
    return [dog], end_s, (max(abs(start[0]), abs(stop[0])) + 0.8, start[1] + 1.0), meta, None


def _build_bird(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    look = BirdLook.sample(look_rng)
    # The swoop ends right in front of the reactor's face; the clip ends as the bird arrives.
    p0 = np.array([layout_rng.uniform(-2.0, 2.0), layout_rng.uniform(2.5, 4.5), layout_rng.uniform(6.0, 10.0)])
    p3 = np.array([layout_rng.uniform(-0.2, 0.2), camera.eye_height + layout_rng.uniform(0.0, 0.2),
                   layout_rng.uniform(0.5, 0.8)])
    p1 = p0 + np.array([0.0, -0.6, -2.5])
    p2 = p3 + np.array([0.0, 0.3, 2.5])
    start_s = float(layout_rng.uniform(0.3, 1.5))
    duration = float(layout_rng.uniform(1.5, 2.5))
    bird = BirdActor(look, np.stack([p0, p1, p2, p3]), start_s, duration, motion_rng)
    meta = {"start_distance_m": round(float(p0[2]), 3), "start_height_m": round(float(p0[1]), 3),
            "action_start_s": round(start_s, 3), "swoop_s": round(duration, 3)}
    return [bird], start_s + duration + float(layout_rng.uniform(0.0, 0.15)), (2.5, p0[2] + 1.0), meta, None


def _build_ball(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    look = BallLook.sample(look_rng)
    launch = np.array([layout_rng.uniform(-3.0, 3.0), layout_rng.uniform(0.5, 2.5), layout_rng.uniform(8.0, 14.0)])
    target = np.array([layout_rng.uniform(-0.45, 0.45), layout_rng.uniform(1.1, 1.9), 0.3])
    speed = float(layout_rng.uniform(9.0, 15.0))
    flight = float(np.linalg.norm(target - launch)) / speed
    launch_s = float(layout_rng.uniform(0.2, 1.5))
    # The clip ends just before the ball arrives, while it fills the view.
    end_s = launch_s + flight * float(layout_rng.uniform(0.8, 0.9))
    if end_s > config.max_clip_s:
        launch_s -= end_s - config.max_clip_s
        end_s = config.max_clip_s
    ball = BallActor(look, launch_s=launch_s, flight_s=flight, target_pos=target, launch_pos=launch,
                     spin_hz=float(layout_rng.uniform(0.5, 4.0)),
                     spin_axis=layout_rng.normal(size=3) + np.array([0.0, 0.0, 1e-3]))
    # Plausibility follows the ball: head-high -> duck, centred -> catch, off to one side -> dodge the other way.
    # (Reactor's left is +X; a ball arriving on the left is dodged by moving right.)
    if target[1] > camera.eye_height - 0.1:
        weights = {"duck": 4.0}
    elif abs(target[0]) < 0.2:
        weights = {"catch": 4.0}
    else:
        weights = {"dodge_right" if target[0] > 0 else "dodge_left": 4.0}
    meta = {"launch_distance_m": round(float(launch[2]), 3), "arrival_x_m": round(float(target[0]), 3),
            "arrival_y_m": round(float(target[1]), 3), "speed_mps": round(speed, 3),
            "action_start_s": round(launch_s, 3), "ball": look.kind}
    return [ball], end_s, (max(abs(launch[0]), 0.7) + 0.8, launch[2] + 1.0), meta, weights


def _build_car(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    look = CarLook.sample(look_rng)
    stop = (float(layout_rng.uniform(-0.5, 0.5)), float(layout_rng.uniform(1.8, 3.0)))
    speed = float(layout_rng.uniform(6.0, 12.0))
    start_s = float(layout_rng.uniform(0.0, 0.8))
    travel = float(layout_rng.uniform(1.5, 3.5))  # seconds of driving visible in the clip
    start = (stop[0] + float(layout_rng.uniform(-1.0, 1.0)), stop[1] + speed * travel)
    end_s = start_s + travel + float(layout_rng.uniform(0.2, 0.6))
    car = CarActor(look, start, stop, start_s, speed)
    meta = {"start_distance_m": round(start[1], 3), "stop_distance_m": round(stop[1], 3),
            "speed_mps": round(speed, 3), "action_start_s": round(start_s, 3)}
    return [car], end_s, (max(abs(start[0]), abs(stop[0])) + look.width / 2 + 0.8, start[1] + look.length + 1.0), \
        meta, None


def _build_falling(row, emotion, camera, config, look_rng, motion_rng, layout_rng, make_motion):
    kind = FALLING_KINDS[int(look_rng.integers(len(FALLING_KINDS)))]
    drop = np.array([layout_rng.uniform(-0.6, 0.6), layout_rng.uniform(2.0, 3.8), layout_rng.uniform(2.2, 3.2)])
    drop_s = float(layout_rng.uniform(0.3, 1.5))
    thing = FallingObjectActor(kind, drop, drop_s, look_rng)
    end_s = drop_s + thing.fall_s + float(layout_rng.uniform(0.8, 1.5))
    meta = {"object": kind, "drop_height_m": round(float(drop[1]), 3), "drop_distance_m": round(float(drop[2]), 3),
            "action_start_s": round(drop_s, 3)}
    return [thing], end_s, (1.6, drop[2] + 1.0), meta, None


_BUILDERS = {"human": _build_human, "dog": _build_dog, "bird": _build_bird, "ball": _build_ball, "car": _build_car,
             "falling_object": _build_falling}


# ----------------------------------------------------------------------------------------------- rendering
def render_scene(scene: Scene, noise: bool | None = None, frame_indices: np.ndarray | None = None) -> RenderedClip:
    """Rasterise the frames of `scene`: every frame, or only `frame_indices` (in that order), which gives the same
    bytes as those rows of the full clip -- each frame depends on its time alone, and the sensor-noise draws are made
    for every frame either way. noise=None follows scene.config.noise."""
    camera, light, config = scene.camera, scene.light, scene.config
    if frame_indices is None:
        frame_indices = np.arange(scene.num_frames)
    else:
        frame_indices = np.asarray(frame_indices)
        if frame_indices.ndim != 1 or not np.issubdtype(frame_indices.dtype, np.integer):
            raise ValueError(f"render_scene: frame_indices must be a 1-D integer array, got {frame_indices!r}")
        if len(frame_indices) and (frame_indices.min() < 0 or frame_indices.max() >= scene.num_frames):
            raise ValueError(f"render_scene: frame_indices must lie in [0, {scene.num_frames}), got "
                             f"{frame_indices.min()}..{frame_indices.max()}")
    noise = config.noise if noise is None else noise
    background = scene.backdrop.render(camera, light)
    lut = scene.grading.lut()
    noise_rng = np.random.default_rng(scene.noise_seed)
    size = config.size
    frames = np.empty((len(frame_indices), size, size, 3), dtype=np.uint8)
    head_boxes = np.full((len(frame_indices), 4), -1, dtype=np.int32)
    humans = [a for a in scene.actors if isinstance(a, _HumanTrack)]
    sigma = scene.grading.noise_sigma if noise else 0.0
    if sigma > 0:
        # Sensor noise: per frame a random crop of one of two noise fields (independent-looking grain per frame at
        # a fraction of the cost of fresh Gaussian samples for every pixel of every frame).
        pad = 32
        bank = noise_rng.standard_normal((2, size + pad, size + pad, 3), dtype=np.float32) * np.float32(sigma)
        picks = noise_rng.integers(0, [2, pad, pad], size=(scene.num_frames, 3))
    for row, i in enumerate(frame_indices):
        t = i / config.fps
        canvas = background.copy()
        prims, shadows = [], []
        for actor in scene.actors:
            prims += actor.primitives(t)
            shadows += actor.shadows(t)
        rasterise(canvas, prims, camera, light, shadows)
        affine = HeadSway.affine(camera, *scene.sway_angles[i])
        frame = cv2.warpAffine(canvas, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if scene.grading.blur_sigma > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), scene.grading.blur_sigma)
        frame = cv2.LUT(frame, lut)
        if sigma > 0:
            k, dy, dx = picks[i]
            frame = cv2.add(frame, bank[k, dy:dy + size, dx:dx + size], dtype=cv2.CV_8U)  # saturating
        frames[row] = frame
        if humans:
            head_boxes[row] = _head_box(humans[0], t, camera, affine)
    return RenderedClip(frames=frames, head_boxes=head_boxes, fps=config.fps)


def _head_box(human: _HumanTrack, t: float, camera: PinholeCamera, affine: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] output-pixel box around the head sphere's silhouette (after sway), or -1s if hidden."""
    centre, radius, _ = human.head(t)
    uv, depth = camera.project(centre)
    if depth <= radius:
        return np.full(4, -1, dtype=np.int32)
    r = camera.focal * radius / depth
    corners = np.array([[uv[0] - r, uv[1] - r], [uv[0] + r, uv[1] - r], [uv[0] - r, uv[1] + r], [uv[0] + r, uv[1] + r]])
    out = (corners - 0.5) @ affine[:, :2].T + affine[:, 2] + 0.5  # continuous -> index -> warp -> continuous
    x0, y0 = np.floor(out.min(axis=0)).astype(int)
    x1, y1 = np.ceil(out.max(axis=0)).astype(int)
    size = camera.size
    if x1 < 0 or y1 < 0 or x0 >= size or y0 >= size:
        return np.full(4, -1, dtype=np.int32)
    return np.array([max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)], dtype=np.int32)
