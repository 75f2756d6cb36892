"""The lag meter behind live runs' "fell behind the scenario clock" check."""

from __future__ import annotations

import pytest

from toolkit.clock_lag import ClockLag, LagMeter


def _meter(values: list[float]) -> LagMeter:
    meter = LagMeter()
    for v in values:
        meter.record(v)
    return meter


def test_quantiles_count_early_wake_ups_as_on_time():
    lag = _meter([-0.5] * 10 + [0.01 * i for i in range(90)]).summary(time_scale=20, limit_s=0.5)
    assert (lag.samples, lag.p50_s, lag.max_s) == (100, pytest.approx(0.4), pytest.approx(0.89))
    assert lag.p95_s == pytest.approx(0.85)  # index 95 of the sorted 100
    assert lag.behind and lag.suggested_time_scale == 10.0


@pytest.mark.parametrize(("scale", "suggested"), [(20, 10.0), (25, 10.0), (5, 2.0), (3, 1.0), (1.5, 1.0), (1, 1.0)])
def test_a_behind_run_suggests_about_half_the_time_scale_rounded_down(scale, suggested):
    assert _meter([1.0]).summary(scale, limit_s=0.1).suggested_time_scale == suggested


def test_a_run_that_keeps_up_keeps_its_time_scale_and_an_empty_one_is_on_time():
    assert _meter([0.05] * 20).summary(20, limit_s=0.1) == ClockLag(20, 0.05, 0.05, 0.05, 20, 0.1, False, 20)
    assert not LagMeter().summary(20).behind


def test_merged_meters_and_the_message_give_the_figures():
    meter = _meter([0.0] * 5)
    meter.extend(_meter([2.0] * 95))
    lag = meter.summary(20, limit_s=0.1)
    assert lag.samples == 100 and lag.p95_s == 2.0
    assert lag.message() == (
        "the run fell behind the scenario clock: wake-ups were 2.00 scenario s late at the 95th percentile "
        "(100 ms real, limit 0.1 s), so latencies are inflated and rate limits bite less than scheduled; "
        "rerun with --time-scale 10 or lower (now 20), or on a less busy machine"
    )
