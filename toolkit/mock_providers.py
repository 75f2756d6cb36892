"""Fault-injecting mock LLM providers: real HTTP servers on 127.0.0.1, one port per provider.

Each provider speaks both wire protocols an OpenCode user meets, so any catalog ``npm``
adapter can talk to it:

- OpenAI-compatible ``POST /v1/chat/completions`` (JSON, or SSE with ``usage`` in the last
  chunk before ``[DONE]``) and ``GET /v1/models``;
- Anthropic Messages ``POST /v1/messages`` (JSON, or its ``message_start`` ...
  ``message_stop`` event stream);
- the same two protocols at the URLs of the clouds that host them (:mod:`toolkit.mock_clouds`):
  Azure OpenAI ``POST /openai/v1/chat/completions?api-version=...`` (``api-key`` header) and
  Claude on Vertex AI ``POST /v1/projects/P/locations/L/publishers/anthropic/models/M:streamRawPredict``
  (a Google access token, issued by the mock's own OAuth token endpoint ``POST /token``), Gemini
  ``streamGenerateContent`` (the Gemini API and Vertex) and Amazon Bedrock ``ConverseStream``
  (AWS event-stream frames, SigV4 checked), each with that cloud's error bodies.

What a provider does with a request is a :class:`Reply`: succeed after a time to first
token at a token pace (with scripted ``text``, or a scripted ``tool_call`` that is streamed
as OpenAI ``tool_calls`` deltas or an Anthropic ``tool_use`` block with ``input_json_delta``
fragments), answer an error with the body real providers send (429 with
``retry-after`` / ``retry-after-ms``, ``insufficient_quota``, 529 ``overloaded_error``,
503, 500, context length, 401), hang until the client gives up, reset the TCP connection
mid-stream, or put an error event inside a 200 stream. Replies come from a scripted queue
(tests: a tool call, then the plain answer that follows the tool's result) and otherwise
from a *decider*: :class:`ScenarioDecider` turns a scenario file into replies by asking
:func:`toolkit.world.answerer`, the function the simulator asks too (``docs/failover.md``).

All durations in a :class:`Reply` and in headers are *scenario seconds*; the server
sleeps ``duration / time_scale`` real seconds, so a scenario runs ``time_scale`` times
faster than real time while the numbers a client sees stay those of the scenario.

The servers are uvicorn instances on one background event loop (:class:`MockProviders`
is a context manager); every request is appended to a JSON-lines log and kept in
``MockProviders.requests``. No API key is ever logged: the log says only whether the
request carried the expected one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from toolkit import mock_clouds, world
from toolkit.asgi_stop import quiet_on_stop
from toolkit.clock_lag import LagMeter
from toolkit.scenario import Scenario
from toolkit.vocabulary import OUTCOMES

HOST = "127.0.0.1"  # never anything else: the mock must not be reachable from the network
_MIN_WRITE_GAP_S = 0.005  # real seconds between two stream writes (tokens due meanwhile are batched)

#: What a mock provider can do with one request.
KINDS = (
    "ok",
    "rate_limit",  # 429 rate_limit_exceeded with retry-after / retry-after-ms
    "quota",  # 429 insufficient_quota (no retry-after: waiting does not help)
    "overload",  # 529 overloaded_error (Anthropic) / 503 "overloaded" (OpenAI-compatible)
    "unavailable",  # 503 service unavailable
    "server_error",  # 500
    "context_length",  # 400 context length exceeded
    "auth",  # 401 invalid key
    "client_error",  # 400 invalid request
    "hang",  # no answer until the client disconnects
    "reset",  # TCP reset after `reset_after_tokens` streamed tokens (0: before any byte)
    "stream_error",  # 200, some tokens, then an error event inside the stream
)


@dataclass(frozen=True)
class Reply:
    """What one provider does with one request; durations in scenario seconds."""

    kind: str = "ok"
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0  # 0: every token at once, right after the first
    retry_after_s: float | None = None
    reset_after_tokens: int = 2
    message: str | None = None  # overrides the default error text
    text: str | None = None  # the answer; None: ``max_tokens`` filler words
    tool_call: tuple[str, Mapping[str, Any]] | None = None  # (tool name, arguments): called after the text

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reply kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.tool_call is not None:
            name, arguments = self.tool_call
            if not (isinstance(name, str) and name and isinstance(arguments, Mapping)):
                raise ValueError("tool_call is (tool name, arguments dict)")

    def words(self, max_tokens: int) -> list[str]:
        """The answer as streamed tokens: the scripted text word by word, or filler words."""
        return re.findall(r"\s*\S+\s*", self.text) if self.text is not None else _words(max_tokens)


@dataclass(frozen=True)
class Incoming:
    """The facts about a request a decider may use (never its headers: they hold the key)."""

    provider: str
    protocol: str  # "openai" or "anthropic"
    model: str
    stream: bool
    input_tokens: int
    max_tokens: int
    t_s: float  # scenario seconds since the mock started


class Decider(Protocol):
    """Chooses the reply of a provider to a request (for example from a scenario)."""

    def __call__(self, request: Incoming) -> Reply: ...


def _always_ok(request: Incoming) -> Reply:
    return Reply()


# ---------------------------------------------------------------------------------------
# Wire formats

# kind -> (status, OpenAI (type, code, message), Anthropic (type, message)). Texts follow
# what the real APIs answer, because the classifier reads them.
_ERRORS: dict[str, tuple[int, tuple[str, str | None, str], tuple[str, str]]] = {
    "rate_limit": (
        429,
        ("requests", "rate_limit_exceeded", "Rate limit reached for requests per min. Please try again later."),
        ("rate_limit_error", "This request would exceed the rate limit for your organization."),
    ),
    "quota": (
        429,
        (
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        ("rate_limit_error", "insufficient_quota: your credit balance is too low to access the API."),
    ),
    "overload": (
        529,
        ("server_error", None, "The server is overloaded. Please try again later."),
        ("overloaded_error", "Overloaded"),
    ),
    "unavailable": (
        503,
        ("server_error", None, "Service Unavailable"),
        ("api_error", "Service Unavailable"),
    ),
    "server_error": (
        500,
        ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
        ("api_error", "Internal server error"),
    ),
    "context_length": (
        400,
        (
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens. However, your messages resulted in more tokens.",
        ),
        ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    ),
    "auth": (
        401,
        ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        ("authentication_error", "invalid x-api-key"),
    ),
    "client_error": (
        400,
        ("invalid_request_error", None, "Invalid request: 'messages' is malformed."),
        ("invalid_request_error", "messages: field required"),
    ),
}


def _error_payload(protocol: str, kind: str, message: str | None) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of an error answer (also used inside a 200 stream)."""
    status, (o_type, o_code, o_text), (a_type, a_text) = _ERRORS[kind]
    if protocol == "anthropic":
        return status, {"type": "error", "error": {"type": a_type, "message": message or a_text}}
    if kind == "overload":
        status = 503  # OpenAI-compatible servers say 503; 529 is Anthropic's own code
    return status, {"error": {"message": message or o_text, "type": o_type, "param": None, "code": o_code}}


