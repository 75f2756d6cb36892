"""History import on written databases: round trip, unknown shapes, bad input, since, overview."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.history import HISTORY_COLUMNS, load_opencode_history, parse_since
from toolkit.history_overview import period_overview, provider_overview
from toolkit.history_sample import create_database, write_opencode_history
from toolkit.metrics import summarize
from toolkit.policy import preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
MODEL = CombinedModel.of(["a"], cost_input=3.0, cost_output=15.0, context_limit=200_000)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """OpenCode's own retry behaviour (one provider, Retry-After honoured) in an overload storm."""
    return simulate(MODEL, preset("opencode-native"), Scenario.load("overload-storm"), 300, seed=1)


@pytest.fixture
def folder(tmp_path, simulated):
    return write_opencode_history(simulated, tmp_path / "opencode", START)


def test_round_trip_through_opencode_files_keeps_every_call_and_metric(folder, simulated):
    history = load_opencode_history(folder)
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert len(history) == len(simulated) and history.attrs["skipped"] == 0
    assert history.attrs["log_calls"] == int((simulated["decision"] == "retry_same").sum()) > 0
    assert history["outcome"].value_counts().to_dict() == simulated["outcome"].value_counts().to_dict()
    ours, theirs = summarize(history).iloc[0], summarize(simulated).iloc[0]
    for metric in ("requests", "success_rate", "attempts_mean", "cost_total_usd"):
        assert ours[metric] == pytest.approx(theirs[metric])
    for metric in ("latency_p50_s", "latency_p95_s", "ttft_p50_s"):
        assert ours[metric] == pytest.approx(theirs[metric], abs=0.002)  # the logs keep milliseconds
    first = pd.Timestamp(START) + pd.Timedelta(seconds=simulated["t_start_s"].min())
    assert abs(history["started_at"].min() - first) < pd.Timedelta(milliseconds=1)
    assert set(history["agent"]) == {"build"}


def test_unknown_shapes_are_skipped_and_counted(folder):
    connection = sqlite3.connect(folder / "opencode.db")
    rows = [
        ("m1", "s", 1, 1, '{"role": "assistant", "providerID": "a", '),  # cut short
        ("m2", "s", 2, 2, json.dumps({"role": "assistant", "time": {}})),
        (
            "m3",
            "s",
            3,
            3,
            json.dumps({"role": "assistant", "providerID": 7, "modelID": "x", "time": {"created": 3, "completed": 4}}),
        ),
    ]
    connection.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    history = load_opencode_history(folder)
    assert history.attrs["skipped"] == 3 and history.attrs["messages"] == 300


def test_since_keeps_the_recent_calls(folder, simulated):
    cut = START + timedelta(seconds=float(simulated["t_start_s"].median()))
    history = load_opencode_history(folder, since=cut)
    assert 0 < history.attrs["messages"] < 300
    assert (history.groupby("request_id")["started_at"].min() >= cut - timedelta(seconds=1)).all()


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_since_spans(text, delta):
    assert parse_since(text, now=START) == START - delta


def test_since_dates_and_mistakes():
    assert parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(UserError, match="give a span such as 7d"):
        parse_since("last week")


def test_error_text_is_redacted_and_retry_after_read_from_headers(tmp_path):
    log = simulate(MODEL, preset("opencode-native"), Scenario.load("busy-team-rate-limit"), 200, seed=2)
    assert (log["decision"] == "give_up").any() and (log["decision"] == "retry_same").any()
    folder = write_opencode_history(log, tmp_path / "oc", START)
    leak = "leaked sk-abcdef1234567890 key"
    connection = sqlite3.connect(folder / "opencode.db")
    connection.execute(
        "UPDATE message SET data = json_set(data, '$.error.data.message', ?) "
        "WHERE json_extract(data, '$.error') IS NOT NULL",
        (leak,),
    )
    connection.commit()
    connection.close()
    lines = (folder / "log" / "opencode.log").read_text()
    (folder / "log" / "opencode.log").write_text(lines.replace("Rate limit reached", f"Rate limit ({leak}) reached"))
    history = load_opencode_history(folder)
    finals = history[history["decision"] == "give_up"]
    assert set(finals["error"]) == {"leaked [redacted] key"}
    assert finals["retry_after_s"].notna().all()
    retried = history[history["decision"] == "retry_same"]
    assert retried["error"].str.contains("Rate limit (leaked [redacted] key) reached", regex=False).any()
    assert not history["error"].astype(str).str.contains("sk-abc").any()


