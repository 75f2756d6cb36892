"""Translation between OpenAI chat completions and Anthropic Messages: pure functions, no I/O.

The gateway serves a request in either protocol (the *downstream* one, what the client
speaks) from an upstream of either protocol. Four pieces do the work:
:func:`translate_request` (client body -> upstream body), :func:`translate_response`
(upstream answer -> client answer), :class:`StreamTranslator` (upstream SSE events ->
client SSE frames) and :class:`StreamAssembler` (a stream -> the non-streamed answer of the
same protocol, for clients that did not ask for a stream: the gateway always streams
upstream). In every call ``src`` is the protocol of what goes in, ``dst`` of what comes out;
the protocols are ``"openai"`` and ``"anthropic"``.

When both ends speak the same protocol, bodies and events pass through untouched except the
``model`` name; fields this module does not know survive. Between protocols:

==========================  =================================================================
OpenAI chat completions     Anthropic Messages
==========================  =================================================================
``system``/``developer``    ``system``: one text block per message (a single one as a
messages (any position)     string); mid-conversation system messages move to the front
``user`` text / parts       ``user`` text / blocks; ``image_url`` (data URL or http URL)
                            <-> ``image`` (base64 or url source); other parts are refused
``assistant`` ``content``   ``text`` blocks (joined into one string the other way)
``tool_calls`` (arguments   ``tool_use`` blocks (``input`` object); unparsable arguments in
as a JSON string)           a request are a :class:`ProtocolError`
``role: tool`` messages     ``tool_result`` blocks; consecutive results (and a user turn
                            after them) merge into one user turn; only the text of a tool
                            result reaches OpenAI (``is_error`` has no counterpart)
``tools`` (functions)       ``tools`` (``input_schema``); Anthropic server tools are refused
``tool_choice`` auto/none/  ``tool_choice`` auto/none/any/tool;
required/function           ``parallel_tool_calls: false`` <-> ``disable_parallel_tool_use``
``max_completion_tokens``   ``max_tokens`` (required by Anthropic: :data:`DEFAULT_MAX_TOKENS`
or ``max_tokens``           when the client sent none, the largest every Claude model takes)
``temperature``, ``top_p``  same names (``temperature`` capped at 1, Anthropic's maximum)
``stop`` (string or list)   ``stop_sequences``
``stream``                  ``stream``; an OpenAI upstream is always asked for
                            ``stream_options.include_usage`` so the usage can be logged
``user``                    ``metadata.user_id``
``finish_reason``           ``stop_reason``: stop <-> end_turn (stop_sequence, pause_turn ->
                            stop), length <-> max_tokens, tool_calls <-> tool_use,
                            content_filter <-> refusal
``usage`` prompt (cached    ``usage`` input (uncached) + ``cache_read_input_tokens`` (+
tokens in details) and      ``cache_creation_input_tokens``, folded into prompt tokens);
completion tokens           output tokens
``{"error": {...}}``        ``{"type": "error", "error": {...}}``, type from the status
==========================  =================================================================

Dropped between protocols, because the other side has no way to say them: Anthropic
``thinking`` / ``redacted_thinking`` blocks and their deltas (they pass through only when
both ends are Anthropic); ``reasoning_content`` / ``reasoning`` from OpenAI-compatible
upstreams (an Anthropic thinking block needs a signature only Anthropic can make, and an
unsigned one sent back on the next turn would be refused by a real Anthropic upstream);
the request's ``thinking``, ``top_k``, ``cache_control`` marks, and on the OpenAI side
``response_format``, ``seed``, penalties, ``logit_bias``, ``logprobs`` and
``reasoning_effort``. ``n`` above 1 is refused. An OpenAI answer that carries tool calls
but says ``stop`` (some compatible servers do) becomes ``tool_use``.

Bad requests raise :class:`ProtocolError` (a :class:`~toolkit.errors.UserError` with HTTP
``status`` 400 and a one-line message naming the field); an upstream answer that cannot be
read raises :class:`MalformedAnswer` (the upstream's fault, never the client's).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import UserError
from toolkit.sse import SSEEvent, sse_frame

OPENAI = "openai"
ANTHROPIC = "anthropic"
PROTOCOLS: tuple[str, ...] = (OPENAI, ANTHROPIC)

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent to an Anthropic upstream when the OpenAI client gave none."""


