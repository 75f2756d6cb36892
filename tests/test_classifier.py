"""The outcome classifier and the Retry-After parser, table-tested with real provider bodies."""

from __future__ import annotations

import httpx
import pytest

from toolkit.classifier import classify, retry_after_s
from toolkit.vocabulary import OUTCOMES

ANTHROPIC_OVERLOAD = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
OPENAI_QUOTA = (
    '{"error":{"message":"You exceeded your current quota, please check your plan.",'
    '"type":"insufficient_quota","code":"insufficient_quota"}}'
)
OPENAI_CONTEXT = (
    '{"error":{"message":"This model\'s maximum context length is 128000 tokens.","code":"context_length_exceeded"}}'
)
ANTHROPIC_CONTEXT = '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}'
SSE_OK = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
SSE_OVERLOADED = (
    'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"error":{"message":"Upstream overloaded"}}\n\n'
)
# Google (Gemini API, Vertex AI) and Azure error bodies, as those services send them
GEMINI_RATE = (
    '{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing '
    'details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo",'
    '"retryDelay":"27s"}]}}'
)
GEMINI_OVERLOAD = (
    '{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}'
)
GEMINI_BAD_KEY = (
    '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":'
    '"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}'
)
GEMINI_CONTEXT = (
    '{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens '
    'allowed (1048576).","status":"INVALID_ARGUMENT"}}'
)
GEMINI_INTERNAL = '{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}'
VERTEX_QUOTA = (
    '{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_input_'
    'tokens_per_minute_per_base_model with base model: anthropic-claude-sonnet-4-5.","status":"RESOURCE_EXHAUSTED"}}'
)
VERTEX_AUTH = (
    '{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access '
    'token.","status":"UNAUTHENTICATED"}}'
)
VERTEX_DENIED = (
    '{"error":{"code":403,"message":"Permission denied on resource project p.","status":"PERMISSION_DENIED"}}'
)
AZURE_AUTH = '{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}'
AZURE_RATE = (
    '{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API '
    "version v1 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 "
    'seconds."}}'
)
SSE_GEMINI_ERROR = 'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}\r\n\r\ndata: ' + GEMINI_OVERLOAD
BEDROCK_TYPE = "x-amzn-errortype"  # Bedrock names the error in this header; the body is {"message": ...}
SSE_BEDROCK_ERROR = (
    'data: {"error":{"type":"serviceUnavailableException","message":"serviceUnavailableException: '
    'Bedrock is unable to process your request."}}'
)
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
    (429, GEMINI_RATE, "rate_limit"),
    (503, GEMINI_OVERLOAD, "overload"),
    (400, GEMINI_BAD_KEY, "auth"),
    (400, GEMINI_CONTEXT, "context_length"),
    (500, GEMINI_INTERNAL, "server_error"),
    (200, SSE_GEMINI_ERROR, "overload"),
    (429, VERTEX_QUOTA, "rate_limit"),
    (401, VERTEX_AUTH, "auth"),
    (403, VERTEX_DENIED, "auth"),
    (401, AZURE_AUTH, "auth"),
    (429, AZURE_RATE, "rate_limit"),
]


BEDROCK_CASES = [
    # status, AWS error type, body, expected
    (429, "ThrottlingException", '{"message":"Too many tokens, please wait before trying again."}', "rate_limit"),
    (429, "ThrottlingException", '{"message":"Too many requests, please wait before trying again."}', "rate_limit"),
    (
        429,
        "ModelNotReadyException",
        '{"message":"Model is not ready for inference. Wait and try your request again."}',
        "overload",
    ),
    (503, "ServiceUnavailableException", '{"message":"Bedrock is unable to process your request."}', "overload"),
    (400, "ValidationException", '{"message":"Input is too long for requested model."}', "context_length"),
    (
        400,
        "ValidationException",
        '{"message":"Malformed input request: #: required key [messages] not found"}',
        "client_error",
    ),
    (
        400,
        "ServiceQuotaExceededException",
        '{"message":"Your request exceeds the service quota for your account."}',
        "rate_limit",
    ),
    (
        403,
        "InvalidSignatureException",
        '{"message":"The request signature we calculated does not match the signature you provided."}',
        "auth",
    ),
    (500, "InternalServerException", '{"message":"The server encountered an internal error."}', "server_error"),
    (200, None, SSE_BEDROCK_ERROR, "overload"),
]


@pytest.mark.parametrize(("status", "error_type", "body", "expected"), BEDROCK_CASES)
def test_bedrock_errors_by_status_type_header_and_message(status, error_type, body, expected):
    headers = {BEDROCK_TYPE: f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"} if error_type else {}
    assert classify(status, headers, body) == expected


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


def test_every_class_but_cancelled_and_protocol_error_is_reachable():
    reached = {expected for _, _, expected in CASES} | {"timeout", "connection"}
    assert reached == set(OUTCOMES) - {"cancelled", "protocol_error"}  # protocol_error: the call layer's


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
        ({"retry-after": "inf"}, None),
        # absurd waits are capped at MAX_RETRY_AFTER_S (600 s): a server cannot park a request forever
        ({"retry-after": "1e308"}, 600.0),
        ({"retry-after": "1e999"}, None),  # overflows to infinity: not a number of seconds
        ({"retry-after-ms": "1e308"}, 600.0),
        ({"retry-after": "-1e308"}, 0.0),
        ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, 600.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:23:19 GMT"}, 599.0),
    ],
)
def test_retry_after(headers, expected):
    assert retry_after_s(headers, now_epoch_s=NOW) == expected


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, GEMINI_RATE, 27.0),  # Google says it in a RetryInfo detail, not a header
        (None, '{"error":{"details":[{"retryDelay": "0.5s"}]}}', 0.5),
        ({"retry-after": "3"}, GEMINI_RATE, 3.0),  # a header wins
        ({}, VERTEX_QUOTA, None),
        ({}, b'{"retryDelay":"2s"}', 2.0),
        ({}, '{"retryDelay": "99999999999s"}', 600.0),
    ],
)
def test_retry_delay_from_a_google_error_body(headers, body, expected):
    assert retry_after_s(headers, NOW, body) == expected


def test_retry_after_date_needs_a_clock():
    assert retry_after_s({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}) is None
