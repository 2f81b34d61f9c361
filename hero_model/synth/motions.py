"""Procedural motions for ViMo-Synth: the reactor's reactions and the actions of the human actor in the video.

    joints = make_motion("duck", np.random.default_rng(0))          # (T, 22, 3) float64, 20 fps

Joint positions on the 22-joint HumanML3D skeleton in metres, Y up, feet on the floor (Y = 0), starting from a
natural standing pose with the pelvis at X = Z = 0, facing +Z (+X is the body's left). Built from key poses
(joint rotations, root yaw and translation) with randomised timing, amplitude and slow style noise, solved by
forward kinematics on the given template (so bone lengths equal the template's exactly) with analytic leg IK that
keeps planted feet still. See library.py for how each motion is built and keyposes.py for the machinery.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..motion.skeleton import FPS, NUM_JOINTS, canonical_template_offsets
from . import library as lib
from .keyposes import Body

# name -> (builder, (min_s, max_s)); reactions last 2-10 s, actor actions 2-5 s.
_REACTION_TABLE: dict[str, tuple[Callable, tuple[float, float]]] = {
    "wave_back": (lib.wave, (2.0, 6.0)),
    "shake_hands": (lib.shake_hands, (2.5, 6.0)),
    "hug": (lib.hug, (3.0, 8.0)),
    "block_arms": (lib.block_arms, (2.0, 5.0)),
    "dodge_left": (lib.dodge_left, (2.0, 5.0)),
    "dodge_right": (lib.dodge_right, (2.0, 5.0)),
    "step_back": (lib.step_back, (2.0, 6.0)),
    "duck": (lib.duck, (2.0, 6.0)),
    "catch": (lib.catch, (2.0, 6.0)),
    "jump_aside": (lib.jump_aside, (2.0, 5.0)),
    "turn_away": (lib.turn_away, (2.5, 8.0)),
    "walk_forward": (lib.walk_forward, (3.0, 10.0)),
    "stay_still": (lib.stay_still, (2.0, 10.0)),
    "point_back": (lib.point_back, (2.0, 6.0)),
    "clap": (lib.clap, (2.0, 6.0)),
    "raise_hands": (lib.raise_hands, (2.0, 8.0)),
    "kick_away": (lib.kick_away, (2.0, 5.0)),
    "crouch_protect": (lib.crouch_protect, (2.5, 8.0)),
    "bow_back": (lib.bow, (2.5, 6.0)),
    "cheer": (lib.cheer, (2.0, 6.0)),
    "run_away": (lib.run_away, (3.5, 8.0)),
}
_ACTOR_TABLE: dict[str, tuple[Callable, tuple[float, float]]] = {
    "wave": (lib.wave, (2.0, 5.0)),
    "handshake_offer": (lib.handshake_offer, (2.0, 5.0)),
    "hug_approach": (lib.hug_approach, (3.0, 5.0)),
    "punch": (lib.punch, (2.0, 4.0)),
    "push": (lib.push, (2.0, 4.0)),
    "kick": (lib.kick, (2.0, 4.0)),
    "throw": (lib.throw, (2.0, 4.0)),
    "point": (lib.point, (2.0, 5.0)),
    "walk_towards": (lib.walk_towards, (2.5, 5.0)),
    "idle": (lib.idle, (2.0, 5.0)),
    "beckon": (lib.beckon, (2.0, 5.0)),
    "bow": (lib.bow, (2.5, 5.0)),
    "jump": (lib.jump, (2.0, 5.0)),
    "high_five_offer": (lib.high_five_offer, (2.0, 5.0)),
}
assert not set(_REACTION_TABLE) & set(_ACTOR_TABLE), "a name must mean one motion"

REACTIONS: tuple[str, ...] = tuple(_REACTION_TABLE)
ACTOR_ACTIONS: tuple[str, ...] = tuple(_ACTOR_TABLE)
_TABLE = {**_REACTION_TABLE, **_ACTOR_TABLE}

AMPLITUDE_RANGE = (0.8, 1.2)  # default amplitude is drawn from this range
AMPLITUDE_LIMITS = (0.3, 2.0)  # accepted explicit amplitudes


def _lookup(name: str) -> tuple[Callable, tuple[float, float]]:
    if name not in _TABLE:
        raise ValueError(f"unknown motion {name!r}; reactions: {', '.join(REACTIONS)}; "
                         f"actor actions: {', '.join(ACTOR_ACTIONS)}")
    return _TABLE[name]


def motion_duration_range(name: str) -> tuple[float, float]:
    """(min_s, max_s) duration of a motion in seconds."""
    return _lookup(name)[1]


def make_motion(name: str, rng: np.random.Generator, duration_s: float | None = None,
                template_offsets: np.ndarray | None = None, amplitude: float | None = None) -> np.ndarray:
    """Joint positions (T, 22, 3) float64 at 20 fps of the named reaction or actor action.

    rng: the only source of randomness (same state -> same motion).
    duration_s: clip length in seconds within motion_duration_range(name); None draws one uniformly.
        T = round(duration_s x 20) frames.
    template_offsets: (22, 3) skeleton offsets (e.g. canonical_template_offsets() x a random scale, see
        sample_template_offsets); None = the canonical template. Translations scale with the leg length, so a
        uniformly scaled template gives the same motion uniformly scaled.
    amplitude: how big the action is (dodge distance, duck depth, wave arc ...), 1 = typical; None draws one
        from AMPLITUDE_RANGE. Builders clip it where a larger value would make the motion implausible.
    """
    builder, (lo, hi) = _lookup(name)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if duration_s is None:
        duration_s = float(rng.uniform(lo, hi))
    elif not (lo - 1e-9 <= float(duration_s) <= hi + 1e-9):
        raise ValueError(f"duration_s={duration_s} is outside the range [{lo}, {hi}] s of motion {name!r}")
    if amplitude is None:
        amplitude = float(rng.uniform(*AMPLITUDE_RANGE))
    elif not (AMPLITUDE_LIMITS[0] <= float(amplitude) <= AMPLITUDE_LIMITS[1]):
        raise ValueError(f"amplitude={amplitude} is outside [{AMPLITUDE_LIMITS[0]}, {AMPLITUDE_LIMITS[1]}]")
    body = Body(canonical_template_offsets() if template_offsets is None else template_offsets)
    n_frames = int(round(float(duration_s) * FPS))
    take = lib.Take(rng, n_frames, body, float(amplitude), actor=name in _ACTOR_TABLE)
    builder(take)
    joints = take.finish()
    assert joints.shape == (n_frames, NUM_JOINTS, 3) and np.isfinite(joints).all(), name
    return joints


def sample_template_offsets(rng: np.random.Generator, scale_range: tuple[float, float] = (0.88, 1.12),
                            proportion_jitter: float = 0.0) -> np.ndarray:
    """(22, 3) canonical template offsets scaled by a random body-size factor.

    proportion_jitter: optional independent relative jitter of each bone length (symmetric left/right), e.g.
    0.05 for +-5 %; 0 keeps the canonical proportions (then a motion is exactly a scaled canonical motion).
    """
    offsets = canonical_template_offsets() * rng.uniform(*scale_range)
    if proportion_jitter > 0:
        factor = 1.0 + rng.uniform(-proportion_jitter, proportion_jitter, size=NUM_JOINTS)
        for left, right in ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)):
            factor[right] = factor[left]
        offsets = offsets * factor[:, None]
    return offsets
