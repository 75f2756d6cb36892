"""The local failover gateway: OpenCode sends its requests here, the policy answers them.

:class:`Gateway` is an ASGI app (starlette, served by uvicorn) that serves combined models
in both protocols OpenCode speaks: ``POST /v1/chat/completions`` (OpenAI) and
``POST /v1/messages`` (Anthropic Messages), streamed or not, plus ``GET /v1/models``,
``GET /health`` and ``GET /stats``. It is a third driver of the one
:class:`~toolkit.engine.FailoverEngine` (after the simulator and live runs): one engine per
combined model on the real clock, its breakers, cooldowns and Retry-After blocks shared by
every request, and every upstream attempt made through :mod:`toolkit.upstream`, the call
layer live runs use. Requests and answers cross protocols through :mod:`toolkit.translate`.

**Streams and failover.** Upstream calls are always streamed. Until the first answer delta
(text, thinking or a tool call) of an attempt has been read, nothing of it goes downstream
(a message start or role chunk is held back); any failure until then is the engine's to
decide (retry, fail over, give up). Once content has been sent, a failure ends the stream
with the protocol's error event: the gateway never splices a second answer onto a partial
one. A give-up before content is an ordinary HTTP error in the client's protocol: 429 when
every attempt was rate-limited, 504 after a timeout, 503 after an overload, 502 otherwise,
the upstream's own status for a request it refused (400), with ``Retry-After`` when a
provider is blocked. A client that did not ask for a stream gets the assembled answer
(:class:`~toolkit.translate.StreamAssembler`) once the stream completed, so any failure
before that is failed over.

**Attempt log.** With ``log_path``, every attempt is appended as a JSON line with the
columns of :data:`toolkit.attempt_log.COLUMNS` (``toolkit.live.read_log`` reads it) plus
``protocol`` (the client's) and ``stream``, flushed as it ends. Times are seconds since the
gateway started; ``run_id`` tells runs apart in one file.

Keys never leave the process: they go into upstream request headers only, error texts and
error answers are redacted (:mod:`toolkit.redaction`: every known key and the gateway token
in any encoding, and anything shaped like a credential), and ``/stats`` shows states and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import math
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.asgi_stop import quiet_on_stop
from toolkit.combined_model import CombinedModel, Member
from toolkit.endpoints import Endpoint, resolve_endpoint
from toolkit.engine import Decision, FailoverEngine
from toolkit.errors import UserError, closest
from toolkit.policy import FailoverPolicy
from toolkit.redaction import redact_text, remember
from toolkit.sse import SSEEvent
from toolkit.translate import (
    ANTHROPIC,
    OPENAI,
    MalformedAnswer,
    ProtocolError,
    StreamAssembler,
    StreamTranslator,
    error_body,
    error_frame,
    translate_request,
    translate_response,
    validate_request,
)
from toolkit.upstream import AttemptResult, Timeouts, Upstream, log_row
from toolkit.upstream import client as upstream_client
from toolkit.vocabulary import DONE, GIVE_UP, NO_CALL_TEXT, is_billed

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4141
MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest request body accepted (32 MiB, Anthropic's own request limit); larger is a 413."""
MODEL_PREFIX = "combined/"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_GAVE_UP = Decision(GIVE_UP, -1, math.nan, 0.0)
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


# --------------------------------------------------------------------------------------------
# What is served


@dataclass(frozen=True)
class Reach:
    """Whether one member of a combined model can be called, and why (never the key itself)."""

    provider: str
    endpoint: Endpoint | None
    reason: str


def reachability(model: CombinedModel, policy: FailoverPolicy, config: Mapping[str, Any] | None) -> list[Reach]:
    """Each member the policy uses, in try order: its endpoint (from the catalog and the
    config's provider options, as ``live --real`` resolves them) or why it cannot be called."""
    out = []
    for member in policy.members(model):
        try:
            endpoint = resolve_endpoint(member, config)
        except UserError as exc:
            out.append(Reach(member.provider, None, str(exc)))
        else:
            where = f"{endpoint.protocol} at {endpoint.base_url}, key from {endpoint.key_source}"
            out.append(Reach(member.provider, endpoint, where))
    return out


@dataclass
class _Served:
    """One combined model the gateway serves: reachable members in try order, their engine, counts."""

    combined_id: str
    members: tuple[Member, ...]
    endpoints: tuple[Endpoint, ...]
    engine: FailoverEngine
    outcomes: list[Counter[str]]
    requests: int = 0
    answered: int = 0
    failed: int = 0


