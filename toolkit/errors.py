"""The one exception type for mistakes a user can fix.

The CLI prints a :class:`UserError` as a single line (``error: ...``) and exits with
status 2; anything else is a bug and keeps its traceback. Library callers get the same
exception, so a notebook shows the same one-line explanation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it."""


def closest(name: str, known: Iterable[str], n: int = 3) -> str:
    """Return a ``did you mean ...?`` hint naming the closest known ids, or ``""``."""
    matches = difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""


def check_known(kind: str, names: Iterable[str], known: Iterable[str]) -> None:
    """Raise a :class:`UserError` for the first name not in ``known``, suggesting close ids."""
    known = list(known)
    known_set = set(known)
    for name in names:
        if name not in known_set:
            raise UserError(f"unknown {kind} {name!r}{closest(name, known)}")
