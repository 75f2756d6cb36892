"""The gateway over real loopback HTTP, in front of the mock providers: failover in both
protocols and across them, held-back streams, Retry-After, bad input, secrets, /stats."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from local_http import serving

from toolkit.combined_model import CombinedModel
from toolkit.endpoints import Endpoint
from toolkit.gateway import MAX_BODY_BYTES, Gateway
from toolkit.live import read_log
from toolkit.mock_providers import Reply
from toolkit.policy import FailoverPolicy
from toolkit.sse import SSEDecoder
from toolkit.translate import StreamAssembler

KEY = "sk-planted-gateway-key-0b7e5d2c19f4a6"
TOKEN = "gw-token-for-tests-3c9d"
PATHS = {"openai": "/chat/completions", "anthropic": "/messages"}
PAIRS = [("openai", "openai"), ("openai", "anthropic"), ("anthropic", "openai"), ("anthropic", "anthropic")]
ANSWER = "w0 w1 w2 w3 w4 w5 w6 w7 "


def _endpoints(mock, protocols: dict[str, str], key: str | None = None) -> dict[str, Endpoint]:
    return {p: Endpoint(p, url, protocols[p], "env:K" if key else "none", key) for p, url in mock.endpoints.items()}


def _gateway(
    mock, protocol: str = "openai", policy: FailoverPolicy | None = None, key: str | None = None, **options
) -> Gateway:
    providers = list(mock.endpoints)
    model = CombinedModel.of(providers, combined_id="m", cost_input=3.0, cost_output=15.0)
    policy = policy or FailoverPolicy(max_attempts=1, min_providers=1)
    return Gateway([(model, _endpoints(mock, dict.fromkeys(providers, protocol), key))], policy, **options)


def _request(protocol: str, stream: bool, model: str = "m", **extra) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": "count in words please"}], "max_tokens": 8}
    if stream:
        body["stream"] = True
    return {**body, **extra}


def _post(url: str, protocol: str, body: dict | bytes, headers: dict | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **(headers or {})}
    return httpx.post(url + PATHS[protocol], content=content, headers=headers, timeout=30)


def _events(response: httpx.Response) -> list:
    decoder = SSEDecoder()
    return decoder.feed(response.content) + decoder.close()


def _text(protocol: str, response: httpx.Response) -> str:
    """The answer text of a streamed response (reassembled) or a JSON one."""
    if response.headers["content-type"].startswith("text/event-stream"):
        assembler = StreamAssembler(protocol)
        for event in _events(response):
            assembler.feed(event)
        body = assembler.result()
    else:
        body = response.json()
    if protocol == "anthropic":
        return "".join(block.get("text", "") for block in body["content"])
    return body["choices"][0]["message"]["content"]


# --- failover, both protocols and across them ------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize(("downstream", "upstream"), PAIRS)
def test_a_failing_first_provider_is_failed_over_in_every_protocol_pair(
    mock_providers, tmp_path, downstream, upstream, stream
):
    mock = mock_providers(["a", "b"], script={"a": [Reply("server_error")]})
    log_path = tmp_path / "gw.jsonl"
    with _gateway(mock, upstream, log_path=log_path).running() as url:
        response = _post(url, downstream, _request(downstream, stream))
    assert response.status_code == 200, response.text
    assert _text(downstream, response) == ANSWER
    if stream:  # the stream ends as the client's protocol ends one
        assert _events(response)[-1].data == ("[DONE]" if downstream == "openai" else '{"type":"message_stop"}')
    assert [(r["provider"], r["protocol"]) for r in mock.requests] == [("a", upstream), ("b", upstream)]
    assert all(r["stream"] for r in mock.requests)  # always streamed upstream
    log = read_log(log_path)
    assert list(zip(log["provider"], log["outcome"], log["decision"], strict=True)) == [
        ("a", "server_error", "next_provider"),
        ("b", "ok", "done"),
    ]
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {(r["protocol"], r["stream"]) for r in rows} == {(downstream, stream)}
    assert rows[1]["cost_usd"] == pytest.approx((rows[1]["input_tokens"] * 3 + 8 * 15) / 1e6)


@pytest.mark.parametrize("model", ["m", "combined/m"])
def test_the_model_is_named_as_the_client_named_it(mock_providers, model):
    mock = mock_providers(["a"])
    with _gateway(mock).running() as url:
        response = _post(url, "openai", _request("openai", False, model=model))
        streamed = _post(url, "openai", _request("openai", True, model=model))
    assert response.json()["model"] == model
    models = {json.loads(e.data)["model"] for e in _events(streamed) if e.data.startswith("{")}
    assert models == {model}
    assert [r["model"] for r in mock.requests] == ["m", "m"]  # the member's own model id upstream


# --- streams: held back until content, never spliced -------------------------------------------


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_reset_before_content_is_failed_over_without_a_trace(mock_providers, protocol):
    mock = mock_providers(["a", "b"], script={"a": [Reply("reset", reset_after_tokens=0)]})
    with _gateway(mock, protocol).running() as url:
        response = _post(url, protocol, _request(protocol, True))
    events = _events(response)
    assert response.status_code == 200 and _text(protocol, response) == ANSWER
    starts = [e for e in events if '"message_start"' in e.data or '"role":"assistant"' in e.data]
    assert len(starts) == 1  # one preamble: the failed attempt's was held back and dropped


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", ["reset", "stream_error"])
def test_a_failure_after_content_ends_the_stream_with_an_error_event(mock_providers, tmp_path, protocol, fault):
    mock = mock_providers(["a", "b"], script={"a": [Reply(fault, reset_after_tokens=3, tokens_per_s=100)]})
    log_path = tmp_path / "gw.jsonl"
    with _gateway(mock, protocol, log_path=log_path).running() as url:
        response = _post(url, protocol, _request(protocol, True))
        after = _post(url, protocol, _request(protocol, True))
    events = _events(response)
    assert response.status_code == 200
    last = json.loads(events[-1].data)
    assert (events[-1].event, last["type"]) == ("error", "error") if protocol == "anthropic" else "error" in last
    assembler = StreamAssembler(protocol)
    for event in events[:-1]:
        assembler.feed(event)
    body = assembler.result()
    text = (
        "".join(b["text"] for b in body["content"])
        if protocol == "anthropic"
        else (body["choices"][0]["message"]["content"])
    )
    assert text == "w0 w1 w2 "  # what a sent, nothing from b, nothing twice
    assert [r["provider"] for r in mock.requests] == ["a", "a"]  # no failover once content went out
    assert _text(protocol, after) == ANSWER
    log = read_log(log_path)
    assert log["decision"].tolist()[0] == "give_up" and log["outcome"].tolist()[1] == "ok"


# --- Retry-After, give-up statuses ----------------------------------------------------------------


def test_retry_after_blocks_the_provider_for_every_request_by_the_mock_s_own_clock(mock_providers):
    mock = mock_providers(["a", "b"], script={"a": [Reply("rate_limit", retry_after_s=0.6), Reply()]})
    with _gateway(mock).running() as url:
        first = _post(url, "openai", _request("openai", True))
        second = _post(url, "openai", _request("openai", True))  # a is blocked: straight to b
    assert first.status_code == second.status_code == 200
    calls = [(r["provider"], r["t_s"]) for r in mock.requests]
    assert [p for p, _ in calls] == ["a", "b", "b"]


def test_a_retry_on_the_same_provider_waits_out_its_retry_after(mock_providers):
    mock = mock_providers(["a"], script={"a": [Reply("rate_limit", retry_after_s=0.4), Reply()]})
    policy = FailoverPolicy(max_attempts=2, min_providers=1, backoff_base_s=0.001)
    with _gateway(mock, policy=policy).running() as url:
        response = _post(url, "openai", _request("openai", False))
    assert response.status_code == 200
    t = [r["t_s"] for r in mock.requests]
    assert t[1] - t[0] >= 0.4


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_everything_rate_limited_is_a_429_with_retry_after(mock_providers, protocol):
    limited = Reply("rate_limit", retry_after_s=7)
    mock = mock_providers(["a", "b"], script={"a": [limited], "b": [limited]})
    with _gateway(mock, protocol).running() as url:
        response = _post(url, protocol, _request(protocol, True))
    assert response.status_code == 429
    assert 6 <= int(response.headers["retry-after"]) <= 7
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error" if protocol == "anthropic" else error["code"] == "rate_limit_exceeded"
    assert "m: no provider answered (2 attempt(s); last: b rate_limit" in error["message"]


@pytest.mark.parametrize(
    ("replies", "status"),
    [
        ([Reply("overload"), Reply("overload")], 503),
        ([Reply("server_error"), Reply("reset", reset_after_tokens=0)], 502),
        ([Reply("rate_limit"), Reply("server_error")], 502),
        ([Reply("client_error")], 400),
    ],
)
def test_give_up_answers_with_the_last_status_class(mock_providers, replies, status):
    mock = mock_providers(["a", "b"], script={"a": replies[:1], "b": replies[1:]})
    with _gateway(mock).running() as url:
        response = _post(url, "openai", _request("openai", False))
    assert response.status_code == status


def test_a_hanging_provider_times_out_into_a_504(mock_providers):
    mock = mock_providers(["a"], script={"a": [Reply("hang")]})
    policy = FailoverPolicy(max_attempts=1, min_providers=1, attempt_timeout_s=0.3)
    with _gateway(mock, policy=policy).running() as url:
        response = _post(url, "anthropic", _request("anthropic", True))
    assert response.status_code == 504 and response.json()["error"]["type"] == "api_error"


# --- bad input: the protocol's error shape, and the next request still served -------------------


class _Garbage(BaseHTTPRequestHandler):
    """An upstream answering 200 with a body that is no event stream at all."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = b"<html>502 upstream confused</html>"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _garbage_server() -> Iterator[str]:
    with serving(_Garbage) as root:
        yield f"{root}/v1"


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_bad_input_gets_the_protocol_s_error_and_the_next_request_is_served(mock_providers, protocol):
    mock = mock_providers(["a"])
    good = _request(protocol, True)
    auth = {"authorization": f"Bearer {TOKEN}"} if protocol == "openai" else {"x-api-key": TOKEN}
    cases = [
        (b"{not json", auth, 400, "not valid JSON"),
        ({"model": "m", "max_tokens": 8}, auth, 400, "no 'messages'"),
        ({**good, "model": "mm"}, auth, 404, "unknown model 'mm' (did you mean m?)"),
        (json.dumps({**good, "pad": "x" * 2000}).encode(), auth, 413, "over the gateway's limit of 1000 bytes"),
        (good, {}, 401, "missing or wrong gateway token"),
        (good, {"authorization": "Bearer wrong"}, 401, "missing or wrong gateway token"),
    ]
    with _gateway(mock, protocol, token=TOKEN, max_body_bytes=1000).running() as url:
        for body, headers, status, message in cases:
            response = _post(url, protocol, body, headers)
            assert response.status_code == status
            payload = response.json()
            if protocol == "anthropic":
                assert payload["type"] == "error" and set(payload["error"]) == {"type", "message"}
            else:
                assert set(payload["error"]) == {"message", "type", "param", "code"}
            assert message in payload["error"]["message"]
            served = _post(url, protocol, good, auth)
            assert served.status_code == 200 and _text(protocol, served) == ANSWER


