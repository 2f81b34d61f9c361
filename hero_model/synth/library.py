"""The procedural motion library: one builder per reaction / actor action, authored as key poses on a Timeline
plus foot plans (see keyposes.py for the channel conventions).

Every builder receives a `Take` (the clip being authored: its random generator, length, body, amplitude, style,
timeline and feet) and keys a natural standing start, the action, and a return or hold until the clip ends. Timing,
amplitude and which side acts are randomised from the take's generator; `Take.finish` adds slow style noise and
solves the joint positions.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..motion.skeleton import FPS
from .keyposes import (CHANNEL_SIZES, COLLAR_ELEVATION_DEG, Body, FootPlan, Style, Timeline, arm_directions,
                       smooth_noise, solve_pose)

# Peak size of the slow style noise per channel (degrees, canonical metres); see keyposes for the channel meaning.
NOISE_PEAK = {
    "root_pos": [0.008, 0.004, 0.008], "root_rot": [1.0, 0.8, 0.8], "spine": [1.5, 1.0, 1.5],
    "neck": [4.0, 2.0, 5.0], "l_arm": [2.0, 2.0, 3.0, 3.0], "r_arm": [2.0, 2.0, 3.0, 3.0],
    "l_collar": [1.5, 1.0], "r_collar": [1.5, 1.0],
}


def arm(flex: float, abduction: float, twist: float, elbow: float) -> np.ndarray:
    """One arm key (degrees): see keyposes.arm_directions."""
    return np.array([flex, abduction, twist, elbow], dtype=np.float64)


class Take:
    """One clip being authored."""

    def __init__(self, rng: np.random.Generator, n_frames: int, body: Body, amplitude: float, actor: bool):
        self.rng, self.n_frames, self.body, self.amp, self.actor = rng, n_frames, body, amplitude, actor
        self.duration = (n_frames - 1) / FPS
        self.style = Style.sample(rng)
        self.tl = Timeline(n_frames, self.style.neutral())
        w, out = self.style.half_width, self.style.toe_out
        self.feet = (FootPlan((w, 0.0), out), FootPlan((-w, 0.0), -out))  # left, right
        self.extra = {name: np.zeros((n_frames, size)) for name, size in CHANNEL_SIZES.items()}
        self.noise_scale = 1.0
        self.times = np.arange(n_frames) / FPS

    # -- random helpers
    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def chance(self, p: float) -> bool:
        return bool(self.rng.uniform() < p)

    def side(self, p_right: float = 0.7) -> tuple[str, str, float]:
        """(acting arm, other arm, lateral sign): sign +1 for the left (+X), -1 for the right."""
        return ("r", "l", -1.0) if self.chance(p_right) else ("l", "r", 1.0)

    def onset(self) -> float:
        """Delay before the action starts: a reaction's response time, or an actor's short lead-in."""
        return self.u(0.0, 0.35) if self.actor else self.u(0.15, 0.6)

    def schedule(self, start: float, *phases: float, tail: float = 0.05,
                 flexible: tuple[int, ...] | None = None) -> list[float]:
        """End times of consecutive phases starting at `start` (start + p0, start + p0 + p1, ...) that fit the
        clip. When they do not, the idle tail shrinks first (to 0.05 s), then the `flexible` phases (holds;
        default: phase 1 when there are three or more) down to 30 %, and only then are all phases squeezed
        uniformly -- so a short clip holds its pose more briefly instead of moving implausibly fast."""
        phases = [float(p) for p in phases]
        flexible = ((1,) if len(phases) >= 3 else ()) if flexible is None else flexible
        room = max(self.duration - start, 1e-3)
        tail = min(tail, max(0.05, room - sum(phases)))
        excess = sum(phases) + tail - room
        slack = sum(0.7 * phases[i] for i in flexible)
        if excess > 0 and slack > 0:
            cut = min(excess, slack)
            for i in flexible:
                phases[i] -= cut * 0.7 * phases[i] / slack
            excess -= cut
        if excess > 0:
            squeeze = max(room - tail, 1e-3) / sum(phases)
            phases = [p * squeeze for p in phases]
        return [float(t) for t in start + np.cumsum(phases)]

    def neutral(self, channel: str) -> np.ndarray:
        return self.tl.neutral[channel].copy()

    # -- state of the authored channels (timeline + extras) at arbitrary times
    def channel_at(self, channel: str, t) -> np.ndarray:
        values = self.tl.evaluate(channel)[channel] + self.extra[channel]
        return np.stack([np.interp(t, self.times, values[:, k]) for k in range(values.shape[1])], axis=-1)

    # -- stepping
    def plant(self, root_xz: np.ndarray, yaw: float, foot: int) -> tuple[np.ndarray, float]:
        """Ankle ground point and foot yaw of a natural stance for a root at root_xz facing yaw (degrees)."""
        lateral = self.style.half_width * (1.0 if foot == 0 else -1.0)
        a = math.radians(yaw)
        left = np.array([math.cos(a), -math.sin(a)])  # the body's +X after the yaw, in (x, z)
        toe_out = self.style.toe_out * (1.0 if foot == 0 else -1.0)
        return root_xz + lateral * left, yaw + toe_out

    def step_to_stance(self, foot: int, t_lift: float, t_land: float, t_ref: float | None = None,
                       clearance: float = 0.06, heel_raise: float = 20.0, heel_time: float = 0.15,
                       arc_skew: float = 1.0):
        """Swing `foot` to its natural stance under the root as it is at t_ref (default: landing time)."""
        t_ref = t_land if t_ref is None else t_ref
        root = self.channel_at("root_pos", t_ref)
        yaw = float(self.channel_at("root_rot", t_ref)[0])
        xz, foot_yaw = self.plant(np.array([root[0], root[2]]), yaw, foot)
        self.feet[foot].step(t_lift, t_land, xz, foot_yaw, clearance=clearance, heel_raise=heel_raise,
                             heel_time=heel_time, arc_skew=arc_skew)

    def step_by(self, foot: int, t_lift: float, t_land: float, dx: float, dz: float, dyaw: float = 0.0,
                clearance: float = 0.06, heel_raise: float = 20.0):
        plan = self.feet[foot]
        plan.step(t_lift, t_land, plan.last_xz + np.array([dx, dz]), plan.last_yaw + dyaw, clearance=clearance,
                  heel_raise=heel_raise)

    def walk(self, t0: float, distance: float, speed: float, step_len: float, heading: float = 0.0,
             lead: int | None = None, swing: float = 0.4, clearance: float = 0.07, accel: float = 0.5,
             decel: float = 0.6, arm_swing: float = 35.0) -> float:
        """Walk `distance` canonical metres along `heading` (degrees) starting at t0, with the root's facing as
        keyed (so walking backwards or sideways works too). Returns the time the walk ends.

        speed (m/s) is the cruise speed, step_len the distance between the feet at a full step; swing is the
        fraction of a stride (two steps) each foot spends in the air: 0.4 walks, > 0.5 runs (both feet airborne
        between steps).

        The root speed ramps up and down with smoothstep profiles; steps are spread evenly over the walk; each
        foot lands where the pelvis will pass over it 35 % into that foot's stance, so a planted foot never moves
        and the body rolls over it, the heel rising over the second half of the stance (toe-off).
        """
        v = speed
        cruise = distance / v - (accel + decel) / 2.0
        if cruise < 0.0:  # too short to reach full speed: slow down instead
            v, cruise = distance / ((accel + decel) / 2.0), 0.0
        t1 = t0 + accel + cruise + decel

        def travelled(t):
            a = np.clip((t - t0) / accel, 0, 1)
            c = np.clip(t - t0 - accel, 0, cruise)
            d = np.clip((t - t0 - accel - cruise) / decel, 0, 1)
            # integral of the smoothstep ramp s^2 (3 - 2s) is s^3 - s^4 / 2
            return v * (accel * (a ** 3 - a ** 4 / 2) + c + decel * (d - (d ** 3 - d ** 4 / 2)))

        h = math.radians(heading)
        path = travelled(self.times)[:, None] * np.array([math.sin(h), math.cos(h)])
        self.extra["root_pos"][:, [0, 2]] += path

        start = t0 + 0.05
        # from feet together to feet together, n steps cover about (n - 1) step lengths
        n_steps = max(2, math.ceil(distance / step_len - 1e-6) + 1)
        step_time = (t1 - start) / (n_steps - 1 + 2 * swing)
        lead = int(self.rng.integers(2)) if lead is None else lead
        lifts = [start + i * step_time for i in range(n_steps)]
        stance = 2 * step_time * (1 - swing)
        running = swing > 0.5
        for i, t_lift in enumerate(lifts):
            t_land = t_lift + 2 * swing * step_time
            t_ref = t_land + 0.35 * (lifts[i + 2] - t_land) if i + 2 < n_steps else t1 + 0.2
            self.step_to_stance((lead + i) % 2, t_lift, t_land, t_ref=t_ref, clearance=clearance,
                                heel_raise=30.0 if running else 40.0, heel_time=0.5 * stance,
                                arc_skew=0.6 if running else 1.0)
        self.gait_sway(t0, t1, arm_swing, bounce=0.06 if running else 0.0)
        return t1

    def gait_sway(self, t0: float, t1: float, arm_swing: float, bounce: float = 0.0):
        """Arm swing opposite to the legs, pelvis/chest counter-rotation and a pelvis shift over the stance foot,
        derived from the planned feet; `bounce` (canonical metres, running) lifts the pelvis while both feet are
        off the floor and sinks it while one is planted."""
        foot_len = self.body.length(10) / self.body.scale
        left, right = (plan.evaluate(self.n_frames, foot_len, self.style.foot_pitch) for plan in self.feet)
        yaw = np.radians(self.channel_at("root_rot", self.times)[:, 0])
        forward = np.stack([np.sin(yaw), np.cos(yaw)], axis=-1)
        lateral = np.stack([np.cos(yaw), -np.sin(yaw)], axis=-1)
        lead = ((left[0] - right[0])[:, [0, 2]] * forward).sum(-1)  # > 0: left foot ahead
        lead = gaussian_filter1d(lead, 2.0, mode="nearest")
        lead -= lead[0]  # frame 0 keeps the clean neutral pose (facing exactly +Z)
        active = ((self.times > t0 - 0.2) & (self.times < t1 + 0.4)).astype(float)
        active = gaussian_filter1d(active, 3.0, mode="nearest")
        self.extra["l_arm"][:, 0] += -arm_swing * lead * active
        self.extra["r_arm"][:, 0] += arm_swing * lead * active
        self.extra["l_arm"][:, 3] += 12.0 * active
        self.extra["r_arm"][:, 3] += 12.0 * active
        self.extra["root_rot"][:, 0] += -12.0 * lead * active
        self.extra["spine"][:, 2] += 18.0 * lead * active
        # pelvis over the supporting foot: lateral offset of the planted feet's mean from the feet's midpoint
        planted_l, planted_r = left[3].astype(float), right[3].astype(float)
        support = (left[0] * planted_l[:, None] + right[0] * planted_r[:, None]) / np.maximum(
            planted_l + planted_r, 1.0)[:, None]
        support = np.where((planted_l + planted_r)[:, None] > 0, support, 0.5 * (left[0] + right[0]))
        shift = ((support - 0.5 * (left[0] + right[0]))[:, [0, 2]] * lateral).sum(-1)
        shift = gaussian_filter1d(shift, 3.0, mode="nearest") * 0.3 * active
        shift -= shift[0]
        self.extra["root_pos"][:, [0, 2]] += shift[:, None] * lateral
        if bounce:
            airborne = gaussian_filter1d((planted_l + planted_r == 0).astype(float), 1.5, mode="nearest")
            lift = bounce * (airborne - 0.5) * active
            self.extra["root_pos"][:, 1] += lift - lift[0]

    def finish(self) -> np.ndarray:
        channels = self.tl.evaluate()
        for name in channels:
            channels[name] = channels[name] + self.extra[name] + smooth_noise(
                self.rng, self.n_frames, CHANNEL_SIZES[name], np.asarray(NOISE_PEAK[name]) * self.noise_scale)
        joints = solve_pose(self.body, self.style, channels, self.feet)
        # Every key pose keeps the body above the floor; guard against a limb dipping below it anyway.
        lowest = joints[..., 1].min()
        if lowest < 0.0:
            joints[..., 1] -= lowest
        return joints


# ================================================================================================ gestures

def _hands_meet_abduction(take: Take, flex: float, twist: float, elbow: float, gap: float) -> float:
    """Arm abduction (degrees) that brings the wrist to `gap` (metres) from the body's midline.

    The shoulder's distance from the midline comes from the collar geometry; the arm's reach from arm_directions.
    A bisection on the (monotone over [-40, 40]) lateral wrist position.
    """
    body, s = take.body, take.body.scale
    shrug, protract = np.radians(take.style.collar)
    shoulder_x = (body.length(13) * math.cos(math.radians(COLLAR_ELEVATION_DEG))
                  + body.length(16) * math.cos(shrug) * math.cos(protract))
    lo, hi = -40.0, 40.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        u, _, f, _ = arm_directions(arm(flex, mid, twist, elbow)[None])
        x = shoulder_x + body.length(18) * u[0, 0] + body.length(20) * f[0, 0]
        lo, hi = (lo, mid) if x > gap * s else (mid, hi)
    return 0.5 * (lo + hi)


def wave(take: Take):
    """One arm raised sideways with the forearm up, waving side to side in the frontal plane, then lowered."""
    side, _, sg = take.side()
    a = take.amp
    t0 = take.onset()
    freq = take.u(1.6, 2.6)  # full waves per second
    t_up, t_waved, t_end = take.schedule(t0, take.u(0.35, 0.6), take.u(1.0, 3.0), take.u(0.4, 0.7),
                                         tail=take.u(0.05, 0.6))
    wave_time = t_waved - t_up
    abd = min(100.0 + 38.0 * a, 165.0)
    flex, twist, elbow, swing = take.u(5, 30), take.u(-100, -75), take.u(55, 75), take.u(18, 30) * a
    arm_ch = f"{side}_arm"
    take.tl.key(t0, **{arm_ch: None})
    n_half = max(2, int(wave_time * freq * 2))
    half = wave_time / n_half
    for k in range(n_half + 1):
        take.tl.key(t_up + k * half, **{arm_ch: arm(flex, abd, twist, elbow + (swing if k % 2 == 0 else -swing))})
    take.tl.key(t_end, **{arm_ch: None})
    take.tl.key(t0, spine=None, neck=None, **{f"{side}_collar": None})
    take.tl.hold(t_up, t_up + wave_time, spine=take.neutral("spine") + [0, -sg * take.u(2, 6), 0],
                 neck=take.neutral("neck") + [take.u(-8, 0), sg * take.u(0, 8), 0],
                 **{f"{side}_collar": take.neutral(f"{side}_collar") + [take.u(5, 12), 0]})
    take.tl.key(t_end, spine=None, neck=None, **{f"{side}_collar": None})


def shake_hands(take: Take):
    """Step in, right hand forward at waist height, a few pumps, release."""
    a = take.amp
    t0 = take.onset()
    stepping = take.chance(0.7)
    reach, pump, release = take.u(0.5, 0.8), take.u(0.8, 1.6), take.u(0.5, 0.8)
    t_reach, t_pump, t_end = take.schedule(t0, reach, pump, release, tail=take.u(0.05, 0.8))
    if stepping:
        dz = take.u(0.18, 0.32) * a
        take.step_by(0, t0, t0 + 0.8 * (t_reach - t0), take.u(-0.03, 0.02), dz)
        take.tl.key(t0, root_pos=None).key(t_reach, root_pos=[0.0, -0.01, 0.45 * dz])
    hand = arm(take.u(40, 55), take.u(5, 15), take.u(0, 20), take.u(25, 45))
    take.tl.key(t0, r_arm=None, spine=None, neck=None).key(t_reach, r_arm=hand)
    n_pumps = max(2, int((t_pump - t_reach) * take.u(2.5, 3.5) * 2))
    for k in range(1, n_pumps + 1):
        offset = 0.0 if k == n_pumps else (-1) ** k * take.u(6, 10)
        take.tl.key(t_reach + k * (t_pump - t_reach) / n_pumps, r_arm=hand + [offset, 0, 0, -0.5 * offset])
    take.tl.key(t_end, r_arm=None)
    take.tl.hold(t_reach, t_pump, spine=take.neutral("spine") + [take.u(4, 10), 0, take.u(0, 5)],
                 neck=take.neutral("neck") + [take.u(5, 12), 0, 0])
    take.tl.key(t_end, spine=None, neck=None)


def hug(take: Take):
    """Arms open, a step in, arms wrap forward around the partner's back, a gentle sway, release."""
    a = take.amp
    t0 = take.onset()
    t_open, t_wrap, t_hold, t_end = take.schedule(t0, take.u(0.4, 0.7), take.u(0.4, 0.6), take.u(1.0, 2.5),
                                                  take.u(0.6, 0.9), tail=take.u(0.05, 0.8), flexible=(2,))
    opened = arm(take.u(35, 55), take.u(45, 70), take.u(-10, 10), take.u(20, 40))
    wrapped = arm(take.u(70, 85), take.u(25, 40) * a, take.u(60, 85), take.u(55, 85))
    if take.chance(0.8):
        dz = take.u(0.2, 0.35)
        take.step_by(int(take.rng.integers(2)), t_open - 0.2, t_wrap - 0.05, 0.0, dz)
        take.tl.key(t_open - 0.2, root_pos=None).key(t_wrap, root_pos=[0.0, -0.02, 0.45 * dz])
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None}).key(t_open, **{ch: opened}).hold(t_wrap, t_hold, **{ch: wrapped})
        take.tl.key(t_end, **{ch: None})
    sway = take.u(2, 5)
    take.tl.key(t0, root_rot=None, spine=None, neck=None)
    n = max(1, int((t_hold - t_wrap) / 0.7))
    for k in range(n + 1):
        take.tl.key(t_wrap + k * (t_hold - t_wrap) / n, root_rot=[0.0, 0.0, sway * (-1) ** k * (k < n)])
    take.tl.hold(t_wrap, t_hold, spine=take.neutral("spine") + [take.u(5, 12), 0, 0],
                 neck=take.neutral("neck") + [take.u(5, 15), take.u(-15, 15), take.u(-30, 30)])
    take.tl.key(t_end, root_rot=None, spine=None, neck=None)


