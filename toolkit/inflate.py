"""``Content-Encoding`` decoding in bounded steps, for bodies from servers that may be hostile.

httpx inflates each network read whole: 64 KiB of a gzip bomb become 64 MiB in one piece,
before the caller can count a byte. :class:`Inflater` inflates at most :data:`STEP` bytes
at a time instead, so a caller that counts what it receives stops a bomb after one step
past its limit. Only the encodings the toolkit asks for (:data:`ACCEPT`) are accepted.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

STEP = 1024 * 1024
"""The most bytes one inflate step produces."""

ACCEPT = "gzip, deflate"
"""The ``Accept-Encoding`` to send: the encodings :class:`Inflater` decodes."""

# Content-Encoding -> zlib window bits: 32 + 15 reads a gzip or a zlib header, whichever comes.
_WBITS = {"gzip": 32 + zlib.MAX_WBITS, "x-gzip": 32 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


class InflateError(ValueError):
    """An encoding that was not asked for, or a compressed body that is corrupt or cut short."""


class Inflater:
    """Decodes one body sent with ``encoding`` (a ``Content-Encoding`` value; "" is none)."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower() or "identity"
        if encoding != "identity" and encoding not in _WBITS:
            raise InflateError(f"the server sent content-encoding {encoding!r}, which was not asked for")
        self._zlib = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
        self._fed = False

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """``raw`` decoded, in pieces of at most :data:`STEP` bytes (a body without encoding as it is)."""
        self._fed = self._fed or bool(raw)
        if self._zlib is None:
            yield raw
            return
        data = raw
        try:
            while data:
                yield self._zlib.decompress(data, STEP)
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise InflateError(f"the compressed body is corrupt ({exc})") from None

    def close(self) -> None:
        """The body ended: :class:`InflateError` when a compressed one stopped before its end."""
        if self._zlib is not None and self._fed and not self._zlib.eof:
            raise InflateError("the compressed body ends before its end")