def test_a_body_nested_100000_deep_is_a_400_and_the_gateway_goes_on(mock_providers):
    mock = mock_providers(["a"])
    auth = {"authorization": f"Bearer {TOKEN}"}
    with _gateway(mock, "openai", token=TOKEN).running() as url:
        response = _post(url, "openai", b"[" * 100_000, auth)
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "the request body is not valid JSON (nested too deeply)"
        served = _post(url, "openai", _request("openai", True), auth)
        assert served.status_code == 200 and _text("openai", served) == ANSWER


def test_an_upstream_answering_garbage_is_failed_over_and_then_a_502(mock_providers):
    mock = mock_providers(["b"])
    with _garbage_server() as garbage:
        model = CombinedModel.of(["a", "b"], combined_id="m")
        endpoints = {
            "a": Endpoint("a", garbage, "openai", "none"),
            "b": Endpoint("b", mock.endpoints["b"], "openai", "none"),
        }
        only_garbage = CombinedModel.of(["a"], combined_id="g")
        policy = FailoverPolicy(max_attempts=1, min_providers=1)
        gateway = Gateway([(model, endpoints), (only_garbage, endpoints)], policy)
        with gateway.running() as url:
            failed_over = _post(url, "openai", _request("openai", True))
            broken = _post(url, "openai", _request("openai", True, model="g"))
            again = _post(url, "openai", _request("openai", True))
    assert failed_over.status_code == 200 and _text("openai", failed_over) == ANSWER
    assert broken.status_code == 502
    assert "protocol_error: 200 answer is not an event stream" in broken.json()["error"]["message"]
    assert again.status_code == 200