def block_arms(take: Take):
    """Forearms snapped up in front of the face, body braced back and low, held, then lowered."""
    a = take.amp
    t0 = take.onset()
    t_up, t_hold, t_end = take.schedule(t0, take.u(0.2, 0.35), take.u(0.7, 1.8), take.u(0.5, 0.8),
                                        tail=take.u(0.05, 0.8))
    guard = arm(take.u(75, 95), take.u(5, 20), take.u(40, 70), take.u(95, 120))
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None}).hold(t_up, t_hold, **{ch: guard + take.rng.uniform(-5, 5, 4)})
        take.tl.key(t_end, **{ch: None})
    brace = [0.0, -take.u(0.04, 0.1) * a, -take.u(0.03, 0.1) * a]
    take.tl.key(t0, root_pos=None, spine=None, neck=None)
    take.tl.hold(t_up, t_hold, root_pos=brace, spine=take.neutral("spine") + [take.u(-6, 4), 0, take.u(-10, 10)],
                 neck=take.neutral("neck") + [take.u(10, 20), 0, take.u(-15, 15)])
    take.tl.key(t_end, root_pos=[0, 0, brace[2]], spine=None, neck=None)
    if take.chance(0.5):  # brace with one foot back
        take.step_by(int(take.rng.integers(2)), t0 + 0.02, t_up + 0.1, 0.0, -take.u(0.15, 0.3) * a)


