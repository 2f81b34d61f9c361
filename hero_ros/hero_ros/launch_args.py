"""Launch arguments -> typed node parameters, shared by launch/react.launch.py and launch/sim.launch.py.

Launch arguments arrive as strings; rclpy refuses a string (or an integer) for a parameter declared with a float
default and the node dies at start-up (reference.md section 7), so each argument is converted to its parameter's
type here. Empty arguments keep the parameters file's value. No launch / launch_ros import: unit-testable in the
pip environment.
"""
from __future__ import annotations

from typing import Callable, Mapping


def parse_bool(text: str) -> bool:
    """"true" / "false" (any case) -> bool; anything else is a ValueError."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def typed_overrides(table: Mapping[str, tuple[str, Callable]], arguments: Mapping[str, object]) -> dict:
    """{launch argument: text} -> {parameter: typed value} for the non-empty arguments, by `table`
    (launch argument -> (node parameter, type)); a text the type refuses raises ValueError naming the argument."""
    overrides = {}
    for argument, (parameter, kind) in table.items():
        text = str(arguments.get(argument, "")).strip()
        if not text:
            continue
        try:
            overrides[parameter] = kind(text)
        except ValueError as exc:
            name = "bool (true/false)" if kind is parse_bool else kind.__name__
            raise ValueError(f"launch argument {argument}:={text!r} is not a {name}") from exc
    return overrides
