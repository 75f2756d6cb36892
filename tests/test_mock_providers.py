"""The mock providers over real loopback sockets: wire formats, faults, log, CLI."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from toolkit.mock_providers import HOST, MockProviders, Reply

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
    url = mock_providers(["a"]).endpoints["a"]
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
    assert tokens == ["", "w0 ", "w1 "]


def test_error_event_inside_a_200_stream(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("stream_error", reset_after_tokens=1)]}).endpoints["a"]
    with httpx.stream("POST", f"{url}/messages", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        lines = _events(response)
    assert lines[-2:] == ["event: error", 'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}']


def test_hang_lasts_past_the_client_timeout(mock_providers):
    url = mock_providers(["a"], script={"a": [Reply("hang")]}).endpoints["a"]
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/chat/completions", json=CHAT, timeout=0.2)
    assert time.monotonic() - start >= 0.2


def test_time_scale_divides_waits(mock_providers):
    # 2 scenario seconds of TTFT at time scale 20 is 0.1 real seconds
    url = mock_providers(["a"], script={"a": [Reply(ttft_s=2.0)]}, time_scale=20).endpoints["a"]
    start = time.monotonic()
    httpx.post(f"{url}/chat/completions", json=CHAT)
    assert 0.1 <= time.monotonic() - start < 1.5


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
