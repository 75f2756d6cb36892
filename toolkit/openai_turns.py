"""An OpenAI chat-completions body read as plain turns: what the Gemini and Bedrock translations share.

Both APIs want the system prompt apart, text-only user turns, assistant turns with their tool
calls as objects, tool results as user-side parts naming the call they answer, and strictly
alternating roles. :func:`turns` reads the OpenAI body once in those terms; :func:`merged`
appends a turn's parts to the conversation, joining consecutive turns of one role; and
:func:`sampling` reads the generation settings. ``target`` names the API in messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkit.protocols import ProtocolError


@dataclass
class Turn:
    """One message: ``role`` is ``system``, ``user``, ``assistant`` or ``tool``."""

    role: str
    text: str
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (id, name, arguments)
    call_id: str = ""  # a tool result: the call it answers
    name: str = ""  # a tool result: that call's function name


def text_of(content: Any, target: str) -> str:
    """The text of an OpenAI message content (a string or text parts; other parts refused)."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "text":
            raise ProtocolError(f"only text parts can be sent to a {target} upstream")
        texts.append(str(part.get("text", "")))
    return "".join(texts)


def tool_arguments(text: Any) -> dict[str, Any]:
    """Tool-call arguments (a JSON text) as the object Gemini and Bedrock take."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise ProtocolError(f"tool-call arguments are not JSON: {str(text)[:80]!r}") from None
    return value if isinstance(value, dict) else {"value": value}


def turns(body: Mapping[str, Any], target: str) -> list[Turn]:
    """The messages of ``body`` as turns (``developer`` is ``system``; unknown roles refused)."""
    out: list[Turn] = []
    names: dict[str, str] = {}  # call id -> function name, for the results that answer them
    for message in body.get("messages") or ():
        role = message.get("role")
        text = text_of(message.get("content"), target)
        if role in ("system", "developer", "user"):
            out.append(Turn("system" if role == "developer" else role, text))
        elif role == "assistant":
            calls = []
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                names[str(call.get("id"))] = function.get("name", "")
                calls.append((str(call.get("id")), function.get("name", ""), tool_arguments(function.get("arguments"))))
            out.append(Turn("assistant", text, calls))
        elif role == "tool":
            call_id = str(message.get("tool_call_id"))
            out.append(Turn("tool", text, call_id=call_id, name=names.get(call_id, "")))
        else:
            raise ProtocolError(f"a message with role {role!r} cannot be sent to a {target} upstream")
    return out


def merged(conversation: list[dict[str, Any]], role: str, parts: list[dict[str, Any]], key: str) -> None:
    """Append a turn of ``parts`` (under ``key``), joined to the previous one if it has the same role."""
    if not parts:
        return
    if conversation and conversation[-1]["role"] == role:
        conversation[-1][key].extend(parts)
    else:
        conversation.append({"role": role, key: parts})


def functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The function tools of ``body`` (their ``function`` objects)."""
    return [t.get("function") or {} for t in body.get("tools") or () if t.get("type", "function") == "function"]


def sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    """``max_tokens`` (or ``max_completion_tokens``), ``temperature``, ``top_p`` and ``stop`` (as a
    list), each only when set."""
    out: dict[str, Any] = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        out["max_tokens"] = int(limit)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return out
