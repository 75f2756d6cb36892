"""Fitting a scenario to an attempt log: known parameters come back, and the fit replays the log.

The round trip: a scenario with a rate-limited provider (a 60 requests/minute bucket, random
server errors and overloads with a 2 s Retry-After) and a second provider with a 200 s outage
is simulated, fitted, and each parameter must fall inside its 95 % confidence interval (or a
stated tolerance for the estimators without one); then the fitted scenario, simulated again,
must give the same metrics as the true one within the margins the live-agreement test uses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from toolkit.attempt_log import COLUMNS
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.fitting import change_points, fit_scenario, rate_limit_fit
from toolkit.metrics import Z95, summarize, wilson
from toolkit.policy import preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate

MODEL = CombinedModel.of(["a", "b"], cost_input=3.0, cost_output=15.0, context_limit=200_000)
POLICY = preset("seed-on-error")
TRUTH = Scenario.from_dict(
    {
        "name": "truth",
        "arrivals": {"kind": "poisson", "rate_per_s": 1.5},
        "request": {
            "input_tokens": {"dist": "lognormal", "median": 4000, "sigma": 0.6},
            "output_tokens": {"dist": "lognormal", "median": 300, "sigma": 0.5},
        },
        "providers": {
            "a": {
                "ttft_s": {"dist": "lognormal", "median": 0.8, "sigma": 0.4},
                "errors": {"server_error": 0.05, "overload": 0.03},
                "retry_after_s": 2.0,
                "rate_limit": {"requests_per_minute": 60},
            },
            "b": {
                "ttft_s": {"dist": "lognormal", "median": 1.5, "sigma": 0.3},
                "tokens_per_s": {"dist": "lognormal", "median": 40, "sigma": 0.2},
                "errors": {"server_error": 0.02},
            },
        },
        "incidents": [{"provider": "b", "kind": "outage", "start_s": 300, "end_s": 500}],
    }
)
# metric -> (absolute margin, relative margin), as in tests/test_agreement.py
MARGINS = {
    "success_rate": (0.02, 0.0),
    "attempts_mean": (0.05, 0.0),
    "latency_p50_s": (0.0, 0.10),
    "latency_p95_s": (0.0, 0.10),
}


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate(MODEL, POLICY, TRUTH, 3000, seed=1)


@pytest.fixture(scope="module")
def fitted(log) -> Scenario:
    return fit_scenario(log, "fitted")


def admitted(log: pd.DataFrame, provider: str, incident: tuple[float, float] | None = None) -> pd.DataFrame:
    """A provider's calls the bucket let through, outside the incident window."""
    rows = log[(log["provider"] == provider) & (log["attempt"] > 0) & (log["outcome"] != "rate_limit")]
    if incident:
        rows = rows[~rows["t_start_s"].between(*incident)]
    return rows


def test_error_shares_are_inside_their_confidence_intervals(log, fitted):
    a = fitted.data["providers"]["a"]["errors"]
    calls = admitted(log, "a")
    for error, truth in (("server_error", 0.05), ("overload", 0.03)):
        low, high = wilson(a[error] * len(calls), len(calls))
        assert low <= truth <= high, (error, a[error], low, high)
    assert a["rate_limit"] == 0.0  # every 429 came from the bucket


def test_rate_limit_bucket_and_retry_after_are_recovered(fitted):
    a = fitted.data["providers"]["a"]
    assert a["rate_limit"]["requests_per_minute"] == pytest.approx(60, rel=0.1)
    assert a["retry_after_s"] == 2.0
    assert "rate_limit" not in fitted.data["providers"]["b"]


def test_outage_window_is_recovered(fitted):
    (incident,) = fitted.data["incidents"]
    assert incident["provider"] == "b" and incident["kind"] == "outage"
    assert incident["start_s"] == pytest.approx(300, abs=5)  # calls reach b about one per second
    assert incident["end_s"] == pytest.approx(500, abs=15)


