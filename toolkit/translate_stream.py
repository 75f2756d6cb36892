"""Streams between the two protocols: :class:`StreamTranslator` and :class:`StreamAssembler`.

A reader per upstream protocol reports what each event means (a text delta, a tool call
starting, argument fragments, the stop reason, usage) to a writer per client protocol, which
turns it into that protocol's frames; a same-protocol stream is forwarded as it came, with
only the model renamed. The rules (and what is dropped) are in :mod:`toolkit.translate`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from toolkit.protocols import (
    ANTHROPIC,
    OPENAI,
    MalformedAnswer,
    Usage,
    answer_arguments,
    anthropic_message,
    anthropic_stop,
    anthropic_tool_id,
    check_protocols,
    openai_message,
    tool_call,
    translate_stop,
)
from toolkit.sse import SSEEvent, sse_frame


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
        self.frames.append(
            sse_frame(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )
        )

    def start(self, message_id: str) -> None:
        self.id = message_id
        self._chunk({"role": "assistant", "content": ""})

    def text(self, text: str) -> None:
        self._chunk({"content": text})

    def tool_start(self, key: Any, call_id: str, name: str) -> None:
        self.tools[key] = index = len(self.tools)
        self._chunk(
            {
                "tool_calls": [
                    {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
                ]
            }
        )

    def tool_args(self, key: Any, fragment: str) -> None:
        if key in self.tools:
            self._chunk({"tool_calls": [{"index": self.tools[key], "function": {"arguments": fragment}}]})

    def finish(self, stop: str | None) -> None:
        self._chunk({}, stop)

    def end(self, usage: Usage) -> None:
        if self.include_usage:
            self.frames.append(
                sse_frame(
                    {
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage.to(OPENAI),
                    }
                )
            )
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
        message = anthropic_message(message_id, self.model, [], None, Usage())
        self._event("message_start", {"message": message})

    def text(self, text: str) -> None:
        if self.open != ("text", None):
            self._open(("text", None), {"type": "text", "text": ""})
        self._event("content_block_delta", {"index": self.blocks - 1, "delta": {"type": "text_delta", "text": text}})

    def tool_start(self, key: Any, call_id: str, name: str) -> None:
        block = {"type": "tool_use", "id": anthropic_tool_id(call_id), "name": name, "input": {}}
        self.tools[key] = self._open(("tool_use", key), block)

    def tool_args(self, key: Any, fragment: str) -> None:
        if key in self.tools:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            self._event("content_block_delta", {"index": self.tools[key], "delta": delta})

    def finish(self, stop: str | None) -> None:
        self._close()
        self.stop = stop

    def end(self, usage: Usage) -> None:
        self._close()
        self._event(
            "message_delta", {"delta": {"stop_reason": self.stop, "stop_sequence": None}, "usage": usage.to(ANTHROPIC)}
        )
        self._event("message_stop", {})


_WRITERS: dict[str, type[_Writer]] = {OPENAI: _OpenAIWriter, ANTHROPIC: _AnthropicWriter}


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
    return call.get("id") or anthropic_tool_id(f"call_{message_id}_{key}")


class StreamTranslator:
    """Upstream SSE events in, client SSE frames out, one upstream attempt at a time.

    ``src`` is the upstream protocol, ``dst`` the client's. Same protocol: every event is
    forwarded as it came, only ``model`` rewritten. Between protocols the frames are built
    from what the events mean (see :mod:`toolkit.translate` for what is dropped). An OpenAI
    client gets the usage chunk only with ``include_usage`` (its ``stream_options``);
    ``created`` stamps the chunks made from an Anthropic stream (default: now).

    Frames returned while :attr:`has_content` is still ``False`` carry no answer (a message
    start, a role chunk), so a gateway may hold them back and drop them when it fails over.
    An upstream ``error`` event produces no frame: it is kept in :attr:`error` (its raw text,
    for the classifier) and the gateway decides between failing over and :func:`error_frame`.
    :attr:`stop_reason` is in the client's words; :attr:`input_tokens` counts every prompt
    token, cached or not. :attr:`done` turns ``True`` at the upstream's end marker
    (``[DONE]`` or ``message_stop``): a stream that ends before it was cut short.
    """

    def __init__(
        self, src: str, dst: str, model: str, *, include_usage: bool = True, created: int | None = None
    ) -> None:
        check_protocols(src, dst)
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
        self._argless: set[Any] = set()  # Anthropic tool_use blocks without input fragments so far
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
        if self.src == self.dst and not self._hidden_usage(data):
            frames.append(self._forward(event, data))
        return frames

    def _hidden_usage(self, data: dict[str, Any] | None) -> bool:
        """An OpenAI usage-only chunk the client did not ask for (the gateway always asks the
        upstream for usage, to log it; a client that did not may not expect empty choices)."""
        return (
            self.src == OPENAI
            and not self._writer.include_usage
            and data is not None
            and (not data.get("choices") and data.get("usage") is not None)
        )

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
            self.stop_reason = anthropic_stop(stop, self._calls.count > 0)
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
        if chunk.get("choices"):  # Azure opens with a choice-less chunk of filter results, no id
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

    def _read_anthropic(self, data: dict[str, Any] | None) -> None:
        event = data or {}  # an Anthropic stream has no [DONE]
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.usage.update(message.get("usage"), ANTHROPIC)
            self._start(str(message.get("id") or ""))
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._content()
                self._writer.tool_start(event.get("index"), block.get("id") or "", block.get("name") or "")
                self._argless.add(event.get("index"))
            elif block.get("type") == "text" and block.get("text"):
                self._content()
                self._writer.text(block["text"])
            elif block.get("type") in ("thinking", "redacted_thinking") and self.src == self.dst:
                self._content()
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self._content()
                self._writer.text(delta["text"])
            elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                self._content()
                self._argless.discard(event.get("index"))
                self._writer.tool_args(event.get("index"), delta["partial_json"])
            elif self.src == self.dst:
                self._content()  # thinking, signature, citations: passed through as they are
        elif kind == "content_block_stop" and event.get("index") in self._argless:
            # a tool called without arguments: "{}", since "" is not JSON to an OpenAI client
            self._argless.discard(event.get("index"))
            self._writer.tool_args(event.get("index"), "{}")
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
        check_protocols(protocol)
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
        calls = [tool_call({**call, "input": "".join(self._json[key])}) for key, call in self._calls.items()]
        message = openai_message("".join(self._text), calls, "".join(self._reasoning))
        choice = {"index": 0, "message": message, "finish_reason": self._finish}
        head = self._head
        out = {
            "id": head.get("id"),
            "object": "chat.completion",
            "created": head.get("created"),
            "model": head.get("model"),
            "choices": [choice],
        }
        if self._usage is not None:
            out["usage"] = self._usage
        return out

    def _feed_openai(self, chunk: dict[str, Any]) -> None:
        if not self._head and chunk.get("choices"):
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
            block = {**block, "input": answer_arguments("".join(self._json[index]))}
        return block
