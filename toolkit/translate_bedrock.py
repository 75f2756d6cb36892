"""Translation between OpenAI chat completions and Amazon Bedrock's Converse API: pure functions, no I/O.

The Bedrock adapter (:mod:`toolkit.upstream`) calls ``ConverseStream``, one request shape for
every model Bedrock serves (Claude, Llama, Mistral, Nova, DeepSeek, Qwen, ...), and puts an
OpenAI face on it, as the Gemini adapter does:

==========================  =================================================================
OpenAI chat completions     Bedrock Converse
==========================  =================================================================
``system``/``developer``    ``system``: one ``{"text"}`` block per message
``user`` text / parts       ``messages`` role ``user``, ``{"text"}`` blocks (images refused)
``assistant`` content,      role ``assistant``: ``{"text"}``, then ``{"toolUse": {toolUseId,
``tool_calls``              name, input}}`` per call
``role: tool`` messages     role ``user``: ``{"toolResult": {toolUseId, content: [{"text"}]}}``;
                            consecutive turns of one role merge (Converse wants alternation)
``tools`` (functions)       ``toolConfig.tools[].toolSpec`` (``inputSchema.json``)
``tool_choice``             ``toolConfig.toolChoice``: auto / any / tool (``none``: no tools sent)
``max_tokens``,             ``inferenceConfig``: ``maxTokens``, ``temperature``, ``topP``,
``temperature``, ``top_p``, ``stopSequences``
``stop``
stream events               ``contentBlockDelta`` text -> ``content`` deltas; ``contentBlockStart``
                            ``toolUse`` -> a ``tool_calls`` delta (id, name), its ``toolUse.input``
                            deltas -> argument fragments; ``messageStop`` ``stopReason`` ->
                            ``finish_reason`` (end_turn / stop_sequence -> stop, tool_use ->
                            tool_calls, max_tokens -> length, content_filtered /
                            guardrail_intervened -> content_filter); ``metadata.usage`` ->
                            the usage chunk, which ends the stream
==========================  =================================================================

An exception event in the stream (``throttlingException``, ``serviceUnavailableException``,
``modelStreamErrorException``, ...) becomes ``{"error": {"type", "message"}}``, which the
classifier reads by its words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolkit.openai_turns import functions, merged, sampling, turns
from toolkit.protocols import MalformedAnswer
from toolkit.sse import SSEEvent, StreamError

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def converse_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Converse`` body of an OpenAI chat-completions body (the model goes in the URL)."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for turn in turns(body, "Bedrock"):
        if turn.role == "system":
            system.append({"text": turn.text})
        elif turn.role == "user":
            merged(messages, "user", [{"text": turn.text}], "content")
        elif turn.role == "assistant":
            uses = [
                {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}}
                for call_id, name, arguments in turn.calls
            ]
            merged(messages, "assistant", [{"text": turn.text}] * bool(turn.text) + uses, "content")
        else:
            result = {"toolUseId": turn.call_id, "content": [{"text": turn.text}]}
            merged(messages, "user", [{"toolResult": result}], "content")
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    tools, choice = functions(body), body.get("tool_choice")
    if tools and choice != "none":
        specs = [
            {
                "toolSpec": {
                    "name": f.get("name"),
                    **({"description": f["description"]} if f.get("description") else {}),
                    "inputSchema": {"json": f.get("parameters") or {"type": "object"}},
                }
            }
            for f in tools
        ]
        out["toolConfig"] = {"tools": specs}
        if isinstance(choice, Mapping):
            out["toolConfig"]["toolChoice"] = {"tool": {"name": (choice.get("function") or {}).get("name", "")}}
        elif choice == "required":
            out["toolConfig"]["toolChoice"] = {"any": {}}
    names = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
    config = {names[k]: v for k, v in sampling(body).items()}
    if config:
        out["inferenceConfig"] = config
    return out


class ConverseToOpenAI:
    """ConverseStream events (name, payload) -> OpenAI chat-completion chunks, for one answer."""

    def __init__(self, model: str, answer_id: str = "bedrock") -> None:
        self.model, self.id = model, answer_id
        self.calls: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": self.id, "object": "chat.completion.chunk", "model": self.model, "choices": choices, **extra}

    def chunks(self, event: str | None, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The OpenAI chunks of one ConverseStream event (an ``error`` event passes through)."""
        if event == "error" or "error" in payload:
            return [dict(payload)]
        block = int(payload.get("contentBlockIndex") or 0)
        if event == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if not tool:
                return []
            index = self.calls.setdefault(block, len(self.calls))
            call = {
                "index": index,
                "id": tool.get("toolUseId"),
                "type": "function",
                "function": {"name": tool.get("name", ""), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if event == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": delta["text"]})] if delta["text"] else []
            if "toolUse" in delta:
                if block not in self.calls:
                    raise MalformedAnswer("toolUse delta before its contentBlockStart")
                fragment = {"index": self.calls[block], "function": {"arguments": delta["toolUse"].get("input", "")}}
                return [self._chunk({"tool_calls": [fragment]})]
            return []  # reasoning content: dropped, as between the other protocols
        if event == "messageStop":
            return [self._chunk({}, _STOP.get(str(payload.get("stopReason")), "stop"))]
        if event == "metadata":
            usage = payload.get("usage") or {}
            prompt, completion = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
            cached = int(usage.get("cacheReadInputTokens") or 0)
            counts: dict[str, Any] = {
                "prompt_tokens": prompt + cached,
                "completion_tokens": completion,
                "total_tokens": prompt + cached + completion,
            }
            if cached:
                counts["prompt_tokens_details"] = {"cached_tokens": cached}
            return [self._chunk(None, usage=counts)]
        return []  # messageStart, contentBlockStop


def exception_payload(exception_type: str, payload: bytes) -> dict[str, Any]:
    """The error object of an exception event (its payload is ``{"message": ...}``)."""
    try:
        message = json.loads(payload).get("message", "")
    except (ValueError, AttributeError):
        message = payload.decode("utf-8", "replace")
    return {"error": {"type": exception_type, "message": f"{exception_type}: {message}"}}


class EventStreamDecoder:
    """The ``application/vnd.amazon.eventstream`` body of a ConverseStream answer as events, fed
    bytes cut anywhere (botocore's parser checks each frame's prelude and message CRCs): an event
    named by its ``:event-type`` with its JSON payload, or an ``error`` event for an exception frame.
    A frame that does not parse or a payload that is not UTF-8 raises :class:`StreamError`, as
    garbage in a server-sent event stream does: the attempt is a ``protocol_error``."""

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer

        self.buffer = EventStreamBuffer()

    def feed(self, data: bytes) -> list[SSEEvent]:
        from botocore.eventstream import ParserError

        self.buffer.add_data(data)
        out = []
        try:
            for message in self.buffer:
                headers = message.headers
                if headers.get(":message-type") in ("exception", "error"):
                    kind = str(headers.get(":exception-type") or headers.get(":error-code") or "error")
                    out.append(SSEEvent("error", json.dumps(exception_payload(kind, message.payload))))
                else:
                    out.append(SSEEvent(str(headers.get(":event-type")), message.payload.decode("utf-8")))
        except ParserError as exc:
            raise StreamError(f"unreadable event-stream frame: {type(exc).__name__}") from None
        except UnicodeDecodeError as exc:
            raise StreamError(f"an event-stream payload is not UTF-8 (byte {exc.start})") from None
        return out

    def close(self) -> list[SSEEvent]:
        return []
