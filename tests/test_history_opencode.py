"""History written by the real OpenCode CLI (1.18.33), imported back: the injected faults come out.

Four mock providers with known behaviour: ``limited`` answers every call 429 with a
``retry-after-ms: 100``; ``flaky`` answers its first call 500, then succeeds; ``down`` is
healthy, then fails every call with 503 (``retry-after-ms: 100``) during an outage window,
then is healthy again; ``steady`` answers OpenCode's title requests. Six ``opencode run``
invocations (one message each) write ``opencode.db`` and ``log/``; the import must recover
what the mocks did: the error classes, the Retry-After, OpenCode's backoff before its retry,
the outage window, token counts, the time to first token, and nothing of the text.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime

import pandas as pd
import pytest
from opencode_cli import CURRENT, STRICT, opencode_binary, run_prompt

from toolkit.combined_model import CombinedModel
from toolkit.fitting import fit_scenario
from toolkit.history import load_opencode_history
from toolkit.history_sample import write_opencode_history
from toolkit.mock_providers import Incoming, MockProviders, Reply
from toolkit.policy import preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate

pytestmark = pytest.mark.opencode

PROMPT = "zebra-quartz-71 say something"  # a marker that must never appear in the import
TTFT_S = 0.3
TOKENS_PER_S = 10.0
OUTPUT_TOKENS = 20  # the models' output limit, so every answer is this long


class Faults:
    """The injected behaviour (see the module docstring); ``outage`` is switched by the test."""

    def __init__(self) -> None:
        self.outage = False

    def __call__(self, request: Incoming) -> Reply:
        if request.provider == "limited":
            return Reply("rate_limit", retry_after_s=0.1)
        if request.provider == "down" and self.outage:
            return Reply("unavailable", retry_after_s=0.1)
        return Reply(ttft_s=TTFT_S, tokens_per_s=TOKENS_PER_S)


def _config(project, endpoints: dict[str, str]) -> None:
    """An opencode.json in ``project`` with one model ``m`` per mock provider; titles go to ``steady``."""
    limit = {"context": 100_000, "output": OUTPUT_TOKENS}
    config = {
        "$schema": "https://opencode.ai/config.json",
        "small_model": "steady/m",
        "provider": {
            p: {
                "npm": "@ai-sdk/openai-compatible",
                "name": p,
                "options": {"baseURL": url, "apiKey": "k-test"},
                "models": {"m": {"name": "m", "limit": limit}},
            }
            for p, url in endpoints.items()
        },
    }
    (project / "opencode.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Run the six prompts; return (data folder, mock request log, outage window as UTC datetimes)."""
    binary = opencode_binary(CURRENT)
    home = tmp_path_factory.mktemp("opencode-home")
    project = tmp_path_factory.mktemp("project")
    faults = Faults()
    providers = ["steady", "limited", "flaky", "down"]
    with MockProviders(
        providers, decider=faults, script={"flaky": [Reply("server_error")]}, models=("m",), api_key="k-test"
    ) as mocks:
        started = time.time() - mocks.now_s()  # the mocks' clock (t_s) on the wall clock
        _config(project, mocks.endpoints)

        def run(model: str) -> int:
            return run_prompt(binary, project, home, PROMPT, model).code

        codes = [run("down/m"), run("flaky/m"), run("limited/m")]
        faults.outage, outage_on = True, datetime.now(UTC)
        codes += [run("down/m"), run("down/m")]
        faults.outage, outage_off = False, datetime.now(UTC)
        codes.append(run("down/m"))
        requests = pd.DataFrame(mocks.requests)
        requests["arrived"] = pd.to_datetime(started + requests["t_s"], unit="s", utc=True)
    assert codes == [0, 0, 1, 1, 1, 0]
    return home / ".local" / "share" / "opencode", requests, (outage_on, outage_off)


@pytest.fixture(scope="module")
def history(written):
    return load_opencode_history(written[0])


