"""The mock providers over real loopback sockets: wire formats, faults, log, CLI."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from toolkit.mock_providers import HOST, Incoming, MockProviders, Reply, ScenarioDecider
from toolkit.scenario import Scenario

CHAT = {"model": "m", "messages": [{"role": "user", "content": "one two three"}], "max_tokens": 4}


def _events(response: httpx.Response) -> list[str]:
    return [line for line in response.iter_lines() if line]


def test_openai_json_and_models(mock_providers):
    mock = mock_providers(["a"], models=["m1", "m2"])
    url = mock.endpoints["a"]
    answer = httpx.post(f"{url}/chat/completions", json=CHAT).json()
    assert answer["choices"][0]["message"]["content"] == "w0 w1 w2 w3 "
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    models = httpx.get(f"{url}/models").json()
    assert [m["id"] for m in models["data"]] == ["m1", "m2"]


def test_a_body_nested_100000_deep_is_a_400_not_a_traceback(mock_providers, capfd):
    url = mock_providers(["a"]).endpoints["a"]
    response = httpx.post(f"{url}/chat/completions", content=b"[" * 100_000)
    assert response.status_code == 400 and "request body is not a JSON object" in response.text
    assert httpx.post(f"{url}/chat/completions", json=CHAT).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_tokens_due_together_share_an_event_and_pacing_holds(mock_providers):
    # 4 tokens at 20 tokens/s: 50 ms apart, far above the 5 ms write gap: four events, >= 150 ms
    url = mock_providers(["a"], script={"a": [Reply(tokens_per_s=20)]}).endpoints["a"]
    start = time.monotonic()
    with httpx.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as response:
        contents = [line for line in _events(response) if '"content":"w' in line]
    assert len(contents) == 4 and time.monotonic() - start >= 0.15


def test_openai_stream_ends_with_usage_then_done(mock_providers):
    url = mock_providers(["a"]).endpoints["a"]
    with httpx.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as response:
        lines = _events(response)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "w0 w1 w2 w3 "
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_anthropic_json_and_event_stream(mock_providers):
    # 50 tokens/s: one token every 20 ms, so each goes out in its own event
    url = mock_providers(["a"], script={"a": [Reply(), Reply(tokens_per_s=50)]}).endpoints["a"]
    body = httpx.post(f"{url}/messages", json=CHAT).json()
    assert body["type"] == "message" and body["content"][0]["text"] == "w0 w1 w2 w3 "
    assert body["usage"] == {"input_tokens": 3, "output_tokens": 4}
    with httpx.stream("POST", f"{url}/messages", json={**CHAT, "stream": True}) as response:
        events = [line.removeprefix("event: ") for line in _events(response) if line.startswith("event: ")]
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize(
    ("kind", "path", "status", "text"),
    [
        ("rate_limit", "/chat/completions", 429, "rate_limit_exceeded"),
        ("quota", "/chat/completions", 429, "insufficient_quota"),
        ("overload", "/messages", 529, "overloaded_error"),
        ("overload", "/chat/completions", 503, "overloaded"),
        ("unavailable", "/chat/completions", 503, "Service Unavailable"),
        ("server_error", "/messages", 500, "api_error"),
        ("context_length", "/chat/completions", 400, "context_length_exceeded"),
        ("auth", "/messages", 401, "authentication_error"),
    ],
)
def test_error_bodies(mock_providers, kind, path, status, text):
    url = mock_providers(["a"], script={"a": [Reply(kind)]}).endpoints["a"]
    response = httpx.post(url + path, json=CHAT)
    assert response.status_code == status
    assert text in response.text


def test_retry_after_in_both_forms(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("rate_limit", retry_after_s=1.25)]}).endpoints["a"]
    response = httpx.post(f"{url}/chat/completions", json=CHAT)
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("2", "1250")


def test_reset_mid_stream_after_some_tokens(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("reset", reset_after_tokens=2)]}).endpoints["a"]
    received = []
    with pytest.raises(httpx.ReadError):
        with httpx.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as response:
            for line in response.iter_lines():
                received.append(line)
    tokens = [json.loads(x[6:])["choices"][0]["delta"].get("content") for x in received if x.startswith("data")]
    assert tokens == ["", "w0 w1 "]  # tokens due together go out in one event


def test_error_event_inside_a_200_stream(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("stream_error", reset_after_tokens=1)]}).endpoints["a"]
    with httpx.stream("POST", f"{url}/messages", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        lines = _events(response)
    assert lines[-2:] == [
        "event: error",
        'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    ]


def test_hang_lasts_past_the_client_timeout(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("hang")]}).endpoints["a"]
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/chat/completions", json=CHAT, timeout=0.2)
    assert time.monotonic() - start >= 0.2


def test_time_scale_divides_waits(mock_providers):
    # 2 scenario seconds of TTFT at time scale 20 is 0.1 real seconds
    mock = mock_providers(["a"], script={"a": [Reply(ttft_s=2.0)]}, time_scale=20)
    start = time.monotonic()
    httpx.post(f"{mock.endpoints['a']}/chat/completions", json=CHAT)
    assert 0.1 <= time.monotonic() - start < 1.5
    lag = mock.lag.summary(20)  # the wait's lateness is measured (how much depends on the machine)
    assert lag.samples == 1 and lag.max_s >= 0


def test_a_client_that_leaves_before_its_body_is_not_an_error(mock_providers, capfd):
    mock = mock_providers(["a"])
    port = int(mock.endpoints["a"].split(":")[2].split("/")[0])
    with socket.create_connection((HOST, port)) as sock:  # promises 100 bytes, sends 2, leaves
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{}")
    time.sleep(0.2)
    assert httpx.post(f"{mock.endpoints['a']}/chat/completions", json=CHAT).status_code == 200
    assert len(mock.requests) == 1  # only the request that arrived whole
    assert "Traceback" not in capfd.readouterr().err  # uvicorn logs to its own stderr handler


def test_request_log_json_lines_without_key(tmp_path, mock_providers):
    log = tmp_path / "requests.jsonl"
    key = "sk-planted-secret-0123456789"
    mock = mock_providers(["a", "b"], api_key=key, log_path=log)
    for provider, auth in [("a", key), ("b", "wrong")]:
        httpx.post(
            f"{mock.endpoints[provider]}/chat/completions",
            json=CHAT,
            headers={"authorization": f"Bearer {auth}", "x-request-id": f"r-{provider}"},
        )
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["provider"], r["request_id"], r["kind"], r["authorized"]) for r in rows] == [
        ("a", "r-a", "ok", True),
        ("b", "r-b", "auth", False),
    ]
    assert rows == mock.requests
    assert key not in log.read_text()


def test_binds_loopback_only_and_one_port_per_provider():
    with MockProviders(["a", "b", "c"]) as mock:
        hosts_ports = [httpx.URL(url) for url in mock.endpoints.values()]
        assert {u.host for u in hosts_ports} == {HOST}
        assert len({u.port for u in hosts_ports}) == 3
    with pytest.raises(httpx.ConnectError):  # stopped means stopped
        httpx.get(f"{mock.endpoints['a']}/models")


def test_opencode_section_points_at_the_ports(mock_providers):
    mock = mock_providers(["a", "b"], models=["m"])
    section = mock.opencode_providers(lambda p: "@ai-sdk/anthropic" if p == "b" else "@ai-sdk/openai-compatible")
    assert section["a"]["options"]["baseURL"] == mock.endpoints["a"]
    assert section["b"]["npm"] == "@ai-sdk/anthropic"
    assert section["a"]["models"] == {"m": {"name": "m"}}


# --- scenario-driven replies --------------------------------------------------------------


def _scenario(providers: dict, incidents: list | None = None) -> Scenario:
    data = {"name": "t", "arrivals": {"kind": "poisson", "rate_per_s": 1.0}, "providers": providers}
    if incidents:
        data["incidents"] = incidents
    return Scenario.from_dict(data)


def _incoming(provider: str, t: float, input_tokens: int = 10, max_tokens: int = 10) -> Incoming:
    return Incoming(provider, "openai", "m", True, input_tokens, max_tokens, t)


@pytest.mark.parametrize(
    ("error_class", "kind"),
    [("timeout", "hang"), ("connection", "reset"), ("overload", "overload"), ("auth", "auth")],
)
def test_decider_injects_each_class_on_its_rank(error_class, kind):
    decide = ScenarioDecider(_scenario({"rank:1": {"errors": {error_class: 1.0}}}), ["a", "b"])
    assert decide(_incoming("a", 0.0)).kind == "ok"
    reply = decide(_incoming("b", 0.0))
    assert reply.kind == kind
    if kind == "reset":
        assert reply.reset_after_tokens == 0  # a scenario's connection error never answers


def test_decider_rate_limit_bucket_gives_exact_retry_after():
    decide = ScenarioDecider(_scenario({"rank:0": {"rate_limit": {"requests_per_minute": 2}}}), ["a"])
    assert [decide(_incoming("a", 0.0)).kind for _ in range(2)] == ["ok", "ok"]
    refused = decide(_incoming("a", 6.0))  # 6 s refill 0.2 requests: 24 s to go for a whole one
    assert (refused.kind, refused.retry_after_s) == ("rate_limit", 24.0)
    assert decide(_incoming("a", 30.0)).kind == "ok"  # refused attempts take nothing


def test_decider_tokens_per_minute_and_context_limit():
    decide = ScenarioDecider(
        _scenario({"default": {"rate_limit": {"tokens_per_minute": 600}}}), ["a"], context_limits={"a": 500}
    )
    assert decide(_incoming("a", 0.0, input_tokens=450, max_tokens=100)).kind == "context_length"
    assert decide(_incoming("a", 0.0, input_tokens=300, max_tokens=100)).kind == "ok"
    refused = decide(_incoming("a", 0.0, input_tokens=300, max_tokens=100))
    assert (refused.kind, refused.retry_after_s) == ("rate_limit", 20.0)  # 200 more tokens at 10/s


def test_decider_incident_window():
    scenario = _scenario({}, [{"provider": "rank:0", "kind": "outage", "start_s": 10, "end_s": 20}])
    decide = ScenarioDecider(scenario, ["a", "b"])
    kinds = [decide(_incoming(p, t)).kind for p, t in [("a", 9.9), ("a", 10.0), ("b", 15.0), ("a", 20.0)]]
    assert kinds == ["ok", "reset", "ok", "ok"]


def test_decider_draws_latency_from_the_profile():
    scenario = _scenario({"default": {"ttft_s": 1.5, "tokens_per_s": 40, "error_latency_s": 0.2}})
    decide = ScenarioDecider(scenario, ["a"])
    assert decide(_incoming("a", 0.0)) == Reply(ttft_s=1.5, tokens_per_s=40.0)


def test_cli_prints_endpoints_and_opencode_section(cli):
    result = cli(
        "mock-providers", "--scenario", "calm-day", "--providers", "p,q", "--anthropic", "q", "--duration", "0"
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    endpoints = dict(line.split("\t") for line in lines[:2])
    section = json.loads("\n".join(lines[2:]))["provider"]
    assert list(endpoints) == ["p", "q"]
    assert {p: s["options"]["baseURL"] for p, s in section.items()} == endpoints
    assert (section["p"]["npm"], section["q"]["npm"]) == ("@ai-sdk/openai-compatible", "@ai-sdk/anthropic")


def test_cli_rejects_unknown_anthropic_provider(cli):
    result = cli("mock-providers", "--scenario", "calm-day", "--providers", "p", "--anthropic", "x", "--duration", "0")
    assert (result.code, result.err.strip()) == (2, "error: --anthropic names 'x', which is not in --providers")


@pytest.mark.opencode
@pytest.mark.parametrize(
    ("npm", "protocol"), [("@ai-sdk/openai-compatible", "openai"), ("@ai-sdk/anthropic", "anthropic")]
)
def test_the_real_opencode_cli_streams_from_the_mock(mock_providers, tmp_path, npm, protocol):
    """``opencode run`` with the printed provider section: the AI SDK's own parsers accept our streams."""
    import os
    import subprocess

    from opencode_cli import CURRENT, opencode_binary

    binary = opencode_binary(CURRENT)
    mock = mock_providers(["mock"], models=["model"])
    section = mock.opencode_providers(lambda provider: npm)
    section["mock"]["models"]["model"]["limit"] = {"context": 100000, "output": 12}
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    (project / "opencode.json").write_text(json.dumps({"provider": section}))
    env = {
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
    proc = subprocess.run(
        [str(binary), "run", "say hi", "-m", "mock/model"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "w0 w1 w2" in proc.stdout
    assert mock.requests and {(r["protocol"], r["stream"], r["kind"]) for r in mock.requests} == {
        (protocol, True, "ok")
    }


# --- scripted text and tool calls ------------------------------------------------------------------

TOOL = ("read", {"filePath": "/tmp/project/notes.txt", "limit": 20})


@pytest.mark.parametrize(("protocol", "path"), [("openai", "/chat/completions"), ("anthropic", "/messages")])
def test_a_scripted_tool_call_streams_and_reassembles_to_the_json_answer(mock_providers, protocol, path):
    from toolkit.sse import SSEDecoder
    from toolkit.translate import StreamAssembler

    reply = Reply(text="Let me look.", tool_call=TOOL)
    url = mock_providers(["a"], script={"a": [reply, reply]}).endpoints["a"]
    whole = httpx.post(f"{url}{path}", json=CHAT).json()
    decoder, assembler = SSEDecoder(), StreamAssembler(protocol)
    with httpx.stream("POST", f"{url}{path}", json={**CHAT, "stream": True}) as response:
        for chunk in response.iter_bytes():
            for event in decoder.feed(chunk):
                assembler.feed(event)
    streamed = assembler.result()
    if protocol == "openai":
        message = whole["choices"][0]["message"]
        assert whole["choices"][0]["finish_reason"] == "tool_calls"
        assert message["content"] == "Let me look."
        [call] = message["tool_calls"]
        assert (call["type"], call["function"]["name"], json.loads(call["function"]["arguments"])) == (
            "function",
            *TOOL,
        )
        again = streamed["choices"][0]
        assert (again["message"]["content"], again["finish_reason"]) == ("Let me look.", "tool_calls")
        assert [
            (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in again["message"]["tool_calls"]
        ] == [TOOL]
    else:
        assert whole["stop_reason"] == "tool_use"
        assert [(b["type"], b.get("text"), b.get("name"), b.get("input")) for b in whole["content"]] == [
            ("text", "Let me look.", None, None),
            ("tool_use", None, *TOOL),
        ]
        assert streamed["stop_reason"] == "tool_use"
        assert [(b["type"], b.get("text"), b.get("name"), b.get("input")) for b in streamed["content"]] == [
            ("text", "Let me look.", None, None),
            ("tool_use", None, *TOOL),
        ]


def test_tool_arguments_stream_in_fragments(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply(tool_call=TOOL)]}).endpoints["a"]
    with httpx.stream("POST", f"{url}/messages", json={**CHAT, "stream": True}) as response:
        datas = [json.loads(line.removeprefix("data: ")) for line in _events(response) if line.startswith("data: ")]
    fragments = [d["delta"]["partial_json"] for d in datas if d.get("delta", {}).get("type") == "input_json_delta"]
    assert len(fragments) == 2 and all(fragments) and json.loads("".join(fragments)) == TOOL[1]
    starts = [d["content_block"] for d in datas if d["type"] == "content_block_start"]
    assert [s["type"] for s in starts] == ["text", "tool_use"] and starts[1]["input"] == {}


def test_a_tool_call_then_the_plain_answer_in_script_order_and_bodies_kept(mock_providers):
    mock = mock_providers(["a"], script={"a": [Reply(tool_call=TOOL), Reply(text="It says hello.")]}, keep_bodies=True)
    url = mock.endpoints["a"]
    first = httpx.post(f"{url}/chat/completions", json=CHAT).json()["choices"][0]
    result = {"role": "tool", "tool_call_id": first["message"]["tool_calls"][0]["id"], "content": "hello"}
    followup = {**CHAT, "messages": [*CHAT["messages"], first["message"], result]}
    second = httpx.post(f"{url}/chat/completions", json=followup).json()["choices"][0]
    assert (first["finish_reason"], second["finish_reason"]) == ("tool_calls", "stop")
    assert second["message"] == {"role": "assistant", "content": "It says hello."}
    assert [r["body"] for r in mock.requests] == [CHAT, followup]
    assert httpx.post(f"{url}/chat/completions", json=CHAT).json()["usage"]["completion_tokens"] == 4  # script used up


def test_a_malformed_tool_call_is_refused():
    with pytest.raises(ValueError, match=r"^tool_call is \(tool name, arguments dict\)$"):
        Reply(tool_call=("read", "not a dict"))
