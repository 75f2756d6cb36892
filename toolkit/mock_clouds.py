"""What the mock providers do differently when a request comes the way a cloud hosts a model.

:mod:`toolkit.mock_providers` serves OpenAI chat completions and Anthropic Messages; the
clouds below host those same protocols at their own URLs, with their own auth and, where the
cloud answers instead of the model's API, their own error bodies (the classifier must read
them):

- **Azure OpenAI** (``azure``): ``POST /openai/v1/chat/completions?api-version=...`` with an
  ``api-key`` header; a missing ``api-version`` is a 404, a wrong key Azure's 401
  ``{"error": {"code": "401", "message": "Access denied due to invalid subscription key..."}}``,
  a rate limit Azure's 429 text ("... Please retry after N seconds") with ``retry-after``.
- **Claude on Vertex AI** (``vertex``): ``POST .../publishers/anthropic/models/M:streamRawPredict``
  (or ``:rawPredict``), the Anthropic body without ``model`` and with ``anthropic_version:
  "vertex-2023-10-16"``, a Google access token as bearer. Quota and auth failures come in
  Google's shape (``{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", ...}}``, 401
  ``UNAUTHENTICATED``, 503 ``UNAVAILABLE``); the model's own errors (overload, context length)
  in Anthropic's.
- **Gemini** (``gemini``): ``POST /v1beta/models/M:streamGenerateContent?alt=sse`` with an
  ``x-goog-api-key`` header (the Gemini API), or ``.../publishers/google/models/M:...`` with a
  Google token (Gemini on Vertex, errors as Vertex's): a ``contents`` / ``parts`` body, answered
  with Gemini chunks (:class:`GeminiFrames`); errors in Google's shape: a wrong API key is a 400
  ``API_KEY_INVALID``, a rate limit a 429 ``RESOURCE_EXHAUSTED`` whose ``RetryInfo.retryDelay``
  says when (no Retry-After header), an overload a 503 ``UNAVAILABLE``, a long prompt a 400
  ``INVALID_ARGUMENT`` "input token count ... exceeds the maximum".
- **Amazon Bedrock** (``bedrock``): ``POST /model/M/converse-stream`` with a Converse body, answered
  in AWS event-stream frames (:class:`ConverseFrames`, valid prelude and message CRCs); SigV4
  recomputed with botocore and the owner's ``aws_credentials`` (a mismatch is Bedrock's 403
  ``InvalidSignatureException``) or a Bedrock API key as bearer; errors as ``{"message"}`` with the
  type in ``x-amzn-ErrorType`` (``ThrottlingException``, ``ModelNotReadyException``, ...).
- **Google OAuth** (``POST /token``): the token endpoint a service account's ``token_uri`` points
  at. It checks the JWT assertion (grant type, audience, scope and, with the owner's
  ``google_public_key``, the RS256 signature) and answers an access token, as Google does.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from toolkit.mock_providers import MockProviders

AZURE, VERTEX, GEMINI = "azure", "vertex", "gemini"
VERTEX_ROUTE = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}"
GEMINI_ROUTE = "/v1beta/models/{target}"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = (
    "https://oauth2.googleapis.com/token"  # what google-auth signs as ``aud``, whatever the token_uri
)
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

_AZURE_AUTH = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_RATE = (
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version v1 have exceeded "
    "token rate limit of your current OpenAI S0 pricing tier. Please retry after {s} seconds."
)
_VERTEX_QUOTA = (
    "Quota exceeded for aiplatform.googleapis.com/online_prediction_input_tokens_per_minute_per_base_model "
    "with base model: anthropic-claude. Please submit a quota increase request."
)
_VERTEX_AUTH = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential."
)


def google_error(code: int, status: str, message: str) -> JSONResponse:
    """A Google API error answer (``google.rpc.Status`` as JSON)."""
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)


def azure_refusal(request: Request) -> JSONResponse | None:
    """Azure's answer to a request without ``api-version`` (None when it has one)."""
    if request.query_params.get("api-version"):
        return None
    return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, status_code=404)


_METHODS = {"rawPredict": False, "streamRawPredict": True, "generateContent": False, "streamGenerateContent": True}


def target(request: Request) -> tuple[str | None, bool]:
    """(model, streamed) of a ``models/{model}:{method}`` path; model None for a method not served
    (Gemini's stream is served as server-sent events only: ``alt=sse``)."""
    model, _, method = request.path_params["target"].rpartition(":")
    if not model or method not in _METHODS:
        return None, False
    if method == "streamGenerateContent" and request.query_params.get("alt") != "sse":
        return None, False
    return model, _METHODS[method]