def calls(history: pd.DataFrame, provider: str) -> pd.DataFrame:
    return history[history["provider"] == provider]


def test_one_final_call_per_message_with_its_session_and_agent(history):
    finals = history[history["decision"].isin(["done", "give_up"])]
    assert history.attrs["messages"] == 6 and history.attrs["skipped"] == 0
    assert len(finals) == 6 and finals["session_id"].nunique() == 6
    assert set(history["agent"]) == {"build"}
    assert list(finals["provider"]) == ["down", "flaky", "limited", "down", "down", "down"]
    assert "steady" not in set(history["provider"])  # title requests are not model turns


def test_rate_limited_provider_gives_rate_limits_and_its_retry_after(history, written):
    limited = calls(history, "limited")
    sent = (written[1]["provider"] == "limited").sum()
    assert sent == 6  # OpenCode's five retries
    assert 1 <= len(limited) <= sent  # retries lost when OpenCode exits before flushing its log
    assert set(limited["outcome"]) == {"rate_limit"}
    final = limited.iloc[-1]
    assert final["decision"] == "give_up" and final["status"] == 429
    assert final["retry_after_s"] == pytest.approx(0.1)  # retry-after-ms wins over the rounded retry-after


def test_plain_error_retried_with_backoff_comes_from_the_log(history):
    flaky = calls(history, "flaky")
    assert list(flaky["outcome"]) == ["server_error", "ok"]
    assert list(flaky["decision"]) == ["retry_same", "done"]
    assert list(flaky["attempt"]) == [1, 2]
    # OpenCode's first backoff: 2 s x (1 + 0.25 x random), plus its own scheduling
    assert 2.0 <= flaky["wait_s"].iloc[0] <= 3.5
    assert "server had an error" in flaky["error"].iloc[0]


def test_outage_window_is_where_the_failures_are(history, written):
    _, _, (on, off) = written
    down = calls(history, "down")
    failed = down[down["outcome"] != "ok"]
    assert set(failed["outcome"]) == {"overload"}  # 503 Service Unavailable
    assert failed["started_at"].min() >= on and failed["started_at"].max() <= off
    ok = down[down["outcome"] == "ok"]
    assert len(ok) == 2 and ((ok["started_at"] < on) | (ok["started_at"] > off)).all()
    assert set(failed.loc[failed["decision"] == "give_up", "retry_after_s"]) == {0.1}


def timed_calls(history: pd.DataFrame, written) -> pd.DataFrame:
    """Successful calls whose start OpenCode logged, with ``sent_s``: how long after its logged
    start the call reached the mock (OpenCode logs a call a little before sending it)."""
    served = written[1][written[1]["kind"] == "ok"]
    timed = history[(history["outcome"] == "ok") & history["ttft_s"].notna()].copy()
    timed["sent_s"] = [
        (
            served.loc[(served["provider"] == c.provider) & (served["arrived"] >= c.started_at), "arrived"].min()
            - c.started_at
        ).total_seconds()
        for c in timed.itertuples()
    ]
    return timed


def test_tokens_and_time_to_first_token_match_what_the_mocks_sent(history, written):
    ok = history[history["outcome"] == "ok"]
    assert (ok["output_tokens"] == OUTPUT_TOKENS).all()
    served = written[1][written[1]["kind"] == "ok"]
    assert set(ok["input_tokens"]) <= set(served["input_tokens"])
    timed = timed_calls(history, written)
    assert len(timed) >= 1
    # never less than the injected TTFT after the call was sent; the rest is OpenCode's own work
    # before it records the first part (a worktree snapshot at the step start: seconds on a busy machine)
    provider_side = TTFT_S + timed["sent_s"]
    assert (timed["ttft_s"] >= provider_side - 0.01).all(), timed[["ttft_s", "sent_s"]]
    assert (timed["ttft_s"] <= provider_side + 6.0).all(), timed[["ttft_s", "sent_s"]]


