"""The upstream call layer: one streamed HTTP attempt at one provider endpoint.

Live runs (:mod:`toolkit.live`) and the gateway (:mod:`toolkit.gateway`) call providers
through this module, so both classify, time and redact an attempt the same way:

- an :class:`UpstreamAdapter` per wire protocol knows the request path, the auth headers,
  how to ask for a stream with usage, and how to read one stream event (content, usage,
  end of answer, error). Adding a protocol is one class registered in :data:`ADAPTERS`;
  :mod:`toolkit.routes` says which AI-SDK package it calls;
- :class:`Upstream` makes one attempt: always streamed, bounded by the connect,
  first-token and total timeouts (:class:`Timeouts`), classified with
  :func:`toolkit.classifier.classify`, with the server's Retry-After, and every error text
  passed through :class:`Redactor` (every known secret in any encoding, and credential shapes:
  :mod:`toolkit.redaction`), so
  a key a provider echoes back cannot reach a log, a response or an exception.

A caller that forwards the answer (the gateway) passes a ``sink``: an async callable given
each stream event as it arrives. The sink runs inside the attempt's timeouts, so a client
that reads slowly slows the upstream read too (back-pressure, no unbounded buffer).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from toolkit.classifier import classify, retry_after_s
from toolkit.credentials import CredentialError
from toolkit.errors import UserError
from toolkit.inflate import ACCEPT, InflateError, Inflater
from toolkit.redaction import redact, remember
from toolkit.sse import SSEDecoder, SSEEvent
from toolkit.vocabulary import Outcome

if TYPE_CHECKING:
    from toolkit.combined_model import Member
    from toolkit.endpoints import Endpoint
    from toolkit.engine import Decision

_NAN = math.nan

# What one stream event carries, as an adapter reads it.
NOTHING, CONTENT, ERROR = 0, 1, 2


TOTAL_TIMEOUT_S = 1800.0
"""The default bound on one attempt, connect to last byte (30 minutes: a 32k-token answer at
20 tokens per second fits; an endless stream does not)."""


@dataclass(frozen=True)
class Timeouts:
    """Client timeouts in seconds (scenario seconds in a time-scaled live run).

    As in the simulator, the policy's ``attempt_timeout_s`` bounds the wait for the first
    token (unless ``first_token_s`` is given) and the request's deadline bounds everything.
    ``total_s`` bounds a whole attempt, :data:`TOTAL_TIMEOUT_S` by default, so a provider
    that streams forever (or drips a token now and then) is cut off; ``None`` leaves only
    the request's deadline.
    """

    connect_s: float = 10.0
    first_token_s: float | None = None  # None: the policy's attempt_timeout_s
    total_s: float | None = TOTAL_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("connect_s", "first_token_s", "total_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):  # NaN fails too
                raise UserError(f"timeout {name} must be a positive number of seconds, got {value!r}")


@dataclass
class AttemptResult:
    """How one HTTP attempt ended, before the engine decides.

    ``parts`` grows with the answer's text as it streams (a cancelled hedge is billed for
    it); ``text`` is set only when the stream completed. ``ttft_s`` stays NaN until the
    first content delta (text, thinking or a tool call) arrived.
    """

    outcome: Outcome
    status: int | None = None
    retry_after_s: float | None = None
    ttft_s: float = _NAN
    input_tokens: int = 0
    output_tokens: int = 0
    text: str = ""
    error: str = ""
    parts: list[str] = field(default_factory=list)
    finished: bool = False  # the stream carried its protocol's end of answer
    shaped: bool = False  # an event of its protocol's answer shape came (OpenAI choices, Anthropic message_start)

    @property
    def has_content(self) -> bool:
        """True once an answer delta arrived (from then on, the answer has begun)."""
        return not math.isnan(self.ttft_s)


# --------------------------------------------------------------------------------------------
# Protocol adapters

MAX_TOKEN_COUNT = 2**31 - 1
"""The largest token count an event may report (the attempt log keeps counts as int32)."""


class Unreadable(Exception):
    """A 2xx answer its protocol cannot read; the message (not yet redacted) says what was wrong."""


def tokens(value: object) -> int:
    """A token count from a usage field: 0 when absent; ``ValueError`` unless it is a whole
    number from 0 to :data:`MAX_TOKEN_COUNT` (a string, a negative, NaN or 1e400 is garbage)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TOKEN_COUNT:
        raise ValueError(f"token count {value!r} is not a whole number from 0 to {MAX_TOKEN_COUNT}")
    if value != int(value):
        raise ValueError(f"token count {value!r} is not a whole number")
    return int(value)