def _dodge(take: Take, sg: float):
    """Side-step: the near foot steps out, the pelvis shifts and drops, the torso leans further; stay or return."""
    a = take.amp
    t0 = take.onset()
    move, hold, back = take.u(0.35, 0.55), take.u(0.4, 1.4), take.u(0.6, 0.9)
    t_out, t_hold, t_end = take.schedule(t0, move, hold, back, tail=take.u(0.05, 0.8))
    dist = take.u(0.3, 0.5) * a
    lead, trail = (0, 1) if sg > 0 else (1, 0)
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)
    out = [sg * dist, -take.u(0.06, 0.12), take.u(-0.05, 0.05)]
    lean = [take.u(-5, 5), take.u(3, 8), sg * take.u(6, 12)]
    take.tl.hold(t_out, t_hold, root_pos=out, root_rot=lean,
                 spine=take.neutral("spine") + [take.u(0, 10), sg * take.u(5, 12), 0],
                 neck=take.neutral("neck") + [0, -sg * take.u(4, 10), -sg * take.u(5, 20)])
    guard = arm(take.u(30, 60), take.u(10, 30), take.u(20, 50), take.u(60, 100))
    take.tl.hold(t_out - 0.1, t_hold, l_arm=guard, r_arm=guard + take.rng.uniform(-8, 8, 4))
    take.feet[lead].step(t0 + 0.02, t0 + 0.75 * (t_out - t0),
                         take.feet[lead].last_xz + [sg * (dist + take.u(0.02, 0.12)), take.u(-0.05, 0.05)],
                         clearance=0.07)
    trail_gap = take.u(0.5, 0.9)
    take.feet[trail].step(t0 + 0.6 * (t_out - t0), t_out + 0.2,
                          take.feet[trail].last_xz + [sg * dist * trail_gap, 0.0], clearance=0.05)
    t_back = max(t_hold, t_out + 0.25)
    if take.chance(0.5) and t_end - t_back > 0.4:  # come back to where the dodge started
        take.tl.key(t_end, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)
        take.feet[trail].step(t_back, t_back + 0.35 * (t_end - t_back), take.feet[trail].start_xz)
        take.feet[lead].step(t_back + 0.45 * (t_end - t_back), t_end, take.feet[lead].start_xz)
    else:
        take.tl.key(t_end, root_pos=[out[0], 0.0, out[2]], root_rot=None, spine=None, neck=None, l_arm=None,
                    r_arm=None)