class ProtocolError(UserError):
    """A request the gateway cannot serve as sent: answered with HTTP :attr:`status`."""

    status = 400


class MalformedAnswer(ValueError):
    """An upstream answer (body or stream event) that does not follow its protocol."""


def _fail(where: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{where}: {problem}" if where else problem)


def _check_protocols(*protocols: str) -> None:
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")


# ---------------------------------------------------------------------------------------
# Tables shared by requests, answers and streams

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


_TOOL_CHOICE_TO_ANTHROPIC = {"auto": "auto", "none": "none", "required": "any"}
_TOOL_CHOICE_TO_OPENAI = {v: k for k, v in _TOOL_CHOICE_TO_ANTHROPIC.items()}


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
            for attr, key in (("input", "input_tokens"), ("output", "output_tokens"),
                              ("cache_read", "cache_read_input_tokens"),
                              ("cache_creation", "cache_creation_input_tokens")):  # fmt: skip
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
        out = {"prompt_tokens": self.prompt, "completion_tokens": self.output,
               "total_tokens": self.prompt + self.output}  # fmt: skip
        if self.cache_read:
            out["prompt_tokens_details"] = {"cached_tokens": self.cache_read}
        return out


def _usage(usage: Mapping[str, Any] | None, protocol: str) -> Usage:
    counts = Usage()
    counts.update(usage, protocol)
    return counts


# ---------------------------------------------------------------------------------------
# Validation (what every request must have, whatever happens to it next)

_ROLES = {
    OPENAI: frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    ANTHROPIC: frozenset({"user", "assistant"}),
}


def validate_request(body: Any, protocol: str) -> None:
    """Raise :class:`ProtocolError` unless ``body`` has the shape every ``protocol`` request
    needs: a non-empty ``messages`` list of role-tagged messages, and well-formed ``tools``."""
    _check_protocols(protocol)
    if not isinstance(body, dict):
        raise _fail("", "the request body must be a JSON object")
    messages = body.get("messages")
    if messages is None:
        raise _fail("", "the request has no 'messages'")
    if not isinstance(messages, list) or not messages:
        raise _fail("messages", "must be a non-empty list")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _fail(where, "must be an object")
        role = message.get("role")
        if role not in _ROLES[protocol]:
            raise _fail(f"{where}.role", f"{role!r} is not one of {', '.join(sorted(_ROLES[protocol]))}")
        content = message.get("content")
        if not (isinstance(content, (str, list)) or (content is None and protocol == OPENAI and role == "assistant")):
            raise _fail(f"{where}.content", "must be a string or a list of content parts")
        if isinstance(content, list) and not all(isinstance(part, dict) and "type" in part for part in content):
            raise _fail(f"{where}.content", "every part must be an object with a 'type'")
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _fail("tools", "must be a list")
    for i, tool in enumerate(tools):
        fields = tool.get("function") if isinstance(tool, dict) and protocol == OPENAI else tool
        if not isinstance(fields, dict) or not isinstance(fields.get("name"), str) or not fields["name"]:
            named = "a 'function' with a 'name'" if protocol == OPENAI else "a 'name'"
            raise _fail(f"tools[{i}]", f"must be an object with {named}")


# ---------------------------------------------------------------------------------------
# Requests

def translate_request(body: dict[str, Any], src: str, dst: str, model: str, *,
                      default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:  # fmt: skip
    """The upstream request body for a client request: ``model`` replaced; between protocols,
    translated as the module docstring says. Raises :class:`ProtocolError` on bad input."""
    _check_protocols(src, dst)
    validate_request(body, src)
    if src == dst:
        return {**body, "model": model}
    if dst == ANTHROPIC:
        return _openai_to_anthropic_request(body, model, default_max_tokens)
    return _anthropic_to_openai_request(body, model)


def _text_of(content: Any, where: str) -> list[str]:
    """The texts of a string or a list of text parts (system prompts, tool results)."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise _fail(where, "must be a string or a list of text parts")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise _fail(f"{where}[{j}]", "must be a text part")
        texts.append(part["text"])
    return texts


_DATA_URL = re.compile(r"^data:([^;,]+);base64,(.*)$", re.DOTALL)


def _image_to_anthropic(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise _fail(where, "an image_url part needs a 'url'")
    if match := _DATA_URL.match(url):
        return {"type": "image", "source": {"type": "base64", "media_type": match[1], "data": match[2]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _image_to_openai(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        return {"type": "image_url", "image_url": {"url": url}}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": source.get("url")}}
    raise _fail(where, f"image source {source.get('type')!r} cannot be sent to an OpenAI upstream")


def _user_part_to_anthropic(part: dict[str, Any], where: str) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "text", "text": part.get("text", "")}
    if part["type"] == "image_url":
        return _image_to_anthropic(part, where)
    raise _fail(where, f"content part {part['type']!r} cannot be sent to an Anthropic upstream")


def _arguments(text: Any, where: str) -> dict[str, Any]:
    """Tool-call arguments (a JSON string) as the object Anthropic wants."""
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        raise _fail(where, "tool-call arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise _fail(where, "tool-call arguments must be a JSON object")
    return value


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not function.get("name") or not call.get("id"):
        raise _fail(where, "a tool call needs an 'id' and a 'function' with a 'name'")
    return {"type": "tool_use", "id": call["id"], "name": function["name"],
            "input": _arguments(function.get("arguments"), f"{where}.function.arguments")}  # fmt: skip


def _assistant_to_anthropic(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    content = message.get("content")
    texts = [content] if isinstance(content, str) else [
        part.get("text") or part.get("refusal") or "" for part in content or () if part["type"] in ("text", "refusal")
    ]
    blocks = [{"type": "text", "text": text} for text in texts if text]
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _fail(f"{where}.tool_calls", "must be a list")
    return blocks + [_tool_use(call, f"{where}.tool_calls[{k}]") for k, call in enumerate(calls)]


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    if not message.get("tool_call_id"):
        raise _fail(where, "a tool message needs a 'tool_call_id'")
    content = message["content"]
    if isinstance(content, list):
        content = [{"type": "text", "text": text} for text in _text_of(content, f"{where}.content")]
    return {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": content}


def _append_turn(turns: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one when the role repeats (Anthropic turns
    alternate: consecutive tool results and the user text after them are one user turn)."""
    if turns and turns[-1]["role"] == role:
        previous = turns[-1]["content"]
        blocks = [{"type": "text", "text": previous}] if isinstance(previous, str) else previous
        turns[-1]["content"] = blocks + ([{"type": "text", "text": content}] if isinstance(content, str) else content)
    else:
        turns.append({"role": role, "content": content})


def _openai_to_anthropic_request(body: dict[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(body["messages"]):
        where, role, content = f"messages[{i}]", message["role"], message.get("content")
        if role in ("system", "developer"):
            system += _text_of(content, f"{where}.content")
        elif role in ("tool", "function"):
            _append_turn(turns, "user", [_tool_result(message, where)])
        elif role == "user":
            parts = content if isinstance(content, str) else [
                _user_part_to_anthropic(part, f"{where}.content[{j}]") for j, part in enumerate(content)
            ]
            _append_turn(turns, "user", parts)
        else:
            _append_turn(turns, "assistant", _assistant_to_anthropic(message, where))
    if (n := body.get("n")) not in (None, 1):
        raise _fail("n", f"{n} answers per request cannot be served by an Anthropic upstream (only 1)")
    out: dict[str, Any] = {"model": model}
    if system:
        out["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": text} for text in system]
    out["messages"] = turns
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    out["max_tokens"] = int(max_tokens) if max_tokens else default_max_tokens
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if stop := body.get("stop"):
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream"):
        out["stream"] = True
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    if tools := body.get("tools"):
        out["tools"] = [_tool_to_anthropic(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        choice = _tool_choice_to_anthropic(body.get("tool_choice"))
        if body.get("parallel_tool_calls") is False and choice.get("type") != "none":
            choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
        if choice:
            out["tool_choice"] = choice
    return out


def _tool_to_anthropic(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        raise _fail(where, f"tool type {tool.get('type')!r} cannot be sent to an Anthropic upstream")
    function = tool["function"]
    out: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice_to_anthropic(choice: Any) -> dict[str, Any]:
    if choice is None:
        return {}
    if isinstance(choice, str) and choice in _TOOL_CHOICE_TO_ANTHROPIC:
        return {"type": _TOOL_CHOICE_TO_ANTHROPIC[choice]}
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not name:
        raise _fail("tool_choice", "must be 'auto', 'none', 'required' or a function to call")
    return {"type": "tool", "name": name}


def _tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def _user_to_openai(content: str | list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """One Anthropic user turn as OpenAI messages: its tool results first, then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results, parts = [], []
    for j, block in enumerate(content):
        kind = block["type"]
        if kind == "tool_result":
            text = _tool_result_text(block)
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(_image_to_openai(block, f"{where}.content[{j}]"))
        else:
            raise _fail(f"{where}.content[{j}]", f"block {kind!r} cannot be sent to an OpenAI upstream")
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*results, {"role": "user", "content": parts[0]["text"]}]
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call from a ``tool_use`` block (an ``input`` already text is kept as is)."""
    arguments = block.get("input") or {}
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    return {"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": arguments}}


def _openai_message(text: str, tool_calls: list[dict[str, Any]], reasoning: str = "") -> dict[str, Any]:
    """An assistant message as OpenAI writes it: no text next to tool calls is ``None``."""
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _assistant_to_openai(content: str | list[dict[str, Any]], where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts, calls = [], []
    for j, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        elif kind not in ("thinking", "redacted_thinking"):
            raise _fail(f"{where}.content[{j}]", f"block {kind!r} cannot be sent to an OpenAI upstream")
    # a request's assistant turn keeps "" next to tool calls, as OpenAI-compatible clients send it
    return {"role": "assistant", "content": "".join(texts), **({"tool_calls": calls} if calls else {})}


def _anthropic_to_openai_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    system = body.get("system")
    messages = [{"role": "system", "content": text} for text in ([] if system is None else _text_of(system, "system"))]
    for i, message in enumerate(body["messages"]):
        where, content = f"messages[{i}]", message["content"]
        if message["role"] == "user":
            messages += _user_to_openai(content, where)
        else:
            messages.append(_assistant_to_openai(content, where))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if user := (body.get("metadata") or {}).get("user_id"):
        out["user"] = user
    if tools := body.get("tools"):
        out["tools"] = [_tool_to_openai(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        choice = body.get("tool_choice")
        if choice is None:
            return out
        if not isinstance(choice, dict) or choice.get("type") not in (*_TOOL_CHOICE_TO_OPENAI, "tool"):
            raise _fail("tool_choice", "must be an object of type auto, any, none or tool")
        if choice["type"] == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        else:
            out["tool_choice"] = _TOOL_CHOICE_TO_OPENAI[choice["type"]]
        if choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    return out


def _tool_to_openai(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type", "custom") != "custom":
        raise _fail(where, f"server tool {tool.get('type')!r} cannot be sent to an OpenAI upstream")
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


# ---------------------------------------------------------------------------------------
# Error shapes

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
    _check_protocols(protocol)
    fallback = _ERROR_TYPES[400] if 400 <= status < 500 else _ERROR_TYPES[500]
    anthropic_type, openai_type, code = _ERROR_TYPES.get(status, fallback)
    if protocol == ANTHROPIC:
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}


def error_frame(protocol: str, message: str, status: int = 500) -> bytes:
    """An in-stream error event, for a stream that fails after content was sent: Anthropic's
    ``event: error``, or an OpenAI ``data: {"error": ...}`` chunk (no ``[DONE]`` after it)."""
    return sse_frame(error_body(protocol, status, message), "error" if protocol == ANTHROPIC else None)


# ---------------------------------------------------------------------------------------
# Non-streamed answers

def translate_response(body: dict[str, Any], src: str, dst: str, model: str, *,
                       created: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The client's answer for an upstream answer: ``model`` replaced; between protocols,
    translated (``created`` stamps an OpenAI answer made from an Anthropic one; default now).
    Raises :class:`MalformedAnswer` when the upstream body does not follow ``src``."""
    _check_protocols(src, dst)
    if not isinstance(body, dict):
        raise MalformedAnswer("the upstream answer is not a JSON object")
    if src == dst:
        return {**body, "model": model}
    if dst == ANTHROPIC:
        return _openai_to_anthropic_response(body, model)
    return _anthropic_to_openai_response(body, model, int(time.time()) if created is None else created)


def _openai_to_anthropic_response(body: dict[str, Any], model: str) -> dict[str, Any]:
    try:
        choice = body["choices"][0]
        message = choice["message"]
        calls = message.get("tool_calls") or []
        content = [{"type": "text", "text": text} for text in [_answer_text(message.get("content"))] if text]
        content += [_answer_tool_use(call) for call in calls]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedAnswer(f"the upstream answer has no readable first choice ({exc!r})") from None
    return _anthropic_message(body.get("id"), model, content, _anthropic_stop(choice.get("finish_reason"), bool(calls)),
                              _usage(body.get("usage"), OPENAI))  # fmt: skip


def _answer_text(content: Any) -> str:
    """An OpenAI answer's text: a string, ``None``, or (some servers) a list of text parts."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content)
    return content or ""


def _answer_tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
            "input": _answer_arguments(call["function"].get("arguments"))}  # fmt: skip


def _answer_arguments(text: str | None) -> Any:
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise MalformedAnswer(f"the upstream's tool-call arguments are not JSON: {text[:80]!r}") from None


def _anthropic_stop(finish_reason: str | None, has_tool_calls: bool) -> str | None:
    stop = translate_stop(finish_reason, OPENAI, ANTHROPIC)
    return "tool_use" if has_tool_calls and stop == "end_turn" else stop


def _anthropic_message(message_id: Any, model: str, content: list[dict[str, Any]], stop: str | None,
                       usage: Usage) -> dict[str, Any]:  # fmt: skip
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": usage.to(ANTHROPIC)}  # fmt: skip


def _anthropic_to_openai_response(body: dict[str, Any], model: str, created: int) -> dict[str, Any]:
    content = body.get("content")
    if not isinstance(content, list):
        raise MalformedAnswer("the upstream answer has no content list")
    text = "".join(block.get("text", "") for block in content if block.get("type") == "text")
    calls = [_tool_call(block) for block in content if block.get("type") == "tool_use"]
    choice = {"index": 0, "message": _openai_message(text, calls),
              "finish_reason": translate_stop(body.get("stop_reason"), ANTHROPIC, OPENAI)}  # fmt: skip
    return _openai_completion(body.get("id"), created, model, choice, _usage(body.get("usage"), ANTHROPIC))


def _openai_completion(completion_id: Any, created: int, model: str, choice: dict[str, Any],
                       usage: Usage | None) -> dict[str, Any]:  # fmt: skip
    out = {"id": completion_id, "object": "chat.completion", "created": created, "model": model, "choices": [choice]}
    if usage is not None:
        out["usage"] = usage.to(OPENAI)
    return out


# ---------------------------------------------------------------------------------------
# Streams: a reader per upstream protocol calls a writer per client protocol

def _json(event: SSEEvent) -> dict[str, Any]:
    try:
        value = json.loads(event.data)
    except json.JSONDecodeError:
        raise MalformedAnswer(f"the upstream sent an event that is not JSON: {event.data[:80]!r}") from None
    if not isinstance(value, dict):
        raise MalformedAnswer(f"the upstream sent an event that is not a JSON object: {event.data[:80]!r}")
    return value


class _Writer:
    """What a reader reports, as frames of the client protocol. This base class writes
    nothing: it is the writer of a same-protocol stream, whose frames are the upstream's own."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        self.model, self.created, self.include_usage = model, created, include_usage
        self.frames: list[bytes] = []

    def start(self, message_id: str) -> None: ...
    def text(self, text: str) -> None: ...
    def tool_start(self, key: Any, call_id: str, name: str) -> None: ...
    def tool_args(self, key: Any, fragment: str) -> None: ...
    def finish(self, stop: str | None) -> None: ...
    def end(self, usage: Usage) -> None: ...


class _OpenAIWriter(_Writer):
    """Chat-completion chunks: a role chunk, content and ``tool_calls`` deltas, a finish chunk,
    the usage chunk (when the client asked for it) and ``[DONE]``."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        super().__init__(model, created, include_usage)
        self.id = ""
        self.tools: dict[Any, int] = {}  # upstream block key -> OpenAI tool-call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        self.frames.append(sse_frame({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                      "model": self.model,
                                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))  # fmt: skip

    def start(self, message_id: str) -> None:
        self.id = message_id
        self._chunk({"role": "assistant", "content": ""})

    def text(self, text: str) -> None:
        self._chunk({"content": text})

    def tool_start(self, key: Any, call_id: str, name: str) -> None:
        self.tools[key] = index = len(self.tools)
        self._chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                     "function": {"name": name, "arguments": ""}}]})  # fmt: skip

    def tool_args(self, key: Any, fragment: str) -> None:
        if key in self.tools:
            self._chunk({"tool_calls": [{"index": self.tools[key], "function": {"arguments": fragment}}]})

    def finish(self, stop: str | None) -> None:
        self._chunk({}, stop)

    def end(self, usage: Usage) -> None:
        if self.include_usage:
            self.frames.append(sse_frame({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                          "model": self.model, "choices": [], "usage": usage.to(OPENAI)}))  # fmt: skip
        self.frames.append(sse_frame("[DONE]"))


class _AnthropicWriter(_Writer):
    """Messages events: ``message_start``, one content block at a time (``text`` or
    ``tool_use``), ``message_delta`` with the stop reason and usage, ``message_stop``."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        super().__init__(model, created, include_usage)
        self.open: tuple[str, Any] | None = None  # the open block: ("text", None) or ("tool_use", key)
        self.blocks = 0
        self.tools: dict[Any, int] = {}  # upstream tool key -> block index
        self.stop: str | None = None

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.frames.append(sse_frame({"type": name, **data}, name))

    def _open(self, kind: tuple[str, Any], block: dict[str, Any]) -> int:
        self._close()
        self.open, index = kind, self.blocks
        self.blocks += 1
        self._event("content_block_start", {"index": index, "content_block": block})
        return index

    def _close(self) -> None:
        if self.open is not None:
            self._event("content_block_stop", {"index": self.blocks - 1})
            self.open = None

    def start(self, message_id: str) -> None:
        message = _anthropic_message(message_id, self.model, [], None, Usage())
        self._event("message_start", {"message": message})

    def text(self, text: str) -> None:
        if self.open != ("text", None):
            self._open(("text", None), {"type": "text", "text": ""})
        self._event("content_block_delta", {"index": self.blocks - 1, "delta": {"type": "text_delta", "text": text}})

    def tool_start(self, key: Any, call_id: str, name: str) -> None:
        self.tools[key] = self._open(("tool_use", key), {"type": "tool_use", "id": call_id, "name": name, "input": {}})

    def tool_args(self, key: Any, fragment: str) -> None:
        if key in self.tools:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            self._event("content_block_delta", {"index": self.tools[key], "delta": delta})

    def finish(self, stop: str | None) -> None:
        self._close()
        self.stop = stop

    def end(self, usage: Usage) -> None:
        self._close()
        self._event("message_delta", {"delta": {"stop_reason": self.stop, "stop_sequence": None},
                                      "usage": usage.to(ANTHROPIC)})  # fmt: skip
        self._event("message_stop", {})


_WRITERS: dict[str, type[_Writer]] = {OPENAI: _OpenAIWriter, ANTHROPIC: _AnthropicWriter}
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def _is_error(data: dict[str, Any] | None, protocol: str) -> bool:
    """An in-stream error: OpenAI's ``{"error": ...}`` chunk, Anthropic's ``type: error`` event."""
    return data is not None and "error" in data and (protocol == OPENAI or data.get("type") == "error")


class _CallKeys:
    """Which tool call an OpenAI ``tool_calls`` fragment belongs to, as a number counting
    the calls. A fragment names its call by ``index`` (its position when a server leaves the
    index out); a fragment bringing a new ``id`` to a known index starts another call, since
    some servers send every call at index 0 and some repeat the id on every fragment."""

    def __init__(self) -> None:
        self._current: dict[Any, tuple[int, Any]] = {}  # index -> (key, id) of its latest call
        self.count = 0

    def key(self, position: int, call: Mapping[str, Any]) -> tuple[int, bool]:
        """The call's key, and whether this fragment starts it."""
        index, call_id = call.get("index", position), call.get("id")
        known = self._current.get(index)
        if known is not None and (not call_id or call_id == known[1]):
            return known[0], False
        self._current[index] = (self.count, call_id)
        self.count += 1
        return self.count - 1, True


def _call_id(call: Mapping[str, Any], message_id: str, key: int) -> str:
    """A tool call's id, made up from the message id when the server sent none."""
    return call.get("id") or _SAFE_ID.sub("_", f"call_{message_id}_{key}")


class StreamTranslator:
    """Upstream SSE events in, client SSE frames out, one upstream attempt at a time.

    ``src`` is the upstream protocol, ``dst`` the client's. Same protocol: every event is
    forwarded as it came, only ``model`` rewritten. Between protocols the frames are built
    from what the events mean (see the module docstring for what is dropped).

    Frames returned while :attr:`has_content` is still ``False`` carry no answer (a message
    start, a role chunk), so a gateway may hold them back and drop them when it fails over.
    An upstream ``error`` event produces no frame: it is kept in :attr:`error` (its raw text,
    for the classifier) and the gateway decides between failing over and :func:`error_frame`.
    :attr:`stop_reason` is in the client's words; :attr:`input_tokens` counts every prompt
    token, cached or not. :attr:`done` turns ``True`` at the upstream's end marker
    (``[DONE]`` or ``message_stop``): a stream that ends before it was cut short.
    """

    def __init__(self, src: str, dst: str, model: str, *, include_usage: bool = True,
                 created: int | None = None) -> None:  # fmt: skip
        _check_protocols(src, dst)
        self.src, self.dst, self.model = src, dst, model
        self.has_content = False
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.done = False
        self.usage = Usage()
        self._writer = (_Writer if src == dst else _WRITERS[dst])(
            model, int(time.time()) if created is None else created, include_usage
        )
        self._read = self._read_openai if src == OPENAI else self._read_anthropic
        self._started = False
        self._calls = _CallKeys()
        self._message_id = ""

    @property
    def input_tokens(self) -> int:
        return self.usage.prompt

    @property
    def output_tokens(self) -> int:
        return self.usage.output

    def feed(self, event: SSEEvent) -> list[bytes]:
        """The client frames for one upstream event (often one, sometimes none or several)."""
        if self.done:
            return []
        data = None if event.data == "[DONE]" else _json(event)
        if event.event == "error" or _is_error(data, self.src):
            self.error = event.data
            return []
        self._read(data)
        frames, self._writer.frames = self._writer.frames, []
        if self.src == self.dst:
            frames.append(self._forward(event, data))
        return frames

    def finish(self) -> list[bytes]:
        """The upstream stream ended: the client's closing frames when the upstream finished
        its answer but left out its end marker (no frames for a cut-short answer)."""
        if self.done or self.stop_reason is None or self.error is not None:
            return []
        self._end()
        frames, self._writer.frames = self._writer.frames, []
        return frames

    def _forward(self, event: SSEEvent, data: dict[str, Any] | None) -> bytes:
        if data is None or (self.src == ANTHROPIC and event.event != "message_start"):
            return sse_frame(event.data, event.event)
        target = data["message"] if self.src == ANTHROPIC else data
        if "model" in target:
            target["model"] = self.model
        return sse_frame(data, event.event)

    # What the upstream says, told to the writer -----------------------------------------

    def _start(self, message_id: str) -> None:
        if not self._started:
            self._started = True
            self._message_id = message_id
            self._writer.start(message_id)

    def _content(self) -> None:
        self.has_content = True

    def _finish(self, stop: str | None) -> None:
        if stop is None:
            return
        if self.src == OPENAI and self.dst == ANTHROPIC:
            self.stop_reason = _anthropic_stop(stop, self._calls.count > 0)
        else:
            self.stop_reason = translate_stop(stop, self.src, self.dst)
        self._writer.finish(self.stop_reason)

    def _end(self) -> None:
        self._start("")
        self.done = True
        self._writer.end(self.usage)

    def _read_openai(self, chunk: dict[str, Any] | None) -> None:
        if chunk is None:
            return self._end()
        self._start(str(chunk.get("id") or ""))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # only the first choice is served
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                self._content()
                self._writer.text(text)
            if (delta.get("reasoning_content") or delta.get("reasoning")) and self.src == self.dst:
                self._content()  # dropped between protocols
            for position, call in enumerate(delta.get("tool_calls") or ()):
                self._openai_tool_delta(position, call)
            self._finish(choice.get("finish_reason"))
        self.usage.update(chunk.get("usage"), OPENAI)

    def _openai_tool_delta(self, position: int, call: dict[str, Any]) -> None:
        key, new = self._calls.key(position, call)
        function = call.get("function") or {}
        if new:
            self._content()
            self._writer.tool_start(key, _call_id(call, self._message_id, key), function.get("name") or "")
        if function.get("arguments"):
            self._content()
            self._writer.tool_args(key, function["arguments"])

    def _read_anthropic(self, event: dict[str, Any] | None) -> None:
        kind = (event or {}).get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.usage.update(message.get("usage"), ANTHROPIC)
            self._start(str(message.get("id") or ""))
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._content()
                self._writer.tool_start(event.get("index"), block.get("id") or "", block.get("name") or "")
            elif block.get("type") in ("thinking", "redacted_thinking") and self.src == self.dst:
                self._content()
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self._content()
                self._writer.text(delta["text"])
            elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                self._content()
                self._writer.tool_args(event.get("index"), delta["partial_json"])
            elif self.src == self.dst:
                self._content()  # thinking, signature, citations: passed through as they are
        elif kind == "message_delta":
            self.usage.update(event.get("usage"), ANTHROPIC)
            self._finish((event.get("delta") or {}).get("stop_reason"))
        elif kind == "message_stop":
            self._end()


# ---------------------------------------------------------------------------------------
# Reassembling a stream into the non-streamed answer


class StreamAssembler:
    """Feeds on one protocol's stream events; :meth:`result` is the non-streamed answer the
    same upstream would have given (the gateway streams upstream even when its client did
    not ask for a stream). Raises :class:`MalformedAnswer` on events it cannot read."""

    def __init__(self, protocol: str) -> None:
        _check_protocols(protocol)
        self.protocol = protocol
        self.error: str | None = None
        self._head: dict[str, Any] = {}  # Anthropic: message_start's message; OpenAI: the first chunk
        self._blocks: dict[int, dict[str, Any]] = {}  # Anthropic content blocks by index
        self._json: dict[Any, list[str]] = {}  # tool-input / argument fragments by block or call index
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._call_keys = _CallKeys()
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, event: SSEEvent) -> None:
        """Take one event (``ping`` and ``[DONE]`` are ignored; an error is kept in :attr:`error`)."""
        if event.data == "[DONE]" or event.event == "ping":
            return
        data = _json(event)
        if event.event == "error" or _is_error(data, self.protocol):
            self.error = event.data
        elif self.protocol == OPENAI:
            self._feed_openai(data)
        else:
            self._feed_anthropic(data)

    def result(self) -> dict[str, Any]:
        """The answer so far, as the protocol's non-streamed body."""
        if self.protocol == ANTHROPIC:
            message = {**self._head, "content": [self._block(i) for i in sorted(self._blocks)]}
            message["usage"] = {**(self._head.get("usage") or {}), **(self._usage or {})}
            return message
        calls = [_tool_call({**call, "input": "".join(self._json[key])}) for key, call in self._calls.items()]
        message = _openai_message("".join(self._text), calls, "".join(self._reasoning))
        choice = {"index": 0, "message": message, "finish_reason": self._finish}
        head = self._head
        out = {"id": head.get("id"), "object": "chat.completion", "created": head.get("created"),
               "model": head.get("model"), "choices": [choice]}  # fmt: skip
        if self._usage is not None:
            out["usage"] = self._usage
        return out

    def _feed_openai(self, chunk: dict[str, Any]) -> None:
        if not self._head:
            self._head = chunk
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            self._text.append(delta.get("content") or "")
            self._reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
            for position, call in enumerate(delta.get("tool_calls") or ()):
                key, new = self._call_keys.key(position, call)
                function = call.get("function") or {}
                if new:
                    self._calls[key] = {"id": _call_id(call, str(self._head.get("id") or ""), key), "name": ""}
                self._calls[key]["name"] = self._calls[key]["name"] or function.get("name") or ""
                self._json.setdefault(key, []).append(function.get("arguments") or "")
            self._finish = choice.get("finish_reason") or self._finish

    def _feed_anthropic(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self._head = dict(event.get("message") or {})
        elif kind == "content_block_start":
            self._blocks[event["index"]] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta":
            block, delta = self._blocks.setdefault(event["index"], {}), event.get("delta") or {}
            field = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "signature"}.get(
                delta.get("type") or ""
            )
            if field:
                block[field] = block.get(field, "") + delta.get(field, "")
            elif delta.get("type") == "input_json_delta":
                self._json.setdefault(event["index"], []).append(delta.get("partial_json") or "")
            elif delta.get("type") == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "message_delta":
            self._head.update(event.get("delta") or {})
            self._usage = {**(self._usage or {}), **(event.get("usage") or {})}

    def _block(self, index: int) -> dict[str, Any]:
        block = self._blocks[index]
        if index in self._json:
            block = {**block, "input": _answer_arguments("".join(self._json[index]))}
        return block