def _text(value: object) -> str:
    """An answer delta's text: "" when absent; ``ValueError`` when it is not a string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"answer text {value!r:.40} is not a string")
    return value


class UpstreamAdapter(Protocol):
    """What the call layer needs to know about one provider API.

    ``name`` keys :data:`ADAPTERS`; ``protocol`` is the message protocol of its bodies and
    stream events (``"openai"`` or ``"anthropic"``), which is what translation and the mock
    providers go by: Azure speaks OpenAI chat completions at its own URLs with its own key
    header, Claude on Vertex speaks Anthropic Messages at ``:streamRawPredict``.
    """

    name: str  # "openai", "anthropic", "azure", "vertex-anthropic", ...
    protocol: str  # "openai" or "anthropic"

    def url(self, base_url: str, model: str) -> str:
        """The streaming request URL below the endpoint's base URL, for ``model``."""
        ...

    def headers(self, api_key: str | None) -> dict[str, str]:
        """Request headers, auth included (``api_key`` is a key or an access token)."""
        ...

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` asking for a stream that reports usage (other fields untouched)."""
        ...

    def read(self, event: Mapping[str, Any], acc: AttemptResult) -> int:
        """Read one decoded event: update usage, text parts and ``finished`` in ``acc``;
        return :data:`CONTENT` (an answer delta), :data:`ERROR` (an error event) or :data:`NOTHING`."""
        ...

    def decoder(self) -> Decoder:
        """A fresh decoder of the response body into events (server-sent events, or Bedrock's
        binary event stream)."""
        ...

    def transcode(self, event: SSEEvent, state: dict[str, Any]) -> Sequence[SSEEvent]:
        """The events of ``protocol`` one upstream event amounts to (itself, unless the API speaks
        another protocol on the wire, as Gemini and Bedrock do); ``state`` lives for one attempt."""
        ...


class Decoder(Protocol):
    """Bytes cut anywhere in, complete events out (:class:`toolkit.sse.SSEDecoder` is one)."""

    def feed(self, data: bytes) -> list[SSEEvent]: ...

    def close(self) -> list[SSEEvent]: ...


class _Passthrough:
    """Adapters whose API streams the server-sent events of their protocol as they are."""

    def decoder(self) -> Decoder:
        return SSEDecoder()

    def transcode(self, event: SSEEvent, state: dict[str, Any]) -> Sequence[SSEEvent]:
        return (event,)


class OpenAIAdapter(_Passthrough):
    """OpenAI-compatible chat completions: SSE chunks, usage in the last one before ``[DONE]``.

    ``key_header`` names the header that carries ``Bearer <key>`` (Cloudflare's AI Gateway
    takes its own token in ``cf-aig-authorization``).
    """

    protocol = "openai"

    def __init__(self, name: str = "openai", key_header: str = "authorization") -> None:
        self.name, self.key_header = name, key_header

    def url(self, base_url: str, model: str) -> str:
        return base_url + "/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if api_key:
            headers[self.key_header] = f"Bearer {api_key}"
        return headers

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, Mapping) else {}
        return {**body, "stream": True, "stream_options": {**options, "include_usage": True}}

    def read(self, event: Mapping[str, Any], acc: AttemptResult) -> int:
        if "error" in event:
            return ERROR
        usage = event.get("usage")
        if usage:
            acc.input_tokens = tokens(usage.get("prompt_tokens"))
            acc.output_tokens = tokens(usage.get("completion_tokens"))
        choices = event.get("choices") or ()
        if not choices:
            return NOTHING
        choice, acc.shaped = choices[0], True
        if choice.get("finish_reason"):
            acc.finished = True
        delta = choice.get("delta") or {}
        text = _text(delta.get("content"))
        if text:
            acc.parts.append(text)
            return CONTENT
        answered = delta.get("tool_calls") or delta.get("reasoning_content") or delta.get("reasoning")
        return CONTENT if answered else NOTHING


AZURE_API_VERSION = "v1"
"""The ``api-version`` @ai-sdk/azure sends by default (the v1 API, model = deployment name)."""


class AzureAdapter(OpenAIAdapter):
    """Azure OpenAI as @ai-sdk/azure calls it: ``{base}/chat/completions?api-version=v1`` below
    ``https://{resource}.openai.azure.com/openai/v1``, the key in an ``api-key`` header."""

    def __init__(self) -> None:
        super().__init__("azure")

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/chat/completions?api-version={AZURE_API_VERSION}"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["api-key"] = api_key
        return headers


class AnthropicAdapter(_Passthrough):
    """Anthropic Messages and its event stream (every data object repeats its type)."""

    name = protocol = "anthropic"

    def url(self, base_url: str, model: str) -> str:
        return base_url + "/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def read(self, event: Mapping[str, Any], acc: AttemptResult) -> int:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            text = _text(delta.get("text"))
            if text:
                acc.parts.append(text)
            return CONTENT
        if kind == "message_start":
            acc.input_tokens = tokens(((event.get("message") or {}).get("usage") or {}).get("input_tokens"))
            acc.shaped = True
        elif kind == "message_delta":
            acc.output_tokens = tokens((event.get("usage") or {}).get("output_tokens"))
        elif kind == "message_stop":
            acc.finished = True
        return ERROR if kind == "error" else NOTHING


VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
"""The ``anthropic_version`` body field Claude on Vertex requires (instead of a header)."""


class VertexAnthropicAdapter(AnthropicAdapter):
    """Claude on Vertex AI: the Anthropic body and event stream, posted to
    ``{base}/{model}:streamRawPredict`` (base ``.../publishers/anthropic/models``) with the model in
    the URL, not the body, ``anthropic_version`` in the body and a Google access token as bearer."""

    name = "vertex-anthropic"

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/{model}:streamRawPredict"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in body.items() if k != "model"}
        return {**rest, "anthropic_version": VERTEX_ANTHROPIC_VERSION, "stream": True}


class GeminiAdapter(OpenAIAdapter):
    """Gemini behind an OpenAI face: the OpenAI body becomes a ``generateContent`` body posted to
    ``{base}/{model}:streamGenerateContent?alt=sse`` (base ``.../v1beta/models`` for the Gemini API,
    ``.../publishers/google/models`` on Vertex), and each Gemini chunk becomes OpenAI chunks
    (:mod:`toolkit.translate_gemini`), so everything that reads OpenAI streams reads Gemini's.
    The Gemini API takes its key in ``x-goog-api-key``; Vertex a Google access token as bearer.
    """

    def __init__(self, name: str, vertex: bool) -> None:
        super().__init__(name)
        self.vertex = vertex

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/{model}:streamGenerateContent?alt=sse"

    def headers(self, api_key: str | None) -> dict[str, str]:
        if self.vertex:
            return super().headers(api_key)
        headers = {"content-type": "application/json"}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return headers

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        from toolkit.translate_gemini import gemini_request

        return gemini_request(body)

    def transcode(self, event: SSEEvent, state: dict[str, Any]) -> Sequence[SSEEvent]:
        from toolkit.translate_gemini import GeminiToOpenAI

        if "stream" not in state:
            state["stream"] = GeminiToOpenAI(state.get("model", ""))
        chunks = state["stream"].chunks(json.loads(event.data))
        return [SSEEvent(None, json.dumps(c, separators=(",", ":"))) for c in chunks]


class BedrockAdapter(OpenAIAdapter):
    """Amazon Bedrock's ConverseStream behind an OpenAI face: ``{base}/model/{model}/converse-stream``
    (base ``https://bedrock-runtime.{region}.amazonaws.com``), the OpenAI body as a Converse body, the
    binary event stream decoded by botocore and each event turned into OpenAI chunks
    (:mod:`toolkit.translate_bedrock`). Auth is a Bedrock API key as bearer, or the endpoint's SigV4
    signer. Converse rather than InvokeModel: one request shape serves every model family the
    catalog lists on Bedrock (7 of its 46 combined-model members are Claude).
    """

    def __init__(self) -> None:
        super().__init__("bedrock")

    def url(self, base_url: str, model: str) -> str:
        from urllib.parse import quote

        return f"{base_url}/model/{quote(model, safe='')}/converse-stream"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/vnd.amazon.eventstream"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        from toolkit.translate_bedrock import converse_request

        return converse_request(body)

    def decoder(self) -> Decoder:
        from toolkit.translate_bedrock import EventStreamDecoder

        return EventStreamDecoder()

    def transcode(self, event: SSEEvent, state: dict[str, Any]) -> Sequence[SSEEvent]:
        from toolkit.translate_bedrock import ConverseToOpenAI

        if "stream" not in state:
            state["stream"] = ConverseToOpenAI(state.get("model", ""))
        chunks = state["stream"].chunks(event.event, json.loads(event.data))
        return [SSEEvent(None, json.dumps(c, separators=(",", ":"))) for c in chunks]


#: adapter name -> its adapter (one instance each; adapters hold no state).
ADAPTERS: dict[str, UpstreamAdapter] = {
    a.name: a
    for a in (
        OpenAIAdapter(),
        OpenAIAdapter("cloudflare", key_header="cf-aig-authorization"),
        AzureAdapter(),
        AnthropicAdapter(),
        VertexAnthropicAdapter(),
        GeminiAdapter("gemini", vertex=False),
        GeminiAdapter("vertex-gemini", vertex=True),
        BedrockAdapter(),
    )
}


# --------------------------------------------------------------------------------------------
# Redaction and stream decoding


class Redactor:
    """Error text safe to keep (:func:`toolkit.redaction.redact`): every secret the process
    knows, in any encoding, and anything shaped like a credential removed, length capped.

    Each call first adds the secrets the endpoints send now to :data:`toolkit.redaction.SECRETS`
    (access tokens change as they refresh), so every other output path hides them too.
    """

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.endpoints = list(endpoints)

    def __call__(self, text: str) -> str:
        remember(*(secret for e in self.endpoints for secret in e.secrets()))
        return redact(text)


# What reading a hostile event can raise: not JSON, not an object, a field of the wrong type,
# a missing key, a number out of range, JSON nested too deep. Each means "unreadable", never a crash.
_GARBAGE = (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)


async def _events(response: httpx.Response, decoder: Decoder) -> AsyncIterator[SSEEvent]:
    """The response body as events, as they complete (any chunk boundaries); :class:`Unreadable`
    when the bytes are not its event stream (an encoding not asked for, a corrupt compressed
    body, invalid UTF-8, an over-long line or event). Compressed bytes are inflated in bounded
    steps (:class:`toolkit.inflate.Inflater`), so a gzip bomb meets the event limit early."""
    try:
        inflater = Inflater(response.headers.get("content-encoding", ""))
        async for raw in response.aiter_raw():
            for chunk in inflater.feed(raw):
                for event in decoder.feed(chunk):
                    yield event
        inflater.close()
        for event in decoder.close():
            yield event
    except _GARBAGE as exc:
        raise Unreadable(f"undecodable 200 stream: {exc}") from None


ERROR_BODY_BYTES = 64 * 1024
"""How much of an error answer's body is read (decoded): enough for any provider's error
object, and an endless or bomb-sized error body costs no more."""


async def _error_text(response: httpx.Response) -> str:
    """The first :data:`ERROR_BODY_BYTES` of an error answer's body, as text."""
    kept = bytearray()
    try:
        inflater = Inflater(response.headers.get("content-encoding", ""))
        async for raw in response.aiter_raw():
            for piece in inflater.feed(raw):
                kept += piece[: ERROR_BODY_BYTES - len(kept)]
                if len(kept) >= ERROR_BODY_BYTES:
                    return kept.decode("utf-8", "replace")
    except InflateError:
        pass  # what arrived before the damage is the error text
    return kept.decode("utf-8", "replace")


def _read(
    adapter: UpstreamAdapter, raw: SSEEvent, state: dict[str, Any], acc: AttemptResult
) -> list[tuple[SSEEvent, int]]:
    """The protocol events ``raw`` amounts to, each with what it carried (read into ``acc``);
    :class:`Unreadable` when an event is not JSON or not its protocol's shape."""
    try:  # "[DONE]" is OpenAI's end of stream: no JSON in it
        events = (raw,) if raw.data == "[DONE]" else adapter.transcode(raw, state)
        read = []
        for event in events:
            if event.data == "[DONE]":
                acc.finished = True
                read.append((event, NOTHING))
            else:
                read.append((event, adapter.read(json.loads(event.data), acc)))
        return read
    except _GARBAGE as exc:
        raise Unreadable(f"unreadable event in 200 stream ({type(exc).__name__}): {raw.data:.200}") from None


def event_limit(body: Mapping[str, Any]) -> int | None:
    """How many events a stream of ``body`` may carry before the client stops reading: twice the
    request's ``max_completion_tokens`` / ``max_tokens`` plus :data:`EVENT_SLACK`, or None when it
    names no limit. An answer delta holds a token or more; the factor absorbs providers that
    split a token in two, the slack the events around the answer (role, usage, end, pings)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return 2 * value + EVENT_SLACK
    return None


EVENT_SLACK = 16
"""Events a stream may carry beyond twice its ``max_tokens`` (see :func:`event_limit`)."""


# --------------------------------------------------------------------------------------------
# One attempt

Sink = Callable[[SSEEvent], Awaitable[None]]


class Upstream:
    """Streamed attempts at provider endpoints for one driver (a live run, a gateway).

    ``client`` is shared (pooled connections); ``clock`` returns the driver's seconds and
    ``scale`` how many of them pass per real second (a time-scaled live run; 1 otherwise).
    ``attempt_timeout_s`` is the policy's first-token limit unless ``timeouts`` names one.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        endpoints: Iterable[Endpoint],
        timeouts: Timeouts,
        attempt_timeout_s: float,
        clock: Callable[[], float],
        scale: float = 1.0,
    ) -> None:
        self.client, self.timeouts, self.clock, self.scale = client, timeouts, clock, scale
        self.first_token_s = timeouts.first_token_s or attempt_timeout_s
        self.redact = Redactor(endpoints)

    async def attempt(
        self,
        endpoint: Endpoint,
        body: Mapping[str, Any],
        acc: AttemptResult,
        deadline: float,
        request_tag: str,
        sink: Sink | None = None,
    ) -> AttemptResult:
        """One streamed attempt of ``body`` at ``endpoint`` into ``acc``; returns ``acc``.

        ``deadline`` is the request's (on the driver's clock); ``request_tag`` goes out as
        ``x-request-id``. Each event after the response headers goes to ``sink`` (when
        given) once the adapter has read it; an error event ends the attempt instead.
        """
        adapter = ADAPTERS[endpoint.adapter]
        start = self.clock()
        total = min(deadline - start, self.timeouts.total_s or math.inf)
        first = min(total, self.first_token_s)
        real_start = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout_at(real_start + max(first, 0.0) / self.scale) as limit:
                url = endpoint.url(str(body.get("model", "")))
                content = json.dumps(adapter.stream_body(body), separators=(",", ":"), ensure_ascii=False).encode()
                headers = {
                    **await endpoint.request_headers(url, content),
                    "x-request-id": request_tag,
                    "accept-encoding": ACCEPT,
                }
                async with self.client.stream("POST", url, content=content, headers=headers) as response:
                    acc.status = response.status_code
                    if response.status_code >= 300:
                        text = await _error_text(response)
                        acc.outcome = classify(response.status_code, response.headers, text)
                        acc.retry_after_s = retry_after_s(response.headers, time.time(), text)
                        acc.error = self.redact(f"{response.status_code} {text}")
                        return acc
                    state: dict[str, Any] = {"model": str(body.get("model", ""))}
                    most, received = event_limit(body), 0
                    async for raw in _events(response, adapter.decoder()):
                        received += 1
                        if most is not None and received > most:  # it ignores max_tokens: it may never end
                            raise Unreadable(
                                f"the stream ran past max_tokens: more than {most} events (the client stopped reading)"
                            )
                        for event, kind in _read(adapter, raw, state, acc):
                            if kind == ERROR:
                                acc.outcome = classify(response.status_code, response.headers, event.data)
                                acc.error = self.redact(f"error event in 200 stream: {event.data}")
                                return acc
                            if kind == CONTENT and not acc.has_content:
                                acc.ttft_s = self.clock() - start
                                limit.reschedule(real_start + total / self.scale if total < math.inf else None)
                            if sink is not None:
                                await sink(event)
        except Unreadable as exc:  # garbage in a 200: not the provider's protocol
            acc.outcome, acc.error = "protocol_error", self.redact(str(exc))
            return acc
        except TimeoutError as exc:  # our first-token / total limit
            acc.outcome, acc.error = classify(None, exc=exc), "timeout: no answer in time"
            return acc
        except CredentialError as exc:  # no access token: the provider would refuse the call
            acc.outcome, acc.error = "auth", self.redact(str(exc))
            return acc
        except (httpx.TransportError, OSError) as exc:  # connect timeout, refused, reset, broken stream
            acc.outcome, acc.error = classify(None, exc=exc), self.redact(f"{type(exc).__name__}: {exc}")
            return acc
        if not received:  # a 200 whose body is no event stream at all (an HTML page, a JSON answer, nothing)
            kind = response.headers.get("content-type", "no content-type")
            acc.outcome, acc.error = "protocol_error", self.redact(f"200 answer is not an event stream ({kind})")
            return acc
        if not acc.finished:  # a 200 stream that stopped before its end of answer
            acc.outcome, acc.error = "server_error", "stream ended before the end of the answer"
            return acc
        if not acc.shaped:  # JSON events and an end, but never an answer: `data: {}` then `data: [DONE]`
            acc.outcome, acc.error = "protocol_error", f"200 stream carried no {adapter.protocol} answer"
            return acc
        acc.text = "".join(acc.parts)
        return acc


def client(concurrency: int, connect_s: float) -> httpx.AsyncClient:
    """The pooled HTTP client drivers use: ``concurrency`` in flight (twice that pooled),
    ``connect_s`` to connect, no read limit (the attempt's own timeouts bound reads).

    ``trust_env=False``: no proxy or .netrc from the environment; requests go to the endpoints only.
    """
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    timeout = httpx.Timeout(connect=connect_s, read=None, write=None, pool=None)
    return httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False, follow_redirects=False)


def log_row(
    run_id: str,
    request_id: int,
    attempt: int,
    combined_id: str,
    member: Member,
    t_start: float,
    t_end: float,
    result: AttemptResult,
    decision: Decision,
    cost: float,
) -> dict[str, Any]:
    """One attempt as a JSON-lines attempt-log row, with the columns of
    :data:`toolkit.attempt_log.COLUMNS` (what :func:`toolkit.live.read_log` reads back)."""
    return {
        "run_id": run_id,
        "request_id": request_id,
        "attempt": attempt,
        "combined_id": combined_id,
        "provider": member.provider,
        "model_ref": member.model_ref,
        "t_start_s": t_start,
        "t_end_s": t_end,
        "latency_s": t_end - t_start,
        "ttft_s": None if math.isnan(result.ttft_s) else result.ttft_s,
        "outcome": result.outcome,
        "status": result.status,
        "retry_after_s": result.retry_after_s,
        "decision": decision.action,
        "wait_s": decision.wait,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": cost,
        "error": result.error,
    }