def dodge_left(take: Take):
    _dodge(take, 1.0)


def dodge_right(take: Take):
    _dodge(take, -1.0)


def step_back(take: Take):
    """One to three steps backwards, facing forward, arms a little raised, then settling."""
    a = take.amp
    t0 = take.onset()
    dist = take.u(0.4, 0.9) * a
    take.tl.key(t0, spine=None, l_arm=None, r_arm=None)
    t1 = take.walk(t0, dist, take.u(0.5, 0.8), take.u(0.3, 0.45), heading=180.0, arm_swing=10.0,
                   accel=0.35, decel=0.5)
    take.tl.hold(t0 + 0.3, t1, spine=take.neutral("spine") + [take.u(-6, 0), 0, 0])
    if take.chance(0.5):
        guard = arm(take.u(20, 45), take.u(10, 25), take.u(20, 50), take.u(50, 90))
        take.tl.hold(t0 + 0.3, t1, l_arm=guard, r_arm=guard + take.rng.uniform(-6, 6, 4))
    take.tl.key(t1 + 0.6, spine=None, l_arm=None, r_arm=None)


def duck(take: Take):
    """Knees bend and the torso folds forward, pelvis dropping 30-55 cm, head down (arms cover it or brace)."""
    a = take.amp
    t0 = take.onset()
    t_down, t_hold, t_end = take.schedule(t0, take.u(0.3, 0.5), take.u(0.5, 1.5), take.u(0.6, 0.9),
                                          tail=take.u(0.05, 0.8))
    depth = float(np.clip(take.u(0.33, 0.45) * a, 0.3, 0.55))
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)
    pitch = take.u(15, 30)
    bend = take.u(20, 35)
    take.tl.hold(t_down, t_hold, root_pos=[0.0, -depth, -take.u(0.08, 0.15)], root_rot=[0, pitch, 0],
                 spine=take.neutral("spine") + [bend, 0, 0], neck=take.neutral("neck") + [take.u(10, 25), 0, 0])
    if take.chance(0.6):  # forearms over the head
        cover = arm(take.u(120, 145), take.u(20, 40), take.u(60, 90), take.u(110, 130))
    else:  # hands braced forward/down towards the knees
        cover = arm(0.9 * (pitch + bend) + take.u(-10, 15), take.u(5, 15), take.u(0, 20), take.u(20, 50))
    take.tl.hold(t_down, t_hold, l_arm=cover, r_arm=cover + take.rng.uniform(-5, 5, 4))
    take.tl.key(t_end, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)


def crouch_protect(take: Take):
    """Deep crouch, torso curled, both hands clasped over the back of the head; held, maybe rising at the end."""
    a = take.amp
    t0 = take.onset()
    t_down, t_hold, t_end = take.schedule(t0, take.u(0.35, 0.6), take.u(1.0, 3.0), take.u(0.7, 1.0),
                                          tail=take.u(0.05, 0.5))
    depth = float(np.clip(take.u(0.45, 0.55) * a, 0.4, 0.58))
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)
    take.tl.hold(t_down, t_hold, root_pos=[0.0, -depth, -take.u(0.12, 0.2)], root_rot=[0, take.u(25, 35), 0],
                 spine=take.neutral("spine") + [take.u(35, 50), 0, 0],
                 neck=take.neutral("neck") + [take.u(25, 40), 0, 0])
    cover = arm(take.u(140, 160), take.u(20, 40), take.u(60, 90), take.u(120, 140))
    take.tl.hold(t_down, t_hold, l_arm=cover, r_arm=cover + take.rng.uniform(-5, 5, 4))
    if take.chance(0.5):
        take.tl.key(t_end, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)