def test_latency_distributions_are_inside_their_confidence_intervals(log, fitted):
    for provider, truth in (("a", 0.8), ("b", 1.5)):
        ok = admitted(log, provider)
        logs = np.log(ok.loc[ok["outcome"] == "ok", "ttft_s"].to_numpy())
        half = Z95 * logs.std(ddof=1) / math.sqrt(len(logs))
        fit = fitted.data["providers"][provider]["ttft_s"]
        assert math.exp(math.log(fit["median"]) - half) <= truth <= math.exp(math.log(fit["median"]) + half)
    assert fitted.data["providers"]["b"]["tokens_per_s"]["median"] == pytest.approx(40, rel=0.02)
    assert fitted.data["arrivals"] == {"kind": "poisson", "rate_per_s": pytest.approx(1.5, rel=0.05)}


def test_the_fitted_scenario_replays_the_metrics_within_the_agreement_margins(fitted):
    seeds = range(10)
    truth = pd.concat([summarize(simulate(MODEL, POLICY, TRUTH, 2000, seed=s)) for s in seeds])
    replay = pd.concat([summarize(simulate(MODEL, POLICY, fitted, 2000, seed=s)) for s in seeds])
    for metric, (absolute, relative) in MARGINS.items():
        mean, sd = truth[metric].mean(), truth[metric].std(ddof=1)
        assert abs(replay[metric].mean() - mean) <= absolute + relative * abs(mean) + 5 * sd, metric


def test_random_429s_are_not_taken_for_a_bucket():
    scenario = Scenario.from_dict(
        {
            "name": "random",
            "arrivals": {"kind": "poisson", "rate_per_s": 2.0},
            "providers": {"default": {"errors": {"rate_limit": 0.2}, "retry_after_s": 1.0}},
        }
    )
    log = simulate(CombinedModel.of(["a"]), preset("opencode-native"), scenario, 2000, seed=4)
    rows = log[log["attempt"] > 0].sort_values("t_start_s").reset_index(drop=True)
    assert rate_limit_fit(rows)[0] is None
    a = fit_scenario(log).data["providers"]["a"]
    assert "rate_limit" not in a and a["retry_after_s"] == 1.0
    n = len(rows)
    low, high = wilson(a["errors"]["rate_limit"] * n, n)
    assert low <= 0.2 <= high


def test_change_points_find_a_step_and_nothing_in_noise():
    rng = np.random.default_rng(0)
    step = np.concatenate([rng.random(400) < 0.05, rng.random(100) < 0.9, rng.random(400) < 0.05])
    assert change_points(step) == [pytest.approx(400, abs=3), pytest.approx(500, abs=3)]
    assert change_points(rng.random(900) < 0.1) == []


def test_sessions_and_think_times_come_from_the_gaps_in_a_session():
    """A log of 40 sessions, each request 2 s long, think times lognormal(median 20 s, sigma 0.5)."""
    rng = np.random.default_rng(3)
    rows = []
    for session in range(40):
        t = rng.lognormal(math.log(20), 0.5)
        for _ in range(30):
            rows.append({"session_id": f"s{session}", "t_start_s": t, "t_end_s": t + 2.0})
            t += 2.0 + rng.lognormal(math.log(20), 0.5)
    frame = pd.DataFrame(rows).sort_values("t_start_s", ignore_index=True)
    frame = frame.assign(
        request_id=range(len(frame)),
        attempt=1,
        provider="a",
        model_ref="a/m",
        outcome="ok",
        latency_s=2.0,
        ttft_s=0.5,
        input_tokens=1000,
        output_tokens=100,
        retry_after_s=np.nan,
        status=200,
        cost_usd=0.0,
    )
    arrivals = fit_scenario(frame).data["arrivals"]
    think = arrivals["think_time_s"]
    half = Z95 * 0.5 / math.sqrt(40 * 29)
    assert math.exp(math.log(think["median"]) - half) <= 20 <= math.exp(math.log(think["median"]) + half)
    assert think["sigma"] == pytest.approx(0.5, rel=0.1)
    assert arrivals["kind"] == "sessions" and arrivals["sessions"] == pytest.approx(40, rel=0.1)


def test_fit_needs_rows():
    with pytest.raises(UserError, match="empty attempt log"):
        fit_scenario(pd.DataFrame(columns=list(COLUMNS)))
