"""The real OpenCode CLI through ``combined-models gateway``, end to end, offline.

OpenCode 1.18.33 (from npm, see ``opencode_cli.py``) runs ``opencode run ... -m
combined/mock-model`` in a temporary project whose ``opencode.json`` was written by
``combined-models export --layout gateway``. The gateway runs as its own process,
started with ``--config`` on that file, in front of mock providers (real HTTP servers on
127.0.0.1): the first is down (nothing listens on its port), the second answers 429 with
Retry-After, the third answers. The run must succeed, the gateway's attempt log must show
the failover, and the mock's own request log must show no call to the second provider
inside its Retry-After window; a second run after the window is answered by the second
provider. This is done once through ``@ai-sdk/openai-compatible`` and once through
``@ai-sdk/anthropic``, each time with upstreams of both protocols, so every answer crosses
a protocol translation. A last pair of runs has an upstream answer with a tool call that
OpenCode executes (its ``read`` tool on a file of the project); the tool's result must
reach the upstream in the next request, in that upstream's protocol.

``small_model`` points at a separate mock provider that OpenCode calls directly, so the
title request neither goes through the gateway nor consumes the scripted replies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opencode_cli import CURRENT, opencode_binary

from toolkit.live import read_log
from toolkit.mock_providers import MockProviders, Reply

pytestmark = pytest.mark.opencode

PACKAGES = {"openai": "@ai-sdk/openai-compatible", "anthropic": "@ai-sdk/anthropic"}
OTHER = {"openai": "anthropic", "anthropic": "openai"}
MODEL = "mock-model"
RETRY_AFTER_S = 8.0
NOTE = "hello from the project"


@pytest.fixture(scope="module")
def opencode() -> Path:
    return opencode_binary(CURRENT)


def free_port() -> int:
    """A port nothing listens on now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def catalog(path: Path, upstreams: dict[str, str]) -> Path:
    """An ``api.json`` where each provider (-> its protocol) offers the same model."""
    model = {
        "id": MODEL,
        "name": "Mock Model",
        "tool_call": True,
        "reasoning": False,
        "limit": {"context": 100_000, "output": 64},
        "cost": {"input": 1, "output": 2},
    }
    api = {
        p: {"id": p, "name": p, "env": [], "npm": PACKAGES[protocol], "models": {MODEL: model}}
        for p, protocol in upstreams.items()
    }
    path.write_text(json.dumps(api))
    return path


@dataclass
class Setup:
    """A temporary project wired to the gateway, and everything a test looks at afterwards."""

    project: Path
    home: Path
    mock: MockProviders
    gateway_log: Path
    gateway_out: Path
    client: str  # the protocol OpenCode speaks to the gateway

    def env(self) -> dict[str, str]:
        """OpenCode's environment: nothing global touched, no network, no gateway token set."""
        home = self.home
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            **{
                var: str(home / sub)
                for var, sub in [
                    ("XDG_CONFIG_HOME", ".config"),
                    ("XDG_DATA_HOME", "data"),
                    ("XDG_CACHE_HOME", ".cache"),
                    ("XDG_STATE_HOME", "state"),
                ]
            },
        }

    def run(self, binary: Path, prompt: str) -> subprocess.CompletedProcess:
        """``opencode run PROMPT -m combined/mock-model`` in the project; fails the test on a non-zero exit."""
        proc = subprocess.run(
            [str(binary), "run", prompt, "-m", f"combined/{MODEL}"],
            cwd=self.project,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:] + "\ngateway:\n" + self.gateway_out.read_text()[-3000:]
        return proc

    def upstream_requests(self, provider: str) -> list[dict]:
        return [r for r in self.mock.requests if r["provider"] == provider]


