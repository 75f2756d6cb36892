"""Error classification and Retry-After parsing, shared by the simulator's mock world and live runs.

One attempt ends in exactly one *outcome class* (:data:`toolkit.vocabulary.OUTCOMES`). The failover engine
decides on the class alone, so everything provider-specific (Anthropic's 529
``overloaded_error``, OpenAI's 429 ``insufficient_quota``, an error event inside a 200
SSE stream, the many spellings of "context too long") is folded in here, once, and
table-tested. The rules follow DESIGN.md; the order of the checks is the precedence:

1. a transport exception (no response): timeout or connection;
2. a context-length text on any non-2xx response (or inside a stream) -> ``context_length``
   (checked first because providers send it with 400, 413 or even 429);
3. 429, or a rate-limit / quota text -> ``rate_limit``;
4. 529, 503, or an "overloaded" / "at capacity" / "model not ready" text -> ``overload`` (Bedrock
   sends ``ModelNotReadyException`` with 429; waiting for that model is not a rate limit);
5. 408 -> ``timeout``; 401 / 403, or a bad-key text (Gemini answers an invalid key with a 400
   ``API_KEY_INVALID``) -> ``auth``; other 5xx -> ``server_error``; other 4xx -> ``client_error``;
6. a 2xx whose body carries an error event -> the class of its text, else ``server_error``;
   any other 2xx -> ``ok``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from toolkit.vocabulary import Outcome

# "too many tokens" is a long prompt, except in Bedrock's ThrottlingException "Too many tokens, please wait"
_CONTEXT = re.compile(
    r"context[ _-]?(length|window)|maximum context|context_length_exceeded|prompt is too long"
    r"|too many (input )?tokens(?!, please wait)|input is too long|exceeds? the (model'?s? )?(context|maximum)"
    r"|reduce the length of the messages|request too large for model",
    re.IGNORECASE,
)
_RATE = re.compile(
    r"rate[ _-]?limit|too many requests|insufficient_quota|quota|resource_exhausted|throttl",
    re.IGNORECASE,
)
_OVERLOAD = re.compile(
    r"overloaded|at capacity|service ?unavailable|temporarily unavailable|try again later|model ?not ?ready"
    r"|model is not ready",
    re.IGNORECASE,
)
_NOT_READY = re.compile(r"ModelNotReady|Model is not ready", re.IGNORECASE)
_AUTH = re.compile(r"API_KEY_INVALID|API key not valid|UNAUTHENTICATED", re.IGNORECASE)
# Google's RetryInfo detail: {"@type": ".../google.rpc.RetryInfo", "retryDelay": "2s"} (a protobuf Duration)
_RETRY_DELAY = re.compile(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"')
# An error delivered inside a 2xx response: an SSE `event: error`, or a JSON object whose
# `error` key (OpenAI style) or `"type": "error"` (Anthropic style) marks a failure.
_STREAM_ERROR = re.compile(r'^event:\s*error|"error"\s*:\s*[{"]|"type"\s*:\s*"error"', re.IGNORECASE | re.MULTILINE)

_TIMEOUT_NAMES = ("Timeout", "TimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout")


def _text(body: str | bytes | None) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body


def _by_text(text: str) -> Outcome | None:
    """The class a message names, or None when it names none."""
    if _CONTEXT.search(text):
        return "context_length"
    if _RATE.search(text):
        return "rate_limit"
    if _OVERLOAD.search(text):
        return "overload"
    return None


def _exception_class(exc: BaseException) -> Outcome:
    """Timeout or connection for a transport failure (names checked so httpx need not be imported)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TimeoutError) or names.intersection(_TIMEOUT_NAMES):
        return "timeout"
    if re.search(r"timed? ?out|ETIMEDOUT", str(exc), re.IGNORECASE):
        return "timeout"
    return "connection"


def classify(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    exc: BaseException | None = None,
) -> Outcome:
    """The outcome class of one attempt (one of :data:`~toolkit.vocabulary.OUTCOMES`, never ``cancelled``).

    ``status`` is the HTTP status (None when no response arrived), ``body`` the response
    text (for a stream: the text received so far), ``exc`` the transport exception if the
    request failed before or while reading the response. Of the ``headers`` only AWS's
    ``x-amzn-ErrorType`` counts: Bedrock names the error there (``ThrottlingException``,
    ``ModelNotReadyException``, ...), and it is read as part of the text.
    """
    if exc is not None and status is None:
        return _exception_class(exc)
    if status is None:
        raise ValueError("classify needs a status or an exception")
    text = _text(body)
    aws_type = _header(headers, "x-amzn-errortype") if headers else None
    if aws_type:
        text = f"{aws_type.split(':')[0]} {text}"
    if 200 <= status < 300:
        if exc is not None:  # the stream broke after a 200 header
            return _exception_class(exc)
        if text and _STREAM_ERROR.search(text):
            return _by_text(text) or "server_error"
        return "ok"
    if text and _CONTEXT.search(text):
        return "context_length"
    if status == 429 and not _NOT_READY.search(text):  # Bedrock's 429 ModelNotReadyException is capacity
        return "rate_limit"
    if status in (529, 503):
        return "overload"
    found = _by_text(text) if text else None
    if found is not None:
        return found
    if status == 408:
        return "timeout"
    if status in (401, 403) or (text and _AUTH.search(text)):
        return "auth"
    if status >= 500:
        return "server_error"
    return "client_error"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


MAX_RETRY_AFTER_S = 600.0
"""The longest wait a Retry-After can ask for: a longer one (``1e308``, an HTTP date next year) is
read as this many seconds, so a hostile or broken server cannot park a request forever. Ten
minutes is past any real provider's rate-limit window; a policy's ``max_retry_after_s`` can
move a request on sooner."""


def retry_after_s(
    headers: Mapping[str, str] | None, now_epoch_s: float | None = None, body: str | bytes | None = None
) -> float | None:
    """Seconds the server asks the client to wait, or None when it does not say.

    ``retry-after-ms`` (milliseconds) wins over ``retry-after``, which is either seconds
    (fractions accepted) or an HTTP date; a date needs ``now_epoch_s`` (the caller's
    clock, so this stays free of wall-clock reads) and gives the difference. Past dates
    and negative values give 0, values past :data:`MAX_RETRY_AFTER_S` give that; unparsable
    or non-finite values give None (as if absent). Without either header, a Google error
    ``body`` may say it in a ``RetryInfo`` detail (``"retryDelay": "2s"``).
    """
    if not headers or (_header(headers, "retry-after-ms") is None and _header(headers, "retry-after") is None):
        delay = _RETRY_DELAY.search(_text(body)) if body else None
        return _bounded(float(delay.group(1))) if delay else None
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        seconds = _number(ms)
        if seconds is not None:
            return _bounded(seconds / 1000.0)
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return _bounded(seconds)
    if now_epoch_s is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return _bounded(when.timestamp() - now_epoch_s)


def _bounded(seconds: float) -> float:
    """``seconds`` within 0 and :data:`MAX_RETRY_AFTER_S` (a finite float on both sides)."""
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
