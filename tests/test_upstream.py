"""The upstream call layer in-process: protocol reading, classification and redaction through
``httpx.ASGITransport`` (the live runner's ``client`` seam), no socket involved."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.combined_model import CombinedModel
from toolkit.endpoints import PROTOCOLS, Endpoint
from toolkit.live import run_live
from toolkit.policy import FailoverPolicy
from toolkit.scenario import Scenario
from toolkit.upstream import ADAPTERS

KEY = "sk-planted-upstream-key-4d1e8a7c93b2"
SCENARIO = Scenario.from_dict(
    {
        "name": "t",
        "arrivals": {"kind": "poisson", "rate_per_s": 50.0},
        "providers": {},
        "request": {"input_tokens": 5, "output_tokens": 3},
    }
)


def _sse(*events: dict | str) -> bytes:
    return b"".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events)


def _chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c", "object": "chat.completion.chunk", "choices": choices, **extra}


CALL = {"index": 0, "id": "t1", "type": "function", "function": {"name": "read", "arguments": ""}}
TOOL_CALL = _sse(
    _chunk({"role": "assistant", "content": None}),
    _chunk({"tool_calls": [CALL]}),
    _chunk({}, "tool_calls"),
    _chunk(usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
    "[DONE]",
)
ANTHROPIC_THINKING = b"".join(
    f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode()
    for e in [
        {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
)


def _app(reply: Response, seen: list[dict]) -> Starlette:
    async def answer(request: Request) -> Response:
        seen.append({"body": json.loads(await request.body()), "headers": dict(request.headers)})
        return reply

    return Starlette(
        routes=[
            Route("/v1/chat/completions", answer, methods=["POST"]),
            Route("/v1/messages", answer, methods=["POST"]),
        ]
    )


def _run(reply: Response, protocol: str = "openai") -> tuple[object, list[dict]]:
    seen: list[dict] = []
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(reply, seen)))
    endpoints = {"a": Endpoint("a", "http://upstream.test/v1", protocol, "env:K", KEY)}
    policy = FailoverPolicy(min_providers=1, max_attempts=1)
    log = run_live(CombinedModel.of(["a"]), policy, SCENARIO, requests=1, endpoints=endpoints, client=client)
    return log, seen


def test_a_tool_call_stream_is_an_answer_with_usage_and_the_request_asks_for_usage():
    log, seen = _run(Response(TOOL_CALL, media_type="text/event-stream"))
    row = log.iloc[0]
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("ok", 5, 7)
    assert row["ttft_s"] >= 0  # the tool-call delta is the first content
    assert seen[0]["body"]["stream"] is True and seen[0]["body"]["stream_options"] == {"include_usage": True}
    assert seen[0]["headers"]["authorization"] == f"Bearer {KEY}" and seen[0]["headers"]["x-request-id"] == "0-1"


def test_an_anthropic_thinking_stream_with_crlf_is_an_answer():
    log, seen = _run(Response(ANTHROPIC_THINKING, media_type="text/event-stream"), "anthropic")
    row = log.iloc[0]
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("ok", 5, 4)
    assert seen[0]["headers"]["x-api-key"] == KEY and "stream_options" not in seen[0]["body"]


@pytest.mark.parametrize(
    ("reply", "outcome", "error"),
    [
        (
            Response(b"<html>gateway error</html>", media_type="text/html"),
            "protocol_error",
            "200 answer is not an event stream (text/html; charset=utf-8)",
        ),
        (
            Response(b"data: {not json\n\n", media_type="text/event-stream"),
            "protocol_error",
            "unreadable event in 200 stream (JSONDecodeError): {not json",
        ),
        (
            Response(_sse(_chunk({"content": "w0 "})), media_type="text/event-stream"),
            "server_error",
            "stream ended before the end of the answer",
        ),
        (
            JSONResponse({"error": {"message": f"Incorrect API key provided: {KEY}"}}, status_code=401),
            "auth",
            '401 {"error":{"message":"Incorrect API key provided: [redacted]"}}',
        ),
        (
            JSONResponse({"error": {"message": f"quota exceeded for key={KEY}"}}, status_code=429),
            "rate_limit",
            '429 {"error":{"message":"quota exceeded for key=[redacted]"}}',
        ),
    ],
)
def test_garbage_truncation_and_echoed_keys(reply, outcome, error):
    log, _ = _run(reply)
    assert (log["outcome"].iloc[0], log["error"].iloc[0]) == (outcome, error)
    assert KEY not in log.to_csv()


def test_every_npm_package_maps_to_an_adapter_that_speaks_it():
    assert set(PROTOCOLS.values()) == {a.protocol for a in ADAPTERS.values()} == {"openai", "anthropic"}
    assert set(ADAPTERS) == {
        "openai",
        "cloudflare",
        "azure",
        "anthropic",
        "vertex-anthropic",
        "gemini",
        "vertex-gemini",
        "bedrock",
    }
    assert PROTOCOLS["@ai-sdk/anthropic"] == "anthropic" and PROTOCOLS["@ai-sdk/openai-compatible"] == "openai"


# Malformed chunks after a good first delta: each is one protocol_error attempt, never a crash.
GARBAGE = [
    ("[1,2,3]", "AttributeError"),
    ("null", "TypeError"),
    ('{"choices":[null]}', "AttributeError"),
    ('{"choices":[{"delta":{"content":5}}]}', "ValueError"),
    ('{"choices":[{"delta":{"content":["w"]}}]}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":"5","completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":-5,"completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":1e400,"completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":1e30,"completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":NaN,"completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":{"prompt_tokens":2.5,"completion_tokens":1}}', "ValueError"),
    ('{"choices":[],"usage":[1]}', "AttributeError"),
    ('{"choices":"abc"}', "AttributeError"),
    ("[" * 100_000 + "]" * 100_000, "RecursionError"),
]


@pytest.mark.parametrize(("data", "exc"), GARBAGE)
def test_a_malformed_chunk_is_one_protocol_error_and_the_run_goes_on(data, exc):
    log, _ = _run(Response(_sse(_chunk({"content": "w0 "}), data, "[DONE]"), media_type="text/event-stream"))
    row = log.iloc[0]
    assert (len(log), row["outcome"], row["status"]) == (1, "protocol_error", 200)
    assert row["error"] == f"unreadable event in 200 stream ({exc}): {data}"[:200]  # error texts keep 200 characters


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"data: \xff\xfe\n\n", "undecodable 200 stream: the stream is not UTF-8 (invalid start byte at byte 0xff)"),
        (
            b"data: " + b"w" * (5 * 1024 * 1024) + b"\n\n",
            "undecodable 200 stream: an event of the stream is longer than 4194304 characters",
        ),
        (b'{"choices":[{"message":{"content":"hi"}}]}', "200 answer is not an event stream (application/json)"),
        (b"", "200 answer is not an event stream (application/json)"),
    ],
)
def test_undecodable_bytes_and_a_body_that_is_no_stream_are_protocol_errors(body, error):
    log, _ = _run(Response(body, media_type="application/json"))
    assert (log["outcome"].iloc[0], log["error"].iloc[0]) == ("protocol_error", error)


@pytest.mark.parametrize(
    ("events", "protocol"),
    [
        (_sse({}, "[DONE]"), "openai"),
        (_sse({"choices": []}, {"id": "c", "usage": None}, "[DONE]"), "openai"),
        (b'event: ping\ndata: {"type":"ping"}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n', "anthropic"),
    ],
)
def test_a_stream_that_ends_without_any_answer_is_a_protocol_error(events, protocol):
    log, _ = _run(Response(events, media_type="text/event-stream"), protocol)
    assert (log["outcome"].iloc[0], log["error"].iloc[0]) == (
        "protocol_error",
        f"200 stream carried no {protocol} answer",
    )


def test_a_stream_past_max_tokens_is_cut_off_as_a_protocol_error():
    # the request asks for 3 tokens (SCENARIO): 2 * 3 + 16 = 22 events are allowed, the 23rd is one too many
    end = [_chunk({}, "stop"), "[DONE]"]
    deltas = [_chunk({"content": f"w{i} "}) for i in range(21)]
    log, seen = _run(Response(_sse(*deltas, *end), media_type="text/event-stream"))
    assert seen[0]["body"]["max_tokens"] == 3
    assert (log["outcome"].iloc[0], log["error"].iloc[0]) == (
        "protocol_error",
        "the stream ran past max_tokens: more than 22 events (the client stopped reading)",
    )
    ok, _ = _run(Response(_sse(*deltas[:20], *end), media_type="text/event-stream"))
    assert ok["outcome"].iloc[0] == "ok"
