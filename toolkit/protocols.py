"""The two wire protocols' shared vocabulary: names, stop reasons, usage, errors, answer shapes.

Used by :mod:`toolkit.translate` (bodies) and :mod:`toolkit.translate_stream` (streams);
the translation rules themselves are listed in :mod:`toolkit.translate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import UserError
from toolkit.sse import sse_frame

OPENAI = "openai"
ANTHROPIC = "anthropic"
PROTOCOLS: tuple[str, ...] = (OPENAI, ANTHROPIC)
"""The protocol names: OpenAI chat completions and Anthropic Messages."""


class ProtocolError(UserError):
    """A request the gateway cannot serve as sent: answered with HTTP :attr:`status`."""

    status = 400


class MalformedAnswer(ValueError):
    """An upstream answer (body or stream event) that does not follow its protocol."""


def check_protocols(*protocols: str) -> None:
    """Raise ``ValueError`` for a protocol name that is neither (a bug in the caller)."""
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")


_STOP_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


_STOP_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def translate_stop(reason: str | None, src: str, dst: str) -> str | None:
    """A stop reason in ``dst``'s words (``None`` stays ``None``; unknown ones end the turn)."""
    if reason is None or src == dst:
        return reason
    return _STOP_TO_ANTHROPIC.get(reason, "end_turn") if dst == ANTHROPIC else _STOP_TO_OPENAI.get(reason, "stop")


@dataclass
class Usage:
    """Token counts in neutral form: ``input`` excludes cache reads and cache writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0

    @property
    def prompt(self) -> int:
        """All prompt tokens, cached or not (OpenAI's ``prompt_tokens``)."""
        return self.input + self.cache_read + self.cache_creation

    def update(self, usage: Mapping[str, Any] | None, protocol: str) -> None:
        """Take the counts a usage object of ``protocol`` carries (absent ones are kept)."""
        if not usage:
            return
        if protocol == ANTHROPIC:
            for attr, key in (
                ("input", "input_tokens"),
                ("output", "output_tokens"),
                ("cache_read", "cache_read_input_tokens"),
                ("cache_creation", "cache_creation_input_tokens"),
            ):
                if usage.get(key) is not None:
                    setattr(self, attr, int(usage[key]))
            return
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        if usage.get("prompt_tokens") is not None:
            self.input, self.cache_read, self.cache_creation = int(usage["prompt_tokens"]) - cached, cached, 0
        if usage.get("completion_tokens") is not None:
            self.output = int(usage["completion_tokens"])

    def to(self, protocol: str) -> dict[str, Any]:
        """The usage object of ``protocol``; cache fields only when non-zero."""
        if protocol == ANTHROPIC:
            out: dict[str, Any] = {"input_tokens": self.input, "output_tokens": self.output}
            if self.cache_read:
                out["cache_read_input_tokens"] = self.cache_read
            if self.cache_creation:
                out["cache_creation_input_tokens"] = self.cache_creation
            return out
        out = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.output,
            "total_tokens": self.prompt + self.output,
        }
        if self.cache_read:
            out["prompt_tokens_details"] = {"cached_tokens": self.cache_read}
        return out


def usage_of(usage: Mapping[str, Any] | None, protocol: str) -> Usage:
    """The :class:`Usage` of a usage object of ``protocol`` (``None`` counts nothing)."""
    counts = Usage()
    counts.update(usage, protocol)
    return counts


_NOT_IN_TOOL_ID = re.compile(r"[^A-Za-z0-9_-]")


def anthropic_tool_id(call_id: Any) -> str:
    """A tool-call id Anthropic accepts (letters, digits, ``_`` and ``-``): some OpenAI-compatible
    models name calls like ``functions.read:0``; the same id always maps to the same result."""
    return _NOT_IN_TOOL_ID.sub("_", str(call_id))


def tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call from a ``tool_use`` block (an ``input`` already text is kept as is)."""
    arguments = block.get("input") or {}
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    return {"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": arguments}}


def openai_message(text: str, tool_calls: list[dict[str, Any]], reasoning: str = "") -> dict[str, Any]:
    """An assistant message as OpenAI writes it: no text next to tool calls is ``None``."""
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def answer_arguments(text: str | None) -> Any:
    """Tool-call arguments an upstream wrote, as the object an Anthropic ``tool_use`` holds."""
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise MalformedAnswer(f"the upstream's tool-call arguments are not JSON: {str(text)[:80]!r}") from None


def anthropic_stop(finish_reason: str | None, has_tool_calls: bool) -> str | None:
    """An OpenAI finish reason in Anthropic's words; an answer with tool calls that says
    ``stop`` (some OpenAI-compatible servers do) is a ``tool_use``."""
    stop = translate_stop(finish_reason, OPENAI, ANTHROPIC)
    return "tool_use" if has_tool_calls and stop == "end_turn" else stop


def anthropic_message(
    message_id: Any, model: str, content: list[dict[str, Any]], stop: str | None, usage: Usage
) -> dict[str, Any]:
    """A non-streamed Messages answer (also the message of a stream's ``message_start``)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage.to(ANTHROPIC),
    }


# status -> (Anthropic error type, OpenAI error type, OpenAI error code)
_ERROR_TYPES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "invalid_request_error", None),
    401: ("authentication_error", "authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_error", "permission_denied"),
    404: ("not_found_error", "invalid_request_error", "model_not_found"),
    413: ("request_too_large", "invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_error", "rate_limit_exceeded"),
    500: ("api_error", "server_error", None),
    503: ("overloaded_error", "server_error", "service_unavailable"),
    529: ("overloaded_error", "server_error", "overloaded"),
}


def error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    """The protocol's error JSON for an HTTP ``status`` (other 4xx are invalid requests,
    other 5xx API errors, as both providers document)."""
    check_protocols(protocol)
    fallback = _ERROR_TYPES[400] if 400 <= status < 500 else _ERROR_TYPES[500]
    anthropic_type, openai_type, code = _ERROR_TYPES.get(status, fallback)
    if protocol == ANTHROPIC:
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}


def error_frame(protocol: str, message: str, status: int = 500) -> bytes:
    """An in-stream error event, for a stream that fails after content was sent: Anthropic's
    ``event: error``, or an OpenAI ``data: {"error": ...}`` chunk (no ``[DONE]`` after it)."""
    return sse_frame(error_body(protocol, status, message), "error" if protocol == ANTHROPIC else None)
