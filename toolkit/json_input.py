"""Strict parsing of JSON the user hands in: every way it can be wrong is one :class:`UserError`.

Every file the toolkit reads as JSON (configs, choices, overrides, catalogs, scenarios) goes
through :func:`loads`, so the same mistakes give the same one-line message everywhere:

- a syntax error names ``source:line:column``;
- bytes that are not UTF-8 say so;
- ``NaN``, ``Infinity`` and numbers beyond the float range (``1e400``) are refused: JSON has
  no such values, OpenCode would not read them, and downstream arithmetic would turn them
  into silent wrong results;
- integers longer than Python converts (thousands of digits) are refused;
- nesting deeper than :data:`MAX_DEPTH` is refused, checked without recursion, so a file of
  100,000 ``[`` never reaches a recursive reader (the parser's own RecursionError is caught
  as well).
"""

from __future__ import annotations

import json
import math

from toolkit.errors import UserError

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted; real configs, catalogs and scenarios use under 10."""


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value; write a finite number")


def depth(value: object) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar is 0), computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # one level past the limit is enough to refuse
            stack.extend((child, level + 1) for child in children)
    return deepest


def loads(data: str | bytes, source: str, hint: str = "; fix the file and retry") -> object:
    """Parse JSON text (or UTF-8 bytes) strictly; any problem is a :class:`UserError` naming ``source``."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{source}: not UTF-8 text (byte {exc.start}){hint}") from None
    try:
        value = json.loads(data, parse_float=_number, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg}){hint}") from None
    except RecursionError:
        raise UserError(f"{source}: nested more than {MAX_DEPTH} levels deep{hint}") from None
    except ValueError as exc:  # from the hooks above, or an integer too long to convert
        reason = "an integer with thousands of digits" if "digits" in str(exc) else str(exc).splitlines()[0]
        raise UserError(f"{source}: invalid JSON ({reason}){hint}") from None
    if depth(value) > MAX_DEPTH:
        raise UserError(f"{source}: nested more than {MAX_DEPTH} levels deep{hint}")
    return value


def non_finite(value: object, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinite number in ``value`` (nested lists/dicts), else None.

    For values built in Python (a notebook's dict), which :func:`loads` never saw.
    """
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where or "top level"
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, f"{where}.{i}" if where else str(i)) for i, v in reversed(list(enumerate(item))))
    return None
