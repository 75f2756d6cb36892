"""Bounded HTTP downloads: a server cannot make a GET take longer, or more bytes, than allowed.

Per-read timeouts do not bound a download (a server that drips a byte a second never trips
them), and ``response.content`` holds whatever the server sends, decompressed (a gzip bomb
of a few MB is gigabytes). :func:`download` therefore bounds

- the whole request, connect to last byte, by one deadline (``timeout_s``);
- the bytes on the wire and the bytes after ``Content-Encoding`` decoding, each by
  ``max_bytes`` (:data:`MAX_BYTES` by default), checked as they arrive;
- the memory: compressed bytes are inflated in bounded steps (:class:`toolkit.inflate.Inflater`;
  only ``gzip`` and ``deflate`` are asked for and accepted), and the body streams into a
  temporary file that is read back only once complete, so about ``max_bytes`` is ever held.

Every failure is a :class:`DownloadError` with a one-line message.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from toolkit.errors import UserError
from toolkit.inflate import ACCEPT, InflateError, Inflater
from toolkit.sync import run_sync

MAX_BYTES = 64 * 1024 * 1024
"""The default cap on a download, on the wire and decoded (64 MiB: the models.dev catalog is
about 1 MiB; a body past the cap is refused, not truncated)."""


class DownloadError(UserError):
    """A download that failed or broke a bound; the message is one line naming which."""


@dataclass(frozen=True)
class Download:
    """A finished GET: its status, its response headers and its (decoded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def download(url: str, headers: Mapping[str, str], timeout_s: float, max_bytes: int = MAX_BYTES) -> Download:
    """GET ``url`` (redirects followed) within ``timeout_s`` seconds in all and ``max_bytes``.

    A 2xx or 304 answer is returned; any other status, a transport failure or a broken
    bound raises :class:`DownloadError`. Works inside a running event loop too (a notebook):
    the request then runs on a thread of its own.
    """
    return run_sync(_get(url, headers, timeout_s, max_bytes))


async def _get(url: str, headers: Mapping[str, str], timeout_s: float, max_bytes: int) -> Download:
    limit = f"{max_bytes / 2**20:g} MiB"
    try:
        async with asyncio.timeout(timeout_s), httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client:
            asked = {**headers, "accept-encoding": ACCEPT}
            async with client.stream("GET", url, headers=asked) as response:
                if response.status_code >= 300 and response.status_code != 304:
                    raise DownloadError(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DownloadError(f"the server announces {int(declared)} bytes, over the {limit} limit")
                inflater = Inflater(response.headers.get("content-encoding", ""))
                with tempfile.TemporaryFile() as spool:
                    wire = decoded = 0
                    async for raw in response.aiter_raw():
                        wire += len(raw)
                        for piece in inflater.feed(raw):
                            decoded += len(piece)
                            if decoded > max_bytes or wire > max_bytes:
                                raise DownloadError(f"the server sent more than {limit} (decoded or on the wire)")
                            spool.write(piece)
                    inflater.close()
                    spool.seek(0)
                    return Download(response.status_code, dict(response.headers), spool.read())
    except InflateError as exc:
        raise DownloadError(str(exc)) from None
    except TimeoutError:
        raise DownloadError(f"the download did not finish within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:  # refused, reset, bad TLS, a corrupt compressed body
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DownloadError(reason) from None
