"""A hostile provider on 127.0.0.1: answers that break protocols, bounds and patience.

:class:`HostileProvider` serves one behaviour per path prefix, so one server stands in for
many providers: ``{url}/{behaviour}/v1`` is an OpenAI-compatible base URL (POST
``.../chat/completions``) and ``{url}/{behaviour}/api.json`` a catalog URL (GET). What each
behaviour does is in :data:`BEHAVIOURS`. Writes to a client that left are dropped quietly
(an endless stream ends when its reader goes), and the server logs nothing.

:func:`time_limit` bounds a test: past its seconds it raises :class:`Hang` in the main thread,
so a client that fails to cut a hostile answer off fails its test instead of hanging the suite.
"""

from __future__ import annotations

import gzip
import json
import signal
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from local_http import serving

KEY_ECHO_PREFIX = "your key: "


def _chunk(text: str | None = None, finish: str | None = None, **extra: object) -> bytes:
    choice = {"index": 0, "delta": {} if text is None else {"content": text}, "finish_reason": finish}
    return f"data: {json.dumps({'choices': [choice], **extra})}\n\n".encode()


GOOD_DELTA = _chunk("w0 ")
ANSWER = GOOD_DELTA + _chunk(None, "stop", usage={"prompt_tokens": 5, "completion_tokens": 1}) + b"data: [DONE]\n\n"
CATALOG = json.dumps({"acme": {"id": "acme", "models": {"m1": {"id": "m1", "limit": {"context": 1000}}}}}).encode()

# One malformed event before a good answer: each must end its attempt as a protocol_error (before any
# content went out, so a gateway can still fail over).
GARBAGE: dict[str, bytes] = {
    "list": b"data: [1,2,3]\n\n",
    "null": b"data: null\n\n",
    "null-choice": b'data: {"choices":[null]}\n\n',
    "string-tokens": b'data: {"choices":[],"usage":{"prompt_tokens":"many","completion_tokens":1}}\n\n',
    "huge-tokens": b'data: {"choices":[],"usage":{"prompt_tokens":1e400,"completion_tokens":1}}\n\n',
    "number-text": b'data: {"choices":[{"index":0,"delta":{"content":42}}]}\n\n',
    "bad-utf8": b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe"}}]}\n\n',
    "long-line": b"data: " + b"w" * (10 * 1024 * 1024) + b"\n\n",
}

BEHAVIOURS: dict[str, str] = {
    "ok": "a short valid OpenAI stream (the catalog path: a valid one-model catalog)",
    **{name: f"200, {data[:40]!r}, then a good answer" for name, data in GARBAGE.items()},
    "no-choices": "200, JSON events and [DONE], but never a choice",
    "html": "200 text/html: a proxy's error page instead of a stream",
    "json": "200 application/json: a whole answer, not the stream that was asked for",
    "endless": "200, content deltas as fast as the client reads, never an end",
    "drip": "200, then one byte every 50 ms, forever",
    "retry-forever": "429 with Retry-After: 1e308",
    "retry-date": "429 with a Retry-After date in the year 9999",
    "absurd-header": "200 with a 1 MiB header line",
    "many-headers": "200 with 20,000 headers",
    "gzip-bomb": "200, Content-Encoding: gzip, 1 GiB of zeros compressed (about 1 MiB on the wire)",
    "gzip-ok": "200, Content-Encoding: gzip, the valid catalog (not hostile: compression must still work)",
    "gzip-cut": "200, Content-Encoding: gzip, the catalog's gzip stream cut in half",
    "brotli": "200, Content-Encoding: br, which the client did not ask for",
    "endless-body": "200 application/json, a body that never ends",
    "error-bomb": "500 whose error body is the gzip bomb",
    "endless-error": "429 whose error body never ends",
    "big-length": "200 announcing a Content-Length of 1 TiB",
    "empty-catalog": "200, a valid but empty catalog: {}",
    "echo": "401 echoing the caller's Authorization / x-api-key header in the error text",
}


