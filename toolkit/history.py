"""Import the user's own OpenCode history as an attempt log: one row per provider call.

OpenCode (checked against 1.18.33 and 1.18.15) keeps every session in SQLite, ``opencode.db`` in its data
folder (``$XDG_DATA_HOME/opencode``, by default ``~/.local/share/opencode``). Each assistant
message there is one model turn and records only its *final* call: ``providerID``,
``modelID``, ``time.created`` / ``time.completed`` (epoch ms), ``tokens``, ``cost`` and, when
it failed, ``error.data`` with ``statusCode``, the response headers and message. The
``log/`` folder beside it has a ``message=stream`` line when a call starts and a
``message="stream error"`` line when one fails, so the calls OpenCode retried before the
final one are recovered from the logs where a message's time window holds them (OpenCode
prunes old log files, and a process that exits on an error may not flush its last lines).

What is read, and nothing more (privacy): the listed JSON fields of ``message.data``
(selected inside SQLite with ``json_extract``, so prompt and answer text never reach
Python), the creation time of each message's first ``part`` row (the first streamed event,
for the time to first token; the ``part`` data column, which holds the text, is never read)
and the stream lines of the logs. Error texts pass through :func:`toolkit.redaction.redact`, with
the keys in the folder's ``auth.json`` known, so one echoed in a log goes in any encoding.

The database is opened read-only (SQLite URI ``mode=ro``) in one short read transaction, so
a running OpenCode is neither blocked nor changed. Rows of a shape this module does not know
(another OpenCode version) are skipped and counted in ``attrs["skipped"]``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from toolkit.attempt_log import COLUMNS
from toolkit.classifier import classify, retry_after_s
from toolkit.errors import UserError
from toolkit.opencode_config import read_auth
from toolkit.redaction import redact
from toolkit.vocabulary import DECISIONS, OUTCOMES

RUN_ID = "opencode-history"
HISTORY_COLUMNS: dict[str, str] = {
    **COLUMNS,
    "session_id": "category",
    "agent": "category",
    "started_at": "datetime64[ms, UTC]",
}
"""The attempt-log columns, then what history adds: the OpenCode session, the agent that made
the call (``build``, ``plan``, a subagent...) and the call's start as a UTC timestamp."""

