"""``combined-models gateway``: start-up checks, ``--check``, serving and a graceful shutdown,
with the real catalog snapshot and an opencode.json pointing at mock providers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from toolkit.live import read_log
from toolkit.mock_providers import Reply

KEY = "sk-planted-gateway-cli-key-5e2a91c7d3"
MODEL = "claude-sonnet-4-5"


def _config(tmp_path, mock, key_env: str | None = "PLANTED_KEY") -> str:
    """An opencode.json offering the bundled catalog's claude-sonnet-4-5 from each mock, one per protocol."""
    config = {
        "provider": {
            name: {
                "npm": "@ai-sdk/openai-compatible" if name == "mock-a" else "@ai-sdk/anthropic",
                "name": name,
                "options": {"baseURL": url, **({"apiKey": f"{{env:{key_env}}}"} if key_env else {})},
                "models": {MODEL: {"name": "Claude Sonnet 4.5", "limit": {"context": 200000, "output": 64000}}},
            }
            for name, url in mock.endpoints.items()
        }
    }
    path = tmp_path / "opencode.json"
    path.write_text(json.dumps(config))
    return str(path)


def _base(config: str, *extra: str) -> list[str]:
    return [
        "gateway",
        "--config",
        config,
        "--source",
        "bundled",
        "--providers",
        "mock-a,mock-b",
        "--combined",
        MODEL,
        "--priority",
        "mock-a,mock-b",
        *extra,
    ]


def test_check_says_which_members_are_reachable_and_why(cli, tmp_path, mock_providers, monkeypatch):
    monkeypatch.setenv("PLANTED_KEY", KEY)
    mock = mock_providers(["mock-a", "mock-b"])
    config = tmp_path / "opencode.json"
    data = json.loads(Path(_config(tmp_path, mock)).read_text())
    data["provider"]["mock-b"]["options"]["baseURL"] = "https://mock-b.example/v1"  # not local: needs its key
    data["provider"]["mock-b"]["options"]["apiKey"] = "{env:MISSING_KEY}"
    config.write_text(json.dumps(data))
    result = cli(*_base(str(config), "--check"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("policy in force (preset): seed-on-error")
    assert lines[1] == "would serve on http://127.0.0.1:4141/v1, no token"
    assert lines[2:] == [
        f"{MODEL}: 1 of 2 member(s) reachable",
        f"  mock-a: reachable - openai at {mock.endpoints['mock-a']}, key from env:PLANTED_KEY",
        "  mock-b: unreachable - no API key for provider 'mock-b': set MISSING_KEY",
    ]
    assert KEY not in result.out + result.err
    assert mock.requests == []  # --check calls nothing


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--host", "0.0.0.0"], "error: --host 0.0.0.0 is reachable from the network: set a token with --token-env"),
        (["--token-env", "NO_SUCH_TOKEN"], "error: --token-env NO_SUCH_TOKEN: that variable is not set"),
        (["--priority", "mock-x"], "error: unknown provider 'mock-x'"),
        (["--combined", "claude-sonet-4-5"], "error: no combined model 'claude-sonet-4-5' in the table"),
    ],
)
def test_start_up_mistakes_are_one_line_and_exit_2(cli, tmp_path, mock_providers, extra, message):
    mock = mock_providers(["mock-a", "mock-b"])
    result = cli(*_base(_config(tmp_path, mock, key_env=None), *extra))
    assert result.code == 2
    assert result.err.strip().startswith(message) and len(result.err.strip().splitlines()) == 1


def test_a_choice_naming_an_unknown_provider_is_refused(cli, tmp_path, mock_providers):
    mock = mock_providers(["mock-a", "mock-b"])
    choice = tmp_path / "choice.json"
    choice.write_text(json.dumps({"provider_priority": ["mock-a", "mock-zz"], "strategy": "on_error"}))
    result = cli(*_base(_config(tmp_path, mock, key_env=None), "--from", str(choice)))
    assert result.code == 2
    assert result.err.strip().startswith(f"error: unknown provider in {choice}: 'mock-zz'")