def _gzip_bomb(decoded_bytes: int) -> Iterator[bytes]:
    """A gzip stream of ``decoded_bytes`` zeros, sent as it goes (never held whole): after a full
    flush the compressor starts afresh, so one compressed MiB of zeros repeats as it is. The
    trailer's checksum covers only what was compressed, which no reader of a bomb reaches."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    zeros = bytes(1024 * 1024)
    yield packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)  # the gzip header and the first MiB
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    for _ in range(decoded_bytes // len(zeros) - 1):
        yield block
    yield packer.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies end when the connection closes: endless ones are possible

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test output shows only what the client under test prints

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        name = self.path.strip("/").split("/")[0]
        catalog = self.command == "GET"
        try:
            self._behave(name, catalog)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client cut the answer off: that is what the tests want to see

    def _head(self, status: int, content_type: str, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()

    def _behave(self, name: str, catalog: bool) -> None:
        stream = "text/event-stream"
        if name == "ok":
            self._head(200, "application/json" if catalog else stream)
            self.wfile.write(CATALOG if catalog else ANSWER)
        elif name in GARBAGE:
            self._head(200, stream)
            self.wfile.write(GARBAGE[name] + ANSWER)
        elif name == "no-choices":
            self._head(200, stream)
            self.wfile.write(b'data: {"id":"x","choices":[]}\n\ndata: {"id":"x"}\n\ndata: [DONE]\n\n')
        elif name == "html":
            self._head(200, "text/html")
            self.wfile.write(b"<html><body>502 Bad Gateway</body></html>")
        elif name == "json":
            self._head(200, "application/json")
            self.wfile.write(b'{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}')
        elif name == "endless":
            self._head(200, stream)
            while True:
                self.wfile.write(GOOD_DELTA * 64)
        elif name == "drip":
            self._head(200, "application/json" if catalog else stream)
            for byte in (CATALOG if catalog else ANSWER) * 1000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        elif name in ("retry-forever", "retry-date"):
            when = "1e308" if name == "retry-forever" else "Fri, 31 Dec 9999 23:59:59 GMT"
            self._head(429, "application/json", ("retry-after", when))
            self.wfile.write(b'{"error":{"message":"rate limit exceeded","type":"rate_limit_error"}}')
        elif name == "absurd-header":
            self._head(200, stream, ("x-absurd", "a" * (1024 * 1024)))
            self.wfile.write(ANSWER)
        elif name == "many-headers":
            self._head(200, stream, *((f"x-h{i}", "v") for i in range(20_000)))
            self.wfile.write(ANSWER)
        elif name == "gzip-bomb":
            self._head(200, "application/json" if catalog else stream, ("content-encoding", "gzip"))
            for part in _gzip_bomb(1024**3):
                self.wfile.write(part)
        elif name in ("gzip-ok", "gzip-cut"):
            packed = gzip.compress(CATALOG)
            self._head(200, "application/json", ("content-encoding", "gzip"))
            self.wfile.write(packed if name == "gzip-ok" else packed[: len(packed) // 2])
        elif name == "brotli":
            self._head(200, "application/json", ("content-encoding", "br"))
            self.wfile.write(CATALOG)
        elif name == "error-bomb":
            self._head(500, "application/json", ("content-encoding", "gzip"))
            for part in _gzip_bomb(1024**3):
                self.wfile.write(part)
        elif name in ("endless-body", "endless-error"):
            self._head(200 if name == "endless-body" else 429, "application/json")
            self.wfile.write(b"[")
            while True:
                self.wfile.write(b"0," * 65536)
        elif name == "big-length":
            self._head(200, "application/json", ("content-length", str(1024**4)))
            self.wfile.write(CATALOG)
        elif name == "empty-catalog":
            self._head(200, "application/json")
            self.wfile.write(b"{}")
        elif name == "echo":
            key = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
            self._head(401, "application/json")
            self.wfile.write(json.dumps({"error": {"message": KEY_ECHO_PREFIX + key}}).encode())
        else:
            self._head(404, "text/plain")
            self.wfile.write(f"no behaviour {name!r}; known: {', '.join(BEHAVIOURS)}".encode())


class HostileProvider:
    """The hostile server's URLs; ``url`` is its root on 127.0.0.1 (see :func:`hostile_provider`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def base_url(self, behaviour: str) -> str:
        """The OpenAI-compatible base URL of one behaviour."""
        return f"{self.url}/{behaviour}/v1"

    def catalog_url(self, behaviour: str) -> str:
        """The catalog (api.json) URL of one behaviour."""
        return f"{self.url}/{behaviour}/api.json"


@contextmanager
def hostile_provider() -> Iterator[HostileProvider]:
    """The hostile server, started on a free port of 127.0.0.1 for the block."""
    with serving(_Handler) as url:
        yield HostileProvider(url)


class Hang(BaseException):
    """A test ran past its time limit (a BaseException, so no ``except Exception`` swallows it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds:g} s: a hostile answer was not cut off")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