def body_refusal(cloud: str, body: dict[str, Any]) -> JSONResponse | None:
    """What Vertex answers to an Anthropic body it does not take (None when the body is fine)."""
    if cloud != VERTEX:
        return None
    if "model" in body:
        message = "model: Extra inputs are not permitted"
    elif body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        message = f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r} on Vertex AI"
    else:
        return None
    return JSONResponse(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}, status_code=400
    )


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def authorized(request: Request, cloud: str, owner: MockProviders) -> bool:
    """Whether the request carries the credentials the cloud takes (nothing required when the
    mock was given neither a key nor a Google public key)."""
    if cloud == AZURE:
        return owner.api_key is None or request.headers.get("api-key") == owner.api_key
    if cloud == GEMINI:
        return owner.api_key is None or request.headers.get("x-goog-api-key") == owner.api_key
    if owner.api_key is None and owner.google_public_key is None:
        return True
    token = _bearer(request)
    return token is not None and (token in owner.google_tokens or token == owner.api_key)


def error(
    cloud: str,
    protocol: str,
    kind: str,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str],
    message: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of a fault as the cloud answers it; the model API's own otherwise
    (``payload``, or Gemini's shape for ``protocol`` ``"gemini"``); ``message`` is the reply's own text."""
    if cloud == AZURE:
        if kind == "auth":
            return 401, {"error": {"code": "401", "message": _AZURE_AUTH}}, {}
        if kind == "rate_limit":
            seconds = headers.get("retry-after", "1")
            return 429, {"error": {"code": "429", "message": _AZURE_RATE.format(s=seconds)}}, headers
        return status, payload, headers
    if cloud == GEMINI:
        return _gemini_error(kind, headers)
    if cloud == BEDROCK:
        return _bedrock_error(kind, message)
    if kind in ("rate_limit", "quota"):  # Vertex's own quota: Google shape, no Retry-After header
        return 429, {"error": {"code": 429, "message": _VERTEX_QUOTA, "status": "RESOURCE_EXHAUSTED"}}, {}
    if kind == "auth":
        return 401, {"error": {"code": 401, "message": _VERTEX_AUTH, "status": "UNAUTHENTICATED"}}, {}
    if kind == "unavailable":
        return (
            503,
            {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
            {},
        )
    if protocol == GEMINI:
        return _gemini_error(kind, headers)
    return status, payload, headers


def _claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a JWT (not yet verified), or None if it is not one."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def _signed(assertion: str, public_key_pem: str) -> bool:
    """True when the JWT's RS256 signature verifies against the public key (google-auth's verifier)."""
    from google.auth import crypt

    head, payload, signature = assertion.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return crypt.RSAVerifier.from_string(public_key_pem).verify(f"{head}.{payload}".encode(), raw)


async def token_endpoint(request: Request, owner: MockProviders) -> JSONResponse:
    """Google's OAuth token endpoint for the JWT-bearer grant: an access token, or Google's error."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    assertion = form.get("assertion", "")
    claims = _claims(assertion)
    if form.get("grant_type") != JWT_GRANT or claims is None:
        return JSONResponse({"error": "invalid_request", "error_description": "Invalid grant or assertion"}, 400)
    if (
        claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, str(request.url))
        or CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split()
    ):
        return JSONResponse({"error": "invalid_scope", "error_description": "Invalid audience or scope"}, 400)
    if owner.google_public_key is not None and not _signed(assertion, owner.google_public_key):
        return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
    token = "ya29.mock-" + secrets.token_urlsafe(24)
    owner.google_tokens.add(token)
    return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