@pytest.fixture
def setup(tmp_path, cli, mock_providers, request) -> Iterator[Setup]:
    """Mock providers, a catalog, an exported config, and the gateway running on it.

    ``request.param``: (what OpenCode speaks to the gateway, {provider: upstream protocol},
    {provider: scripted replies}). Provider ``alpha`` is down: its base URL is a closed port.
    """
    client, upstreams, script = request.param
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    (project / "notes.txt").write_text(NOTE + "\n")
    live = [p for p in upstreams if p != "alpha"]
    mock = mock_providers(
        [*live, "titles"], script=script, keep_bodies=True, log_path=tmp_path / "mock.jsonl", models=[MODEL]
    )
    providers = mock.opencode_providers(lambda p: PACKAGES[upstreams.get(p, client)])
    providers["titles"]["models"] = {"titles": {"name": "titles"}}  # its own model: never a member of mock-model
    if "alpha" in upstreams:
        providers["alpha"] = {
            **providers[live[0]],
            "npm": PACKAGES[upstreams["alpha"]],
            "name": "alpha (down)",
            "options": {"baseURL": f"http://127.0.0.1:{free_port()}/v1", "apiKey": "mock-key"},
        }
    for section in providers.values():
        section["models"] = {m: {"name": m, "limit": {"context": 100_000, "output": 64}} for m in section["models"]}
    config = project / "opencode.json"
    config.write_text(
        json.dumps(
            {"$schema": "https://opencode.ai/config.json", "small_model": "titles/titles", "provider": providers},
            indent=2,
        )
    )
    source = catalog(tmp_path / "api.json", upstreams)
    port = free_port()
    exported = cli(
        "export",
        "--config",
        str(config),
        "--source",
        str(source),
        "--layout",
        "gateway",
        "--preset",
        "seed-on-error",
        "--max-attempts",
        "1",
        "--priority",
        ",".join(upstreams),
        "--combined",
        MODEL,
        "--set-model",
        f"combined/{MODEL}",
        "--gateway-url",
        f"http://127.0.0.1:{port}/v1",
        "--gateway-protocol",
        client,
    )
    assert exported.code == 0, exported.err
    log, out = tmp_path / "gateway.jsonl", tmp_path / "gateway.out"
    with open(out, "w") as sink:
        gateway = subprocess.Popen(
            # the policy, the model and the port all come from the exported config
            [
                sys.executable,
                "-m",
                "toolkit",
                "gateway",
                "--config",
                str(config),
                "--source",
                str(source),
                "--log",
                str(log),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(home)},
        )
    try:
        wait_until_healthy(port, gateway, out)
        yield Setup(project, home, mock, log, out, client)
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


