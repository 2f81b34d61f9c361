"""A background thread that spins an rclpy executor and is stopped (joined) before its node is destroyed.

`executor.spin()` waits without a timeout. Shutting the executor down from another thread gives that wait one
second to notice; when it does not (a loaded machine), destroying the node under the running wait left the thread
looping hot on the dead wait set while holding the GIL -- once, in hero_ros.replay, the main thread then could not
reap the node process for minutes and the test timed out. Here the thread waits at most `slice_s` per turn, checks
a stop flag between turns, and `stop()` joins it, so nothing is destroyed while it waits.
"""
from __future__ import annotations

import threading


class SpinThread:
    """Spins `executor` in a daemon thread named `name` until `stop()` or until its context shuts down."""

    def __init__(self, executor, name: str, slice_s: float = 0.1):
        self.executor = executor
        self.slice_s = slice_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.executor.context.ok():
                self.executor.spin_once(timeout_sec=self.slice_s)
        except Exception:  # the context was shut down under us: nothing left to do
            pass

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to finish and wait up to `timeout` s; True when it has finished."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()
