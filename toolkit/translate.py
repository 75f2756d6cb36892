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
``assistant`` ``content``   ``text`` blocks (joined into one string the other way); an
                            assistant turn with no text and no tool call is left out
``tool_calls`` (arguments   ``tool_use`` blocks (``input`` object); unparsable arguments in
as a JSON string)           a request are a :class:`ProtocolError`; characters Anthropic
                            refuses in a call id (``functions.read:0``) become ``_``
``role: tool`` messages     ``tool_result`` blocks; consecutive results (and a user turn
                            after them) merge into one user turn; only the text of a tool
                            result reaches OpenAI (``is_error`` has no counterpart)
``tools`` (functions)       ``tools`` (``input_schema``); Anthropic server tools are refused
``tool_choice`` auto/none/  ``tool_choice`` auto/none/any/tool;
required/function           ``parallel_tool_calls: false`` <-> ``disable_parallel_tool_use``
``max_completion_tokens``   ``max_tokens`` (required by Anthropic: :data:`DEFAULT_MAX_TOKENS`
or ``max_tokens``           when the client sent none, the largest every Claude model takes)
``temperature``, ``top_p``  same names; ``temperature`` capped at 1 (Anthropic's maximum),
                            and only it is sent when both are (Claude 4.1 on refuses both)
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
but says ``stop`` (some compatible servers do) becomes ``tool_use``; an Anthropic tool call
streamed without arguments reaches an OpenAI client as ``{}``.

Bad requests raise :class:`ProtocolError` (a :class:`~toolkit.errors.UserError` with HTTP
``status`` 400 and a one-line message naming the field); an upstream answer that cannot be
read raises :class:`MalformedAnswer` (the upstream's fault, never the client's).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from toolkit.protocols import (
    ANTHROPIC,
    OPENAI,
    PROTOCOLS,
    MalformedAnswer,
    ProtocolError,
    Usage,
    answer_arguments,
    anthropic_message,
    anthropic_stop,
    anthropic_tool_id,
    check_protocols,
    error_body,
    error_frame,
    openai_message,
    tool_call,
    translate_stop,
    usage_of,
)
from toolkit.translate_stream import StreamAssembler, StreamTranslator

__all__ = [
    "ANTHROPIC",
    "DEFAULT_MAX_TOKENS",
    "OPENAI",
    "PROTOCOLS",
    "MalformedAnswer",
    "ProtocolError",
    "StreamAssembler",
    "StreamTranslator",
    "error_body",
    "error_frame",
    "translate_request",
    "translate_response",
    "translate_stop",
    "validate_request",
]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent to an Anthropic upstream when the OpenAI client gave none."""


def _fail(where: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{where}: {problem}" if where else problem)


# ---------------------------------------------------------------------------------------
# Tool choice: OpenAI's words -> Anthropic's


_TOOL_CHOICE_TO_ANTHROPIC = {"auto": "auto", "none": "none", "required": "any"}
_TOOL_CHOICE_TO_OPENAI = {v: k for k, v in _TOOL_CHOICE_TO_ANTHROPIC.items()}


# ---------------------------------------------------------------------------------------
# Validation (what every request must have, whatever happens to it next)

_ROLES = {
    OPENAI: frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    ANTHROPIC: frozenset({"user", "assistant"}),
}


def validate_request(body: Any, protocol: str) -> None:
    """Raise :class:`ProtocolError` unless ``body`` has the shape every ``protocol`` request
    needs: a non-empty ``messages`` list of role-tagged messages, and well-formed ``tools``."""
    check_protocols(protocol)
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


def translate_request(
    body: dict[str, Any], src: str, dst: str, model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """The upstream request body for a client request: ``model`` replaced; between protocols,
    translated as the module docstring says. Raises :class:`ProtocolError` on bad input."""
    check_protocols(src, dst)
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
    return {
        "type": "tool_use",
        "id": anthropic_tool_id(call["id"]),
        "name": function["name"],
        "input": _arguments(function.get("arguments"), f"{where}.function.arguments"),
    }


def _assistant_to_anthropic(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    content = message.get("content")
    texts = (
        [content]
        if isinstance(content, str)
        else [
            part.get("text") or part.get("refusal") or ""
            for part in content or ()
            if part["type"] in ("text", "refusal")
        ]
    )
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
    return {"type": "tool_result", "tool_use_id": anthropic_tool_id(message["tool_call_id"]), "content": content}


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
            parts = (
                content
                if isinstance(content, str)
                else [_user_part_to_anthropic(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
            )
            _append_turn(turns, "user", parts)
        elif blocks := _assistant_to_anthropic(message, where):
            _append_turn(turns, "assistant", blocks)
        # an assistant turn with neither text nor tool calls says nothing; Anthropic refuses it
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
    elif body.get("top_p") is not None:  # Claude 4.1 and later refuse both
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


def _assistant_to_openai(content: str | list[dict[str, Any]], where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts, calls = [], []
    for j, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(tool_call(block))
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
# Non-streamed answers


def translate_response(
    body: dict[str, Any], src: str, dst: str, model: str, *, created: int | None = None
) -> dict[str, Any]:
    """The client's answer for an upstream answer: ``model`` replaced; between protocols,
    translated (``created`` stamps an OpenAI answer made from an Anthropic one; default now).
    Raises :class:`MalformedAnswer` when the upstream body does not follow ``src``."""
    check_protocols(src, dst)
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
    return anthropic_message(
        body.get("id"),
        model,
        content,
        anthropic_stop(choice.get("finish_reason"), bool(calls)),
        usage_of(body.get("usage"), OPENAI),
    )


def _answer_text(content: Any) -> str:
    """An OpenAI answer's text: a string, ``None``, or (some servers) a list of text parts."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content)
    return content or ""


def _answer_tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": anthropic_tool_id(call["id"]),
        "name": call["function"]["name"],
        "input": answer_arguments(call["function"].get("arguments")),
    }


def _anthropic_to_openai_response(body: dict[str, Any], model: str, created: int) -> dict[str, Any]:
    content = body.get("content")
    if not isinstance(content, list):
        raise MalformedAnswer("the upstream answer has no content list")
    text = "".join(block.get("text", "") for block in content if block.get("type") == "text")
    calls = [tool_call(block) for block in content if block.get("type") == "tool_use"]
    choice = {
        "index": 0,
        "message": openai_message(text, calls),
        "finish_reason": translate_stop(body.get("stop_reason"), ANTHROPIC, OPENAI),
    }
    return _openai_completion(body.get("id"), created, model, choice, usage_of(body.get("usage"), ANTHROPIC))


def _openai_completion(
    completion_id: Any, created: int, model: str, choice: dict[str, Any], usage: Usage | None
) -> dict[str, Any]:
    out = {"id": completion_id, "object": "chat.completion", "created": created, "model": model, "choices": [choice]}
    if usage is not None:
        out["usage"] = usage.to(OPENAI)
    return out