def catch(take: Take):
    """Both hands reach forward at chest height to meet a thrown object, close on it, pull it to the chest."""
    a = take.amp
    t0 = take.onset()
    t_reach, t_catch, t_pull, t_end = take.schedule(t0, take.u(0.3, 0.5), take.u(0.2, 0.6), take.u(0.4, 0.6),
                                                    take.u(0.5, 1.5), tail=take.u(0.05, 0.8), flexible=(1, 3))
    reach = arm(take.u(70, 90), take.u(10, 20), take.u(20, 40), take.u(15, 35))
    closed_flex, closed_twist, closed_elbow = reach[0] - 5, take.u(40, 60), take.u(40, 60)
    closed = arm(closed_flex, _hands_meet_abduction(take, closed_flex, closed_twist, closed_elbow, 0.06),
                 closed_twist, closed_elbow)
    held = arm(take.u(30, 45), 5.0, take.u(50, 70), take.u(100, 120))
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None}).key(t_reach, **{ch: reach}).key(t_catch, **{ch: closed})
        take.tl.key(t_pull, **{ch: held}).key(t_end, **{ch: held if take.duration - t_end < 0.5 else None})
    lean = take.u(5, 15) * a
    take.tl.key(t0, spine=None, neck=None).key(t_catch, spine=take.neutral("spine") + [lean, 0, 0],
                                               neck=take.neutral("neck") + [take.u(0, 10), 0, 0])
    take.tl.key(t_end, spine=None, neck=None)
    if take.chance(0.5):
        dz = take.u(0.15, 0.3)
        take.step_by(int(take.rng.integers(2)), t0 + 0.05, t_catch, 0.0, dz)
        take.tl.key(t0, root_pos=None).key(t_catch, root_pos=[0, -0.02, 0.45 * dz])


def _jump_aside(take: Take, sg: float | None = None):
    """Crouch, arms back; both feet leave the floor and land 45-80 cm to one side; absorb and stand up."""
    a = take.amp
    sg = (1.0 if take.chance(0.5) else -1.0) if sg is None else sg
    t0 = take.onset()
    t_crouch, t_off, t_land, t_absorb, t_end = take.schedule(t0, take.u(0.25, 0.4), take.u(0.12, 0.18),
                                                             take.u(0.3, 0.4), take.u(0.15, 0.25),
                                                             take.u(0.5, 0.8), tail=take.u(0.05, 0.8),
                                                             flexible=(4,))
    dist = take.u(0.45, 0.8) * a
    rise = take.u(0.08, 0.15)
    flight = t_land - t_off
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, l_arm=None, r_arm=None)
    take.tl.key(t_crouch, root_pos=[0.0, -take.u(0.1, 0.16), 0.0], spine=take.neutral("spine") + [15, 0, 0],
                root_rot=[0, take.u(5, 12), 0])
    take.tl.key(t_off, root_pos=[sg * 0.08 * dist, 0.01, 0.0], root_rot=[0, 0, sg * 5])
    take.tl.key(t_off + 0.5 * flight, root_pos=[sg * 0.5 * dist, rise, 0.0], spine=None)
    take.tl.key(t_land, root_pos=[sg * 0.92 * dist, 0.0, 0.0], root_rot=[0, 5, sg * 5])
    take.tl.key(t_absorb, root_pos=[sg * dist, -take.u(0.1, 0.16), 0.0], spine=take.neutral("spine") + [12, 0, 0],
                root_rot=[0, 8, 0])
    take.tl.key(t_end, root_pos=[sg * dist, 0.0, 0.0], root_rot=None, spine=None)
    back = arm(-take.u(20, 35), take.u(10, 20), 0.0, take.u(15, 30))
    up = arm(take.u(20, 40), take.u(40, 70), take.u(-20, 10), take.u(20, 40))
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t_crouch, **{ch: back}).key(t_off + 0.5 * flight, **{ch: up}).key(t_end, **{ch: None})
    for plan in take.feet:
        plan.step(t_off, t_land, plan.last_xz + [sg * dist, 0.0], clearance=take.u(0.12, 0.2), heel_raise=40.0)


def jump_aside(take: Take):
    _jump_aside(take)


def turn_away(take: Take):
    """Turn 120-180 degrees on the spot in two or three steps (head leading), then maybe walk a few steps away."""
    sg = 1.0 if take.chance(0.5) else -1.0
    angle = sg * take.u(120, 180)
    t0 = take.onset()
    turn = take.u(0.8, 1.3)
    t1 = t0 + turn
    take.tl.key(t0, root_rot=None, neck=None).key(t1, root_rot=[angle, 0, 0])
    take.tl.key(t0 + 0.3 * turn, neck=take.neutral("neck") + [0, 0, sg * take.u(20, 35)]).key(t1 + 0.2, neck=None)
    n = 2 if abs(angle) < 140 else 3
    first = 0 if sg > 0 else 1  # open the foot on the turning side first
    lifts = np.linspace(t0 + 0.05, t1 - 0.3, n)
    swing = min(0.3, 0.9 * (lifts[1] - lifts[0]))  # one foot in the air at a time: turning steps, not hops
    for k, t_lift in enumerate(lifts):
        take.step_to_stance((first + k) % 2, t_lift, t_lift + swing, t_ref=min(t_lift + 0.45, t1), clearance=0.05)
    if take.duration - t1 > 2.0 and take.chance(0.6):
        dist = take.u(0.8, 1.0) * (take.duration - t1 - 1.2)
        take.walk(t1 + 0.2, dist, take.u(1.0, 1.3), take.u(0.55, 0.7), heading=angle, lead=first)


def walk_forward(take: Take):
    """Walk towards +Z with alternating steps, planted stance feet and arm swing, then stop."""
    t0 = take.u(0.1, 0.4)
    speed = take.u(0.95, 1.3) * math.sqrt(take.amp)
    walking = take.duration - t0 - take.u(0.3, 0.9)
    take.walk(t0, speed * max(walking - 0.55, 0.5), speed, take.u(0.6, 0.72))


def run_away(take: Take):
    """Turn around quickly and run (both feet airborne between steps), leaning forward, elbows bent."""
    sg = 1.0 if take.chance(0.5) else -1.0
    angle = sg * take.u(160, 180)
    t0 = take.u(0.1, 0.4)
    turn = take.u(0.5, 0.8)
    t1 = t0 + turn
    take.tl.key(t0, root_rot=None, spine=None, l_arm=None, r_arm=None).key(t1, root_rot=[angle, 0, 0])
    first = 0 if sg > 0 else 1
    lifts = np.linspace(t0 + 0.05, t1 - 0.25, 2)
    swing = min(0.25, 0.9 * (lifts[1] - lifts[0]))
    for k, t_lift in enumerate(lifts):
        take.step_to_stance((first + k) % 2, t_lift, t_lift + swing, t_ref=t1, clearance=0.05)
    run_arm = arm(take.u(10, 25), take.u(10, 20), take.u(10, 30), take.u(80, 100))
    take.tl.key(t1, root_rot=[angle, take.u(8, 14), 0], spine=take.neutral("spine") + [take.u(3, 8), 0, 0],
                l_arm=run_arm, r_arm=run_arm)
    speed = take.u(2.3, 3.0)
    running = take.duration - t1 - 0.3
    t2 = take.walk(t1 + 0.05, speed * max(running - 0.9, 0.5), speed, take.u(0.8, 0.95), heading=angle, lead=first,
                   swing=0.7, clearance=0.16, accel=0.6, decel=0.8, arm_swing=60.0)
    # runners sink into bent knees; the stride's reach limit adds the bounce
    take.tl.hold(t1 + 0.4, t2 - 0.5, root_pos=[0.0, -0.05, 0.0]).key(t2 + 0.2, root_pos=None)


