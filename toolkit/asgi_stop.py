"""A request still running when its server stops ends quietly, for every uvicorn server here.

When uvicorn stops (a forced stop, or a graceful shutdown whose time is up) it cancels the
requests still in flight, and logs each ``CancelledError`` as "Exception in ASGI
application" with a traceback, although nothing went wrong: the mock providers still
pacing the answer of a client that left, the gateway still waiting for an upstream.
:func:`quiet_on_stop` wraps an ASGI app so that such a request ends its response instead
(a 503 when nothing was sent yet, else the end of the body already under way); a client
that already left gets nothing, as uvicorn drops writes to a closed connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_STOPPING = b"the server is stopping; retry elsewhere or later\n"


def quiet_on_stop(app: App) -> App:
    """``app``, with HTTP requests cancelled by a stopping server ended as described above."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = ended = False

        async def tracked(message: Message) -> None:
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            ended = ended or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        try:
            await app(scope, receive, tracked)
        except asyncio.CancelledError:  # the server is stopping: not an error of this request
            if not started:
                headers = [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_STOPPING)).encode()),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": _STOPPING})
            elif not ended:
                await send({"type": "http.response.body", "body": b""})

    return wrapped
