"""When the node reacts, and what happens to requests that arrive while the generator is busy.

Triggers (parameter `trigger`, a comma-separated set):
  service       only on a call of ~/react (hero_msgs/srv/React). The service is always offered, whatever the mode.
  periodic      every `period_s` seconds while frames keep arriving.
  scene_change  when the newest frame's feature moved away from the scene the last reaction saw: cosine distance
                d = 1 - <f, f_ref> / (|f| |f_ref|) > `scene_threshold`, at most once per `scene_cooldown_s`. f_ref is
                the feature of the newest frame at the last trigger (of any kind), so a slow pan triggers once
                its accumulated change passes the threshold and a static scene never does.
Automatic triggers pause while the camera is silent (parameter `stale_after_s`): a stopped camera does not make the
node react to the same old frames again and again.

The request queue is one slot (RequestSlot). A newer request supersedes a queued one that has not started yet --
a reaction to older video is stale by the time the newer one exists -- with one exception: an automatic trigger
never displaces a queued service call, whose caller is waiting for an answer (the automatic one is dropped instead:
the service reaction about to be generated covers the same frames). A superseded service caller is answered at once
with success=False and the reason.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import torch

TRIGGER_MODES = ("service", "periodic", "scene_change")


def parse_trigger(text: str) -> frozenset[str]:
    """'periodic,scene_change' -> {'periodic', 'scene_change'}; refuses unknown or empty modes with a message."""
    modes = [m.strip() for m in str(text).split(",")]
    if not text or any(not m for m in modes):
        raise ValueError(f"trigger {text!r}: expected a comma-separated subset of {', '.join(TRIGGER_MODES)}")
    unknown = [m for m in modes if m not in TRIGGER_MODES]
    if unknown:
        raise ValueError(f"trigger {text!r}: unknown mode(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(TRIGGER_MODES)}")
    return frozenset(modes)


class PeriodicTrigger:
    """Due every `period_s` seconds of a monotonic clock (re-armed on every trigger, so a service call resets it)."""

    def __init__(self, period_s: float):
        self.period_s = period_s
        self._last = -math.inf

    def due(self, now: float) -> bool:
        return now - self._last >= self.period_s

    def mark(self, now: float) -> None:
        self._last = now


class SceneChangeTrigger:
    """Cosine distance of each new frame feature to the reference feature, with a cool-down between triggers."""

    def __init__(self, threshold: float, cooldown_s: float):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.reference: torch.Tensor | None = None   # (d,)
        self.last_distance = 0.0
        self._last_trigger = -math.inf

    def reset(self) -> None:
        self.reference = None

    def rebase(self, feature: torch.Tensor, now: float) -> None:
        """A reaction was triggered while `feature` was the newest frame: that is the scene it saw."""
        self.reference = feature.detach().float().flatten()
        self._last_trigger = now

    def update(self, feature: torch.Tensor, now: float) -> bool:
        """Feed the newest frame's (d,) feature; True when it is a scene change worth a reaction."""
        f = feature.detach().float().flatten()
        if self.reference is None:            # first frame after start or reset: it defines the scene
            self.reference = f
            return False
        # d = 1 - cos(f, f_ref)
        self.last_distance = float(1.0 - torch.nn.functional.cosine_similarity(f, self.reference, dim=0))
        return self.last_distance > self.threshold and now - self._last_trigger >= self.cooldown_s


class Reply:
    """Where the generator thread puts the answer for a waiting service caller. The first answer wins (the
    generator's, a superseding request's or the caller's timeout); `on_set` runs once, in the thread that answered
    (the node uses it to wake its executor's waiting ~/react callback)."""

    def __init__(self, on_set=None):
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._on_set = on_set
        self.success = False
        self.message = ""
        self.reaction = None

    def set(self, success: bool, message: str, reaction=None) -> bool:
        """Answer; False (and nothing changes) when an answer is already there."""
        with self._lock:
            if self._done.is_set():
                return False
            self.success, self.message, self.reaction = success, message, reaction
            self._done.set()
        if self._on_set is not None:
            self._on_set()
        return True

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)


@dataclass
class Request:
    """One reaction request.

    kind: 'service', 'periodic' or 'scene_change'; length: motion frames (None: the model predicts it);
    seed: None for fresh randomness; frame_seq: sequence number of the newest frame received at the trigger
    (the generator waits until the encoder has caught up with it); created: time.monotonic() at the trigger
    (the start of the trigger->output latency); reply: set for service calls.
    """

    kind: str
    length: int | None
    seed: int | None
    frame_seq: int
    created: float = field(default_factory=time.monotonic)
    reply: Reply | None = None

    @property
    def priority(self) -> int:
        return 1 if self.kind == "service" else 0


class RequestSlot:
    """A one-request queue between the triggers and the generator thread (see the module docstring)."""

    def __init__(self):
        self._pending: Request | None = None
        self._cond = threading.Condition()
        self._closed = False
        self.superseded = 0

    def submit(self, request: Request) -> Request | None:
        """Queue `request`; returns the request that lost (the displaced or the refused one), or None."""
        with self._cond:
            loser = None
            if self._pending is not None:
                if request.priority < self._pending.priority:
                    loser = request
                else:
                    loser, self._pending = self._pending, request
            else:
                self._pending = request
            if loser is not None:
                self.superseded += 1
            self._cond.notify_all()
        if loser is not None and loser.reply is not None:
            # only a displaced service call can get here (a refused request is automatic and has no reply)
            loser.reply.set(False, f"superseded by a newer {request.kind} request before generation started")
        return loser

    def take(self, timeout: float) -> Request | None:
        """The pending request (removing it), waiting up to `timeout` s; None on timeout or after close()."""
        with self._cond:
            if self._pending is None and not self._closed:
                self._cond.wait(timeout)
            request, self._pending = self._pending, None
            return request

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