def stay_still(take: Take):
    """Standing relaxed; only the slow style sway moves the body."""
    take.noise_scale = 0.8


def point_back(take: Take):
    """One arm raised straight forward pointing at the actor, held, lowered."""
    side, _, sg = take.side()
    t0 = take.onset()
    t_up, t_hold, t_end = take.schedule(t0, take.u(0.4, 0.6), take.u(0.8, 2.0), take.u(0.5, 0.7),
                                        tail=take.u(0.05, 0.8))
    point = arm(take.u(80, 95) * min(take.amp, 1.1), take.u(5, 20), take.u(-10, 10), take.u(0, 10))
    take.tl.key(t0, **{f"{side}_arm": None}).hold(t_up, t_hold, **{f"{side}_arm": point})
    take.tl.key(t_end, **{f"{side}_arm": None})
    take.tl.key(t0, spine=None, neck=None).hold(t_up, t_hold, spine=take.neutral("spine") + [3, 0, sg * 8],
                                                neck=take.neutral("neck") + [-5, 0, -sg * 5])
    take.tl.key(t_end, spine=None, neck=None)


def clap(take: Take):
    """Both hands brought together in front of the chest and clapped 2-3 times a second."""
    t0 = take.onset()
    rate = take.u(2.0, 3.0)
    t_up, t_clap, t_end = take.schedule(t0, take.u(0.35, 0.5), take.u(1.0, 3.0), take.u(0.4, 0.6),
                                        tail=take.u(0.05, 0.8))
    flex, twist, elbow = take.u(45, 60), take.u(55, 80), take.u(70, 90)
    closed = arm(flex, _hands_meet_abduction(take, flex, twist, elbow, 0.035), twist, elbow)
    opened = closed + [0, take.u(12, 20) * take.amp, 0, -5]
    n = max(2, int((t_clap - t_up) * rate) * 2)
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None})
        for k in range(n + 1):
            take.tl.key(t_up + k * (t_clap - t_up) / n, **{ch: opened if k % 2 == 0 else closed})
        take.tl.key(t_end, **{ch: None})


def raise_hands(take: Take):
    """Surrender: both arms up with the forearms vertical, hands beside the head; maybe a half step back."""
    t0 = take.onset()
    t_up, t_hold, t_end = take.schedule(t0, take.u(0.35, 0.6), take.u(1.0, 3.0), take.u(0.5, 0.8),
                                        tail=take.u(0.05, 0.8))
    up = arm(take.u(10, 25), take.u(105, 120), take.u(-95, -80), take.u(75, 95))
    lower = take.chance(0.5) or take.duration - t_end > 1.0  # else the hands stay up until the clip ends
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None}).hold(t_up, t_hold, **{ch: up + take.rng.uniform(-4, 4, 4)})
        if lower:
            take.tl.key(t_end, **{ch: None})
    take.tl.key(t0, spine=None).hold(t_up, t_hold, spine=take.neutral("spine") + [take.u(-6, 0), 0, 0])
    take.tl.key(t_end, spine=None)
    if take.chance(0.4):
        take.step_by(int(take.rng.integers(2)), t0 + 0.05, t_up, 0.0, -take.u(0.12, 0.25))


def _kick(take: Take):
    """Weight onto the support foot, knee chambered high, foot driven forward to 50-90 cm, retracted, set down."""
    a = take.amp
    kick_foot = 1 if take.chance(0.7) else 0
    sg = 1.0 if kick_foot == 0 else -1.0  # lateral side of the kicking leg
    t0 = take.onset()
    t_shift, t_chamber, t_extend, t_retract, t_down, t_end = take.schedule(
        t0, take.u(0.25, 0.4), take.u(0.2, 0.3), take.u(0.12, 0.2), take.u(0.2, 0.3), take.u(0.25, 0.35),
        take.u(0.3, 0.6), tail=take.u(0.05, 0.8), flexible=(5,))
    support_x = take.feet[1 - kick_foot].last_xz[0]
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, l_arm=None, r_arm=None)
    take.tl.key(t_shift, root_pos=[0.7 * support_x, -0.03, 0.0])
    take.tl.key(t_chamber, root_rot=[0, -take.u(5, 10), 0])
    take.tl.key(t_extend, root_rot=[0, -take.u(10, 20), 0], spine=take.neutral("spine") + [-take.u(5, 12), 0, 0])
    take.tl.key(t_retract, root_rot=[0, -take.u(5, 10), 0])
    take.tl.key(t_down, root_pos=[0.5 * support_x, -0.02, 0.0])
    take.tl.key(t_end, root_pos=None, root_rot=None, spine=None)
    guard = arm(take.u(30, 60), take.u(15, 30), take.u(20, 50), take.u(80, 110))
    take.tl.hold(t_shift, t_down, l_arm=guard, r_arm=guard + take.rng.uniform(-6, 6, 4)).key(t_end, l_arm=None,
                                                                                               r_arm=None)
    plan = take.feet[kick_foot]
    x0, z0 = plan.last_xz
    reach = float(np.clip(take.u(0.5, 0.9) * a, 0.45, 1.0))
    high = float(np.clip(take.u(0.45, 0.85) * a, 0.4, 0.95))
    via = [(t_chamber, [x0 - sg * 0.02, 0.3 + 0.2 * high, z0 + 0.15], 40.0),
           (t_extend, [x0 - sg * 0.03, high, z0 + reach], 10.0),
           (t_retract, [x0 - sg * 0.02, 0.3 + 0.2 * high, z0 + 0.2], 45.0)]
    plan.step(t_shift, t_down, plan.last_xz, via=via)


def kick_away(take: Take):
    _kick(take)


