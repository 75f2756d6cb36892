"""The live command's outcome report: counts and top error texts always, a failing exit when nothing succeeded."""

from __future__ import annotations

import json
import socket

KEY = "sk-live-cli-planted-0123456789abcdef"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_where_every_request_fails_exits_1_and_says_why(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PLANTED_KEY", KEY)
    url = f"http://127.0.0.1:{_closed_port()}/v1"  # as good as no network: every connection is refused
    model = {"claude-sonnet-4-5": {"name": "Claude Sonnet 4.5", "limit": {"context": 200000, "output": 64000}}}
    config = tmp_path / "opencode.json"
    config.write_text(
        json.dumps(
            {
                "provider": {
                    name: {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": name,
                        "models": model,
                        "options": {"baseURL": url, "apiKey": "{env:PLANTED_KEY}"},
                    }
                    for name in ("down-a", "down-b")
                }
            }
        )
    )
    result = cli(
        "live",
        "--real",
        "--yes",
        "--config",
        str(config),
        "--source",
        "bundled",
        "--combined",
        "claude-sonnet-4-5",
        "--providers",
        "down-a,down-b",
        "--requests",
        "3",
        "--input-tokens",
        "5",
        "--output-tokens",
        "3",
        "--connect-timeout",
        "2",
    )
    assert result.code == 1
    lines = result.out.splitlines()
    attempts = next(line for line in lines if line.startswith("attempts by outcome: "))
    assert attempts.startswith("attempts by outcome: connection ")
    assert lines[lines.index(attempts) + 1] == "most frequent errors:"
    assert "ConnectError" in lines[lines.index(attempts) + 2]
    assert result.err.rstrip().endswith("error: no request succeeded; the outcomes and errors above say why")
    assert KEY not in result.out + result.err


def test_successful_run_prints_the_breakdown_too(cli):
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
    assert json.loads(result.out)["requests"] == 6  # stdout stays one JSON document
    assert "attempts by outcome: ok " in result.err