def _retry_after_headers(seconds: float | None) -> dict[str, str]:
    """Both forms real providers send: whole seconds (rounded up) and milliseconds."""
    if seconds is None:
        return {}
    return {"retry-after": str(max(0, math.ceil(seconds))), "retry-after-ms": str(max(0, round(seconds * 1000)))}


def _words(n: int) -> list[str]:
    """``n`` output tokens of filler text; one word is one token for the mock's accounting."""
    return [f"w{i} " for i in range(n)]


def _sse(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class _OpenAIFrames:
    """OpenAI chat-completions JSON body and stream chunks."""

    protocol = "openai"

    def __init__(self, model: str, request_id: str, input_tokens: int) -> None:
        self.model, self.id, self.input_tokens, self.created = model, request_id, input_tokens, int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        base = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
        return {**base, "choices": choices, **extra}

    def usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": self.input_tokens + output_tokens,
        }

    def _call(self, tool_call: tuple[str, Mapping[str, Any]], arguments: str) -> dict[str, Any]:
        return {"id": f"call_{self.id}", "type": "function", "function": {"name": tool_call[0], "arguments": arguments}}

    def body(
        self, text: str, output_tokens: int, tool_call: tuple[str, Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_call else "")}
        if tool_call is not None:
            message["tool_calls"] = [self._call(tool_call, json.dumps(tool_call[1]))]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_call else "stop"}],
            "usage": self.usage(output_tokens),
        }

    def start(self) -> bytes:
        return _sse(self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))

    def token(self, word: str) -> bytes:
        return _sse(self._chunk([{"index": 0, "delta": {"content": word}, "finish_reason": None}]))

    def end(self, output_tokens: int, tool_call: tuple[str, Mapping[str, Any]] | None = None) -> bytes:
        """The tool call (name first, then the arguments in two fragments), the finish reason, usage."""
        frames = b""
        if tool_call is not None:
            arguments = json.dumps(tool_call[1])
            half = len(arguments) // 2
            deltas = [{"index": 0, **self._call(tool_call, "")}]
            deltas += [{"index": 0, "function": {"arguments": part}} for part in (arguments[:half], arguments[half:])]
            for delta in deltas:
                frames += _sse(self._chunk([{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}]))
        reason = "tool_calls" if tool_call else "stop"
        stop = self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}])
        usage = self._chunk([], usage=self.usage(output_tokens))
        return frames + _sse(stop) + _sse(usage) + _sse("[DONE]")

    def error(self, payload: dict[str, Any]) -> bytes:
        return _sse(payload)