def test_no_reachable_member_is_one_line(cli, tmp_path, mock_providers):
    mock = mock_providers(["mock-a", "mock-b"])
    data = json.loads(Path(_config(tmp_path, mock)).read_text())
    for name in data["provider"]:
        data["provider"][name]["options"]["baseURL"] = f"https://{name}.example/v1"
    path = tmp_path / "remote.json"
    path.write_text(json.dumps(data))
    result = cli(*_base(str(path)))
    assert (result.code, result.err.strip()) == (
        2,
        "error: no combined model has a reachable member: nothing to serve (see --check)",
    )


def test_a_port_in_use_is_one_line(cli, tmp_path, mock_providers):
    mock = mock_providers(["mock-a", "mock-b"])
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = cli(*_base(_config(tmp_path, mock, key_env=None), "--port", str(port)))
    finally:
        taken.close()
    assert result.code == 2
    assert result.err.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (is another gateway running? try --port)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_lets_the_request_in_flight_finish_and_flushes_the_log(tmp_path, mock_providers):
    # b answers slowly (about 1 s of tokens) after a fails: SIGTERM arrives mid-answer
    mock = mock_providers(
        ["mock-a", "mock-b"], script={"mock-a": [Reply("server_error")], "mock-b": [Reply(tokens_per_s=8)]}
    )
    port, log_path = _free_port(), tmp_path / "gw.jsonl"
    env = {**os.environ, "PLANTED_KEY": KEY, "GW_TOKEN": "t0k3n"}
    command = [
        sys.executable,
        "-m",
        "toolkit",
        *_base(
            _config(tmp_path, mock),
            "--port",
            str(port),
            "--log",
            str(log_path),
            "--token-env",
            "GW_TOKEN",
            "--grace",
            "20",
            "--max-attempts",
            "1",
        ),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = proc.stdout.readline() + proc.stdout.readline() + proc.stdout.readline()
        assert f"serving 1 combined model(s) on http://127.0.0.1:{port}/v1 (token from $GW_TOKEN" in banner, (
            banner + proc.stderr.read()
        )
        body = {
            "model": f"combined/{MODEL}",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "stream": True,
        }
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        with httpx.stream("POST", url, json=body, headers={"authorization": "Bearer t0k3n"}, timeout=60) as response:
            chunks = response.iter_bytes()
            first = next(chunks)  # the answer has begun: b is streaming
            proc.send_signal(signal.SIGTERM)
            rest = b"".join(chunks)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (first + rest).decode()
    assert response.status_code == 200 and text.rstrip().endswith("data: [DONE]")
    assert proc.returncode == -signal.SIGTERM, err  # the signal's own exit, after the clean shutdown
    log = read_log(log_path)
    assert list(zip(log["provider"], log["outcome"], strict=True)) == [("mock-a", "server_error"), ("mock-b", "ok")]
    assert KEY not in out + err + log_path.read_text()
    with pytest.raises(httpx.ConnectError):  # no longer accepting
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_the_policy_exported_into_opencode_json_is_the_policy_served(cli, tmp_path, mock_providers, monkeypatch):
    monkeypatch.setenv("COMBINED_MODELS_GATEWAY_TOKEN", "t0k3n")
    mock = mock_providers(["mock-a", "mock-b"])
    config = _config(tmp_path, mock, key_env=None)
    port = _free_port()
    exported = cli(
        "export",
        "--config",
        config,
        "--source",
        "bundled",
        "--layout",
        "gateway",
        "--combined",
        MODEL,
        "--preset",
        "resilient",
        "--priority",
        "mock-b,mock-a",
        "--max-attempts",
        "2",
        "--gateway-url",
        f"http://127.0.0.1:{port}/v1",
        "--token-env",
        "COMBINED_MODELS_GATEWAY_TOKEN",
    )
    assert exported.code == 0, exported.err
    result = cli("gateway", "--config", config, "--source", "bundled", "--providers", "mock-a,mock-b", "--check")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"policy in force ({config}): resilient+")
    assert "provider_priority=['mock-b', 'mock-a']" in lines[0] and "max_attempts=2" in lines[0]
    assert lines[1] == f"would serve on http://127.0.0.1:{port}/v1, token from $COMBINED_MODELS_GATEWAY_TOKEN"
    assert lines[2:5] == [  # the exported model only, in the exported order
        f"{MODEL}: 2 of 2 member(s) reachable",
        f"  mock-b: reachable - anthropic at {mock.endpoints['mock-b']}, key from none",
        f"  mock-a: reachable - openai at {mock.endpoints['mock-a']}, key from none",
    ]
