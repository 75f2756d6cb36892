"""Time-scaled live runs for tests that must hold on a busy machine.

A live run against mock providers plays its scenario many times faster than real time.
When the machine is busy the run falls behind the scenario clock (its log's
``attrs["clock_lag"]`` says by how much), and a behind run is a different experiment:
arrivals thin out, so rate limits bite less, and latencies stretch. :func:`keeping_up`
reruns such a run at half the time scale until one keeps up, and fails with the measured
lag when even the slowest allowed run could not: never a silent pass on a distorted run.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from toolkit.clock_lag import ClockLag


def keeping_up(run: Callable[[float], pd.DataFrame], time_scale: float, slowest: float = 2.0) -> pd.DataFrame:
    """The attempt log of ``run(time_scale)``, rerun at half the time scale while it fell behind.

    ``slowest`` is the lowest time scale tried; a run at it that still falls behind fails the
    test with the lag figures.
    """
    tried = []
    while True:
        log = run(time_scale)
        lag = ClockLag(**log.attrs["clock_lag"])
        if not lag.behind:
            return log
        tried.append(f"x{time_scale:g}: p95 {lag.p95_s:.2f} s late")
        if time_scale <= slowest:
            pytest.fail(
                f"the machine is too busy to keep up with the scenario clock ({'; '.join(tried)}): {lag.message()}"
            )
        time_scale = max(slowest, lag.suggested_time_scale)
