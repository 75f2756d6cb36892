"""Realistic protocol fixtures and the helpers the translation tests share: one multi-turn,
tool-using OpenCode conversation as each of OpenCode's two SDK packages sends it
(``@ai-sdk/openai-compatible`` and ``@ai-sdk/anthropic``) with its expected translations, and
a streamed tool-using answer per protocol with its non-streamed form. Each fixture is a
function so tests can mutate their copy."""

from __future__ import annotations

import json
from typing import Any

from toolkit.sse import SSEDecoder, SSEEvent, sse_frame
from toolkit.translate import StreamAssembler, StreamTranslator

SYSTEM = "You are opencode, an interactive CLI tool that helps users with software engineering tasks."
ENV = "Here is some useful information about the environment you are running in:\n<env>\n  Platform: linux\n</env>"
README = "<file>\n00001| # Demo\n00002| A tiny project.\n</file>"
LISTING = "/tmp/p/\n  README.md\n  main.py\n"
GREP = "Found 1 matches\n/tmp/p/main.py:\n  Line 3: # TODO: handle errors"

READ_SCHEMA = {
    "type": "object",
    "properties": {"filePath": {"type": "string", "description": "The path to the file to read"}},
    "required": ["filePath"],
    "additionalProperties": False,
    "$schema": "http://json-schema.org/draft-07/schema#",
}
LIST_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "additionalProperties": False}
GREP_SCHEMA = {
    "type": "object",
    "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
    "required": ["pattern"],
    "additionalProperties": False,
}
TOOLS = [
    ("read", "Reads a file from the local filesystem.", READ_SCHEMA),
    ("list", "Lists files and directories in a given path.", LIST_SCHEMA),
    ("grep", "Fast content search tool.", GREP_SCHEMA),
]


def openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def opencode_openai_request() -> dict[str, Any]:
    """What OpenCode sends through ``@ai-sdk/openai-compatible`` on its fourth step."""
    return {
        "model": "combined/coder",
        "max_tokens": 32000,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "system", "content": ENV},
            {"role": "user", "content": "Read README.md and tell me what the project is"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [openai_call("call_1", "read", '{"filePath":"/tmp/p/README.md"}')],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": README},
            {"role": "assistant", "content": "It is a tiny demo project."},
            {"role": "user", "content": "List the files and find the TODOs"},
            {
                "role": "assistant",
                "content": "I'll look at both.",
                "tool_calls": [
                    openai_call("call_2", "list", '{"path":"/tmp/p"}'),
                    openai_call("call_3", "grep", '{"pattern":"TODO","path":"/tmp/p"}'),
                ],
            },
            {"role": "tool", "tool_call_id": "call_2", "content": LISTING},
            {"role": "tool", "tool_call_id": "call_3", "content": GREP},
            {"role": "user", "content": "Thanks, fix it"},
        ],
        "tools": [
            {"type": "function", "function": {"name": n, "description": d, "parameters": s}} for n, d, s in TOOLS
        ],
        "tool_choice": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def opencode_openai_request_as_anthropic() -> dict[str, Any]:
    """The expected Anthropic upstream body for :func:`opencode_openai_request`."""
    return {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": SYSTEM}, {"type": "text", "text": ENV}],
        "messages": [
            {"role": "user", "content": "Read README.md and tell me what the project is"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "read", "input": {"filePath": "/tmp/p/README.md"}}
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": README}]},
            {"role": "assistant", "content": [{"type": "text", "text": "It is a tiny demo project."}]},
            {"role": "user", "content": "List the files and find the TODOs"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "I'll look at both."},
                    {"type": "tool_use", "id": "call_2", "name": "list", "input": {"path": "/tmp/p"}},
                    {
                        "type": "tool_use",
                        "id": "call_3",
                        "name": "grep",
                        "input": {"pattern": "TODO", "path": "/tmp/p"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_2", "content": LISTING},
                    {"type": "tool_result", "tool_use_id": "call_3", "content": GREP},
                    {"type": "text", "text": "Thanks, fix it"},
                ],
            },
        ],
        "max_tokens": 32000,
        "temperature": 0.0,
        "stream": True,
        "tools": [{"name": n, "description": d, "input_schema": s} for n, d, s in TOOLS],
        "tool_choice": {"type": "auto"},
    }