def test_streaming_speed_matches_the_mocks_pace(history, written):
    timed = timed_calls(history, written)
    prompt = timed[timed["ttft_s"] <= TTFT_S + timed["sent_s"] + 0.5]  # OpenCode recorded the first part promptly
    if prompt.empty:
        pytest.skip("the machine is too busy: OpenCode recorded no first part within 0.5 s of the first token")
    # the mock paces 20 tokens over 1.9 s at least; OpenCode's end-of-answer work only slows it, and
    # a first part recorded late (``late``) takes that long off the streaming time the history sees
    speed = prompt["output_tokens"] / (prompt["latency_s"] - prompt["ttft_s"])
    late = prompt["ttft_s"] - TTFT_S - prompt["sent_s"]
    fastest = OUTPUT_TOKENS / ((OUTPUT_TOKENS - 1) / TOKENS_PER_S - late)
    assert (speed >= TOKENS_PER_S * 0.4).all() and (speed <= fastest * 1.02).all(), (speed, fastest)


def test_no_prompt_or_answer_text_is_imported(history):
    text = " ".join(" ".join(map(str, history[c].astype(str).unique())) for c in history.columns)
    assert "zebra-quartz" not in text and "w0 w1" not in text


def _layout(database) -> dict:
    """Columns of the tables the import reads, and the JSON keys of assistant messages by outcome."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = {
            t: [row[1:6] for row in connection.execute(f"PRAGMA table_info({t})")]
            for t in ("session", "message", "part")
        }
        keys = {}
        for (data,) in connection.execute("SELECT data FROM message"):
            message = json.loads(data)
            if message["role"] == "assistant":
                error = message.get("error")
                kind = "error" if error else "ok"
                keys[kind] = sorted(message) + (sorted(error["data"]) if error else [])
    finally:
        connection.close()
    return {"tables": tables, "keys": keys}


def test_the_sample_writer_matches_what_opencode_writes(written, tmp_path):
    model = CombinedModel.of(["a"], cost_input=3.0, cost_output=15.0, context_limit=200_000)
    log = simulate(model, preset("opencode-native"), Scenario.load("busy-team-rate-limit"), 200, seed=2)
    assert {"done", "give_up", "retry_same"} <= set(log["decision"])
    sample = write_opencode_history(log, tmp_path / "sample")
    assert _layout(sample / "opencode.db") == _layout(written[0] / "opencode.db")


def test_a_scenario_fitted_to_it_carries_the_injected_faults(history):
    providers = fit_scenario(history, "from-opencode").data["providers"]
    assert providers["limited"]["errors"]["rate_limit"] == 1.0
    assert providers["limited"]["retry_after_s"] == pytest.approx(0.1)  # read from the headers OpenCode kept
    assert "rate_limit" not in providers["limited"]  # six 429s cannot show a load pattern: not called a bucket
    assert providers["flaky"]["errors"]["server_error"] == 0.5
    down = calls(history, "down")
    assert providers["down"]["errors"]["overload"] == pytest.approx((down["outcome"] == "overload").mean(), abs=1e-6)


def test_the_older_pinned_release_writes_a_history_the_import_reads(tmp_path):
    """1.18.15 (the strict-config release the export tests pin) keeps the same tables and log lines."""
    binary = opencode_binary(STRICT)
    with MockProviders(
        ["steady", "flaky"],
        decider=Faults(),
        script={"flaky": [Reply("server_error")]},
        models=("m",),
        api_key="k-test",
    ) as mocks:
        _config(tmp_path, mocks.endpoints)
        assert run_prompt(binary, tmp_path, tmp_path / "home", PROMPT, "flaky/m").code == 0
    history = load_opencode_history(tmp_path / "home" / ".local" / "share" / "opencode")
    assert history.attrs["skipped"] == 0
    assert list(history["outcome"]) == ["server_error", "ok"]
    assert list(history["decision"]) == ["retry_same", "done"]
    assert history["output_tokens"].iloc[-1] == OUTPUT_TOKENS