# The only message.data fields read (column name -> JSON path): never a prompt, an answer or a body.
_FIELDS = {
    "role": "role",
    "provider": "providerID",
    "model": "modelID",
    "agent": "agent",
    "created": "time.created",
    "completed": "time.completed",
    "tokens_input": "tokens.input",
    "tokens_output": "tokens.output",
    "tokens_reasoning": "tokens.reasoning",
    "cache_read": "tokens.cache.read",
    "cache_write": "tokens.cache.write",
    "cost": "cost",
    "error_name": "error.name",
    "status": "error.data.statusCode",
    "message": "error.data.message",
    "retry_after": 'error.data.responseHeaders."retry-after"',
    "retry_after_ms": 'error.data.responseHeaders."retry-after-ms"',
}
_REQUIRED_TABLES = {
    "message": {"id", "session_id", "time_created", "time_updated", "data"},
    "part": {"message_id", "time_created"},
}
_FINAL_ERROR_MATCH_S = 0.25  # a logged failure this close to a failed message's end is that final call
_LOG_LINE = re.compile(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)')
_TIMEOUT_TEXT = re.compile(r"timed? ?out|timeout|ETIMEDOUT", re.IGNORECASE)
_CONNECTION_TEXT = re.compile(r"cannot connect|socket|ECONN|fetch failed|network|connection", re.IGNORECASE)
_AUTH_TEXT = re.compile(r"api key|unauthori[sz]ed|authentication|forbidden", re.IGNORECASE)
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def default_data_dir() -> Path:
    """OpenCode's data folder: ``$XDG_DATA_HOME/opencode``, else ``~/.local/share/opencode``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opencode"


def parse_since(since: str | datetime | timedelta | None, now: datetime | None = None) -> datetime | None:
    """The earliest time to import: ``"7d"`` / ``"12h"`` / ``"30m"`` / ``"2w"`` before ``now``,
    an ISO date or time (UTC unless it says), a datetime, a timedelta, or None (everything)."""
    if since is None:
        return None
    now = now or datetime.now(UTC)
    if isinstance(since, timedelta):
        return now - since
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    match = _SINCE.match(since)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:  # a span past the year 1 (99999999999d) is no time at all
            raise UserError(f"--since {since!r} reaches before the year 1; give a shorter span or a date") from None
    try:
        when = datetime.fromisoformat(since.strip())
    except ValueError:
        message = f"--since {since!r}: give a span such as 7d, 12h, 30m, 2w or a date such as 2026-11-24"
        raise UserError(message) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_opencode_history(
    data_dir: str | os.PathLike | None = None, since: str | datetime | timedelta | None = None
) -> pd.DataFrame:
    """The provider calls recorded in an OpenCode data folder, as an attempt log.

    One row per call: the final call of every assistant message (from ``opencode.db``) and each
    failed call OpenCode retried before it (from ``log/*.log``, where matched). Columns are
    :data:`HISTORY_COLUMNS`; ``t_start_s`` counts seconds from the first imported call
    (``started_at`` holds the wall-clock time), ``request_id`` numbers messages in time order,
    ``decision`` is ``retry_same`` for a retried failure, ``done`` / ``give_up`` for a final call.
    ``attrs`` holds ``skipped`` (messages of an unknown shape or unfinished), ``messages`` and
    ``log_calls`` (retried failures found in the logs). Raises :class:`UserError` (one line) for a
    missing folder, a locked, corrupt or truncated database, or a schema it does not know.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    database = folder / "opencode.db"
    if not folder.is_dir():
        raise UserError(f"no OpenCode data folder at {folder}: give the folder holding opencode.db with --data-dir")
    if not database.is_file():
        raise UserError(f"no opencode.db in {folder}: is this OpenCode's data folder (1.18 or later)?")
    start = parse_since(since)
    since_ms = 0 if start is None else int(start.timestamp() * 1000)
    with contextlib.suppress(UserError):  # the keys OpenCode stores next to its logs: redacted if echoed there
        read_auth(folder / "auth.json")
    messages, skipped = _read_messages(database, since_ms)
    events = _read_logs(folder / "log", since_ms)
    log = _attempts(messages, events)
    log.attrs.update(skipped=skipped, messages=len(messages), log_calls=int((log["decision"] == "retry_same").sum()))
    return log


# -- the database --------------------------------------------------------------------------------


def _connect(database: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(database.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=2.0)
        connection.execute("PRAGMA query_only = 1")
    except sqlite3.Error as exc:
        raise _database_error(database, exc) from None
    return connection


def _database_error(database: Path, exc: sqlite3.Error) -> UserError:
    """One line for what went wrong with ``database``."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return UserError(
            f"{database} is locked by a program writing to it (a running OpenCode?): "
            "try again in a moment, or import a copy of the file"
        )
    if "not a database" in text or "malformed" in text or "disk image" in text:
        return UserError(f"{database} is not a readable SQLite database (corrupt or truncated): {text}")
    return UserError(f"cannot read {database}: {text}")


def _check_schema(connection: sqlite3.Connection, database: Path) -> None:
    for table, needed in _REQUIRED_TABLES.items():
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise UserError(
                f"{database} has no '{table}' table: not an OpenCode history this version reads "
                "(OpenCode 1.18 keeps sessions in opencode.db)"
            )
        missing = sorted(needed - have)
        if missing:
            raise UserError(
                f"{database}: table '{table}' lacks {', '.join(missing)}: an OpenCode schema this version does not know"
            )


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _fields(text: str | None) -> list:
    """The extracted fields of one message; a number beyond the float range (SQLite keeps
    ``1e400`` as written) is None, as is every field of a message nested past Python's limit."""
    if text is None:
        return [None] * len(_FIELDS)
    try:
        return json.loads(text, parse_float=_finite, parse_constant=lambda _: None)
    except RecursionError:
        return [None] * len(_FIELDS)


def _read_messages(database: Path, since_ms: int) -> tuple[pd.DataFrame, int]:
    """Assistant messages (one row each, with the first part's time) and how many were skipped.

    SQLite 3.40 parses a JSON text again for every ``json_extract`` call, so all fields come from
    one multi-path call (a JSON array, parsed once here); ``instr`` skips user messages unparsed.
    """
    paths = ", ".join(f"'$.{path}'" for path in _FIELDS.values())
    query = (
        "SELECT m.id, m.session_id, m.time_updated, "
        f"CASE WHEN json_valid(m.data) THEN json_extract(m.data, {paths}) END, "
        "(SELECT min(p.time_created) FROM part p WHERE p.message_id = m.id) "
        "FROM message m WHERE m.time_created >= ? AND instr(m.data, 'assistant') > 0"
    )
    connection = _connect(database)
    try:
        _check_schema(connection, database)
        rows = connection.execute(query, (since_ms,)).fetchall()
    except sqlite3.Error as exc:
        raise _database_error(database, exc) from None
    finally:
        connection.close()
    fields = [_fields(row[3]) for row in rows]
    frame = pd.DataFrame(fields, columns=list(_FIELDS), dtype=object)
    frame.insert(0, "id", [row[0] for row in rows])
    frame.insert(1, "session_id", [row[1] for row in rows])
    frame.insert(2, "updated", [row[2] for row in rows])
    frame["first_part"] = [row[4] for row in rows]
    invalid = int(frame["role"].isna().sum())  # not JSON, or no role at all
    frame = frame[frame["role"] == "assistant"]
    known = (
        frame["provider"].map(lambda v: isinstance(v, str))
        & frame["model"].map(lambda v: isinstance(v, str))
        & pd.to_numeric(frame["created"], errors="coerce").notna()
        & (pd.to_numeric(frame["completed"], errors="coerce").notna() | frame["error_name"].notna())
    )
    return frame[known].reset_index(drop=True), invalid + int((~known).sum())


# -- the logs ----------------------------------------------------------------------------------------


def _read_logs(folder: Path, since_ms: int) -> pd.DataFrame:
    """Stream starts and failures of main (not ``small``) calls: one row per log line with
    ``session_id``, ``provider``, ``model``, ``t`` (epoch ms) and ``error`` (None for a start)."""
    rows: list[tuple] = []
    for path in sorted(folder.glob("*.log")) if folder.is_dir() else ():
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if "message=stream " not in line and 'message="stream error"' not in line:
                    continue
                fields = dict(_LOG_LINE.findall(line))
                key = (fields.get("session.id"), fields.get("providerID"), fields.get("modelID"))
                if fields.get("small") == "true" or "timestamp" not in fields or not all(key):
                    continue
                error = fields.get("error.error", '"stream error"') if fields["message"] != "stream" else None
                text = None if error is None else error.strip('"').replace('\\"', '"')
                rows.append((*key, fields["timestamp"], text))
    events = pd.DataFrame(rows, columns=["session_id", "provider", "model", "t", "error"])
    stamps = pd.to_datetime(events["t"], utc=True, errors="coerce", format="ISO8601")
    events["t"] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds() * 1000
    return events[events["t"] >= since_ms - 60_000].dropna(subset=["t"])


# -- rows ----------------------------------------------------------------------------------------------


def _numbers(values: pd.Series, fill: float = math.nan) -> np.ndarray:
    """A JSON field as float64 (``fill`` where missing or not a number)."""
    return pd.to_numeric(values, errors="coerce").fillna(fill).to_numpy(dtype=float)


def _outcome(status: float, text: str, name: str | None) -> str:
    """The outcome class of a failed call from its status (NaN: none known), text and error name."""
    if name == "MessageAbortedError":
        return "cancelled"
    if name == "ProviderAuthError":
        return "auth"
    if not math.isnan(status):
        return classify(int(status), body=text)
    if _TIMEOUT_TEXT.search(text):
        return "timeout"
    if _CONNECTION_TEXT.search(text):
        return "connection"
    if _AUTH_TEXT.search(text):
        return "auth"
    return classify(500, body=text)  # no status: the class the text names, else a server error


def _logged_calls(messages: pd.DataFrame, end: np.ndarray, events: pd.DataFrame) -> pd.DataFrame:
    """The logged calls of each message: ``request`` (message row), ``t0`` / ``t1`` (epoch ms, NaN
    when that line is missing) and ``error`` (None: no failure line followed the start).

    A line belongs to the latest message of its session, provider and model created at most 1 s
    before it, if the line falls before that message's end (+1 s). A failure line right after a
    start line ends that call; a failure line after another failure is a call whose start line is
    missing."""
    keys = ["session_id", "provider", "model"]
    if len(events) == 0:
        return pd.DataFrame({"request": np.zeros(0, dtype=np.int64), "t0": [], "t1": [], "error": []})
    windows = (
        messages[keys]
        .astype(str)
        .assign(lo=_numbers(messages["created"]) - 1000, hi=end + 1000, request=np.arange(len(messages)))
    )
    events = events.astype({k: str for k in keys}).sort_values("t")
    matched = pd.merge_asof(
        events, windows.sort_values("lo"), left_on="t", right_on="lo", by=keys, direction="backward"
    )
    matched = matched[matched["t"] <= matched["hi"]].sort_values(["request", "t"], kind="stable")
    request = matched["request"].to_numpy(dtype=np.int64)
    t = matched["t"].to_numpy(dtype=float)
    error = matched["error"].to_numpy(dtype=object)
    failure = pd.notna(error)
    same_next = np.r_[request[1:] == request[:-1], False]
    ended = same_next & np.r_[failure[1:], False]  # a start whose next line is its failure
    orphan = failure & ~np.r_[False, ended[:-1]]  # a failure not ending a start
    starts, orphans = np.flatnonzero(~failure), np.flatnonzero(orphan)
    nxt = np.minimum(starts + 1, len(t) - 1)
    calls = pd.DataFrame(
        {
            "request": np.r_[request[starts], request[orphans]],
            "t0": np.r_[t[starts], np.full(len(orphans), np.nan)],
            "t1": np.r_[np.where(ended[starts], t[nxt], np.nan), t[orphans]],
            "error": np.r_[np.where(ended[starts], error[nxt], None), error[orphans]],
        }
    )
    calls["at"] = calls["t0"].fillna(calls["t1"])
    return calls.sort_values(["request", "at"], kind="stable").drop(columns="at").reset_index(drop=True)


def _attempts(messages: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The attempt log of the messages: the logged retried failures, then each final call."""
    messages = messages.iloc[np.argsort(_numbers(messages["created"]), kind="stable")].reset_index(drop=True)
    n = len(messages)
    created = _numbers(messages["created"])
    end = np.where(
        np.isnan(_numbers(messages["completed"])), _numbers(messages["updated"]), _numbers(messages["completed"])
    )
    failed = messages["error_name"].map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    calls = _logged_calls(messages, end, events)
    request = calls["request"].to_numpy(dtype=np.int64)
    t0, t1 = calls["t0"].to_numpy(dtype=float), calls["t1"].to_numpy(dtype=float)
    open_ = calls["error"].isna().to_numpy()
    last = np.r_[request[1:] != request[:-1], True] if len(calls) else np.zeros(0, dtype=bool)
    # The final call is the last logged one when it did not fail, or when its failure is the
    # message's own (logged at the message's end); otherwise the final call was not logged.
    final = last & (open_ | (failed[request] & (np.abs(t1 - end[request]) <= _FINAL_ERROR_MATCH_S * 1000)))
    final_start, known = created.copy(), np.zeros(n, dtype=bool)
    final_start[request[final]] = np.where(np.isnan(t0[final]), created[request[final]], t0[final])
    known[request[final]] = ~np.isnan(t0[final])
    unlogged = last & ~final
    final_start[request[unlogged]] = t1[unlogged]  # it began after the last logged failure ended
    failures = calls[~final & ~open_].reset_index(drop=True)  # an open call before another: its end is lost
    f_request = failures["request"].to_numpy(dtype=np.int64)
    f_next = np.r_[failures["t0"].to_numpy(dtype=float)[1:], np.nan]
    f_last = np.r_[f_request[1:] != f_request[:-1], True] if len(failures) else np.zeros(0, dtype=bool)
    f_next = np.where(f_last, np.where(known[f_request], final_start[f_request], np.nan), f_next)
    f_attempt = failures.groupby("request").cumcount().to_numpy() + 1
    texts = failures["error"].astype(str)
    outcome_of = {text: _outcome(math.nan, text, None) for text in texts.unique()}
    retried = {
        "request": f_request,
        "attempt": f_attempt,
        "t_start": failures["t0"].fillna(failures["t1"]).to_numpy(),
        "t_end": failures["t1"].to_numpy(),
        "ttft_s": np.full(len(failures), np.nan),
        "outcome": texts.map(outcome_of).to_numpy(),
        "status": np.full(len(failures), np.nan),
        "retry_after_s": np.full(len(failures), np.nan),
        "decision": "retry_same",
        "wait_s": (f_next - failures["t1"].to_numpy()) / 1000,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "error": texts.map({text: redact(text) for text in outcome_of}).to_numpy(),
    }
    first_part = _numbers(messages["first_part"])
    timed = known & ~failed & (first_part >= final_start)
    finals: dict[str, Any] = {
        "request": np.arange(n),
        "attempt": np.bincount(f_request, minlength=n) + 1,
        "t_start": final_start,
        "t_end": end,
        "ttft_s": np.where(timed, (first_part - final_start) / 1000, np.nan),
        "outcome": np.where(failed, "", "ok").astype(object),
        "status": np.where(failed, np.nan, 200.0),
        "retry_after_s": np.full(n, np.nan),
        "decision": np.where(failed, "give_up", "done"),
        "wait_s": 0.0,
        "output_tokens": np.where(
            failed, 0, _numbers(messages["tokens_output"], 0) + _numbers(messages["tokens_reasoning"], 0)
        ),
        "cost_usd": np.where(failed, 0.0, _numbers(messages["cost"], 0.0)),
        "error": np.full(n, "", dtype=object),
    }
    for i in np.flatnonzero(failed):  # failed final calls: few, each with its own status and headers
        m = messages.iloc[i]
        text = redact(str(m["message"] or m["error_name"]))
        status = float(pd.to_numeric(m["status"], errors="coerce"))
        names = (("retry-after", "retry_after"), ("retry-after-ms", "retry_after_ms"))
        headers = {
            k: str(m[field]) for k, field in names if isinstance(m[field], (str, int, float)) and m[field] == m[field]
        }
        retry_after = retry_after_s(headers)
        finals["outcome"][i] = _outcome(status, text, m["error_name"])
        finals["status"][i] = status
        finals["retry_after_s"][i] = np.nan if retry_after is None else retry_after
        finals["error"][i] = text
    frame = pd.concat([pd.DataFrame(retried), pd.DataFrame(finals)], ignore_index=True)
    shared = messages[["provider", "model", "session_id", "agent"]].iloc[frame["request"].to_numpy()]
    frame["request_id"] = frame.pop("request")
    frame["provider"] = shared["provider"].to_numpy()
    frame["combined_id"] = shared["model"].to_numpy()
    frame["model_ref"] = (shared["provider"] + "/" + shared["model"]).to_numpy()
    frame["session_id"] = shared["session_id"].to_numpy()
    frame["agent"] = shared["agent"].fillna("").to_numpy()
    input_tokens = np.sum([_numbers(messages[c], 0) for c in ("tokens_input", "cache_read", "cache_write")], axis=0)
    frame["input_tokens"] = input_tokens[frame["request_id"].to_numpy()]
    return _frame(frame)


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Calls (``t_start`` / ``t_end`` in epoch ms) with the columns and dtypes of :data:`HISTORY_COLUMNS`,
    time measured from the first call."""
    t_start = frame["t_start"].to_numpy(dtype=float)
    t_end = frame["t_end"].to_numpy(dtype=float)
    origin = float(np.nanmin(t_start)) if len(frame) else 0.0
    frame["run_id"] = RUN_ID
    frame["t_start_s"] = (t_start - origin) / 1000
    frame["t_end_s"] = (t_end - origin) / 1000
    frame["latency_s"] = (t_end - t_start) / 1000
    frame["started_at"] = pd.to_datetime(t_start, unit="ms", utc=True)
    frame = frame[list(HISTORY_COLUMNS)]
    fixed = {"outcome": list(OUTCOMES), "decision": list(DECISIONS)}
    for column, dtype in HISTORY_COLUMNS.items():
        if dtype == "category":
            frame[column] = pd.Categorical(frame[column].astype(str), categories=fixed.get(column))
        elif column != "started_at":
            frame[column] = frame[column].astype(dtype)
    frame["started_at"] = frame["started_at"].astype(HISTORY_COLUMNS["started_at"])
    return frame.sort_values(["t_start_s", "request_id", "attempt"], kind="stable").reset_index(drop=True)
