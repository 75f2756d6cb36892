"""Server-sent events: an incremental decoder and a frame encoder, no I/O.

Both LLM protocols the gateway speaks stream their answers as server-sent events
(``text/event-stream``): OpenAI chat completions as unnamed ``data:`` events ending with
``data: [DONE]``, Anthropic Messages as named events (``event: message_start`` ...).

:class:`SSEDecoder` follows the WHATWG parsing rules: lines end with CRLF, LF or CR (a CR
at the end of one chunk and an LF at the start of the next are one line break), a line
starting with ``:`` is a comment, ``data:`` lines of one event are joined with ``\\n``, one
space after the colon is dropped, ``id`` and ``retry`` are ignored, and a blank line
dispatches the event (an event without data is not dispatched). Bytes are decoded as
UTF-8 incrementally, so a character split across two reads is kept whole.

Two deliberate strictnesses, because the decoder reads what untrusted servers send: bytes
that are not UTF-8 raise :class:`StreamError` (the spec replaces them; a provider that sends
them is broken, and a replaced character would pass garbage on as an answer), and so does a
line or an event longer than ``max_event_chars`` (:data:`MAX_EVENT_CHARS` by default), so an
endless line cannot take the memory. One deliberate leniency: :meth:`SSEDecoder.close` dispatches an event whose final blank line never came
(the spec drops it), because some upstreams end their stream right after ``data: [DONE]``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

MAX_EVENT_CHARS = 4 * 1024 * 1024
"""The longest line or event :class:`SSEDecoder` accepts by default (4 Mi characters): far above
any real answer delta, far below what would strain memory."""


class StreamError(ValueError):
    """The bytes are not an event stream this decoder accepts (not UTF-8, or a line or event
    over the size limit); the message says which."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its ``event:`` name (``None`` when unnamed) and its data text."""

    event: str | None
    data: str


class SSEDecoder:
    """Turns a byte stream, cut anywhere, into :class:`SSEEvent` objects as they complete."""

    def __init__(self, max_event_chars: int = MAX_EVENT_CHARS) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._max = max_event_chars
        self._size = 0  # characters in the current event's data lines
        self._partial = ""  # the current line, not yet ended
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._started = False  # a byte-order mark is only skipped at the very start
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode one chunk; return the events it completed (often none, sometimes several).
        Raises :class:`StreamError` on bytes that are not UTF-8 or an over-long line or event."""
        return self._lines(self._decode(chunk))

    def close(self) -> list[SSEEvent]:
        """End of stream: the last line and an event left without its blank line are dispatched."""
        events = self._lines(self._decode(b"", final=True))
        if self._partial:
            self._line(self._partial, events)
            self._partial = ""
        self._dispatch(events)
        return events

    def _decode(self, chunk: bytes, final: bool = False) -> str:
        try:
            return self._utf8.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise StreamError(f"the stream is not UTF-8 ({exc.reason} at byte 0x{exc.object[exc.start]:02x})") from None

    def _lines(self, text: str) -> list[SSEEvent]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            self._skip_lf = False
            text = text.removeprefix("\n")
        events: list[SSEEvent] = []
        if not text:
            return events
        lines = _LINE_BREAK.split(text)  # only the new text: a long line is not scanned again per chunk
        lines[0] = self._partial + lines[0]
        self._partial = lines.pop()  # "" when the text ended with a line break
        if len(self._partial) > self._max:
            raise StreamError(f"an event of the stream is longer than {self._max} characters")
        self._skip_lf = text.endswith("\r")
        for line in lines:
            self._line(line, events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return  # comment (keep-alive)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > self._max:
                raise StreamError(f"an event of the stream is longer than {self._max} characters")
            self._data.append(value)
        elif name == "event":
            self._event = value
        # "id", "retry" and unknown fields are ignored

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(self._event or None, "\n".join(self._data)))
        self._event, self._data, self._size = None, [], 0


def sse_frame(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One encoded event: a mapping becomes compact JSON; a text with line breaks spans
    several ``data:`` lines, so the decoder gives back exactly ``data``."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    if "\n" in text or "\r" in text:
        return (head + "".join(f"data: {line}\n" for line in _LINE_BREAK.split(text)) + "\n").encode()
    return f"{head}data: {text}\n\n".encode()  # compact JSON is always one line
