"""Import the user's own OpenCode history as an attempt log: one row per provider call.

OpenCode (checked against 1.18.33) keeps every session in SQLite, ``opencode.db`` in its data
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
and the stream lines of the logs. Error texts pass through :func:`toolkit.attempt_log.redact`.

The database is opened read-only (SQLite URI ``mode=ro``) in one short read transaction, so
a running OpenCode is neither blocked nor changed. Rows of a shape this module does not know
(another OpenCode version) are skipped and counted in ``attrs["skipped"]``.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from toolkit.attempt_log import COLUMNS, DECISIONS, redact
from toolkit.classifier import OUTCOMES, classify, retry_after_s
from toolkit.errors import UserError

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
    "role": "role", "provider": "providerID", "model": "modelID", "agent": "agent", "created": "time.created",
    "completed": "time.completed", "tokens_input": "tokens.input", "tokens_output": "tokens.output",
    "tokens_reasoning": "tokens.reasoning", "cache_read": "tokens.cache.read", "cache_write": "tokens.cache.write",
    "cost": "cost", "error_name": "error.name", "status": "error.data.statusCode", "message": "error.data.message",
    "retry_after": 'error.data.responseHeaders."retry-after"',
    "retry_after_ms": 'error.data.responseHeaders."retry-after-ms"',
}  # fmt: skip
_REQUIRED_TABLES = {"message": {"id", "session_id", "time_created", "time_updated", "data"},
                    "part": {"message_id", "time_created"}}  # fmt: skip
_FINAL_ERROR_MATCH_S = 0.25  # a logged failure this close to a failed message's end is that final call
_LOG_LINE = re.compile(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)')
_STREAM_MARKERS = ("message=stream ", 'message="stream error"')
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
    now = now or datetime.now(timezone.utc)
    if isinstance(since, timedelta):
        return now - since
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    match = _SINCE.match(since)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(since.strip())
    except ValueError:
        raise UserError(f"--since {since!r}: give a span such as 7d, 12h, 30m, 2w or a date such as 2026-11-24")
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


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
        return UserError(f"{database} is locked by a program writing to it (a running OpenCode?): "
                         "try again in a moment, or import a copy of the file")  # fmt: skip
    if "not a database" in text or "malformed" in text or "disk image" in text:
        return UserError(f"{database} is not a readable SQLite database (corrupt or truncated): {text}")
    return UserError(f"cannot read {database}: {text}")


def _check_schema(connection: sqlite3.Connection, database: Path) -> None:
    for table, needed in _REQUIRED_TABLES.items():
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise UserError(f"{database} has no '{table}' table: not an OpenCode history this version reads "
                            "(OpenCode 1.18 keeps sessions in opencode.db)")  # fmt: skip
        missing = sorted(needed - have)
        if missing:
            raise UserError(f"{database}: table '{table}' lacks {', '.join(missing)}: "
                            "an OpenCode schema this version does not know")  # fmt: skip


def _read_messages(database: Path, since_ms: int) -> tuple[pd.DataFrame, int]:
    """Assistant messages (one row each, with the first part's time) and how many were skipped."""
    select = ", ".join(f"json_extract(m.data, '$.{path}')" for path in _FIELDS.values())
    query = (
        f"SELECT m.id, m.session_id, m.time_updated, {select}, "
        "(SELECT min(p.time_created) FROM part p WHERE p.message_id = m.id) "
        "FROM message m WHERE m.time_created >= ? AND json_valid(m.data)"
    )
    connection = _connect(database)
    try:
        _check_schema(connection, database)
        rows = connection.execute(query, (since_ms,)).fetchall()
        invalid = connection.execute(
            "SELECT count(*) FROM message WHERE time_created >= ? AND NOT json_valid(data)", (since_ms,)
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise _database_error(database, exc) from None
    finally:
        connection.close()
    frame = pd.DataFrame.from_records(rows, columns=["id", "session_id", "updated", *_FIELDS, "first_part"])
    frame = frame[frame["role"] == "assistant"]
    known = (
        frame["provider"].map(lambda v: isinstance(v, str))
        & frame["model"].map(lambda v: isinstance(v, str))
        & pd.to_numeric(frame["created"], errors="coerce").notna()
        & (pd.to_numeric(frame["completed"], errors="coerce").notna() | frame["error_name"].notna())
    )
    return frame[known].reset_index(drop=True), int(invalid + (~known).sum())


# -- the logs ----------------------------------------------------------------------------------------


def _read_logs(folder: Path, since_ms: int) -> dict[tuple[str, str, str], list[tuple[float, str]]]:
    """Stream starts and failures of main (not ``small``) calls, per (session, provider, model):
    time-sorted ``(epoch ms, "start" | error text)``."""
    events: dict[tuple[str, str, str], list[tuple[float, str]]] = defaultdict(list)
    if not folder.is_dir():
        return events
    for path in sorted(folder.glob("*.log")):
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not any(marker in line for marker in _STREAM_MARKERS):
                    continue
                fields = {k: v[1:-1].replace('\\"', '"') if v.startswith('"') else v
                          for k, v in _LOG_LINE.findall(line)}  # fmt: skip
                if fields.get("small") == "true" or "timestamp" not in fields:
                    continue
                try:
                    t = datetime.fromisoformat(fields["timestamp"].replace("Z", "+00:00")).timestamp() * 1000
                except ValueError:
                    continue
                key = (fields.get("session.id", ""), fields.get("providerID", ""), fields.get("modelID", ""))
                if t < since_ms - 60_000 or not all(key):
                    continue
                error = fields.get("error.error", "stream error") if fields["message"] == "stream error" else "start"
                events[key].append((t, error))
    for calls in events.values():
        calls.sort()
    return events


# -- rows ----------------------------------------------------------------------------------------------


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _count(value) -> int:
    """A token count from the JSON (0 when missing or not a number)."""
    number = _number(value)
    return 0 if math.isnan(number) else int(number)


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


def _calls(window: list[tuple[float, str]]) -> list[list]:
    """Logged calls of one message as ``[start_ms, end_ms, error]`` (NaN: not logged; error None: open)."""
    calls: list[list] = []
    for t, what in window:
        if what == "start":
            calls.append([t, math.nan, None])
        elif calls and calls[-1][2] is None and math.isnan(calls[-1][1]):
            calls[-1][1], calls[-1][2] = t, what
        else:  # a failure whose start line is missing
            calls.append([math.nan, t, what])
    return calls


def _attempts(messages: pd.DataFrame, events: dict) -> pd.DataFrame:
    """The attempt log of the messages, with the logged retried failures before each final call."""
    order = np.argsort(pd.to_numeric(messages["created"]).to_numpy(dtype=float), kind="stable")
    messages = messages.iloc[order].reset_index(drop=True)
    times = {key: np.array([t for t, _ in calls]) for key, calls in events.items()}
    rows: list[dict] = []
    for request_id, m in enumerate(messages.itertuples(index=False)):
        created = float(m.created)
        completed = _number(m.completed)
        end = completed if not math.isnan(completed) else float(m.updated)
        failed = isinstance(m.error_name, str)
        text = redact(str(m.message or m.error_name or "")) if failed else ""
        status = _number(m.status)
        headers = {k: str(v) for k, v in (("retry-after", m.retry_after), ("retry-after-ms", m.retry_after_ms))
                   if isinstance(v, (str, int, float)) and v == v}  # fmt: skip
        retry_after = retry_after_s(headers)
        key = (m.session_id, m.provider, m.model)
        calls: list[list] = []
        if key in times:
            lo, hi = np.searchsorted(times[key], [created - 1000, end + 1000])
            calls = _calls(events[key][lo:hi])
        final_start, start_known = created, bool(calls)  # unlogged: timed from the message's creation
        if calls and failed and calls[-1][2] is not None and abs(calls[-1][1] - end) <= _FINAL_ERROR_MATCH_S * 1000:
            final_start = calls.pop()[0]  # the final failed call was logged too: it is the database's row
        elif calls and calls[-1][2] is None:
            final_start = calls.pop()[0]
        elif calls:  # the final call's start line is missing: it began after the last logged failure ended
            final_start, start_known = calls[-1][1], False
        if math.isnan(final_start):
            final_start, start_known = created, False
        common = {"request_id": request_id, "provider": m.provider, "model_ref": f"{m.provider}/{m.model}",
                  "combined_id": m.model, "session_id": m.session_id, "agent": m.agent or ""}  # fmt: skip
        input_tokens = _count(m.tokens_input) + _count(m.cache_read) + _count(m.cache_write)
        for attempt, (t0, t1, error) in enumerate(calls, start=1):
            following = calls[attempt][0] if attempt < len(calls) else final_start if start_known else math.nan
            rows.append({**common, "attempt": attempt, "t_start": t1 if math.isnan(t0) else t0, "t_end": t1,
                         "ttft_s": math.nan, "outcome": _outcome(math.nan, error, None), "status": None,
                         "retry_after_s": math.nan, "decision": "retry_same",
                         "wait_s": (following - t1) / 1000, "input_tokens": input_tokens,
                         "output_tokens": 0, "cost_usd": 0.0, "error": redact(error)})  # fmt: skip
        first_part = _number(m.first_part)
        final = {"attempt": len(calls) + 1, "t_start": final_start, "t_end": end, "wait_s": 0.0,
                 "input_tokens": input_tokens, "retry_after_s": math.nan if retry_after is None else retry_after}  # fmt: skip
        if failed:
            final.update(ttft_s=math.nan, outcome=_outcome(status, text, m.error_name), decision="give_up",
                         status=None if math.isnan(status) else int(status), output_tokens=0, cost_usd=0.0,
                         error=text)  # fmt: skip
        else:
            known = start_known and first_part >= final_start
            final.update(ttft_s=(first_part - final_start) / 1000 if known else math.nan,
                         outcome="ok", decision="done", status=200, error="",
                         output_tokens=_count(m.tokens_output) + _count(m.tokens_reasoning),
                         cost_usd=0.0 if math.isnan(_number(m.cost)) else _number(m.cost))  # fmt: skip
        rows.append({**common, **final})
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a frame with the dtypes of :data:`HISTORY_COLUMNS`, time measured from the first call."""
    frame = pd.DataFrame(rows, columns=[c for c in HISTORY_COLUMNS if c not in ("run_id", "t_start_s", "t_end_s",
                                        "latency_s", "started_at")] + ["t_start", "t_end"])  # fmt: skip
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