def test_oversize_is_refused_at_the_default_cap_from_the_declared_length(mock_providers):
    mock = mock_providers(["a"])
    with _gateway(mock).running() as url:
        response = httpx.post(url + "/chat/completions", content=b"x" * (MAX_BODY_BYTES + 1), timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert mock.requests == []


# --- secrets ---------------------------------------------------------------------------------------


def test_a_planted_key_never_leaves_even_when_upstreams_echo_it(mock_providers, tmp_path):
    echo = f"Incorrect API key provided: {KEY}. Bearer {KEY}"
    mock = mock_providers(
        ["a", "b"],
        api_key=KEY,
        script={
            "a": [Reply("auth", message=echo), Reply("auth", message=echo)],
            "b": [Reply(), Reply("server_error", message=echo)],
        },
    )
    log_path = tmp_path / "gw.jsonl"
    with _gateway(mock, "anthropic", key=KEY, log_path=log_path).running() as url:
        served = _post(url, "openai", _request("openai", True))
        failed = _post(url, "anthropic", _request("anthropic", False))
        stats = httpx.get(url.removesuffix("/v1") + "/stats")
        models = httpx.get(url + "/models")
    assert all(r["authorized"] for r in mock.requests)  # the key did go upstream
    assert served.status_code == 200 and failed.status_code == 502
    assert "[redacted]" in failed.text
    outputs = [served.text, failed.text, stats.text, models.text, log_path.read_text(), str(failed.headers)]
    assert all(KEY not in text for text in outputs)


# --- /v1/models, /health, /stats -----------------------------------------------------------------


def test_models_health_and_stats(mock_providers):
    mock = mock_providers(["a", "b"], script={"a": [Reply("rate_limit", retry_after_s=30)]})
    second = CombinedModel.of(["b"], combined_id="other")
    endpoints = _endpoints(mock, {"a": "openai", "b": "anthropic"})
    policy = FailoverPolicy(max_attempts=1, min_providers=1)
    gateway = Gateway([(CombinedModel.of(["a", "b"], combined_id="m"), endpoints), (second, endpoints)], policy)
    with gateway.running() as url:
        _post(url, "openai", _request("openai", True))
        openai_models = httpx.get(url + "/models").json()
        anthropic_models = httpx.get(url + "/models", headers={"anthropic-version": "2023-06-01"}).json()
        health = httpx.get(url.removesuffix("/v1") + "/health").json()
        stats = httpx.get(url.removesuffix("/v1") + "/stats").json()
    assert [m["id"] for m in openai_models["data"]] == ["m", "other"] and openai_models["object"] == "list"
    assert [m["id"] for m in anthropic_models["data"]] == ["m", "other"] and anthropic_models["has_more"] is False
    assert health == {"status": "ok", "models": 2}
    m = stats["models"]["m"]
    assert (m["requests"], m["answered"], m["failed"]) == (1, 1, 0)
    a, b = m["providers"]
    assert (a["provider"], a["protocol"], a["breaker"], a["outcomes"]) == ("a", "openai", "closed", {"rate_limit": 1})
    assert 25 < a["blocked_until_s"] - stats["uptime_s"] <= 30
    assert (b["provider"], b["protocol"], b["blocked_until_s"], b["outcomes"]) == ("b", "anthropic", None, {"ok": 1})
    assert stats["models"]["other"]["requests"] == 0


def test_a_client_that_leaves_cancels_its_upstream_attempt(mock_providers, tmp_path):
    mock = mock_providers(["a"], script={"a": [Reply(tokens_per_s=4)]})  # 2 s of tokens
    log_path = tmp_path / "gw.jsonl"
    with _gateway(mock, log_path=log_path).running() as url:
        with httpx.stream("POST", url + "/chat/completions", json=_request("openai", True), timeout=30) as response:
            next(response.iter_bytes())  # the answer has begun; then the client hangs up
        for _ in range(300):  # up to 30 s for the gateway to see the disconnect and log the attempt
            if log_path.read_text():
                break
            time.sleep(0.1)
        served = _post(url, "openai", _request("openai", False))
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(r["outcome"], r["decision"], r["error"]) for r in rows[:1]] == [
        ("cancelled", "give_up", "the client went away before the answer ended")
    ]
    assert served.status_code == 200 and rows[1]["outcome"] == "ok"
