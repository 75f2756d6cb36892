"""The outcome classifier and the Retry-After parser, table-tested with real provider bodies."""

from __future__ import annotations

import httpx
import pytest

from toolkit.classifier import OUTCOMES, classify, retry_after_s

ANTHROPIC_OVERLOAD = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
OPENAI_QUOTA = (
    '{"error":{"message":"You exceeded your current quota, please check your plan.",'
    '"type":"insufficient_quota","code":"insufficient_quota"}}'
)
OPENAI_CONTEXT = (
    '{"error":{"message":"This model\'s maximum context length is 128000 tokens.",'
    '"code":"context_length_exceeded"}}'
)
ANTHROPIC_CONTEXT = '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}'
SSE_OK = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
SSE_OVERLOADED = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"error":{"message":"Upstream overloaded"}}\n\n'
SSE_ANTHROPIC_ERROR = 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal"}}\n\n'

CASES = [
    # status, body, expected
    (200, "", "ok"),
    (200, '{"choices":[{"message":{"content":"fine"}}]}', "ok"),
    (200, SSE_OK, "ok"),
    (200, SSE_OVERLOADED, "overload"),
    (200, SSE_ANTHROPIC_ERROR, "server_error"),
    (200, 'data: {"error":{"message":"Rate limit reached for requests"}}', "rate_limit"),
    (429, "", "rate_limit"),
    (429, OPENAI_QUOTA, "rate_limit"),
    (400, OPENAI_QUOTA, "rate_limit"),
    (529, ANTHROPIC_OVERLOAD, "overload"),
    (529, "", "overload"),
    (503, "Service Unavailable", "overload"),
    (500, '{"error":{"message":"The server is overloaded"}}', "overload"),
    (500, "Internal Server Error", "server_error"),
    (502, "Bad Gateway", "server_error"),
    (504, "", "server_error"),
    (408, "", "timeout"),
    (401, '{"error":{"message":"Invalid API key"}}', "auth"),
    (403, "Forbidden", "auth"),
    (400, OPENAI_CONTEXT, "context_length"),
    (400, ANTHROPIC_CONTEXT, "context_length"),
    (413, "Request too large for model", "context_length"),
    (400, '{"error":{"message":"messages: field required"}}', "client_error"),
    (404, "model not found", "client_error"),
    (409, "", "client_error"),
]


@pytest.mark.parametrize(("status", "body", "expected"), CASES)
def test_classify_status_and_body(status, body, expected):
    assert classify(status, {}, body, None) == expected


def test_classify_accepts_bytes():
    assert classify(529, None, ANTHROPIC_OVERLOAD.encode(), None) == "overload"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout("connect"), "timeout"),
        (TimeoutError(), "timeout"),
        (TimeoutError(), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection"),
        (ConnectionResetError("ECONNRESET"), "connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "connection"),
        (OSError("connect ETIMEDOUT 10.0.0.1:443"), "timeout"),
    ],
)
def test_classify_exceptions(exc, expected):
    assert classify(None, None, None, exc) == expected


def test_a_stream_broken_after_200_is_a_transport_failure():
    assert classify(200, {}, SSE_OK[:20], httpx.ReadError("reset")) == "connection"


def test_classify_needs_status_or_exception():
    with pytest.raises(ValueError):
        classify(None)


def test_every_class_but_cancelled_is_reachable():
    reached = {expected for _, _, expected in CASES} | {"timeout", "connection"}
    assert reached == set(OUTCOMES) - {"cancelled"}


NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 GMT


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (None, None),
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:00 GMT"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": "nan"}, None),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after_s(headers, now_epoch_s=NOW) == expected


def test_retry_after_date_needs_a_clock():
    assert retry_after_s({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}) is None
