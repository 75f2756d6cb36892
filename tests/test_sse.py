"""The SSE decoder against the WHATWG parsing rules, and its independence from chunking."""

from __future__ import annotations

import json
import re
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.sse import SSEDecoder, SSEEvent, StreamError, sse_frame

# A stream that uses every rule at once: CRLF, CR and LF line ends, a comment, a named event,
# multi-line data, the optional space after the colon, ignored fields, an event without data,
# and non-ASCII text (multi-byte UTF-8, so chunk boundaries can split a character).
STREAM = (
    "\ufeff: keep-alive\r\n"
    "event: message_start\r\n"
    'data: {"type":"message_start"}\r\n'
    "\r\n"
    "data:first\rdata: second\r\r"
    "id: 7\nretry: 1000\nevent: ping\n\n"
    'data: {"text":"héllo ✓"}\n'
    "unknown: field\n\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    SSEEvent("message_start", '{"type":"message_start"}'),
    SSEEvent(None, "first\nsecond"),
    SSEEvent(None, '{"text":"héllo ✓"}'),
    SSEEvent(None, "[DONE]"),
]


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


def test_byte_by_byte() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert decode([STREAM[a:b] for a, b in pairwise(bounds)]) == EXPECTED


def test_events_come_out_as_soon_as_they_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\ndata: {}") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\ndata: x") == [SSEEvent("ping", "{}")]
    assert decoder.close() == [SSEEvent(None, "x")]  # lenient: no final blank line


def test_cr_split_from_lf_is_one_line_break() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF completes "\r\n", it is not a blank line
    assert decoder.feed(b"\r\n") == [SSEEvent(None, "a")]


@given(
    st.one_of(st.text(), st.dictionaries(st.text(), st.integers() | st.text())),
    st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1),
)
def test_frame_round_trips_through_the_decoder(data: dict | str, event: str | None) -> None:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # line breaks inside a text come back as "\n" (each becomes its own data: line)
    assert decode([sse_frame(data, event)]) == [SSEEvent(event, "\n".join(re.split(r"\r\n|\r|\n", text)))]


def test_frame_shapes() -> None:
    assert sse_frame({"type": "ping"}, "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert sse_frame("[DONE]") == b"data: [DONE]\n\n"
    assert sse_frame({"t": "é"}) == 'data: {"t":"é"}\n\n'.encode()


def test_bytes_that_are_not_utf8_and_an_endless_line_raise_stream_error():
    with pytest.raises(StreamError, match=r"^the stream is not UTF-8 \(invalid start byte at byte 0xff\)$"):
        SSEDecoder().feed(b"data: \xff\n\n")
    decoder = SSEDecoder(max_event_chars=12)
    assert decoder.feed(b"data: 12345") == []  # an unfinished line within the limit waits
    with pytest.raises(StreamError, match=r"^an event of the stream is longer than 12 characters$"):
        decoder.feed(b"678901")  # the same line, grown past it before it ends
    decoder = SSEDecoder(max_event_chars=12)
    with pytest.raises(StreamError, match=r"^an event of the stream is longer than 12 characters$"):
        decoder.feed(b"data: 1234567\ndata: 1234567\n")  # two short lines, one long event