def bow(take: Take):
    """A bow: torso folds forward 30-65 degrees (hips and spine), arms hanging, head down; held; back up."""
    a = take.amp
    t0 = take.onset()
    t_down, t_hold, t_end = take.schedule(t0, take.u(0.5, 0.8), take.u(0.5, 1.5), take.u(0.6, 0.9),
                                          tail=take.u(0.05, 0.8))
    fold = float(np.clip(take.u(35, 55) * a, 30.0, 70.0))  # degrees, split between the hips and the spine
    pitch = take.u(0.3, 0.45) * fold
    bend = fold - pitch
    take.tl.key(t0, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)
    # a chest tilted forward by (bend + pitch) carries hanging arms backwards; flexing them forward by about as
    # much keeps them hanging roughly vertical
    hang = 0.9 * (bend + pitch)
    take.tl.hold(t_down, t_hold, root_pos=[0, -0.01, -take.u(0.03, 0.07)], root_rot=[0, pitch, 0],
                 spine=take.neutral("spine") + [bend, 0, 0], neck=take.neutral("neck") + [take.u(10, 20), 0, 0],
                 l_arm=take.neutral("l_arm") + [hang, 0, 0, 0], r_arm=take.neutral("r_arm") + [hang, 0, 0, 0])
    take.tl.key(t_end, root_pos=None, root_rot=None, spine=None, neck=None, l_arm=None, r_arm=None)


def cheer(take: Take):
    """Both arms thrown up overhead and pumped 2-3 times a second (fists to the shoulders and up), then lowered."""
    t0 = take.onset()
    t_up, t_pump, t_end = take.schedule(t0, take.u(0.3, 0.45), take.u(0.8, 2.0), take.u(0.5, 0.8),
                                        tail=take.u(0.05, 0.8))
    # fists pumped: straight arms overhead <-> upper arms out, forearms vertical (external twist keeps them up)
    high = arm(take.u(10, 20), take.u(155, 170), -90.0, take.u(5, 15))
    low = arm(high[0], take.u(105, 125), -90.0, take.u(60, 85))
    n = max(2, int((t_pump - t_up) * take.u(2.0, 3.0)) * 2)
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None})
        for k in range(n + 1):
            take.tl.key(t_up + k * (t_pump - t_up) / n, **{ch: high if k % 2 == 0 else low})
        take.tl.key(t_end, **{ch: None})
    take.tl.key(t0, neck=None).hold(t_up, t_pump, neck=take.neutral("neck") + [-take.u(10, 20), 0, 0])
    take.tl.key(t_end, neck=None)


# ================================================================================================ actor side

def handshake_offer(take: Take):
    """The actor steps in and holds out the right hand, waiting; the hand is withdrawn or still offered at the end."""
    a = take.amp
    t0 = take.onset()
    t_reach, t_hold, t_end = take.schedule(t0, take.u(0.5, 0.8), take.u(0.8, 2.0), take.u(0.5, 0.8),
                                           tail=take.u(0.05, 0.5))
    dz = take.u(0.2, 0.35) * a
    take.step_by(0, t0, t0 + 0.8 * (t_reach - t0), 0.0, dz)
    take.tl.key(t0, root_pos=None, r_arm=None, spine=None).key(t_reach, root_pos=[0, -0.01, 0.45 * dz])
    hand = arm(take.u(45, 60), take.u(5, 15), take.u(0, 20), take.u(20, 40))
    take.tl.hold(t_reach, t_hold, r_arm=hand, spine=take.neutral("spine") + [take.u(3, 8), 0, take.u(0, 6)])
    if take.chance(0.6):
        take.tl.key(t_end, r_arm=None, spine=None)


def hug_approach(take: Take):
    """The actor walks in with the arms opening wide, then wraps them forward."""
    t0 = take.onset()
    speed = take.u(0.9, 1.2)
    dist = take.u(0.8, 1.6)
    opened = arm(take.u(30, 50), take.u(60, 85), take.u(-20, 0), take.u(15, 35))
    take.tl.key(t0, l_arm=None, r_arm=None)
    t1 = take.walk(t0, dist, speed, take.u(0.55, 0.7), arm_swing=8.0)
    t1 = min(t1, take.duration - 0.3)
    take.tl.hold(t0 + 0.5 * (t1 - t0), t1, l_arm=opened, r_arm=opened)
    wrapped = arm(take.u(70, 85), take.u(25, 40), take.u(60, 85), take.u(55, 85))
    take.tl.key(t1 + take.u(0.4, 0.6), l_arm=wrapped, r_arm=wrapped)


def punch(take: Take):
    """Guard up, lead foot forward; one to three straight punches (torso twisting into each), guard, relax."""
    t0 = take.onset()
    guard = arm(take.u(55, 75), take.u(10, 25), take.u(40, 70), take.u(110, 130))
    t_guard = t0 + take.u(0.3, 0.5)
    n = int(take.rng.integers(1, 4))
    take.tl.key(t0, l_arm=None, r_arm=None, spine=None, root_rot=None)
    take.tl.key(t_guard, l_arm=guard, r_arm=guard, root_rot=[take.u(5, 20), 0, 0])
    take.step_by(0, t0 + 0.02, t_guard, take.u(-0.02, 0.04), take.u(0.15, 0.3))
    side = "r" if take.chance(0.7) else "l"
    t = t_guard + take.u(0.15, 0.4)
    for _ in range(n):
        if t + 0.5 > take.duration:
            break
        sg = 1.0 if side == "l" else -1.0
        strike = arm(take.u(85, 95), take.u(0, 10), take.u(0, 20), take.u(0, 10) / take.amp)
        take.tl.key(t, **{f"{side}_arm": guard}, spine=take.neutral("spine"))
        take.tl.key(t + take.u(0.12, 0.18), **{f"{side}_arm": strike},
                    spine=take.neutral("spine") + [5, 0, -sg * take.u(15, 25)])
        t += take.u(0.3, 0.4)
        take.tl.key(t, **{f"{side}_arm": guard}, spine=take.neutral("spine"))
        t += take.u(0.05, 0.3)
        side = "l" if side == "r" else "r"
    if t + 0.6 < take.duration:
        take.tl.key(t + 0.6, l_arm=None, r_arm=None, root_rot=None)


