"""The simulator: closed forms, Retry-After as a property, determinism, deadlines, state sharing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.attempt_log import COLUMNS
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.policy import PRESETS, FailoverPolicy
from toolkit.scenario import Scenario, bundled_scenarios
from toolkit.simulator import simulate

MODEL = CombinedModel.of(["a", "b", "c"], cost_input=3.0, cost_output=15.0, context_limit=200_000)


def world(errors: dict, rate: float = 5.0, **default) -> Scenario:
    return Scenario.from_dict(
        {
            "name": "t",
            "arrivals": {"kind": "poisson", "rate_per_s": rate},
            "request": {"input_tokens": 1000, "output_tokens": 100},
            "providers": {
                "default": {"ttft_s": 0.5, "tokens_per_s": 100, "error_latency_s": 0.2, "errors": errors, **default}
            },
        }
    )


def per_request_calls(log: pd.DataFrame) -> pd.DataFrame:
    calls = log[log["attempt"] > 0]
    return calls.groupby("request_id").agg(n=("attempt", "size"), ok=("outcome", lambda s: (s == "ok").any()))


@pytest.mark.parametrize(("p", "k", "m"), [(0.5, 2, 2), (0.3, 3, 1), (0.6, 1, 3), (0.7, 3, 2)])
def test_success_and_attempts_match_the_closed_form(p, k, m):
    """Independent failure probability p per attempt, k providers, m attempts each:
    success = 1 - p^(km); attempts = min(Geometric(1 - p), km)."""
    n = 20_000
    policy = FailoverPolicy(min_providers=1, max_attempts=m, backoff_base_s=0.0)
    log = simulate(CombinedModel.of([f"p{i}" for i in range(k)]), policy, world({"server_error": p}), n, seed=11)
    calls = per_request_calls(log)
    assert len(calls) == n
    success = 1 - p ** (k * m)
    tolerance = 4 * math.sqrt(success * (1 - success) / n)  # 4 standard errors
    assert abs(calls["ok"].mean() - success) <= max(tolerance, 1e-12)
    sizes = np.arange(1, k * m + 1)
    probs = np.array([p ** (i - 1) * (1 - p) for i in sizes[:-1]] + [p ** (k * m - 1)])
    mean = float((sizes * probs).sum())
    sd = math.sqrt(float(((sizes - mean) ** 2 * probs).sum()))
    assert mean == pytest.approx((1 - p ** (k * m)) / (1 - p))
    assert abs(calls["n"].mean() - mean) <= 4 * sd / math.sqrt(n)


def test_the_log_has_the_contract_columns_and_dtypes():
    log = simulate(MODEL, PRESETS["resilient"], Scenario.load("calm-day"), 500, seed=1, run_id="r1")
    assert {c: str(t) for c, t in log.dtypes.items()} == COLUMNS
    assert log["run_id"].unique().tolist() == ["r1"]
    assert sorted(log["request_id"].unique()) == list(range(500))
    assert (log["latency_s"] == log["t_end_s"] - log["t_start_s"]).all()
    ok = log[log["outcome"] == "ok"]
    assert np.allclose(ok["cost_usd"], (ok["input_tokens"] * 3.0 + ok["output_tokens"] * 15.0) / 1e6)
    assert (log.loc[log["outcome"] != "ok", "cost_usd"] == 0).all()
    assert log["status"][log["outcome"] == "rate_limit"].eq(429).all()
    assert log["status"][log["outcome"] == "connection"].isna().all()


def test_a_million_request_log_fits_in_300_mb():
    log = simulate(MODEL, PRESETS["seed-on-error"], Scenario.load("busy-team-rate-limit"), 20_000, seed=3)
    rows_per_request = len(log) / 20_000
    bytes_per_row = log.memory_usage(deep=True).sum() / len(log)
    assert bytes_per_row * rows_per_request * 1_000_000 < 300e6


@pytest.mark.parametrize("scenario", bundled_scenarios())
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_scenario_runs_under_every_preset_deterministically(scenario, name):
    policy, world_ = PRESETS[name], Scenario.load(scenario)
    first = simulate(MODEL, policy, world_, 300, seed=5)
    pd.testing.assert_frame_equal(first, simulate(MODEL, policy, world_, 300, seed=5))
    assert not first[["t_start_s", "outcome"]].equals(
        simulate(MODEL, policy, world_, 300, seed=6)[["t_start_s", "outcome"]]
    )
    calls = first[first["attempt"] > 0]
    assert calls.groupby(["request_id", "provider"], observed=True).size().max() <= policy.max_attempts
    if policy.max_total_attempts is not None:
        assert calls.groupby("request_id").size().max() <= policy.max_total_attempts
    assert set(calls["provider"].astype(str)) <= {m.provider for m in policy.members(MODEL)}
    # attempts of a request are numbered 1, 2, ... in start order
    numbered = calls.sort_values(["request_id", "t_start_s", "attempt"])
    assert (numbered.groupby("request_id").cumcount() + 1 == numbered["attempt"]).all()


def test_retry_after_blocks_the_provider_for_every_request(rate_limited_log):
    violations = retry_after_violations(rate_limited_log)
    assert violations == 0
    assert rate_limited_log["retry_after_s"].notna().sum() > 50  # the check had something to check


@pytest.fixture(scope="module")
def rate_limited_log():
    policy = FailoverPolicy(max_attempts=3, backoff_base_s=0.1)
    return simulate(MODEL, policy, Scenario.load("busy-team-rate-limit"), 3000, seed=2)


def retry_after_violations(log: pd.DataFrame) -> int:
    """Attempts that started strictly inside a Retry-After window announced by the same provider."""
    count = 0
    calls = log[log["attempt"] > 0]
    for _, rows in calls.groupby("provider", observed=True):
        starts = np.sort(rows["t_start_s"].to_numpy())
        blocked = rows[rows["retry_after_s"].notna()]
        lo = np.searchsorted(starts, blocked["t_end_s"].to_numpy() + 1e-9, side="left")
        hi = np.searchsorted(starts, (blocked["t_end_s"] + blocked["retry_after_s"]).to_numpy() - 1e-9, side="left")
        count += int(np.maximum(hi - lo, 0).sum())
    return count


def test_the_violation_check_catches_a_policy_that_ignores_retry_after(rate_limited_log):
    ignoring = FailoverPolicy(max_attempts=3, backoff_base_s=0.1, retry_after_mode="ignore")
    log = simulate(MODEL, ignoring, Scenario.load("busy-team-rate-limit"), 3000, seed=2)
    assert retry_after_violations(log) > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rpm=st.floats(5, 200),
    tpm=st.one_of(st.none(), st.floats(20_000, 2_000_000)),
    injected=st.floats(0, 0.5),
    retry_after=st.one_of(st.none(), st.floats(0.1, 30)),
    rate=st.floats(0.5, 20),
    strategy=st.sampled_from(["on_error", "on_rate_limit", "on_overload"]),
    max_attempts=st.integers(1, 5),
    switch_first=st.booleans(),
    cooldown=st.floats(0, 10),
    breaker=st.one_of(st.none(), st.integers(1, 5)),
    hedge=st.one_of(st.none(), st.floats(0.5, 5)),
    deadline=st.one_of(st.none(), st.floats(5, 120)),
    max_wait=st.one_of(st.none(), st.floats(0, 20)),
    seed=st.integers(0, 2**16),
)
def test_retry_after_is_never_violated(
    rpm,
    tpm,
    injected,
    retry_after,
    rate,
    strategy,
    max_attempts,
    switch_first,
    cooldown,
    breaker,
    hedge,
    deadline,
    max_wait,
    seed,
):
    limits = {"requests_per_minute": rpm} | ({"tokens_per_minute": tpm} if tpm else {})
    scenario = Scenario.from_dict(
        {
            "name": "prop",
            "arrivals": {"kind": "poisson", "rate_per_s": rate},
            "providers": {
                "default": {
                    "errors": {"rate_limit": injected / 2, "overload": injected / 2},
                    "retry_after_s": retry_after,
                    "rate_limit": limits,
                },
            },
        }
    )
    policy = FailoverPolicy(
        strategy=strategy,
        max_attempts=max_attempts,
        switch_first=switch_first,
        cooldown_s=cooldown,
        breaker_failures=breaker,
        hedge_after_s=hedge,
        deadline_s=deadline,
        max_retry_after_s=max_wait,
        backoff_base_s=0.2,
    )
    log = simulate(MODEL, policy, scenario, 300, seed=seed)
    assert retry_after_violations(log) == 0


def test_deadline_is_honoured_end_to_end():
    policy = FailoverPolicy(max_attempts=5, deadline_s=20.0, attempt_timeout_s=15.0)
    log = simulate(MODEL, policy, Scenario.load("long-tail-latency"), 2000, seed=4)
    t0 = log.groupby("request_id")["t_start_s"].transform("min")
    assert (log["t_end_s"] - t0).max() <= 20.0 + 1e-9
    assert (log["t_end_s"] - t0).max() > 19.0  # some requests do run into the deadline
    assert log.loc[log["t_end_s"] - t0 >= 20.0 - 1e-9, "outcome"].eq("timeout").all()


def test_attempt_timeout_cuts_a_slow_first_token():
    scenario = world({}, ttft_s=50.0)
    log = simulate(
        CombinedModel.of(["a"]),
        FailoverPolicy(min_providers=1, max_attempts=2, attempt_timeout_s=10.0, backoff_base_s=0.0),
        scenario,
        50,
    )
    assert log["outcome"].eq("timeout").all()
    assert np.allclose(log["latency_s"], 10.0)
    assert (log.groupby("request_id").size() == 2).all()


def test_rate_limit_buckets_admit_no_more_than_capacity_plus_refill():
    scenario = world({}, rate=5.0, rate_limit={"requests_per_minute": 30})
    policy = FailoverPolicy(min_providers=1, max_attempts=1)
    log = simulate(CombinedModel.of(["a"]), policy, scenario, 1000, seed=8)
    admitted = log[log["outcome"] != "rate_limit"]
    horizon = log["t_start_s"].max()
    assert len(admitted) <= 30 + 30 * horizon / 60 + 1
    assert len(admitted) >= 30 * horizon / 60  # the limit is the bottleneck, so it is used up
    assert log.loc[log["outcome"] == "rate_limit", "retry_after_s"].gt(0).all()


def test_one_requests_retries_hurt_anothers():
    """Shared buckets: more retries by everybody means more 429s for first attempts too."""
    scenario = world({}, rate=3.0, rate_limit={"requests_per_minute": 120})
    model = CombinedModel.of(["a"])
    first_429 = []
    for attempts in (1, 6):
        policy = FailoverPolicy(min_providers=1, max_attempts=attempts, backoff_base_s=0.0, retry_after_mode="ignore")
        log = simulate(model, policy, scenario, 3000, seed=9)
        first = log[log["attempt"] == 1]
        first_429.append((first["outcome"] == "rate_limit").mean())
    assert first_429[1] > first_429[0] + 0.05


def test_context_failover_reaches_the_larger_window():
    model = CombinedModel(
        "m",
        (
            *CombinedModel.of(["small"], context_limit=4000).members,
            *CombinedModel.of(["large"], context_limit=1_000_000).members,
        ),
    )
    big = Scenario.from_dict({**world({}).to_dict(), "request": {"input_tokens": 8000, "output_tokens": 100}})
    order = ("small", "large")
    log = simulate(model, FailoverPolicy(provider_priority=order, context_failover=True), big, 200)
    assert per_request_calls(log)["ok"].all()
    assert log.loc[log["attempt"] == 1, "outcome"].eq("context_length").all()
    plain = simulate(model, FailoverPolicy(provider_priority=order), big, 200)
    assert not per_request_calls(plain)["ok"].any()
    assert len(plain) == 200  # no retry of a context error


def test_hedging_cancels_the_loser():
    policy = FailoverPolicy(hedge_after_s=3.0)
    log = simulate(MODEL, policy, Scenario.load("long-tail-latency"), 2000, seed=12)
    cancelled = log[log["outcome"] == "cancelled"]
    assert len(cancelled) > 20
    for _, rows in log[log["request_id"].isin(cancelled["request_id"])].groupby("request_id"):
        ok = rows[rows["outcome"] == "ok"]
        assert len(ok) == 1
        assert (rows.loc[rows["outcome"] == "cancelled", "t_end_s"] == ok["t_end_s"].iloc[0]).all()
        assert rows["provider"].nunique() == 2
    assert cancelled["decision"].eq("done").all()


def test_closed_loop_sessions_never_exceed_the_session_count():
    log = simulate(MODEL, PRESETS["seed-on-error"], Scenario.load("provider-outage"), 2000, seed=3)
    spans = log.groupby("request_id").agg(t0=("t_start_s", "min"), t1=("t_end_s", "max"))
    events = sorted([(t, 1) for t in spans["t0"]] + [(t, -1) for t in spans["t1"]], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 30
    assert peak >= 20


def test_breaker_routes_first_attempts_around_an_outage():
    log = simulate(MODEL, PRESETS["resilient"], Scenario.load("provider-outage"), 4000, seed=1)
    first = log[(log["attempt"] == 1) & log["t_start_s"].between(200, 700)]
    plain = simulate(MODEL, PRESETS["seed-on-error"], Scenario.load("provider-outage"), 4000, seed=1)
    first_plain = plain[(plain["attempt"] == 1) & plain["t_start_s"].between(200, 700)]
    assert (first["provider"] == "a").mean() < 0.1
    assert (first_plain["provider"] == "a").mean() == 1.0


def test_fit_reproduces_a_log():
    log = simulate(MODEL, PRESETS["seed-on-error"], Scenario.load("calm-day"), 5000, seed=2)
    fitted = Scenario.fit(log, name="calm-again")
    arrivals = fitted.to_dict()["arrivals"]
    assert arrivals["kind"] == "poisson"
    assert arrivals["rate_per_s"] == pytest.approx(2.0, rel=0.05)
    a = fitted.resolve(["a"])[0].profile
    assert a.ttft_s.kind == "lognormal"
    assert a.ttft_s.a == pytest.approx(0.9, rel=0.05)
    assert a.ttft_s.b == pytest.approx(0.35, rel=0.1)
    assert a.error_probability == pytest.approx(0.0095, abs=0.004)
    replay = simulate(MODEL, PRESETS["seed-on-error"], fitted, 1000, seed=3)
    assert per_request_calls(replay)["ok"].mean() > 0.99


def test_requests_must_be_positive():
    with pytest.raises(UserError, match="requests must be a whole number >= 1, got 0"):
        simulate(MODEL, PRESETS["resilient"], Scenario.load("calm-day"), 0)


CLI_MODEL = [
    "--combined",
    "claude-sonnet-4-5",
    "--source",
    "bundled",
    "--providers",
    "anthropic,openrouter,amazon-bedrock",
]


def test_cli_prints_metrics_and_writes_the_log(cli, tmp_path):
    path = tmp_path / "log.csv"
    result = cli(
        "simulate",
        "--scenario",
        "busy-team-rate-limit",
        *CLI_MODEL,
        "--priority",
        "openrouter",
        "--preset",
        "resilient",
        "--requests",
        "400",
        "--seed",
        "3",
        "--log",
        str(path),
    )
    assert result.code == 0, result.err
    assert "claude-sonnet-4-5 via openrouter, anthropic, amazon-bedrock" in result.out  # then the stated order
    assert "policy resilient+provider_priority=openrouter" in result.out
    assert "success_rate" in result.out and "share_openrouter" in result.out
    log = pd.read_csv(path)
    assert list(log.columns) == list(COLUMNS)
    assert log["request_id"].nunique() == 400
    assert f"wrote {len(log)} attempts to {path}" in result.out


def test_cli_flags_override_the_preset_and_json_is_machine_readable(cli):
    import json

    result = cli(
        "simulate",
        "--scenario",
        "calm-day",
        *CLI_MODEL,
        "--strategy",
        "on_overload",
        "--max-attempts",
        "2",
        "--requests",
        "200",
        "--json",
    )
    assert result.code == 0, result.err
    metrics = json.loads(result.out)
    assert metrics["run_id"] == "seed-on-error+strategy=on_overload max_attempts=2|calm-day|0"
    assert metrics["requests"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "calm-dya"], "error: no scenario file 'calm-dya'"),
        (["--scenario", "calm-day", "--preset", "resilent"], "error: unknown preset 'resilent'"),
        (
            ["--scenario", "calm-day", "--requests", "0"],
            "combined-models simulate: error: argument --requests: expected a whole number from 1 to",
        ),
        (
            ["--scenario", "calm-day", "--max-attempts", "0"],
            "combined-models simulate: error: argument --max-attempts: expected a whole number from 1 to 100, not '0'",
        ),
    ],
)
def test_cli_user_errors_are_one_line(cli, args, message):
    result = cli("simulate", *args, *CLI_MODEL)
    assert result.code == 2
    assert result.err.startswith(message)
    assert "Traceback" not in result.err


def _outage_log(cli, tmp_path, *flags: str, stderr: str = "") -> pd.DataFrame:
    path = tmp_path / f"log{len(flags)}.csv"
    result = cli(
        "simulate", "--scenario", "provider-outage", *CLI_MODEL, *flags, "--requests", "600", "--log", str(path)
    )
    assert result.code == 0, result.err
    assert stderr in result.err
    return pd.read_csv(path)


def _connection_failures(log: pd.DataFrame) -> dict[str, int]:
    return log[log["outcome"] == "connection"].groupby("provider").size().to_dict()


def test_cli_rank_picks_whom_the_incident_hits_and_priority_the_try_order(cli, tmp_path):
    """--priority alone moves openrouter first in both senses; with --rank anthropic the outage
    stays on anthropic while openrouter is still tried first."""
    both = _outage_log(cli, tmp_path, "--priority", "openrouter")
    split = _outage_log(
        cli,
        tmp_path,
        "--priority",
        "openrouter",
        "--rank",
        "anthropic",
        stderr="rank: anthropic > openrouter > amazon-bedrock (a scenario's rank:0 is anthropic)\n",
    )
    for log in (both, split):
        assert set(log.loc[log["attempt"] == 1, "provider"]) == {"openrouter"}
    assert set(_connection_failures(both)) == {"openrouter"}
    assert _connection_failures(both)["openrouter"] > 50  # the outage hit the provider tried first
    # anthropic, down now, is only reached after an error on openrouter: few calls, if any
    assert set(_connection_failures(split)) <= {"anthropic"}


def test_cli_rank_alone_is_also_the_try_order_and_unknown_names_are_one_line(cli, tmp_path):
    log = _outage_log(cli, tmp_path, "--rank", "amazon-bedrock")
    assert set(log.loc[log["attempt"] == 1, "provider"]) == {"amazon-bedrock"}
    assert set(_connection_failures(log)) == {"amazon-bedrock"}
    result = cli("simulate", "--scenario", "calm-day", *CLI_MODEL, "--rank", "azure")
    assert result.code == 2
    assert result.err.strip().splitlines()[-1] == (
        "error: --rank names 'azure', which is not among the providers tried (anthropic, amazon-bedrock, openrouter)"
    )