# --------------------------------------------------------------------------------------------
# The app


class Gateway:
    """The gateway app for ``models`` (each with the endpoints of its reachable members).

    ``models`` pairs a combined model (members in the policy's try order) with its endpoints
    by provider; members without an endpoint are left out. ``token``, when set, is required
    on every ``/v1`` and ``/stats`` request (``Authorization: Bearer`` or ``x-api-key``).
    """

    upstream: Upstream  # opened by the server's lifespan, before the first request

    def __init__(
        self,
        models: Sequence[tuple[CombinedModel, Mapping[str, Endpoint]]],
        policy: FailoverPolicy,
        *,
        token: str | None = None,
        log_path: str | Path | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        timeouts: Timeouts = Timeouts(),
        concurrency: int = 256,
        run_id: str | None = None,
    ) -> None:
        self.policy, self.timeouts, self.concurrency = policy, timeouts, concurrency
        self.max_body_bytes = max_body_bytes
        self._token = token.encode() if token else None
        remember(token)
        self.log_path = Path(log_path) if log_path is not None else None
        self.run_id = run_id or f"gw-{uuid.uuid4().hex[:8]}"
        self.models: dict[str, _Served] = {}
        for model, endpoints in models:
            members = tuple(m for m in model.members if m.provider in endpoints)
            if not members:
                continue
            engine = FailoverEngine(
                policy, [m.provider for m in members], random.Random(), [m.context_limit for m in members]
            )
            self.models[model.combined_id] = _Served(
                model.combined_id,
                members,
                tuple(endpoints[m.provider] for m in members),
                engine,
                [Counter() for _ in members],
            )
        if not self.models:
            raise UserError("no combined model has a reachable member: nothing to serve (see --check)")
        self._t0 = time.monotonic()
        self._ids = itertools.count()
        self._log: Any = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/stats", self._stats, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    def clock(self) -> float:
        """Seconds since the gateway started (the engine's clock and the log's times)."""
        return time.monotonic() - self._t0

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the pooled client and the log on the server's loop; close both at shutdown."""
        client = upstream_client(self.concurrency, self.timeouts.connect_s)
        endpoints = [e for served in self.models.values() for e in served.endpoints]
        self.upstream = Upstream(client, endpoints, self.timeouts, self.policy.attempt_timeout_s, self.clock)
        if self.log_path is not None:
            self._log = open(self.log_path, "a", encoding="utf-8")
        try:
            yield
        finally:
            await client.aclose()
            self.close_log()

    def close_log(self) -> None:
        """Flush and close the attempt log (idempotent)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- plain endpoints -----------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        """True without a token, else when the request carries it (compared in constant time)."""
        if self._token is None:
            return True
        bearer = request.headers.get("authorization", "")
        given = bearer[7:].strip() if bearer[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
        return hmac.compare_digest(given.encode(), self._token)

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": len(self.models)})

    async def _models(self, request: Request) -> Response:
        anthropic = "anthropic-version" in request.headers
        if not self.authorized(request):
            return _error(ANTHROPIC if anthropic else OPENAI, 401, "missing or wrong gateway token")
        ids = sorted(self.models)
        if anthropic:
            data: list[dict[str, Any]] = [
                {"type": "model", "id": cid, "display_name": cid, "created_at": "1970-01-01T00:00:00Z"} for cid in ids
            ]
            return JSONResponse({"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]})
        data = [{"id": cid, "object": "model", "created": 0, "owned_by": "combined-models"} for cid in ids]
        return JSONResponse({"object": "list", "data": data})

    async def _stats(self, request: Request) -> Response:
        if not self.authorized(request):
            return _error(OPENAI, 401, "missing or wrong gateway token")
        now = self.clock()
        models = {}
        for cid, served in self.models.items():
            engine, providers = served.engine, []
            for p, member in enumerate(served.members):
                blocked = engine.available_at(p, now)
                providers.append(
                    {
                        "provider": member.provider,
                        "model_ref": member.model_ref,
                        "protocol": served.endpoints[p].protocol,
                        "breaker": engine.breaker_state(p),
                        "blocked_until_s": round(blocked, 3) if blocked > now else None,
                        "outcomes": dict(served.outcomes[p]),
                    }
                )
            models[cid] = {
                "requests": served.requests,
                "answered": served.answered,
                "failed": served.failed,
                "providers": providers,
            }
        return JSONResponse(
            {"run_id": self.run_id, "uptime_s": round(now, 3), "policy": self.policy.name, "models": models}
        )

    # -- completions ---------------------------------------------------------------------------
    async def _chat(self, request: Request) -> Response | _Exchange:
        return await self._complete(request, OPENAI)

    async def _messages(self, request: Request) -> Response | _Exchange:
        return await self._complete(request, ANTHROPIC)

    async def _complete(self, request: Request, protocol: str) -> Response | _Exchange:
        """Check the request (token, size, JSON, shape, model); the exchange that serves it."""
        if not self.authorized(request):
            return _error(protocol, 401, "missing or wrong gateway token")
        try:
            raw = await self._read_body(request)
        except ClientDisconnect:  # gone while sending the body: nobody to answer
            return Response(status_code=400)
        if raw is None:
            return _error(protocol, 413, f"request body over the gateway's limit of {self.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _error(protocol, 400, f"the request body is not valid JSON ({exc})")
        except RecursionError:  # a hostile client's [[[[...: a 400 like any other bad body, not a 500
            return _error(protocol, 400, "the request body is not valid JSON (nested too deeply)")
        try:
            validate_request(body, protocol)
        except ProtocolError as exc:
            return _error(protocol, exc.status, str(exc))
        name = body.get("model")
        served = self.models.get(name.removeprefix(MODEL_PREFIX)) if isinstance(name, str) else None
        if served is None:
            hint = closest(str(name).removeprefix(MODEL_PREFIX), self.models)
            return _error(
                protocol, 404, f"unknown model {name!r}{hint}; GET /v1/models lists the {len(self.models)} served here"
            )
        bodies = {}
        try:
            for dst in {e.protocol for e in served.endpoints}:
                bodies[dst] = translate_request(body, protocol, dst, name)
        except ProtocolError as exc:
            return _error(protocol, exc.status, str(exc))
        return _Exchange(self, served, protocol, name, body, bodies)

    async def _read_body(self, request: Request) -> bytes | None:
        """The body, or None once it is over the cap (a declared length over it is refused unread)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # -- the attempt log -----------------------------------------------------------------------
    def record(
        self,
        served: _Served,
        request_id: int,
        attempt: int,
        provider: int,
        t_start: float,
        result: AttemptResult,
        decision: Decision,
        protocol: str,
        stream: bool,
    ) -> None:
        """Count one attempt and append it to the log (flushed at once), with its cost by
        :func:`toolkit.vocabulary.is_billed` (an attempt abandoned mid-answer pays for what it streamed)."""
        member = served.members[provider]
        served.outcomes[provider][result.outcome] += 1
        if self._log is None:
            return
        paid = is_billed(result.outcome, bool(result.parts))
        cost = member.cost_usd(result.input_tokens, result.output_tokens) if paid else 0.0
        row = log_row(
            self.run_id, request_id, attempt, served.combined_id, member, t_start, self.clock(), result, decision, cost
        )
        row["protocol"], row["stream"] = protocol, stream
        self._log.write(json.dumps(row) + "\n")
        self._log.flush()

    # -- running it ----------------------------------------------------------------------------
    def server(self, sock: socket.socket, grace_s: float = 30.0) -> uvicorn.Server:
        """A uvicorn server for this app on a bound socket (``server.run([sock])`` serves until
        SIGINT/SIGTERM); ``grace_s`` is how long a shutdown lets requests in flight finish
        before they are cut."""
        # Idle keep-alive connections are kept 75 s: longer than clients keep theirs (httpx 5 s,
        # Node 4 s), so a client never sends on a connection the server is closing at that moment.
        # loop/http "auto": uvloop and httptools when they are installed, else asyncio and h11.
        config = uvicorn.Config(
            quiet_on_stop(self.app),  # requests cut by the end of the grace period: no traceback
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="auto",
            http="auto",
            timeout_graceful_shutdown=math.ceil(grace_s),
            timeout_keep_alive=75,
        )
        return uvicorn.Server(config)

    @contextlib.contextmanager
    def running(self, host: str = DEFAULT_HOST, port: int = 0) -> Any:
        """Serve in a background thread while the block runs; yields the base URL (``.../v1``).
        For tests, notebooks and benchmarks; the command serves in the main thread."""
        sock = bind(host, port)
        server = self.server(sock, grace_s=5.0)
        thread = threading.Thread(target=server.run, args=([sock],), name="gateway", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            if not server.started:
                raise RuntimeError("the gateway did not start")
            yield f"http://{host}:{sock.getsockname()[1]}/v1"
        finally:
            server.should_exit = True
            thread.join(30)
            sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (TCP_NODELAY, as the mock's); a port in use is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror} (is another gateway running? try --port)"
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only."""
    return host in _LOOPBACK or host.startswith("127.")


def _error(protocol: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The protocol's error answer with ``status`` (redacted: it may quote a request or an upstream)."""
    return JSONResponse(
        error_body(protocol, status, redact_text(message)), status_code=status, headers=dict(headers or {})
    )


# --------------------------------------------------------------------------------------------
# One request: the engine loop, the held-back stream, the answer


async def _disconnected(receive: Callable[[], Any]) -> None:
    """Return when the client goes away (after the body, receive only reports that)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _Exchange:
    """Serves one checked request as an ASGI response: drives the engine, sends the answer.

    Runs beside a watch on the client: if the client leaves, the attempt in flight is
    cancelled (and logged as ``cancelled``) instead of running on for nobody.
    """

    send: Callable[[dict[str, Any]], Any]  # the ASGI send of the request, set by __call__

    def __init__(
        self,
        gateway: Gateway,
        served: _Served,
        protocol: str,
        model: str,
        body: dict[str, Any],
        bodies: dict[str, dict[str, Any]],
    ) -> None:
        self.gateway, self.served, self.protocol, self.model, self.bodies = gateway, served, protocol, model, bodies
        self.stream = bool(body.get("stream"))
        options = body.get("stream_options")
        self.include_usage = protocol == ANTHROPIC or bool(isinstance(options, dict) and options.get("include_usage"))
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        self.max_tokens = limit if isinstance(limit, int) else 0  # what the engine is told; upstream judges it
        self.started = False  # the response head has been sent
        self.held: list[bytes] = []  # frames of the current attempt not sent yet (no content so far)
        self.request_id = next(gateway._ids)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.send = send
        drive = asyncio.ensure_future(self._drive())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({drive, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drive, gone):
                task.cancel()
            await asyncio.gather(drive, gone, return_exceptions=True)
        error = drive.exception() if drive.done() and not drive.cancelled() else None
        if error is not None:
            raise error  # a bug: uvicorn logs it (and answers 500 if nothing was sent)

    # -- sending --------------------------------------------------------------------------------
    async def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """The response head; ``x-request-id`` is the request's id in the attempt log."""
        self.started = True
        headers = [*headers, (b"x-request-id", str(self.request_id).encode())]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def _body(self, data: bytes, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def _json(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await self._head(status, _JSON_HEADERS + extra)
        await self._body(json.dumps(payload).encode(), more=False)

    def _stream_sink(self, translator: StreamTranslator) -> Callable[[SSEEvent], Any]:
        """Upstream events -> client frames; held back until the first content delta."""

        async def sink(event: SSEEvent) -> None:
            frames = translator.feed(event)
            if self.started:
                if frames:
                    await self._body(b"".join(frames))
            elif translator.has_content:
                await self._head(200, _SSE_HEADERS)
                await self._body(b"".join(self.held + frames))
                self.held = []
            else:
                self.held.extend(frames)

        return sink

    # -- the engine loop ------------------------------------------------------------------------
    async def _drive(self) -> None:
        gateway, served = self.gateway, self.served
        engine, clock = served.engine, gateway.clock
        served.requests += 1
        request_id = self.request_id
        failures: list[tuple[str, AttemptResult]] = []
        req, decision = engine.start(clock(), 0, self.max_tokens, request_id=request_id)
        if decision.action == GIVE_UP:
            self._no_call(request_id, 0)
        while decision.action not in (DONE, GIVE_UP):
            delay = decision.at - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            again = engine.begin(req, decision.provider, clock())
            if again is not None:
                if again.action == GIVE_UP:
                    self._no_call(request_id, decision.provider)
                decision = again
                continue
            decision = await self._attempt(req, decision.provider, request_id, failures)
        if decision.action == GIVE_UP and not self.started:
            served.failed += 1
            await self._give_up(failures)

    def _no_call(self, request_id: int, provider: int) -> None:
        result = AttemptResult("cancelled", error=NO_CALL_TEXT)
        self.gateway.record(
            self.served, request_id, 0, provider, self.gateway.clock(), result, _GAVE_UP, self.protocol, self.stream
        )

    async def _attempt(
        self, req: Any, provider: int, request_id: int, failures: list[tuple[str, AttemptResult]]
    ) -> Decision:
        """One attempt on ``provider``: forward or assemble its answer; the engine's decision."""
        gateway, served = self.gateway, self.served
        engine, endpoint, member = served.engine, served.endpoints[provider], served.members[provider]
        attempt, t_start = req.attempts, gateway.clock()
        body = {**self.bodies[endpoint.protocol], "model": member.model_id}
        acc = AttemptResult("ok")
        if self.stream:
            translator = StreamTranslator(
                endpoint.protocol, self.protocol, self.model, include_usage=self.include_usage
            )
            sink = self._stream_sink(translator)
            self.held = []
        else:
            assembler = StreamAssembler(endpoint.protocol)

            async def sink(event: SSEEvent) -> None:
                assembler.feed(event)

        answer: dict[str, Any] | None = None
        try:
            result = await gateway.upstream.attempt(endpoint, body, acc, req.deadline, f"{request_id}-{attempt}", sink)
            if result.outcome == "ok" and not self.stream:
                answer = translate_response(assembler.result(), endpoint.protocol, self.protocol, self.model)
        except MalformedAnswer as exc:
            result = acc
            result.outcome, result.error = "protocol_error", gateway.upstream.redact(f"unreadable answer: {exc}")
        except asyncio.CancelledError:  # the client left, or the server is shutting down
            engine.cancel(req, provider, gateway.clock())
            acc.outcome, acc.error = "cancelled", "the client went away before the answer ended"
            gateway.record(served, request_id, attempt, provider, t_start, acc, _GAVE_UP, self.protocol, self.stream)
            raise
        now = gateway.clock()
        if result.outcome != "ok" and self.started:  # content already went out: end the stream, no second answer
            engine.report(req, provider, result.outcome, now, result.retry_after_s)  # shared state still learns
            gateway.record(served, request_id, attempt, provider, t_start, result, _GAVE_UP, self.protocol, True)
            served.failed += 1
            message = f"{served.combined_id}: {member.provider} failed after the answer began ({result.error})"
            await self._body(error_frame(self.protocol, message), more=False)
            return _GAVE_UP
        decision = engine.report(req, provider, result.outcome, now, result.retry_after_s)
        gateway.record(served, request_id, attempt, provider, t_start, result, decision, self.protocol, self.stream)
        if decision.action != DONE:
            failures.append((member.provider, result))
            return decision
        served.answered += 1
        if not self.stream:
            assert answer is not None  # a success without a stream always assembled its answer
            await self._json(200, answer)
            return decision
        tail = translator.finish()
        if not self.started:  # an answer without any content delta (an empty reply)
            await self._head(200, _SSE_HEADERS)
            tail = self.held + tail
        await self._body(b"".join(tail), more=False)
        return decision

    async def _give_up(self, failures: list[tuple[str, AttemptResult]]) -> None:
        """The protocol's error for a request no provider answered, with the last status class."""
        served, now = self.served, self.gateway.clock()
        engine = served.engine
        wait = min(engine.available_at(p, now) for p in range(len(served.members))) - now
        if not failures:
            status, detail = 503, "every provider is blocked (Retry-After, cooldown or open breaker)"
        else:
            provider, last = failures[-1]
            status = _give_up_status([result for _, result in failures])
            detail = f"{len(failures)} attempt(s); last: {provider} {last.outcome}: {last.error}"
            if wait <= 0 and status == 429 and last.retry_after_s:
                wait = last.retry_after_s
        headers = {}
        if wait > 0:
            headers = {"retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}
        await self._json(
            status, error_body(self.protocol, status, f"{served.combined_id}: no provider answered ({detail})"), headers
        )


def _give_up_status(failures: Sequence[AttemptResult]) -> int:
    """429 when every attempt was rate-limited; the upstream's status for a request it refused;
    504 after a timeout, 503 after an overload, 502 otherwise (a bad gateway upstream)."""
    last = failures[-1].outcome
    if all(f.outcome == "rate_limit" for f in failures):
        return 429
    if last in ("client_error", "context_length"):
        return failures[-1].status or 400
    return {"timeout": 504, "overload": 503}.get(last, 502)