def test_keys_in_the_folders_auth_json_are_redacted_in_any_encoding(tmp_path):
    log = simulate(MODEL, preset("opencode-native"), Scenario.load("busy-team-rate-limit"), 200, seed=2)
    folder = write_opencode_history(log, tmp_path / "oc", START)
    key = "auth-json-planted/key+0123456789"
    (folder / "auth.json").write_text(json.dumps({"a": {"type": "api", "key": key}}))
    lines = (folder / "log" / "opencode.log").read_text()
    echoed = "rejected key " + key.upper().replace("/", "%2F").replace("+", "%2B")  # upper-cased, URL-encoded
    (folder / "log" / "opencode.log").write_text(lines.replace("Rate limit reached", echoed))
    errors = set(load_opencode_history(folder)["error"].astype(str))
    assert "AI_APICallError: rejected key [redacted] for requests per min. Please try again later." in errors
    assert not any("0123456789" in error for error in errors)


# -- bad input: one line each, nothing written ------------------------------------------------


def bad(cli, tmp_path, data_dir) -> str:
    out = tmp_path / "out.csv"
    result = cli("history", "--data-dir", str(data_dir), "--out", str(out))
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert not out.exists()
    return result.err


def test_missing_folder_and_missing_database(cli, tmp_path):
    assert "no OpenCode data folder" in bad(cli, tmp_path, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "no opencode.db in" in bad(cli, tmp_path, tmp_path / "empty")


def test_database_locked_by_a_writer(cli, tmp_path, folder):
    writer = sqlite3.connect(folder / "opencode.db", isolation_level=None)
    writer.execute("PRAGMA journal_mode = DELETE")  # a rollback journal: a writer's lock keeps readers out
    writer.execute("BEGIN EXCLUSIVE")
    try:
        assert "is locked by a program writing to it" in bad(cli, tmp_path, folder)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(load_opencode_history(folder)) > 0  # and it reads once the writer is done


def test_corrupt_and_truncated_databases(cli, tmp_path, folder):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "opencode.db").write_bytes(b"this is not SQLite at all\n" * 500)
    assert "not a readable SQLite database" in bad(cli, tmp_path, corrupt)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    data = (folder / "opencode.db").read_bytes()
    (truncated / "opencode.db").write_bytes(data[: len(data) // 2])
    assert "not a readable SQLite database" in bad(cli, tmp_path, truncated)


def test_unknown_schema(cli, tmp_path):
    other = tmp_path / "other"
    sqlite3.connect(other.mkdir() or other / "opencode.db").executescript("CREATE TABLE notes (x text);").close()
    assert "has no 'message' table" in bad(cli, tmp_path, other)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    sqlite3.connect(renamed / "opencode.db").executescript(
        "CREATE TABLE message (id text, session_id text, time_created integer, time_updated integer, body text);"
        "CREATE TABLE part (message_id text, time_created integer);"
    ).close()
    assert "table 'message' lacks data" in bad(cli, tmp_path, renamed)


def test_sample_writer_refuses_to_overwrite(tmp_path):
    create_database(tmp_path / "opencode.db").close()
    with pytest.raises(UserError, match="exists already"):
        create_database(tmp_path / "opencode.db")


# -- the command and the overview ----------------------------------------------------------------


def test_cli_writes_the_log_and_prints_the_overview(cli, tmp_path, folder):
    out = tmp_path / "calls.parquet"
    result = cli("history", "--data-dir", str(folder), "--out", str(out))
    assert result.code == 0, result.err
    assert result.err.startswith("300 messages, ")
    assert "overload_share" in result.out and "auth_share" not in result.out  # only the classes that happened
    assert len(pd.read_parquet(out)) == len(load_opencode_history(folder))


def test_overview_counts_and_shares(folder, simulated):
    table = provider_overview(load_opencode_history(folder))
    (row,) = table.to_dict("records")
    assert row["provider"] == "a" and row["calls"] == len(simulated) and row["requests"] == 300
    outcome = simulated["outcome"].astype(str)
    assert row["overload_share"] == pytest.approx((outcome == "overload").mean())
    assert row["error_share"] == pytest.approx((outcome != "ok").mean())
    assert row["retry_after_seen"] == simulated["retry_after_s"].notna().sum()
    ok = simulated[outcome == "ok"]
    assert row["ttft_p50_s"] == pytest.approx(ok["ttft_s"].median(), abs=0.002)
    assert row["cost_usd"] == pytest.approx(simulated["cost_usd"].sum())


def test_by_period_splits_by_hour(folder):
    history = load_opencode_history(folder)
    hours = period_overview(history, "h")
    assert hours["calls"].sum() == len(history)
    assert (hours["period"] == hours["period"].dt.floor("h")).all()
    assert len(period_overview(history, "D")) == history["started_at"].dt.floor("D").nunique()


def test_report_sweeps_a_scenario_fitted_to_the_history(cli, tmp_path, folder):
    out = tmp_path / "report"
    result = cli(
        "report",
        "--out",
        str(out),
        "--history",
        str(folder),
        "--max-providers",
        "2",
        "--seeds",
        "1",
        "--requests",
        "100",
        "--scenario",
        "calm-day",
        "--presets",
        "resilient",
        "--executor",
        "serial",
    )
    assert result.code == 0, result.err
    assert result.out.startswith("fitted a scenario to 300 messages")
    assert set(pd.read_csv(out / "sweep.csv")["scenario"]) == {"calm-day", "your-traffic"}
    assert Scenario.load(out / "your-traffic.json").name == "your-traffic"


def test_report_with_an_unreadable_history_writes_nothing(cli, tmp_path):
    out = tmp_path / "report"
    result = cli("report", "--out", str(out), "--history", str(tmp_path / "nowhere"))
    assert result.code == 2 and result.err.startswith("error: no OpenCode data folder at ")
    assert not out.exists()


def test_charts_draw_the_tables(folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.plotting import plot_calls_by_period, plot_error_shares

    history = load_opencode_history(folder)
    table = provider_overview(history)
    ax = plot_error_shares(table)
    widths = sum(p.get_width() for p in ax.patches)
    assert widths == pytest.approx(len(table))  # each bar's shares add up to one
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == set(history["outcome"].astype(str)) == {"ok", "overload"}
    periods = period_overview(history, "h")
    ax = plot_calls_by_period(periods)
    filled = [p for p in ax.patches if p.get_fill()]
    assert sum(p.get_height() for p in filled) == len(history)
    hatched = [p for p in ax.patches if not p.get_fill()]
    assert sum(p.get_height() for p in hatched) == pytest.approx((history["outcome"] != "ok").sum())
    plt.close("all")


def test_without_logs_each_message_is_its_final_call_untimed(folder, simulated):
    shutil.rmtree(folder / "log")
    history = load_opencode_history(folder)
    assert len(history) == 300 and history.attrs["log_calls"] == 0
    assert (history["attempt"] == 1).all() and history["ttft_s"].isna().all()  # no logged start, no TTFT
    finals = simulated.sort_values("attempt").groupby("request_id").last()
    assert history["outcome"].value_counts().to_dict() == finals["outcome"].value_counts().to_dict()


def test_numbers_beyond_the_float_range_and_absurd_nesting_in_a_message_are_unknown(tmp_path):
    connection = sqlite3.connect(tmp_path / "opencode.db")
    connection.executescript(
        "CREATE TABLE message (id text, session_id text, time_created integer, time_updated integer, data text);"
        "CREATE TABLE part (message_id text, time_created integer);"
    )
    message = (
        '{"role": "assistant", "providerID": "anthropic", "modelID": "m", "time": {"created": 1000, '
        '"completed": 3000}, "tokens": {"input": 1e400, "output": 5}, "cost": 1e400}'
    )
    deep = message.replace('"cost": 1e400', '"cost": ' + "[" * 990 + "]" * 990)
    connection.executemany(
        "INSERT INTO message VALUES (?, 's', 1000, 3000, ?)", [("1", message), ("2", deep.replace('"m"', '"n"'))]
    )
    connection.commit()
    connection.close()
    log = load_opencode_history(tmp_path)
    assert log.attrs["messages"] + log.attrs["skipped"] == 2
    first = log[log["model_ref"] == "anthropic/m"].iloc[0]
    assert first["cost_usd"] == 0.0 and first["output_tokens"] == 5  # the out-of-range cost is unknown, never inf
    assert not log.select_dtypes("number").isin([float("inf"), float("-inf")]).any().any()