class _AnthropicFrames:
    """Anthropic Messages JSON body and event stream."""

    protocol = "anthropic"

    def __init__(self, model: str, request_id: str, input_tokens: int) -> None:
        self.model, self.id, self.input_tokens = model, request_id, input_tokens

    def _message(self, content: list[dict[str, Any]], stop: str | None, output_tokens: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": output_tokens},
        }

    def _tool_use(self, tool_call: tuple[str, Mapping[str, Any]], arguments: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": f"toolu_{self.id}", "name": tool_call[0], "input": dict(arguments)}

    def body(
        self, text: str, output_tokens: int, tool_call: tuple[str, Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        content = [{"type": "text", "text": text}] if text or tool_call is None else []
        if tool_call is not None:
            content.append(self._tool_use(tool_call, tool_call[1]))
        return self._message(content, "tool_use" if tool_call else "end_turn", output_tokens)

    def start(self) -> bytes:
        return (
            _sse({"type": "message_start", "message": self._message([], None, 1)}, "message_start")
            + _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
            + _sse({"type": "ping"}, "ping")
        )

    def token(self, word: str) -> bytes:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
        return _sse(delta, "content_block_delta")

    def end(self, output_tokens: int, tool_call: tuple[str, Mapping[str, Any]] | None = None) -> bytes:
        """Close the text block; the tool call as block 1 (its input in two ``input_json_delta``s); stop."""
        frames = _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        if tool_call is not None:
            arguments = json.dumps(tool_call[1])
            half = len(arguments) // 2
            start = {"type": "content_block_start", "index": 1, "content_block": self._tool_use(tool_call, {})}
            frames += _sse(start, "content_block_start")
            for part in (arguments[:half], arguments[half:]):
                delta = {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                }
                frames += _sse(delta, "content_block_delta")
            frames += _sse({"type": "content_block_stop", "index": 1}, "content_block_stop")
        reason = "tool_use" if tool_call else "end_turn"
        return (
            frames
            + _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
                "message_delta",
            )
            + _sse({"type": "message_stop"}, "message_stop")
        )

    def error(self, payload: dict[str, Any]) -> bytes:
        return _sse(payload, "error")


_FRAMES: dict[str, type[_OpenAIFrames | _AnthropicFrames | mock_clouds.GeminiFrames | mock_clouds.ConverseFrames]] = {
    "openai": _OpenAIFrames,
    "anthropic": _AnthropicFrames,
    "gemini": mock_clouds.GeminiFrames,
    "converse": mock_clouds.ConverseFrames,
}


# ---------------------------------------------------------------------------------------
# Replies from a scenario

# Injected scenario class -> what the server does on the socket (docs/failover.md,
# "On a real socket"): a timeout never answers, a connection error closes without an answer.
_KIND_OF_CLASS = {
    "rate_limit": "rate_limit",
    "overload": "overload",
    "server_error": "server_error",
    "timeout": "hang",
    "connection": "reset",
    "auth": "auth",
    "client_error": "client_error",
    "context_length": "context_length",
}


class ScenarioDecider:
    """Replies drawn from a scenario with the simulator's meaning: :func:`toolkit.world.answerer`'s answers.

    ``providers`` are the mocked providers; ``rank:N`` is position N of ``ranking`` (the combined
    model's member order, as in the simulator; default ``providers``); ``context_limits`` the
    members' catalog context windows, when known. Each provider draws from its own seeded stream, so
    one provider's traffic does not change another's draws. The answer tokens a request can
    cost are its ``max_tokens`` (what the context check and the token bucket count).
    """

    def __init__(
        self,
        scenario: Scenario,
        providers: Sequence[str],
        seed: int = 0,
        context_limits: Mapping[str, float | None] | None = None,
        ranking: Sequence[str] | None = None,
    ) -> None:
        limits = dict(context_limits or {})
        self.answers = {
            w.provider: world.answerer(w, limits.get(w.provider), world.provider_generator(seed, w.provider))
            for w in scenario.resolve(providers, ranking)
        }
        self.lock = threading.Lock()

    def __call__(self, request: Incoming) -> Reply:
        answer = self.answers.get(request.provider)
        if answer is None:
            return Reply()
        with self.lock:  # the servers run on one loop, but a decider may be shared with a thread
            # the client keeps its own time: no patience, an injected timeout hangs until it gives up
            code, duration, ttft, tps, retry_after, _ = answer(
                request.t_s, request.input_tokens, request.max_tokens, math.inf
            )
        if code == world.OK:
            return Reply(ttft_s=ttft, tokens_per_s=tps)
        return Reply(
            _KIND_OF_CLASS[OUTCOMES[code]],
            ttft_s=0.0 if code == world.TIMEOUT else duration,
            retry_after_s=None if math.isnan(retry_after) else retry_after,
            reset_after_tokens=0,
        )


# ---------------------------------------------------------------------------------------
# The application


def _count_input_tokens(body: Mapping[str, Any]) -> int:
    """Whitespace words of every text in the prompt: the mock's stand-in for a tokenizer."""
    contents = [body.get("system")]  # Anthropic's system prompt: a string or text blocks
    contents += [m.get("content") for m in body.get("messages") or [] if isinstance(m, Mapping)]
    texts: list[str] = []
    for content in contents:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return sum(len(text.split()) for text in texts)


class _Provider:
    """One provider's ASGI app plus the uvicorn server that runs it."""

    def __init__(self, name: str, owner: MockProviders) -> None:
        self.name, self.owner = name, owner
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/openai/v1/chat/completions", self._azure, methods=["POST"]),
                Route(mock_clouds.VERTEX_ROUTE, self._vertex, methods=["POST"]),
                Route(mock_clouds.GEMINI_ROUTE, self._gemini, methods=["POST"]),
                Route(mock_clouds.BEDROCK_ROUTE, self._bedrock, methods=["POST"]),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
        app = quiet_on_stop(self.app)  # a request still paced when the mock stops (its client left): no traceback
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", loop="asyncio")
        self.server = uvicorn.Server(config)

    async def _models(self, request: Request) -> Response:
        models = [{"id": m, "object": "model", "created": 0, "owned_by": self.name} for m in self.owner.models]
        return JSONResponse({"object": "list", "data": models})

    async def _chat(self, request: Request) -> Response:
        return await self._complete(request, "openai")

    async def _messages(self, request: Request) -> Response:
        return await self._complete(request, "anthropic")

    async def _azure(self, request: Request) -> Response:
        refused = mock_clouds.azure_refusal(request)
        return refused if refused is not None else await self._complete(request, "openai", mock_clouds.AZURE)

    async def _vertex(self, request: Request) -> Response:
        publisher = request.path_params["publisher"]
        protocol = {"anthropic": "anthropic", "google": "gemini"}.get(publisher)
        return await self._hosted(request, protocol, mock_clouds.VERTEX)

    async def _gemini(self, request: Request) -> Response:
        return await self._hosted(request, "gemini", mock_clouds.GEMINI)

    async def _bedrock(self, request: Request) -> Response:
        model = request.path_params["model"]
        return await self._complete(request, "converse", mock_clouds.BEDROCK, model=model, stream=True)

    async def _hosted(self, request: Request, protocol: str | None, cloud: str) -> Response:
        """A request whose URL names the model and the method (Vertex, the Gemini API)."""
        model, stream = mock_clouds.target(request)
        if model is None or protocol is None:
            return mock_clouds.google_error(404, "NOT_FOUND", f"no such publisher or method: {request.url.path}")
        return await self._complete(request, protocol, cloud, model=model, stream=stream)

    async def _token(self, request: Request) -> Response:
        return await mock_clouds.token_endpoint(request, self.owner)

    def _refusal(self, request: Request, raw: bytes, protocol: str, cloud: str | None) -> str | None:
        """None when the request carries the credentials this mock requires, else the refusal's
        text (``""``: the protocol's default)."""
        if cloud == mock_clouds.BEDROCK:
            return mock_clouds.bedrock_authorized(request, raw, self.owner)
        return None if self._authorized(request, protocol, cloud) else ""

    def _authorized(self, request: Request, protocol: str, cloud: str | None = None) -> bool:
        expected = self.owner.api_key
        if cloud is not None:
            return mock_clouds.authorized(request, cloud, self.owner)
        if expected is None:
            return True
        if protocol == "anthropic":
            return request.headers.get("x-api-key") == expected
        return request.headers.get("authorization") == f"Bearer {expected}"

    async def _complete(
        self,
        request: Request,
        protocol: str,
        cloud: str | None = None,
        model: str | None = None,
        stream: bool | None = None,
    ) -> Response:
        """Answer one request in ``protocol``; ``cloud`` names the hosting cloud (its auth and
        error bodies), ``model`` and ``stream`` are given when the URL carries them (Vertex)."""
        try:
            raw = await request.body()
        except ClientDisconnect:  # the client gave up before sending its body: nothing to answer
            return Response(status_code=499)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit: a 400 below
            body = None
        owner = self.owner
        if not isinstance(body, dict):
            status, payload = _error_payload(protocol, "client_error", "request body is not a JSON object")
            return JSONResponse(payload, status_code=status)
        if cloud is not None:
            refused = mock_clouds.body_refusal(cloud, body) if protocol == "anthropic" else None
            if refused is not None:
                return refused
        counted = {"gemini": mock_clouds.gemini_messages, "converse": mock_clouds.converse_messages}.get(
            protocol, dict
        )(body)
        incoming = Incoming(
            provider=self.name,
            protocol=protocol,
            model=model if model is not None else str(body.get("model", "")),
            stream=bool(body.get("stream")) if stream is None else stream,
            input_tokens=_count_input_tokens(counted),
            max_tokens=int(counted.get("max_tokens") or counted.get("max_completion_tokens") or 16),
            t_s=owner.now_s(),
        )
        refusal = self._refusal(request, raw, protocol, cloud)
        authorized = refusal is None
        reply = owner.next_reply(incoming) if authorized else Reply("auth", message=refusal or None)
        owner.record(incoming, reply, request.headers.get("x-request-id"), authorized, body)
        frames = _FRAMES[protocol](incoming.model, f"mock-{next(owner.ids)}", incoming.input_tokens)

        if reply.kind in _ERRORS:
            await owner.sleep(reply.ttft_s)
            status, payload = _error_payload(protocol, reply.kind, reply.message)
            headers = _retry_after_headers(reply.retry_after_s)
            if cloud is not None:  # the cloud's own body where it answers instead of the model's API
                status, payload, headers = mock_clouds.error(
                    cloud, protocol, reply.kind, status, payload, headers, reply.message
                )
            return JSONResponse(payload, status_code=status, headers=headers)
        if reply.kind == "hang":
            await _until_disconnected(request)
            return Response(status_code=504)  # never reaches a client that is gone
        if reply.kind == "reset" and (reply.reset_after_tokens == 0 or not incoming.stream):
            await owner.sleep(reply.ttft_s)
            self._reset(request)
            return Response(status_code=500)  # dropped: the connection is already gone
        words = reply.words(incoming.max_tokens)
        if not incoming.stream:
            await owner.sleep(reply.ttft_s + _pace(reply) * len(words))
            if reply.kind == "stream_error":  # without a stream the same fault is a plain 529/503
                status, payload = _error_payload(protocol, "overload", reply.message)
                return JSONResponse(payload, status_code=status)
            return JSONResponse(frames.body("".join(words), _output_tokens(reply, words), reply.tool_call))
        media_type = getattr(frames, "media_type", "text/event-stream")
        return StreamingResponse(self._stream(request, reply, frames, words), media_type=media_type)

    async def _stream(self, request: Request, reply: Reply, frames: Any, words: list[str]):
        """Yield the event stream, pacing tokens on the scaled clock and injecting faults."""
        owner = self.owner
        await owner.sleep(reply.ttft_s)
        yield frames.start()
        start = time.monotonic()
        pace = _pace(reply) / owner.time_scale
        stop_at = len(words)
        if reply.kind in ("reset", "stream_error"):
            stop_at = min(reply.reset_after_tokens, len(words))
        sent = 0
        while sent < stop_at:
            # Every token due by now goes out in one event, as real providers batch under load;
            # the next write waits at least _MIN_WRITE_GAP_S, so a fast scenario cannot flood the loop.
            due = stop_at if pace == 0 else min(stop_at, int((time.monotonic() - start) / pace) + 1)
            yield frames.token("".join(words[sent:due]))
            sent = due
            if sent < stop_at:
                await asyncio.sleep(max(_MIN_WRITE_GAP_S, start + sent * pace - time.monotonic()))
        if reply.kind == "reset":
            await asyncio.sleep(0)  # let the tokens reach the socket before the reset
            self._reset(request)
            return
        if reply.kind == "stream_error":
            _, payload = _error_payload(frames.protocol, "overload", reply.message)
            yield frames.error(payload)
            return
        yield frames.end(_output_tokens(reply, words), reply.tool_call)

    def _reset(self, request: Request) -> None:
        """Abort this request's TCP connection with an RST (SO_LINGER 0), as a crashed peer does."""
        client = tuple(request.scope.get("client") or ())
        for connection in list(self.server.server_state.connections):
            if getattr(connection, "client", None) == client:
                sock = connection.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.transport.abort()
                return


def _output_tokens(reply: Reply, words: list[str]) -> int:
    """Answer tokens: the words, plus the words of a tool call's arguments."""
    return len(words) + (len(json.dumps(reply.tool_call[1]).split()) + 1 if reply.tool_call else 0)


def _pace(reply: Reply) -> float:
    """Scenario seconds between two tokens."""
    return 1.0 / reply.tokens_per_s if reply.tokens_per_s > 0 else 0.0


async def _until_disconnected(request: Request) -> None:
    """Wait until the client goes away (uvicorn's receive blocks until then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------------------------------
# Lifecycle


@dataclass
class MockProviders:
    """Mock providers on 127.0.0.1, one port each; use as a context manager.

    ``providers`` names them (their try order matters only to a scenario's ``rank:N``
    selectors). ``decider`` answers every request not taken by ``script`` (a queue of
    replies per provider, consumed first). ``models`` is what ``/v1/models`` lists.
    ``api_key``, when set, is required (``Authorization: Bearer``, ``x-api-key`` or Azure's ``api-key``).
    ``google_public_key`` (PEM), when set, makes ``/token`` check the signature of the JWT a Google
    service account sends and makes Vertex routes require a token it issued (or ``api_key``).
    ``aws_credentials`` (access key id, secret key, session token or None), when set, makes the
    Bedrock route recompute each request's SigV4 signature with botocore (for ``aws_region``).
    ``keep_bodies`` also keeps each request's JSON body in its ``requests`` row (``body``),
    for tests that check what a client sent back (a tool's result, say).
    """

    providers: Sequence[str]
    decider: Decider = _always_ok
    script: Mapping[str, Iterable[Reply]] = field(default_factory=dict)
    time_scale: float = 1.0
    log_path: str | Path | None = None
    models: Sequence[str] = ("model",)
    api_key: str | None = field(default=None, repr=False)
    port: int = 0  # first port; 0 picks free ports
    keep_bodies: bool = False
    google_public_key: str | None = field(default=None, repr=False)  # PEM: /token checks assertions with it
    aws_credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)  # Bedrock checks SigV4
    aws_region: str = "us-east-1"

    def __post_init__(self) -> None:
        if not self.providers:
            raise ValueError("MockProviders needs at least one provider")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.requests: list[dict[str, Any]] = []
        self.endpoints: dict[str, str] = {}
        self.ids = itertools.count(1)
        self._script = defaultdict(deque, {p: deque(r) for p, r in self.script.items()})
        self._lock = threading.Lock()
        self._log: TextIO | None = None
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self.lag = LagMeter()  # how late the servers' own waits (time to first token, answers) wake up
        self.google_tokens: set[str] = set()  # access tokens /token issued (accepted as Vertex bearers)

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario | str,
        providers: Sequence[str],
        *,
        seed: int = 0,
        context_limits: Mapping[str, float | None] | None = None,
        ranking: Sequence[str] | None = None,
        time_scale: float = 1.0,
        log_path: str | Path | None = None,
        models: Sequence[str] = ("model",),
        api_key: str | None = None,
        port: int = 0,
        keep_bodies: bool = False,
    ) -> MockProviders:
        """Mock providers that behave as ``scenario`` says (:class:`ScenarioDecider`: ``seed``,
        ``context_limits``, and ``rank:N`` as position N of ``ranking``, the combined model's
        member order, default ``providers``); the other arguments are the class's own. Scripts
        and cloud credentials are for tests: pass a :class:`ScenarioDecider` to the class itself."""
        if not isinstance(scenario, Scenario):
            scenario = Scenario.load(scenario)
        decider = ScenarioDecider(scenario, providers, seed=seed, context_limits=context_limits, ranking=ranking)
        return cls(
            providers,
            decider=decider,
            time_scale=time_scale,
            log_path=log_path,
            models=models,
            api_key=api_key,
            port=port,
            keep_bodies=keep_bodies,
        )

    # clock -------------------------------------------------------------------------
    def now_s(self) -> float:
        """Scenario seconds since the servers started."""
        return (time.monotonic() - self._t0) * self.time_scale

    async def sleep(self, scenario_s: float) -> None:
        if scenario_s > 0:
            due = self.now_s() + scenario_s
            await asyncio.sleep(scenario_s / self.time_scale)
            self.lag.record(self.now_s() - due)

    # replies and log -----------------------------------------------------------------
    def next_reply(self, incoming: Incoming) -> Reply:
        queue = self._script[incoming.provider]
        with self._lock:
            if queue:
                return queue.popleft()
        return self.decider(incoming)

    def record(
        self, incoming: Incoming, reply: Reply, request_id: str | None, authorized: bool, body: Any = None
    ) -> None:
        """Append one request to the in-memory list and the JSON-lines log (flushed at once)."""
        row = {
            **asdict(incoming),
            "request_id": request_id,
            "kind": reply.kind,
            "answer_after_s": reply.ttft_s,  # when the server answers (or starts streaming)
            "retry_after_s": reply.retry_after_s,
            "authorized": authorized,
        }
        if self.keep_bodies:
            row["body"] = body
        with self._lock:
            self.requests.append(row)
            if self._log is not None:
                self._log.write(json.dumps(row) + "\n")
                self._log.flush()

    # servers -------------------------------------------------------------------------
    def _sockets(self) -> list[socket.socket]:
        sockets = []
        for i, _ in enumerate(self.providers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit this: without it, uvicorn's separate writes of
            # headers and body wait for the client's delayed ACK (40 ms per response).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((HOST, self.port + i if self.port else 0))
            sock.listen(1024)
            sock.setblocking(False)
            sockets.append(sock)
        return sockets

    def start(self) -> MockProviders:
        """Bind every provider's port and serve in a background thread; returns self."""
        if self.log_path is not None:
            self._log = open(self.log_path, "a", encoding="utf-8")
        sockets = self._sockets()
        apps = [_Provider(name, self) for name in self.providers]
        for app, sock in zip(apps, sockets, strict=True):
            self.endpoints[app.name] = f"http://{HOST}:{sock.getsockname()[1]}/v1"
        self._servers = [a.server for a in apps]
        ready = threading.Event()

        async def serve() -> None:
            tasks = [asyncio.create_task(s.serve(sockets=[k])) for s, k in zip(self._servers, sockets, strict=True)]
            while not all(s.started for s in self._servers):
                if any(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.005)
            ready.set()
            await asyncio.gather(*tasks)

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="mock-providers", daemon=True)
        self._t0 = time.monotonic()
        self._thread.start()
        ready.wait(10)
        if not all(s.started for s in self._servers):
            self.stop()
            raise RuntimeError("the mock providers did not start")
        return self

    def stop(self) -> None:
        """Stop the servers at once (hanging requests are cut) and close the log."""
        for server in getattr(self, "_servers", []):
            server.should_exit = server.force_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MockProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what a user points OpenCode at ------------------------------------------------------
    def opencode_providers(self, npm: Callable[[str], str] | None = None) -> dict[str, Any]:
        """An ``opencode.json`` ``provider`` section pointing each provider at its mock port.

        ``npm(provider)`` picks the adapter (default ``@ai-sdk/openai-compatible``); the key
        is a placeholder the mock accepts, not a secret.
        """
        section = {}
        for name, url in self.endpoints.items():
            section[name] = {
                "npm": npm(name) if npm else "@ai-sdk/openai-compatible",
                "name": f"{name} (mock)",
                "options": {"baseURL": url, "apiKey": "mock-key-not-a-secret"},
                "models": {m: {"name": m} for m in self.models},
            }
        return section