def wait_until_healthy(port: int, gateway: subprocess.Popen, out: Path, limit_s: float = 120.0) -> None:
    """Poll ``/health`` until the gateway answers (it imports the toolkit and reads the catalog first)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            pytest.fail(f"the gateway exited with {gateway.returncode}: {out.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the gateway did not answer /health within {limit_s:.0f} s: {out.read_text()[-2000:]}")


def failover_case(client: str) -> tuple:
    """alpha down; beta 429 with Retry-After, then answering; gamma a tool call, then an answer.

    The tool call makes OpenCode send a second request soon after the first, inside beta's
    Retry-After window: the gateway must take it to gamma without calling beta.
    """
    upstreams = {"alpha": client, "beta": OTHER[client], "gamma": client}
    script = {
        "beta": [Reply("rate_limit", retry_after_s=RETRY_AFTER_S), Reply(text="Beta answers after the wait.")],
        "gamma": [Reply(tool_call=("read", {"filePath": "notes.txt"})), Reply(text="Gamma answers while beta waits.")],
    }
    return client, upstreams, script


@pytest.mark.parametrize(
    "setup",
    [failover_case("openai"), failover_case("anthropic")],
    indirect=True,
    ids=["openai-compatible-sdk", "anthropic-sdk"],
)
def test_opencode_answers_through_the_gateway_while_providers_fail(setup, opencode):
    first = setup.run(opencode, "Read notes.txt, then say something.")
    assert "Gamma answers while beta waits." in first.stdout
    [limited] = setup.upstream_requests("beta")
    assert limited["kind"] == "rate_limit" and limited["retry_after_s"] == RETRY_AFTER_S
    window_ends = limited["t_s"] + RETRY_AFTER_S
    gamma = setup.upstream_requests("gamma")
    assert len(gamma) == 2
    if gamma[1]["t_s"] >= window_ends:  # OpenCode took longer than the window to send its follow-up
        pytest.fail(
            f"the machine is too slow for this test: OpenCode's second request came "
            f"{gamma[1]['t_s'] - limited['t_s']:.1f} s after the 429 (window {RETRY_AFTER_S} s)"
        )

    time.sleep(max(0.0, window_ends - setup.mock.now_s()) + 0.2)  # on the mock's own clock
    second = setup.run(opencode, "Say something else.")
    assert "Beta answers after the wait." in second.stdout

    beta = setup.upstream_requests("beta")
    assert [r["kind"] for r in beta] == ["rate_limit", "ok"]
    assert beta[1]["t_s"] >= window_ends  # no call inside the Retry-After window
    assert all(r["model"] == MODEL for r in setup.mock.requests if r["provider"] != "titles")
    # the policy in provider.combined.options stays in the file: OpenCode sends no trace of it (gamma
    # speaks OpenCode's protocol, so the gateway passed OpenCode's request bodies through untouched)
    assert not [r for r in setup.mock.requests if "failover" in json.dumps(r["body"])]

    log = read_log(setup.gateway_log)
    steps = [list(zip(g["provider"], g["outcome"], g["decision"], strict=True)) for _, g in log.groupby("request_id")]
    assert steps == [
        [("alpha", "connection", "next_provider"), ("beta", "rate_limit", "next_provider"), ("gamma", "ok", "done")],
        [("alpha", "connection", "next_provider"), ("gamma", "ok", "done")],  # beta skipped: its window is open
        [("alpha", "connection", "next_provider"), ("beta", "ok", "done")],
    ]
    assert log.loc[log["outcome"] == "rate_limit", "retry_after_s"].tolist() == [RETRY_AFTER_S]
    rows = [json.loads(line) for line in setup.gateway_log.read_text().splitlines()]
    assert {(r["protocol"], r["stream"]) for r in rows} == {(setup.client, True)}  # what OpenCode spoke, streamed


def tool_case(client: str) -> tuple:
    """beta, first and of the other protocol: a tool call, then the answer after the tool's result."""
    upstream = OTHER[client]
    read = ("read", {"filePath": "notes.txt"})  # OpenCode resolves it in the project
    script = {"beta": [Reply(text="Let me read it.", tool_call=read), Reply(text="The note says hello.")]}
    return client, {"beta": upstream, "gamma": client}, script


@pytest.mark.parametrize(
    "setup",
    [tool_case("openai"), tool_case("anthropic")],
    indirect=True,
    ids=["openai-sdk-to-anthropic-upstream", "anthropic-sdk-to-openai-upstream"],
)
def test_a_tool_call_crosses_the_gateway_both_ways(setup, opencode):
    result = setup.run(opencode, "What does notes.txt say?")
    assert "The note says hello." in result.stdout
    calls = setup.upstream_requests("beta")
    assert len(calls) == 2
    followup = calls[1]["body"]
    protocol = calls[1]["protocol"]
    if protocol == "openai":
        [tool] = [m for m in followup["messages"] if m.get("role") == "tool"]
        text = tool["content"] if isinstance(tool["content"], str) else json.dumps(tool["content"])
        [asked] = [m for m in followup["messages"] if m.get("tool_calls")]
        assert tool["tool_call_id"] == asked["tool_calls"][0]["id"]
        assert json.loads(asked["tool_calls"][0]["function"]["arguments"]) == {"filePath": "notes.txt"}
    else:
        blocks = [b for m in followup["messages"] if isinstance(m["content"], list) for b in m["content"]]
        [use] = [b for b in blocks if b["type"] == "tool_use"]
        [tool] = [b for b in blocks if b["type"] == "tool_result"]
        assert tool["tool_use_id"] == use["id"] and use["input"] == {"filePath": "notes.txt"}
        text = json.dumps(tool["content"])
    assert NOTE in text  # the file's content, read by OpenCode's tool, came back upstream
    log = read_log(setup.gateway_log)
    assert list(log["outcome"]) == ["ok", "ok"] and list(log["provider"]) == ["beta", "beta"]