def opencode_anthropic_request() -> dict[str, Any]:
    """What OpenCode sends through ``@ai-sdk/anthropic`` (cache marks, signed thinking, an
    error tool result)."""
    cache = {"type": "ephemeral"}
    return {
        "model": "combined/coder",
        "max_tokens": 32000,
        "temperature": 0,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": cache}, {"type": "text", "text": ENV}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Read README.md and tell me what the project is"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "The user wants the README.", "signature": "EqQBCkYIBxgCKkB"},
                    {"type": "text", "text": "Reading it."},
                    {"type": "tool_use", "id": "toolu_01", "name": "read", "input": {"filePath": "/tmp/p/README.md"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": README, "is_error": False}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_02", "name": "list", "input": {"path": "/tmp/q"}},
                    {"type": "tool_use", "id": "toolu_03", "name": "grep", "input": {"pattern": "TODO"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "is_error": True,
                        "content": [{"type": "text", "text": "Error: no such directory /tmp/q"}],
                    },
                    {"type": "tool_result", "tool_use_id": "toolu_03", "content": GREP},
                    {"type": "text", "text": "Thanks, fix it", "cache_control": cache},
                ],
            },
        ],
        "tools": [{"name": n, "description": d, "input_schema": s} for n, d, s in TOOLS],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 8000},
        "stream": True,
    }


def opencode_anthropic_request_as_openai() -> dict[str, Any]:
    """The expected OpenAI upstream body for :func:`opencode_anthropic_request`."""
    return {
        "model": "gpt-5-codex",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "system", "content": ENV},
            {"role": "user", "content": "Read README.md and tell me what the project is"},
            {
                "role": "assistant",
                "content": "Reading it.",
                "tool_calls": [openai_call("toolu_01", "read", '{"filePath":"/tmp/p/README.md"}')],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": README},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    openai_call("toolu_02", "list", '{"path":"/tmp/q"}'),
                    openai_call("toolu_03", "grep", '{"pattern":"TODO"}'),
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_02", "content": "Error: no such directory /tmp/q"},
            {"role": "tool", "tool_call_id": "toolu_03", "content": GREP},
            {"role": "user", "content": "Thanks, fix it"},
        ],
        "max_tokens": 32000,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [
            {"type": "function", "function": {"name": n, "description": d, "parameters": s}} for n, d, s in TOOLS
        ],
        "tool_choice": "auto",
    }


# ---------------------------------------------------------------------------------------
# Answers: a streamed tool-using answer per protocol, as event payloads, and the same answer
# non-streamed. The Anthropic one has a signed thinking block and a cached prompt.

MSG_ID = "msg_014p7gG3wDgGV9EUtLvnow3U"
TOOLU = "toolu_01T1x1fJ34qAmk2tNTrN7Up6"


