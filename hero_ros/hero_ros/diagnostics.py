"""Health of the node: counters, throttled warnings, and the diagnostic_msgs/DiagnosticArray on /diagnostics.

Every problem with the input (a bad frame, a stamp going backwards, a silent camera, a full queue) is counted here
and reported at most once per `WARN_PERIOD_S` per kind, with the number of repeats in between: a camera sending 30
broken frames a second must not flood the log, and the first occurrence must not be lost either.
"""
from __future__ import annotations

import functools
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

WARN_PERIOD_S = 5.0


class ThrottledLog:
    """logger.warning at most once per `period_s` per key; the next message says how many were suppressed."""

    def __init__(self, logger, period_s: float = WARN_PERIOD_S, clock=time.monotonic):
        self.logger = logger
        self.period_s = period_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def warn(self, key: str, message: str, count: bool = True) -> bool:
        """Log `message` as a warning unless `key` was logged less than period_s ago; returns whether it was.
        count=False for conditions polled periodically (a silent camera), where repeats are not events."""
        return self.log(key, message, "warning", count)

    def error(self, key: str, message: str) -> bool:
        return self.log(key, message, "error")

    def log(self, key: str, message: str, level: str, count: bool = True) -> bool:
        now = self.clock()
        with self._lock:
            if now - self._last.get(key, -float("inf")) < self.period_s:
                self._suppressed[key] += 1
                return False
            self._last[key] = now
            repeats = self._suppressed.pop(key, 0)
        text = message + (f" ({repeats} more since the last report)" if repeats and count else "")
        # One call site per severity: rclpy's logger refuses ("Logger severity cannot be changed between calls")
        # a source line that logs at one severity and later at another.
        if level == "error":
            self.logger.error(text)
        elif level == "warning":
            self.logger.warning(text)
        else:
            raise ValueError(f"ThrottledLog: level must be 'warning' or 'error', got {level!r}")
        return True


def survives(method):
    """For a node's executor callbacks: an exception escaping one ends rclpy's spin, and with it the node. Log it
    instead (throttled per callback, through the node's `warn` ThrottledLog). A callback that fails because the
    node's context has shut down (a timer publishing after SIGINT) is the stop racing it, not an error: skipped."""
    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:
            if not self.context.ok():
                return None
            self.warn.error(f"callback_{method.__name__}", f"{method.__name__} failed: {type(exc).__name__}: {exc}\n"
                                                           f"{traceback.format_exc()}")
            return None
    return wrapper


@dataclass
class NodeStats:
    """Counters shared by the node's threads (ints and floats only; updates under `lock`)."""

    frames_received: int = 0
    frames_encoded: int = 0
    frames_decimated: int = 0              # skipped by max_encode_hz (not an error)
    dropped: Counter = field(default_factory=Counter)  # reason -> frames dropped
    buffer_resets: int = 0
    reactions: int = 0
    failed_requests: int = 0
    last_latency_s: float = float("nan")
    latency_sum_s: float = 0.0
    encode_seconds: float = 0.0
    last_receive_monotonic: float = float("nan")
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def drop(self, reason: str) -> None:
        with self.lock:
            self.dropped[reason] += 1

    def record_reaction(self, latency_s: float) -> None:
        with self.lock:
            self.reactions += 1
            self.last_latency_s = latency_s
            self.latency_sum_s += latency_s


class RateMeter:
    """Frames per second between two calls of `rate(count)` (the diagnostics period)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._t = clock()
        self._count = 0

    def rate(self, count: int) -> float:
        now = self.clock()
        hz = (count - self._count) / max(now - self._t, 1e-9)
        self._t, self._count = now, count
        return hz


OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR  # bytes, as the field wants


def diagnostic_array(stamp, name: str, hardware_id: str, level: bytes, message: str, values: dict) -> DiagnosticArray:
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array

