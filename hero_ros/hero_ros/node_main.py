"""The console entry both nodes share (`hero-react`, `hero-sim`; `ros2 run hero_ros react|sim`).

rclpy's SIGINT / SIGTERM handling ends spin with KeyboardInterrupt or ExternalShutdownException: that is a clean
stop, exit code 0 (what ros2 launch expects). A node that cannot start -- a refused parameter, a missing model or
robot file -- prints one line `<prog>: error: ...` and exits with code 2.
"""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

from .params import ParameterError


def run_node(prog: str, make_node: Callable, threads: int, startup_errors: tuple[type[BaseException], ...],
             args: list[str] | None = None) -> int:
    """Build the node with `make_node()`, spin it on a `threads`-thread executor (1: rclpy's single-threaded
    executor), and return the exit code; `startup_errors` are the exceptions that mean "cannot start" (reported in
    one line)."""
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ParameterError as exc:
        print(f"{prog}: error: invalid parameter {exc}", file=sys.stderr)
        code = 2
    except startup_errors as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