def anthropic_stream() -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of a Messages stream: thinking, text, then a tool call."""

    def delta(index: int, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}

    def block(index: int, content_block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": index, "content_block": content_block}

    def stop(index: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": index}

    usage = {"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800, "output_tokens": 2}
    return [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": MSG_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, "thinking_delta", thinking="The user wants the weather,"),
        delta(0, "thinking_delta", thinking=" so I call the tool."),
        delta(0, "signature_delta", signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
        stop(0),
        block(1, {"type": "text", "text": ""}),
        delta(1, "text_delta", text="Okay, let me check"),
        delta(1, "text_delta", text=" the weather."),
        stop(1),
        block(2, {"type": "tool_use", "id": TOOLU, "name": "get_weather", "input": {}}),
        delta(2, "input_json_delta", partial_json=""),
        delta(2, "input_json_delta", partial_json='{"location": "San Fra'),
        delta(2, "input_json_delta", partial_json='ncisco, CA", "unit": "celsius"}'),
        stop(2),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 89},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def anthropic_answer() -> dict[str, Any]:
    """:func:`anthropic_stream` as a non-streamed Messages answer."""
    return {
        "id": MSG_ID,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {
                "type": "thinking",
                "thinking": "The user wants the weather, so I call the tool.",
                "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
            },
            {"type": "text", "text": "Okay, let me check the weather."},
            {
                "type": "tool_use",
                "id": TOOLU,
                "name": "get_weather",
                "input": {"location": "San Francisco, CA", "unit": "celsius"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 472,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1800,
            "output_tokens": 89,
        },
    }


def anthropic_answer_as_openai() -> dict[str, Any]:
    """:func:`anthropic_answer` for an OpenAI client (thinking dropped), created at 1770772293."""
    return {
        "id": MSG_ID,
        "object": "chat.completion",
        "created": 1770772293,
        "model": "combined/coder",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Okay, let me check the weather.",
                    "tool_calls": [
                        openai_call(TOOLU, "get_weather", '{"location":"San Francisco, CA","unit":"celsius"}')
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 2272,
            "completion_tokens": 89,
            "total_tokens": 2361,
            "prompt_tokens_details": {"cached_tokens": 1800},
        },
    }


CHATCMPL = "chatcmpl-7027d986"


def openai_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": CHATCMPL,
        "object": "chat.completion.chunk",
        "created": 1770772293,
        "model": "glm-4.6",
        "choices": choices,
        **extra,
    }


def openai_stream() -> list[str | dict[str, Any]]:
    """Chunks of a chat-completions stream from an OpenAI-compatible server: reasoning, text,
    two streamed tool calls (the first in fragments), the usage chunk and ``[DONE]``."""

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    return [
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk({"reasoning_content": "The user wants"}),
        openai_chunk({"reasoning_content": " the files."}),
        openai_chunk({"content": "Let me"}),
        openai_chunk({"content": " look."}),
        openai_chunk(call(0, id="call_a", type="function", function={"name": "list", "arguments": ""})),
        openai_chunk(call(0, function={"arguments": '{"path":'})),
        openai_chunk(call(0, function={"arguments": ' "/tmp/p"}'})),
        openai_chunk(
            call(1, id="call_b", type="function", function={"name": "grep", "arguments": '{"pattern":"TODO"}'})
        ),
        openai_chunk({}, "tool_calls"),
        openai_chunk(
            usage={
                "prompt_tokens": 2272,
                "completion_tokens": 57,
                "total_tokens": 2329,
                "prompt_tokens_details": {"cached_tokens": 1800},
            }
        ),
        "[DONE]",
    ]


def openai_answer() -> dict[str, Any]:
    """:func:`openai_stream` as a non-streamed chat completion."""
    return {
        "id": CHATCMPL,
        "object": "chat.completion",
        "created": 1770772293,
        "model": "glm-4.6",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me look.",
                    "reasoning_content": "The user wants the files.",
                    "tool_calls": [
                        openai_call("call_a", "list", '{"path": "/tmp/p"}'),
                        openai_call("call_b", "grep", '{"pattern":"TODO"}'),
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 2272,
            "completion_tokens": 57,
            "total_tokens": 2329,
            "prompt_tokens_details": {"cached_tokens": 1800},
        },
    }


def openai_answer_as_anthropic() -> dict[str, Any]:
    """:func:`openai_answer` for an Anthropic client (reasoning dropped)."""
    return {
        "id": CHATCMPL,
        "type": "message",
        "role": "assistant",
        "model": "combined/coder",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_a", "name": "list", "input": {"path": "/tmp/p"}},
            {"type": "tool_use", "id": "call_b", "name": "grep", "input": {"pattern": "TODO"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 472, "output_tokens": 57, "cache_read_input_tokens": 1800},
    }


# ---------------------------------------------------------------------------------------
# Helpers shared by the translation tests

USER = [{"role": "user", "content": "hi"}]

STOPS = [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")]


CREATED = 1770772293


def upstream(protocol: str, stream: list[Any]) -> list[SSEEvent]:
    """A stream fixture as the gateway sees it: encoded to bytes, decoded by the SSE decoder."""
    frames = (
        [sse_frame(data, name) for name, data in stream]
        if protocol == "anthropic"
        else [sse_frame(chunk) for chunk in stream]
    )
    return decode_all(frames)


def decode_all(frames: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [event for frame in frames for event in decoder.feed(frame)] + decoder.close()


def translate_stream(
    events: list[SSEEvent], src: str, dst: str, **options: Any
) -> tuple[StreamTranslator, list[bytes]]:
    translator = StreamTranslator(src, dst, "combined/coder", created=CREATED, **options)
    frames = [frame for event in events for frame in translator.feed(event)]
    return translator, frames + translator.finish()


def assemble(protocol: str, events: list[SSEEvent]) -> dict[str, Any]:
    assembler = StreamAssembler(protocol)
    for event in events:
        assembler.feed(event)
    return assembler.result()


def parsed(events: list[SSEEvent]) -> list[tuple[str | None, Any]]:
    return [(e.event, e.data if e.data == "[DONE]" else json.loads(e.data)) for e in events]


def canonical(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer with tool-call arguments parsed: their JSON spacing carries no meaning, and a
    stream forwards the upstream's fragments as they are."""
    answer = json.loads(json.dumps(answer))
    for choice in answer.get("choices", []):
        for call in choice["message"].get("tool_calls", []):
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return answer


def with_model(data: Any, protocol: str) -> Any:
    if protocol == "openai" and isinstance(data, dict):
        return {**data, "model": "combined/coder"}
    if protocol == "anthropic" and data["type"] == "message_start":
        return {**data, "message": {**data["message"], "model": "combined/coder"}}
    return data


def minimal_stream(protocol: str, stop: str, text: str = "hi") -> list[SSEEvent]:
    """The shortest answer of each protocol: one text delta and a stop reason."""
    if protocol == "openai":
        return upstream(
            "openai",
            [
                openai_chunk({"role": "assistant", "content": ""}),
                openai_chunk({"content": text}),
                openai_chunk({}, stop),
                "[DONE]",
            ],
        )
    return upstream(
        "anthropic",
        [
            ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            ),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 1}}),
            ("message_stop", {"type": "message_stop"}),
        ],
    )
