"""Refuse a simulation too large to finish, before it starts, with the estimate and how to shrink it.

A typo such as ``--seeds 100000000`` or ``--requests 10000000000`` used to run until the
machine ran out of memory. :func:`check` estimates time and peak memory from two measured
rates and refuses a run above :data:`MAX_SECONDS` or above most of the machine's memory.
"""

from __future__ import annotations

import os

from toolkit.errors import UserError

REQUESTS_PER_SECOND = 20_000
"""Simulated requests per second on one core (measured: 20k to 27k with four providers)."""

BYTES_PER_REQUEST = 700
"""Peak memory per simulated request of one run (measured: 330 to 660 bytes)."""

MAX_SECONDS = 24 * 3600
"""Longest estimated run accepted: a day."""

MEMORY_SHARE = 0.8
"""Share of the machine's memory a run may be estimated to need."""


def memory_bytes() -> int:
    """The machine's physical memory (8 GiB when the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    for unit, length in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


def check(runs: int, requests: int, *, parallel: int = 1, lower: str = "--requests") -> None:
    """Raise a :class:`UserError` if ``runs`` runs of ``requests`` simulated requests would take
    longer than :data:`MAX_SECONDS` or more memory than the machine has.

    ``parallel`` runs are in memory at once; ``lower`` names the options that shrink the run.
    """
    seconds = runs * requests / REQUESTS_PER_SECOND / max(1, parallel)
    memory = requests * BYTES_PER_REQUEST * max(1, parallel)
    available = memory_bytes() * MEMORY_SHARE
    if seconds <= MAX_SECONDS and memory <= available:
        return
    raise UserError(
        f"{runs:,} runs x {requests:,} requests is too large: about {_duration(seconds)} and "
        f"{_size(memory)} of memory (limits: {_duration(MAX_SECONDS)}, {_size(available)}); lower {lower}"
    )