# Gemini: fault kind -> (status, google.rpc status, message), as the Gemini API answers them
_GEMINI_ERRORS = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "quota": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "overload": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "unavailable": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "server_error": (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    "context_length": (
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "client_error": (400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'),
    "auth": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
}


def _gemini_error(kind: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A Gemini API error: the retry delay goes in a ``RetryInfo`` detail, never in a header."""
    status, code, message = _GEMINI_ERRORS[kind]
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if kind == "auth":
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ]
    elif kind == "rate_limit" and "retry-after-ms" in headers:
        delay = int(headers["retry-after-ms"]) / 1000
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"}]
    return status, {"error": error}, {}


def gemini_messages(body: dict[str, Any]) -> dict[str, Any]:
    """A Gemini body as the mock counts tokens: its texts as messages, ``maxOutputTokens`` as ``max_tokens``."""
    texts = [
        str(part.get("text", ""))
        for turn in [body.get("systemInstruction") or {}, *(body.get("contents") or [])]
        if isinstance(turn, dict)
        for part in turn.get("parts") or ()
        if isinstance(part, dict)
    ]
    limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
    return {"messages": [{"role": "user", "content": " ".join(texts)}], "max_tokens": limit}


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\r\n\r\n".encode()  # Google ends lines with CRLF


class GeminiFrames:
    """Gemini ``generateContent`` answer and ``streamGenerateContent?alt=sse`` chunks (the frames
    interface of :mod:`toolkit.mock_providers`): text chunks, then a function call as one whole
    part, then the finish reason with ``usageMetadata``."""

    protocol = GEMINI

    def __init__(self, model: str, request_id: str, input_tokens: int) -> None:
        self.model, self.id, self.input_tokens = model, request_id, input_tokens

    def _chunk(
        self,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        output_tokens: int | None = None,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": self.model, "responseId": self.id}
        if output_tokens is not None:
            chunk["usageMetadata"] = {
                "promptTokenCount": self.input_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": self.input_tokens + output_tokens,
            }
        return chunk

    @staticmethod
    def _call(tool_call: tuple[str, Any]) -> dict[str, Any]:
        return {"functionCall": {"name": tool_call[0], "args": dict(tool_call[1])}}

    def body(self, text: str, output_tokens: int, tool_call: tuple[str, Any] | None = None) -> dict[str, Any]:
        parts = [{"text": text}] if text or tool_call is None else []
        if tool_call is not None:
            parts.append(self._call(tool_call))
        return self._chunk(parts, "STOP", output_tokens)

    def start(self) -> bytes:
        return b""  # Gemini's first chunk already carries text

    def token(self, word: str) -> bytes:
        return _sse(self._chunk([{"text": word}]))

    def end(self, output_tokens: int, tool_call: tuple[str, Any] | None = None) -> bytes:
        frames = _sse(self._chunk([self._call(tool_call)])) if tool_call is not None else b""
        return frames + _sse(self._chunk([{"text": ""}], "STOP", output_tokens))

    def error(self, payload: dict[str, Any]) -> bytes:
        message = str((payload.get("error") or {}).get("message") or "The model is overloaded.")
        return _sse({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})


# ---------------------------------------------------------------------------------------
# Amazon Bedrock: ConverseStream, SigV4 or a Bedrock API key, AWS event-stream frames

BEDROCK = "bedrock"
BEDROCK_ROUTE = "/model/{model}/converse-stream"
_BEDROCK_ERROR_TYPE = "x-amzn-errortype"
# fault kind -> (status, AWS error type, message), as Bedrock Runtime answers them
_BEDROCK_ERRORS = {
    "rate_limit": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "quota": (400, "ServiceQuotaExceededException", "Your request exceeds the service quota for your account."),
    "overload": (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "unavailable": (
        429,
        "ModelNotReadyException",
        "Model is not ready for inference. Wait and try your request again.",
    ),
    "server_error": (
        500,
        "InternalServerException",
        "The server encountered an internal error while processing the request.",
    ),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "client_error": (
        400,
        "ValidationException",
        "Malformed input request: #: required key [messages] not found, please reformat your input and try again.",
    ),
    "auth": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
}
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


def _bedrock_error(kind: str, message: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A Bedrock error: ``{"message"}`` with the type in ``x-amzn-ErrorType`` (no Retry-After)."""
    status, error_type, default = _BEDROCK_ERRORS[kind]
    if message == SIGNATURE_MISMATCH:
        error_type = "InvalidSignatureException"
    header = f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return status, {"message": message or default}, {_BEDROCK_ERROR_TYPE: header}


def bedrock_authorized(request: Request, body: bytes, owner: MockProviders) -> str | None:
    """None when the request carries the Bedrock API key or a valid SigV4 signature (or the mock
    requires neither); else the message Bedrock answers."""
    if owner.api_key is None and owner.aws_credentials is None:
        return None
    authorization = request.headers.get("authorization", "")
    if owner.api_key is not None and authorization == f"Bearer {owner.api_key}":
        return None
    if owner.aws_credentials is not None and authorization.startswith("AWS4-HMAC-SHA256 "):
        return None if _signature_matches(request, body, authorization, owner) else SIGNATURE_MISMATCH
    return "Authentication failed: Please make sure your API Key is valid."


def _signature_matches(request: Request, body: bytes, authorization: str, owner: MockProviders) -> bool:
    """Recompute the SigV4 signature with botocore and the mock's credentials; compare."""
    import hmac

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    access_key, _, region, service, _ = fields["Credential"].split("/")
    expected_access, secret, token = owner.aws_credentials  # type: ignore[misc]
    if access_key != expected_access or service != "bedrock" or region != owner.aws_region:
        return False
    signed = fields["SignedHeaders"].split(";")
    url = f"{request.url.scheme}://{request.headers['host']}{request.scope['raw_path'].decode()}"
    aws_request = AWSRequest(
        method=request.method, url=url, data=body, headers={name: request.headers.get(name, "") for name in signed}
    )
    aws_request.context["timestamp"] = request.headers.get("x-amz-date", "")
    auth = SigV4Auth(Credentials(access_key, secret, token), service, region)
    expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
    return hmac.compare_digest(expected, fields["Signature"])


def converse_messages(body: dict[str, Any]) -> dict[str, Any]:
    """A Converse body as the mock counts tokens: its texts as messages, ``maxTokens`` as ``max_tokens``."""
    blocks = [*(body.get("system") or [])]
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            blocks.extend(message.get("content") or ())
    texts = [str(b.get("text", "")) for b in blocks if isinstance(b, dict)]
    return {
        "messages": [{"role": "user", "content": " ".join(texts)}],
        "max_tokens": (body.get("inferenceConfig") or {}).get("maxTokens"),
    }


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total and headers length, CRC32), string headers,
    payload, message CRC32, as Bedrock frames every ConverseStream event."""
    encoded = b"".join(
        struct.pack(">B", len(k)) + k.encode() + struct.pack(">BH", 7, len(v)) + v.encode() for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def _event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json.dumps(payload, separators=(",", ":")).encode())


class ConverseFrames:
    """ConverseStream events in AWS event-stream frames (the frames interface of
    :mod:`toolkit.mock_providers`): messageStart, text deltas, a tool use as its own block with
    its input in two fragments, messageStop, then metadata with the usage."""

    protocol = "converse"
    media_type = "application/vnd.amazon.eventstream"

    def __init__(self, model: str, request_id: str, input_tokens: int) -> None:
        self.model, self.id, self.input_tokens = model, request_id, input_tokens

    def body(self, text: str, output_tokens: int, tool_call: tuple[str, Any] | None = None) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"text": text}] if text or tool_call is None else []
        if tool_call is not None:
            content.append(
                {"toolUse": {"toolUseId": f"tooluse_{self.id}", "name": tool_call[0], "input": dict(tool_call[1])}}
            )
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "tool_use" if tool_call else "end_turn",
            "usage": self._usage(output_tokens),
        }

    def _usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": self.input_tokens + output_tokens,
        }

    def start(self) -> bytes:
        return _event("messageStart", {"role": "assistant"})

    def token(self, word: str) -> bytes:
        return _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word}})

    def end(self, output_tokens: int, tool_call: tuple[str, Any] | None = None) -> bytes:
        frames = _event("contentBlockStop", {"contentBlockIndex": 0})
        if tool_call is not None:
            start = {"toolUse": {"toolUseId": f"tooluse_{self.id}", "name": tool_call[0]}}
            frames += _event("contentBlockStart", {"contentBlockIndex": 1, "start": start})
            arguments = json.dumps(dict(tool_call[1]))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                frames += _event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": part}}})
            frames += _event("contentBlockStop", {"contentBlockIndex": 1})
        frames += _event("messageStop", {"stopReason": "tool_use" if tool_call else "end_turn"})
        return frames + _event("metadata", {"usage": self._usage(output_tokens), "metrics": {"latencyMs": 1}})

    def error(self, payload: dict[str, Any]) -> bytes:
        message = str((payload.get("error") or {}).get("message") or "Bedrock is unable to process your request.")
        headers = {
            ":exception-type": "serviceUnavailableException",
            ":content-type": "application/json",
            ":message-type": "exception",
        }
        return event_frame(headers, json.dumps({"message": message}).encode())