def push(take: Take):
    """Hands drawn to the chest, a step in, both arms driven forward (palms out), then recovered."""
    a = take.amp
    t0 = take.onset()
    t_load, t_push, t_hold, t_end = take.schedule(t0, take.u(0.3, 0.5), take.u(0.2, 0.3), take.u(0.2, 0.5),
                                                  take.u(0.5, 0.8), tail=take.u(0.05, 0.6), flexible=(2, 3))
    loaded = arm(take.u(40, 60), take.u(10, 25), take.u(40, 60), take.u(110, 130))
    pushed = arm(take.u(80, 95), take.u(10, 20), take.u(30, 50), take.u(5, 20))
    for ch in ("l_arm", "r_arm"):
        take.tl.key(t0, **{ch: None}).key(t_load, **{ch: loaded}).hold(t_push, t_hold, **{ch: pushed})
        take.tl.key(t_end, **{ch: None})
    dz = take.u(0.25, 0.4) * a
    take.step_by(int(take.rng.integers(2)), t_load - 0.15, t_push, 0.0, dz)
    take.tl.key(t0, root_pos=None, spine=None).key(t_load, spine=take.neutral("spine") + [-3, 0, 0])
    take.tl.key(t_push, root_pos=[0, -0.03, 0.5 * dz], spine=take.neutral("spine") + [take.u(8, 15), 0, 0])
    take.tl.key(t_end, root_pos=[0, 0, 0.5 * dz], spine=None)


def kick(take: Take):
    _kick(take)


def throw(take: Take):
    """Overhand throw: wind-up (arm back and up, torso turned away, weight back), step in with the opposite foot,
    arm whips over the shoulder to release in front, follow-through across the body."""
    side, other, sg = take.side(0.8)
    t0 = take.onset()
    t_wind, t_release, t_follow, t_end = take.schedule(t0, take.u(0.4, 0.6), take.u(0.22, 0.32), take.u(0.3, 0.4),
                                                       take.u(0.5, 0.8), tail=take.u(0.05, 0.6), flexible=(3,))
    wind = arm(-take.u(20, 40), take.u(90, 120), take.u(-90, -60), take.u(80, 100))
    release = arm(take.u(110, 140), take.u(20, 40), take.u(-20, 10), take.u(10, 30))
    follow = arm(take.u(40, 60), -take.u(10, 25), take.u(40, 70), take.u(20, 40))
    balance = arm(take.u(40, 70), take.u(20, 40), take.u(0, 30), take.u(30, 60))
    take.tl.key(t0, **{f"{side}_arm": None, f"{other}_arm": None}, spine=None, root_pos=None)
    take.tl.key(t_wind, **{f"{side}_arm": wind, f"{other}_arm": balance},
                spine=take.neutral("spine") + [-5, -sg * 5, sg * take.u(20, 30)], root_pos=[0, -0.02, -0.05])
    take.tl.key(t_release, **{f"{side}_arm": release},
                spine=take.neutral("spine") + [take.u(10, 18), 0, -sg * take.u(5, 15)])
    take.tl.key(t_follow, **{f"{side}_arm": follow, f"{other}_arm": None},
                spine=take.neutral("spine") + [take.u(15, 25), 0, -sg * take.u(15, 25)], root_pos=[0, -0.04, 0.15])
    take.tl.key(t_end, **{f"{side}_arm": None}, spine=None, root_pos=[0, 0, 0.15])
    step_foot = 0 if side == "r" else 1  # the foot opposite the throwing arm steps in
    take.step_by(step_foot, t_wind - 0.2, t_release, 0.0, take.u(0.25, 0.4))


def point(take: Take):
    point_back(take)


def walk_towards(take: Take):
    walk_forward(take)


def idle(take: Take):
    """Standing with a slow weight shift from foot to foot and an occasional look around."""
    take.noise_scale = 1.3
    t = take.u(0.3, 1.0)
    while t < take.duration - 0.8:
        take.tl.key(t, root_pos=[take.u(-0.03, 0.03), 0, 0], neck=take.neutral("neck") + [0, 0, take.u(-20, 20)])
        t += take.u(1.0, 2.0)


def beckon(take: Take):
    """Come here: forearm raised in front, palm up, curled towards the body two to four times."""
    side, _, _ = take.side()
    t0 = take.onset()
    t_up, t_wave, t_end = take.schedule(t0, take.u(0.35, 0.5), take.u(1.0, 2.0), take.u(0.4, 0.6),
                                        tail=take.u(0.05, 0.5))
    base = arm(take.u(35, 55), take.u(10, 25), take.u(-10, 10), take.u(50, 70))
    n = max(2, int((t_wave - t_up) * take.u(1.5, 2.5)) * 2)
    take.tl.key(t0, **{f"{side}_arm": None})
    for k in range(n + 1):
        take.tl.key(t_up + k * (t_wave - t_up) / n, **{f"{side}_arm": base + [0, 0, 0, 40 * (k % 2)]})
    take.tl.key(t_end, **{f"{side}_arm": None})


def jump(take: Take):
    """One to three excited hops in place, arms swinging up."""
    t0 = take.onset()
    t = t0
    hops = int(take.rng.integers(1, 4))
    for _ in range(hops):
        crouch, air, absorb = take.u(0.25, 0.35), take.u(0.3, 0.4), take.u(0.2, 0.3)
        if t + crouch + 0.1 + air + absorb + 0.3 > take.duration:
            break
        t_c, t_off, t_land = t + crouch, t + crouch + 0.1, t + crouch + 0.1 + air
        take.tl.key(t, root_pos=[0, 0, 0], l_arm=None, r_arm=None)
        take.tl.key(t_c, root_pos=[0, -take.u(0.1, 0.15), 0],
                    l_arm=arm(-25, 15, 0, 20), r_arm=arm(-25, 15, 0, 20))
        take.tl.key(t_off, root_pos=[0, 0.01, 0])
        top = arm(take.u(20, 40), take.u(120, 160), -20, take.u(10, 40))
        take.tl.key(t_off + 0.5 * air, root_pos=[0, take.u(0.1, 0.18), 0], l_arm=top, r_arm=top)
        take.tl.key(t_land, root_pos=[0, 0, 0])
        take.tl.key(t_land + absorb, root_pos=[0, -take.u(0.08, 0.12), 0])
        for plan in take.feet:
            plan.step(t_off, t_land, plan.last_xz, clearance=take.u(0.12, 0.2), heel_raise=40.0)
        t = t_land + absorb
    take.tl.key(t + 0.3, root_pos=[0, 0, 0], l_arm=None, r_arm=None)


def high_five_offer(take: Take):
    """The actor raises the right hand, palm forward at head height, and holds it up."""
    t0 = take.onset()
    t_up, t_hold, t_end = take.schedule(t0, take.u(0.35, 0.6), take.u(1.0, 2.5), take.u(0.5, 0.7),
                                        tail=take.u(0.05, 0.5))
    up = arm(take.u(100, 130), take.u(20, 35), take.u(-30, -10), take.u(30, 60))
    take.tl.key(t0, r_arm=None).hold(t_up, t_hold, r_arm=up).key(t_end, r_arm=None)
    if take.chance(0.6):
        take.step_by(0, t0, t_up, 0.0, take.u(0.15, 0.3))
