"""Checks of the arguments of the public run functions (:func:`toolkit.simulate`, :func:`toolkit.run_live`).

A notebook user calls these directly, without the command line's parsing: a count of
``2.5``, ``nan`` or ``"10"``, or a model name where a :class:`CombinedModel` belongs, must
be a :class:`UserError` naming the argument and what it takes, not a ``TypeError`` or an
``AttributeError`` from deep inside numpy or the engine.
"""

from __future__ import annotations

import math

from toolkit.errors import UserError

MAX_TOKENS = 10_000_000
"""Largest request size (input or output tokens) a run takes, as a scenario's (``toolkit.scenario``)."""


def whole(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is a whole number (not a bool) from ``low`` to ``high`` (no limit if None)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"from {low:,} to {high:,}" if high is not None else f">= {low:,}"
        raise UserError(f"{name} must be a whole number {span}, got {value!r}")
    return value


def positive(name: str, value: object) -> float:
    """``value`` if it is a finite number above 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserError(f"{name} must be a finite number above 0, got {value!r}")
    return float(value)


def instance(name: str, value: object, kind: type, how: str) -> None:
    """Refuse a ``value`` that is not a ``kind``; ``how`` says how to make one."""
    if not isinstance(value, kind):
        raise UserError(f"{name} must be a {kind.__name__} ({how}), not {type(value).__name__}")
