"""Write an attempt log as an OpenCode data folder (``opencode.db`` and ``log/``), for samples and tests.

The inverse of :func:`toolkit.history.load_opencode_history`: every request becomes a user
message and an assistant message holding its final call (tokens, cost and a ``step-start``
part at the first token, or the ``error`` object with status, ``retry-after-ms`` header and
message), and every earlier attempt a ``message=stream`` / ``message="stream error"`` pair in
``log/opencode.log`` (error texts: what a provider sends for that outcome class, :data:`MESSAGES`),
with the tables, columns and JSON shapes OpenCode 1.18.33 writes
(checked against a database the real CLI wrote, in ``tests/test_history_opencode.py``). Message
text is a fixed placeholder. Use it to try the import on a simulated history, to benchmark it,
or to ship a sample; it never touches a real OpenCode folder unless told to write there.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from toolkit.errors import UserError
from toolkit.vocabulary import Outcome

# The three tables the import reads, as OpenCode 1.18.33 creates them (other tables omitted).
SCHEMA = """
CREATE TABLE `session` (
  `id` text PRIMARY KEY, `project_id` text NOT NULL, `workspace_id` text, `parent_id` text, `slug` text NOT NULL,
  `directory` text NOT NULL, `path` text, `title` text NOT NULL, `version` text NOT NULL, `share_url` text,
  `summary_additions` integer, `summary_deletions` integer, `summary_files` integer, `summary_diffs` text,
  `metadata` text, `cost` real DEFAULT 0 NOT NULL, `tokens_input` integer DEFAULT 0 NOT NULL,
  `tokens_output` integer DEFAULT 0 NOT NULL, `tokens_reasoning` integer DEFAULT 0 NOT NULL,
  `tokens_cache_read` integer DEFAULT 0 NOT NULL, `tokens_cache_write` integer DEFAULT 0 NOT NULL, `revert` text,
  `permission` text, `agent` text, `model` text, `time_created` integer NOT NULL, `time_updated` integer NOT NULL,
  `time_compacting` integer, `time_archived` integer);
CREATE TABLE `message` (
  `id` text PRIMARY KEY, `session_id` text NOT NULL, `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL, `data` text NOT NULL,
  CONSTRAINT `fk_message_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`)
    ON DELETE CASCADE);
CREATE TABLE `part` (
  `id` text PRIMARY KEY, `message_id` text NOT NULL, `session_id` text NOT NULL, `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL, `data` text NOT NULL,
  CONSTRAINT `fk_part_message_id_message_id_fk` FOREIGN KEY (`message_id`) REFERENCES `message`(`id`)
    ON DELETE CASCADE);
CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`);
CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`);
CREATE INDEX `part_session_idx` ON `part` (`session_id`);
"""
VERSION = "1.18.33"
PLACEHOLDER = "(sample text)"  # stands in for every prompt and answer
# What a provider says, per outcome class: OpenCode's log keeps only this message, so a sample's
# log lines carry the texts real providers send (those the mock providers send too).
MESSAGES: dict[Outcome, str] = {
    "rate_limit": "Rate limit reached for requests per min. Please try again later.",
    "overload": "The server is overloaded. Please try again later.",
    "server_error": "The server had an error while processing your request. Sorry about that!",
    "timeout": "The operation timed out.",
    "connection": "Cannot connect to API: The socket connection was closed unexpectedly.",
    "auth": "Incorrect API key provided.",
    "client_error": "Invalid request: 'messages' is malformed.",
    "context_length": "This model's maximum context length is 200000 tokens.",
    "protocol_error": "Invalid JSON response",
    "cancelled": "The operation was aborted.",
}


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def create_database(path: str | os.PathLike) -> sqlite3.Connection:
    """A new, empty ``opencode.db`` with OpenCode 1.18.33's session, message and part tables."""
    path = Path(path)
    if path.exists():
        raise UserError(f"{path} exists already: write a sample history into an empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    return connection


def _messages(row, model: str, first_ms: float, t0: float, t1: float, agent: str, parts: list) -> list[tuple]:
    """The user message and the assistant message of one request whose final call is ``row``
    (started ``t0``, ended ``t1``); appends the assistant's parts to ``parts``."""
    request, session, provider = int(row.request_id), str(row.session_id), str(row.provider)
    user_id, message_id = f"msg_{request:012d}u", f"msg_{request:012d}a"
    user = {
        "role": "user",
        "time": {"created": first_ms - 1},
        "agent": agent,
        "model": {"providerID": provider, "modelID": model},
    }
    data: dict = {
        "parentID": user_id,
        "role": "assistant",
        "mode": agent,
        "agent": agent,
        "path": {"cwd": "/sample", "root": "/"},
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "modelID": model,
        "providerID": provider,
        "time": {"created": first_ms, "completed": t1},
    }
    if row.outcome == "ok":
        data["tokens"].update(
            input=int(row.input_tokens),
            output=int(row.output_tokens),
            total=int(row.input_tokens) + int(row.output_tokens),
        )
        data.update(cost=float(row.cost_usd), finish="stop")
        first_token = t0 + (row.ttft_s if math.isfinite(row.ttft_s) else 0.0) * 1000
        parts.append(
            (f"prt_{request:012d}s", message_id, session, first_token, first_token, json.dumps({"type": "step-start"}))
        )
        parts.append(
            (
                f"prt_{request:012d}t",
                message_id,
                session,
                first_token,
                t1,
                json.dumps({"type": "text", "text": PLACEHOLDER, "time": {"start": first_token}}),
            )
        )
    else:
        headers = {"content-type": "application/json"}
        if math.isfinite(row.retry_after_s):
            headers["retry-after-ms"] = str(round(row.retry_after_s * 1000))
        data["error"] = {
            "name": "APIError",
            "data": {
                "message": MESSAGES[row.outcome],
                "statusCode": None if pd.isna(row.status) else int(row.status),
                "isRetryable": row.outcome in ("rate_limit", "overload", "server_error"),
                "responseHeaders": headers,
                "responseBody": json.dumps({"error": {"message": MESSAGES[row.outcome]}}),
                "metadata": {"url": f"https://{provider}.invalid/v1/chat/completions"},
            },
        }
    return [
        (user_id, session, first_ms - 1, first_ms - 1, json.dumps(user)),
        (message_id, session, first_ms, t1, json.dumps(data)),
    ]


def write_opencode_history(
    log: pd.DataFrame, folder: str | os.PathLike, start: datetime | None = None, agent: str = "build"
) -> Path:
    """Write ``log`` (an attempt log; its ``session_id`` column, when present, groups requests into
    sessions, else each request is a session) as an OpenCode data folder; returns the folder.

    Times: ``t_start_s`` / ``t_end_s`` are seconds after ``start`` (default 2026-01-05 09:00 UTC).
    """
    folder = Path(folder)
    origin = (start or datetime(2026, 1, 5, 9, tzinfo=UTC)).timestamp() * 1000
    connection = create_database(folder / "opencode.db")
    sessions: dict[str, float] = {}
    messages: list[tuple] = []
    parts: list[tuple] = []
    lines: list[tuple[float, str]] = []
    log = log[log["attempt"] > 0].sort_values(["request_id", "attempt"], kind="stable")
    if "session_id" not in log:
        log = log.assign(session_id=[f"ses_{r:08d}" for r in log["request_id"]])
    records = list(log.itertuples(index=False))
    first_ms = origin
    for i, row in enumerate(records):
        t0, t1 = origin + row.t_start_s * 1000, origin + row.t_end_s * 1000
        if i == 0 or records[i - 1].request_id != row.request_id:
            first_ms = t0  # the message is created when its first call starts
        model = str(row.model_ref).split("/", 1)[-1]
        head = (
            f"providerID={row.provider} modelID={model} session.id={row.session_id} small=false agent={agent} "
            "mode=primary"
        )
        lines.append((t0, f"timestamp={_iso(t0)} level=INFO run=sample message=stream {head}"))
        if i + 1 < len(records) and records[i + 1].request_id == row.request_id:
            if row.outcome != "ok":  # a failed call followed by another: OpenCode logs it and retries
                error = json.dumps("AI_APICallError: " + MESSAGES[row.outcome])
                lines.append(
                    (
                        t1,
                        f'timestamp={_iso(t1)} level=ERROR run=sample message="stream error" {head} '
                        f"error.error={error}",
                    )
                )
            continue
        sessions.setdefault(str(row.session_id), first_ms)
        messages.extend(_messages(row, model, first_ms, t0, t1, agent, parts))
    connection.executemany(
        "INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated) "
        "VALUES (?, 'global', ?, '/sample', ?, ?, ?, ?)",
        [(s, s[-8:], PLACEHOLDER, VERSION, t, t) for s, t in sessions.items()],
    )
    connection.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)", messages)
    connection.executemany("INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)", parts)
    connection.commit()
    connection.close()
    (folder / "log").mkdir(exist_ok=True)
    lines.sort()
    (folder / "log" / "opencode.log").write_text("".join(line + "\n" for _, line in lines), encoding="utf-8")
    return folder
