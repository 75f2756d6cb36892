"""The live runner over real loopback sockets: classification, Retry-After, resets, timeouts, keys."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import time

import pytest
from scaled_runs import keeping_up

from toolkit.combined_model import CombinedModel, Member
from toolkit.endpoints import Endpoint, local_endpoints, resolve_endpoint
from toolkit.errors import UserError
from toolkit.live import Timeouts, estimate_cost, read_log, run_live, run_live_async
from toolkit.mock_providers import Reply
from toolkit.policy import FailoverPolicy, preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate
from toolkit.vocabulary import INJECTABLE_CLASSES, OUTCOMES

ANTHROPIC, COMPATIBLE = "@ai-sdk/anthropic", "@ai-sdk/openai-compatible"
KEY = "sk-planted-live-key-7f3a9c2e51d04b68"


def _scenario(providers: dict | None = None, **fields) -> Scenario:
    data = {"name": "t", "arrivals": {"kind": "poisson", "rate_per_s": 50.0}, "providers": providers or {}}
    data["request"] = {"input_tokens": 20, "output_tokens": 8}
    return Scenario.from_dict({**data, **fields})


def _one_provider(**fields) -> FailoverPolicy:
    return FailoverPolicy(**{"min_providers": 1, "max_providers": 1, "max_attempts": 1, **fields})


def _mocked(mock, model: CombinedModel) -> dict[str, Endpoint]:
    return local_endpoints(
        mock.endpoints, {m.provider: "anthropic" if m.provider_npm == ANTHROPIC else "openai" for m in model.members}
    )


# --- endpoints --------------------------------------------------------------------------------


def test_config_base_url_and_env_key_win_over_the_catalog(monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    member = Member(
        "acme",
        "acme/m",
        provider_api="https://catalog.example/v1",
        provider_npm=COMPATIBLE,
        provider_env=("ACME_API_KEY",),
    )
    config = {"provider": {"acme": {"options": {"baseURL": "https://gateway.example/v1/", "apiKey": "{env:MY_KEY}"}}}}
    endpoint = resolve_endpoint(member, config)
    assert (endpoint.base_url, endpoint.protocol, endpoint.key_source) == (
        "https://gateway.example/v1",
        "openai",
        "env:MY_KEY",
    )
    assert endpoint.headers()["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(endpoint)


def test_catalog_env_and_sdk_default_url(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    endpoint = resolve_endpoint(
        Member("anthropic", "anthropic/c", provider_npm=ANTHROPIC, provider_env=("ANTHROPIC_API_KEY",))
    )
    assert (endpoint.url("c"), endpoint.key_source) == (
        "https://api.anthropic.com/v1/messages",
        "env:ANTHROPIC_API_KEY",
    )
    assert endpoint.headers()["x-api-key"] == KEY


def test_missing_key_names_the_variable_and_unknown_npm_is_refused():
    member = Member("acme", "acme/m", provider_api="https://x.example/v1", provider_env=("ACME_API_KEY",))
    with pytest.raises(UserError, match="no API key for provider 'acme': set ACME_API_KEY"):
        resolve_endpoint(member)
    with pytest.raises(UserError, match="'acme' cannot be reached: no adapter speaks @acme/sdk; point provider.acme"):
        resolve_endpoint(Member("acme", "acme/m", provider_npm="@acme/sdk"))


def test_literal_key_in_config_is_used_but_never_shown():
    member = Member("acme", "acme/m", provider_api="https://x.example/v1")
    endpoint = resolve_endpoint(member, {"provider": {"acme": {"options": {"apiKey": KEY}}}})
    assert endpoint.api_key == KEY and endpoint.key_source == "opencode.json options.apiKey"
    assert KEY not in repr(endpoint)


# --- each fault over a real socket is classified as the simulator would ---------------------------


@pytest.mark.parametrize("npm", [COMPATIBLE, ANTHROPIC])
@pytest.mark.parametrize("error_class", INJECTABLE_CLASSES)
def test_each_scenario_class_reaches_the_same_outcome_live_and_simulated(error_class, npm):
    model = CombinedModel.of(["a"], provider_npm=npm, context_limit=1000.0)
    scenario = _scenario({"rank:0": {"errors": {error_class: 1.0}, "error_latency_s": 0.01, "ttft_s": 0.01}})
    policy = _one_provider(attempt_timeout_s=0.3)
    live = run_live(model, policy, scenario, requests=1)
    simulated = simulate(model, policy, scenario, requests=1)
    assert live["outcome"].tolist() == simulated["outcome"].tolist() == [error_class]


@pytest.mark.parametrize("npm", [COMPATIBLE, ANTHROPIC])
@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply("quota"), "rate_limit"),
        (Reply("unavailable"), "overload"),
        (Reply("reset", reset_after_tokens=3), "connection"),
        (Reply("stream_error", reset_after_tokens=2), "overload"),
    ],
)
def test_faults_beyond_the_scenario_classes(mock_providers, reply, outcome, npm):
    model = CombinedModel.of(["a"], provider_npm=npm)
    mock = mock_providers(["a"], script={"a": [reply]})
    log = run_live(model, _one_provider(), _scenario(), requests=1, endpoints=_mocked(mock, model))
    assert log["outcome"].tolist() == [outcome]


# --- Retry-After, resets, timeouts ------------------------------------------------------------


def test_retry_after_is_never_violated_by_the_server_s_own_clock(mock_providers):
    model = CombinedModel.of(["a"])
    script = [Reply("rate_limit", retry_after_s=0.4), Reply("rate_limit", retry_after_s=0.25), Reply()]
    mock = mock_providers(["a"], script={"a": script})
    policy = _one_provider(max_attempts=3, backoff_base_s=0.001)
    log = run_live(model, policy, _scenario(), requests=1, endpoints=_mocked(mock, model))
    assert log["outcome"].tolist() == ["rate_limit", "rate_limit", "ok"]
    t = [r["t_s"] for r in mock.requests]
    assert t[1] - t[0] >= 0.4 and t[2] - t[1] >= 0.25
    assert log["retry_after_s"].tolist()[:2] == [0.4, 0.25]


def _early_calls(policy: FailoverPolicy, path) -> tuple[int, int]:
    """(429s sent, calls that reached the limited provider before its Retry-After expired) in
    busy-team-rate-limit, time-scaled, 32 requests in flight.

    The server's own log says which calls reached the provider and which Retry-After each
    429 carried; each call's ``x-request-id`` finds its attempt in the attempt log (same
    clock), so a call already on its way when the 429 arrived is told apart from one
    started after it: only the latter is early.
    """
    model = CombinedModel.of(["a", "b"])

    def run(time_scale: float):
        path.unlink(missing_ok=True)  # the mock appends: keep only the run that counts
        return run_live(
            model,
            policy,
            "busy-team-rate-limit",
            requests=150,
            concurrency=32,
            time_scale=time_scale,
            mock_log_path=path,
        )

    log = keeping_up(run, 20.0)
    attempts = log.set_index(["request_id", "attempt"])
    served = [json.loads(line) for line in path.read_text().splitlines()]
    for r in served:
        request_id, attempt = map(int, r["request_id"].split("-"))
        r["started"], r["received"] = attempts.loc[(request_id, attempt), ["t_start_s", "t_end_s"]]
    limited = [r for r in served if r["kind"] == "rate_limit"]
    early = sum(
        1
        for r429 in limited
        for r in served
        if r["provider"] == r429["provider"] and 0 <= r["started"] - r429["received"] < r429["retry_after_s"]
    )
    return len(limited), early


def test_retry_after_holds_under_a_busy_rate_limited_scenario(tmp_path):
    limited, early = _early_calls(FailoverPolicy(strategy="on_overload", max_attempts=4), tmp_path / "m.jsonl")
    assert limited > 5, f"the rate limit did not bite ({limited} 429s): the check has nothing to check"
    assert early == 0


def test_the_early_call_check_catches_a_policy_that_ignores_retry_after(tmp_path):
    policy = FailoverPolicy(strategy="on_overload", max_attempts=4, retry_after_mode="ignore", backoff_base_s=0.1)
    limited, early = _early_calls(policy, tmp_path / "m.jsonl")
    assert limited > 5, f"the rate limit did not bite ({limited} 429s): the check has nothing to check"
    assert early > 0


def test_reset_mid_stream_fails_over_without_duplicating_output(mock_providers):
    model = CombinedModel.of(["a", "b"])
    mock = mock_providers(["a", "b"], script={"a": [Reply("reset", reset_after_tokens=3, tokens_per_s=200)]})
    log = run_live(model, FailoverPolicy(max_attempts=1), _scenario(), requests=1, endpoints=_mocked(mock, model))
    assert list(zip(log["provider"], log["outcome"])) == [("a", "connection"), ("b", "ok")]
    assert log.attrs["answers"] == {0: "w0 w1 w2 w3 w4 w5 w6 w7 "}


@pytest.mark.parametrize(
    ("reply", "timeouts", "expected"),
    [
        (Reply("hang"), Timeouts(first_token_s=0.4), 0.4),  # no first token
        (Reply(tokens_per_s=4.0), Timeouts(total_s=0.5), 0.5),  # tokens flow, too slowly
    ],
)
def test_timeouts_fire_at_the_configured_point(mock_providers, reply, timeouts, expected):
    model = CombinedModel.of(["a"])
    mock = mock_providers(["a"], script={"a": [reply]})
    log = run_live(model, _one_provider(), _scenario(), requests=1, endpoints=_mocked(mock, model), timeouts=timeouts)
    assert log["outcome"].tolist() == ["timeout"]
    assert expected <= log["latency_s"].iloc[0] < expected + 0.25


def test_hedge_that_loses_is_cancelled_and_logged(mock_providers):
    model = CombinedModel.of(["a", "b"])
    mock = mock_providers(["a", "b"], script={"a": [Reply(ttft_s=1.0)]})
    policy = FailoverPolicy(hedge_after_s=0.1)
    log = run_live(model, policy, _scenario(), requests=1, endpoints=_mocked(mock, model))
    rows = sorted(zip(log["provider"], log["outcome"], log["decision"]))
    assert rows == [("a", "cancelled", "done"), ("b", "ok", "done")]


# --- the log -----------------------------------------------------------------------------------


def test_a_run_that_falls_behind_its_scenario_clock_says_so(caplog):
    model = CombinedModel.of(["a", "b"])
    with caplog.at_level(logging.WARNING, logger="toolkit.live"):
        kept_up = run_live(model, preset("seed-on-error"), "calm-day", requests=20, time_scale=10)
        # a limit of 0 s: any lateness at all counts as behind
        behind = run_live(model, preset("seed-on-error"), "calm-day", requests=20, time_scale=10, lag_limit_s=0)
    assert kept_up.attrs["clock_lag"]["samples"] >= 40  # 20 arrivals, 20 first tokens at least
    lag = behind.attrs["clock_lag"]
    assert lag["behind"] and lag["suggested_time_scale"] == 5.0
    assert [r.getMessage() for r in caplog.records if "fell behind" in r.getMessage()][-1].endswith(
        "rerun with --time-scale 5 or lower (now 10), or on a less busy machine"
    )


def test_attempt_log_json_lines_match_the_frame(tmp_path):
    path = tmp_path / "attempts.jsonl"
    model = CombinedModel.of(["a", "b"], cost_input=3.0, cost_output=15.0)
    scenario = _scenario({"rank:0": {"errors": {"server_error": 0.5}, "error_latency_s": 0.01, "ttft_s": 0.01}})
    log = run_live(model, FailoverPolicy(max_attempts=1), scenario, requests=12, log_path=path, run_id="r1")
    back = read_log(path, "r1")
    assert len(path.read_text().splitlines()) == len(log) == len(back)
    columns = ["request_id", "attempt", "provider", "outcome", "decision", "input_tokens", "output_tokens"]
    key = ["request_id", "attempt"]
    assert back[columns].sort_values(key).astype(str).values.tolist() == (
        log[columns].sort_values(key).astype(str).values.tolist()
    )
    ok = log[log["outcome"] == "ok"]
    assert ok["cost_usd"].tolist() == pytest.approx((ok["input_tokens"] * 3 + ok["output_tokens"] * 15) / 1e6)
    assert set(log["outcome"].cat.categories) == set(OUTCOMES)


def test_estimate_cost_uses_the_priciest_member():
    members = [
        Member("a", "a/m", cost_input=1.0, cost_output=2.0),
        Member("b", "b/m", cost_input=3.0, cost_output=15.0),
    ]
    assert estimate_cost(members, _scenario(), 100) == pytest.approx(100 * (20 * 3 + 8 * 15) / 1e6)


# --- security and the command -------------------------------------------------------------------


def _real_config(tmp_path, mock) -> str:
    config = {
        "provider": {
            name: {
                "npm": COMPATIBLE if name == "mock-a" else ANTHROPIC,
                "name": name,
                "options": {"baseURL": url, "apiKey": "{env:PLANTED_KEY}"},
                "models": {
                    "claude-sonnet-4-5": {"name": "Claude Sonnet 4.5", "limit": {"context": 200000, "output": 64000}}
                },
            }
            for name, url in mock.endpoints.items()
        }
    }
    path = tmp_path / "opencode.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_planted_key_never_appears_in_any_output(tmp_path, cli, mock_providers, monkeypatch, caplog):
    monkeypatch.setenv("PLANTED_KEY", KEY)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # ignored: requests go to the endpoints only
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    echo = Reply("auth", message=f"Incorrect API key provided: {KEY}. Bearer {KEY}")  # a provider echoing the key
    mock = mock_providers(
        ["mock-a", "mock-b"],
        api_key=KEY,
        log_path=tmp_path / "mock.jsonl",
        script={"mock-a": [echo, Reply("server_error")]},
    )
    log_path = tmp_path / "attempts.jsonl"
    caplog.set_level(logging.DEBUG)
    result = cli(
        "live",
        "--real",
        "--yes",
        "--config",
        _real_config(tmp_path, mock),
        "--source",
        "bundled",
        "--combined",
        "claude-sonnet-4-5",
        "--providers",
        "mock-a,mock-b",
        "--priority",
        "mock-a,mock-b",
        "--requests",
        "4",
        "--log",
        str(log_path),
        "--input-tokens",
        "5",
        "--output-tokens",
        "3",
    )
    assert result.code == 0, result.err
    attempts = read_log(log_path)
    assert len(mock.requests) == len(attempts) and all(r["authorized"] for r in mock.requests)
    assert "auth" in attempts["outcome"].tolist()
    outputs = [
        result.out,
        result.err,
        log_path.read_text(),
        (tmp_path / "mock.jsonl").read_text(),
        caplog.text,
        attempts.to_csv(),
    ]
    assert all(KEY not in text for text in outputs)


def test_real_run_without_yes_asks_and_sends_nothing(tmp_path, cli, mock_providers, monkeypatch):
    monkeypatch.setenv("PLANTED_KEY", KEY)
    mock = mock_providers(["mock-a", "mock-b"])
    result = cli(
        "live",
        "--real",
        "--config",
        _real_config(tmp_path, mock),
        "--source",
        "bundled",
        "--combined",
        "claude-sonnet-4-5",
        "--providers",
        "mock-a,mock-b",
        "--requests",
        "3",
    )
    assert result.code == 2
    assert "estimated cost up to $" in result.err
    assert result.err.strip().endswith("error: real providers cost money: add --yes to send without a prompt")
    assert mock.requests == []


def test_live_command_on_mock_providers_prints_metrics(cli, tmp_path):
    result = cli(
        "live",
        "--combined",
        "claude-sonnet-4-5",
        "--source",
        "bundled",
        "--providers",
        "anthropic,openrouter",
        "--scenario",
        "calm-day",
        "--time-scale",
        "50",
        "--requests",
        "6",
        "--input-tokens",
        "10",
        "--output-tokens",
        "5",
        "--json",
    )
    assert result.code == 0, result.err
    metrics = json.loads(result.out)
    assert metrics["requests"] == 6 and 0 <= metrics["success_rate"] <= 1
    assert metrics["clock_lag_p95_s"] >= 0 and metrics["clock_behind"] == (metrics["clock_lag_p95_s"] > 0.1)


def test_key_from_a_file_reference(tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    member = Member("acme", "acme/m", provider_api="https://x.example/v1")
    endpoint = resolve_endpoint(member, {"provider": {"acme": {"options": {"apiKey": f"{{file:{key_file}}}"}}}})
    assert (endpoint.api_key, endpoint.key_source) == (KEY, f"file:{key_file}")


def test_an_interrupted_hedged_run_logs_every_attempt_the_providers_saw(tmp_path):
    # answers take about 1.3 s real and hedges start after 0.1 s: both attempts of many requests are in flight
    scenario = _scenario(
        {"default": {"ttft_s": {"dist": "constant", "value": 2.0}, "tokens_per_s": {"dist": "constant", "value": 10.0}}}
    )
    policy = FailoverPolicy(min_providers=1, max_attempts=2, hedge_after_s=0.2)
    log_path, mock_log = tmp_path / "attempts.jsonl", tmp_path / "mock.jsonl"

    async def interrupted() -> None:
        run = asyncio.create_task(
            run_live_async(
                CombinedModel.of(["a", "b"]),
                policy,
                scenario,
                requests=10_000,
                concurrency=16,
                time_scale=2.0,
                log_path=log_path,
                mock_log_path=mock_log,
                progress=False,
            )
        )
        while not log_path.exists() or len(log_path.read_text().splitlines()) < 10:
            await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(interrupted())
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line is whole JSON
    logged = {f"{r['request_id']}-{r['attempt']}" for r in rows}
    seen = {json.loads(line)["request_id"] for line in mock_log.read_text().splitlines()}
    assert seen <= logged  # every attempt a provider received is in the attempt log
    interrupted_rows = [r for r in rows if r["error"] == "run interrupted before the attempt ended"]
    assert len(interrupted_rows) >= 2 and {r["outcome"] for r in interrupted_rows} == {"cancelled"}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_keep_every_attempt_and_print_the_summary(tmp_path, signum, code):
    log_path = tmp_path / "attempts.jsonl"
    command = [
        sys.executable,
        "-m",
        "toolkit",
        "live",
        "--combined",
        "claude-sonnet-4-5",
        "--source",
        "bundled",
        "--providers",
        "anthropic,openrouter",
        "--scenario",
        "calm-day",
        "--requests",
        "100000",
        "--concurrency",
        "64",  # busy: many attempts in flight when the signal comes
        "--time-scale",
        "20",
        "--input-tokens",
        "10",
        "--output-tokens",
        "400",  # about 0.4 s per answer at x20: some 15 attempts in flight at any moment
        "--log",
        str(log_path),
        "--json",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log_path.exists() or len(log_path.read_text().splitlines()) < 20):
        time.sleep(0.1)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    rows = [json.loads(row) for row in log_path.read_text().splitlines()]  # every line is whole JSON
    assert proc.returncode == code, err
    *before, last = err.splitlines()  # before the signal: the line naming the model and its providers
    assert last == f"interrupted: summary of the {len(rows)} attempts in {log_path}" and len(before) == 1
    assert "Traceback" not in err and "closed file" not in err
    assert json.loads(out)["requests"] >= 1  # the metrics of what ran, as the only document on stdout
    # attempts in flight when the signal came are logged too, as cancelled: interrupted
    interrupted = [r for r in rows if r["error"] == "run interrupted before the attempt ended"]
    assert interrupted and {r["outcome"] for r in interrupted} == {"cancelled"}


def test_connect_timeout_fires_at_the_configured_point():
    # a loopback listener whose accept queue is full: the handshake never completes
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
    try:
        model = CombinedModel.of(["a"])
        endpoints = local_endpoints({"a": f"http://127.0.0.1:{server.getsockname()[1]}/v1"})
        log = run_live(
            model, _one_provider(), _scenario(), requests=1, endpoints=endpoints, timeouts=Timeouts(connect_s=0.3)
        )
    finally:
        for sock in [server, *fillers]:
            sock.close()
    assert (log["outcome"].tolist(), log["error"].tolist()) == (["timeout"], ["ConnectTimeout:"])
    assert 0.3 <= log["latency_s"].iloc[0] < 0.55
