"""How far a time-scaled live run falls behind its scenario clock.

A live run against mock providers plays a scenario ``time_scale`` times faster than real
time. Each scheduled wake-up (a request's arrival, a retry after its backoff, the mock's
time to first token) should happen at its scenario time; on a busy machine the event loop
wakes late, and every late wake-up stretches the scenario: arrivals thin out (a rate limit
bites less), answers take longer. A :class:`LagMeter` records how late each wake-up was, in
scenario seconds, and :meth:`LagMeter.summary` says whether the run can be trusted and
which time scale would have kept up.

A run that falls behind is usually saturated: the loop has more work per real second than
it can do, and lateness grows faster than the time scale. Halving the time scale halves
that work; measured on a 2-core machine with other work running, busy-team-rate-limit at
x20 was 0.2-1.4 scenario s late at the 95th percentile and at x10 0.04-0.07 s.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import asdict, dataclass

# p95 lateness allowed, in scenario seconds. Scenario latencies are seconds long and the live
# agreement check allows 10 % on latency quantiles; 0.1 s late at the 95th percentile keeps
# the distortion of a one-second time to first token within that.
LAG_LIMIT_S = 0.1


@dataclass(frozen=True)
class ClockLag:
    """Lateness of a run's scheduled wake-ups, in scenario seconds.

    ``behind`` is true when ``p95_s`` exceeds ``limit_s``; ``suggested_time_scale`` is the
    time scale to try next (half the run's, rounded down; the run's own when it kept up).
    """

    samples: int
    p50_s: float
    p95_s: float
    max_s: float
    time_scale: float
    limit_s: float
    behind: bool
    suggested_time_scale: float

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)

    def message(self) -> str:
        """One line for a user: how far behind, and the time scale that would keep up."""
        return (
            f"the run fell behind the scenario clock: wake-ups were {self.p95_s:.2f} scenario s late at the "
            f"95th percentile ({self.p95_s / self.time_scale * 1000:.0f} ms real, limit {self.limit_s} s), "
            f"so latencies are inflated and rate limits bite less than scheduled; rerun with "
            f"--time-scale {self.suggested_time_scale:g} or lower (now {self.time_scale:g}), or on a less busy machine"
        )


def _round_down(x: float) -> float:
    """``x`` rounded down to one significant digit, at least 1: 37.2 -> 30, 12.5 -> 10, 0.3 -> 1."""
    if x <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(x))
    return float(math.floor(x / magnitude) * magnitude)


class LagMeter:
    """Collects the lateness of scheduled wake-ups (thread-safe enough: appends only)."""

    def __init__(self) -> None:
        self._late = array("d")

    def record(self, late_s: float) -> None:
        """One wake-up that happened ``late_s`` scenario seconds after its due time (<= 0: on time)."""
        self._late.append(late_s if late_s > 0 else 0.0)

    def extend(self, other: LagMeter) -> None:
        self._late.extend(other._late)

    def summary(self, time_scale: float, limit_s: float = LAG_LIMIT_S) -> ClockLag:
        late = sorted(self._late)
        n = len(late)
        if n == 0:
            return ClockLag(0, 0.0, 0.0, 0.0, time_scale, limit_s, False, time_scale)

        def quantile(q: float) -> float:
            return late[min(n - 1, int(q * n))]

        p95 = quantile(0.95)
        behind = p95 > limit_s
        suggested = min(time_scale, _round_down(time_scale / 2)) if behind else time_scale
        return ClockLag(n, quantile(0.5), p95, late[-1], time_scale, limit_s, behind, suggested)
