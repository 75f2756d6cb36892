"""Contract tests for request translation (each direction, field by field, round trips,
refusals) and for stop reasons and error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import translate_fixtures as fx
from translate_fixtures import (
    STOPS,
    USER,
)

from toolkit.errors import UserError
from toolkit.translate import (
    DEFAULT_MAX_TOKENS,
    ProtocolError,
    error_body,
    error_frame,
    translate_request,
    translate_stop,
)

# ---------------------------------------------------------------------------------------
# Requests: the OpenCode conversation in each direction


def test_openai_request_to_anthropic() -> None:
    got = translate_request(fx.opencode_openai_request(), "openai", "anthropic", "claude-sonnet-4-5")
    assert got == fx.opencode_openai_request_as_anthropic()


def test_anthropic_request_to_openai() -> None:
    got = translate_request(fx.opencode_anthropic_request(), "anthropic", "openai", "gpt-5-codex")
    assert got == fx.opencode_anthropic_request_as_openai()


def test_openai_round_trip_keeps_the_conversation() -> None:
    original = fx.opencode_openai_request()
    there = translate_request(original, "openai", "anthropic", "claude-sonnet-4-5")
    assert translate_request(there, "anthropic", "openai", "combined/coder") == original


def test_anthropic_round_trip_keeps_what_openai_can_say() -> None:
    """Thinking, cache marks and is_error have no OpenAI form; the rest comes back."""
    back = translate_request(
        translate_request(fx.opencode_anthropic_request(), "anthropic", "openai", "gpt-5-codex"),
        "openai",
        "anthropic",
        "combined/coder",
    )
    expected = fx.opencode_anthropic_request()
    del expected["thinking"]
    expected["system"] = [{"type": "text", "text": fx.SYSTEM}, {"type": "text", "text": fx.ENV}]
    messages = expected["messages"]
    messages[0]["content"] = messages[0]["content"][0]["text"]  # one text block is a plain string
    del messages[1]["content"][0]  # thinking
    messages[2]["content"][0].pop("is_error")
    messages[4]["content"][0] = {
        "type": "tool_result",
        "tool_use_id": "toolu_02",
        "content": "Error: no such directory /tmp/q",
    }
    messages[4]["content"][2].pop("cache_control")
    assert back == expected


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_same_protocol_changes_only_the_model(protocol: str) -> None:
    body = fx.opencode_openai_request() if protocol == "openai" else fx.opencode_anthropic_request()
    body["vendor_extension"] = {"keep": [1, 2]}
    got = translate_request(body, protocol, protocol, "upstream-model")
    assert got == {**body, "model": "upstream-model"}
    assert body["model"] == "combined/coder"  # the client's body is not modified


# ---------------------------------------------------------------------------------------
# Requests: one field at a time


def to_anthropic(**fields: Any) -> dict[str, Any]:
    got = translate_request({"model": "m", "messages": USER, **fields}, "openai", "anthropic", "a")
    return {k: v for k, v in got.items() if k not in ("model", "messages")}


def to_openai(**fields: Any) -> dict[str, Any]:
    got = translate_request({"model": "m", "messages": USER, **fields}, "anthropic", "openai", "o")
    return {k: v for k, v in got.items() if k not in ("model", "messages")}


FUNCTION = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
TOOL = {"name": "f", "input_schema": {"type": "object"}}


@pytest.mark.parametrize(
    ("openai", "anthropic"),
    [
        ({}, {"max_tokens": DEFAULT_MAX_TOKENS}),
        ({"max_tokens": 100}, {"max_tokens": 100}),
        ({"max_completion_tokens": 200, "max_tokens": 100}, {"max_tokens": 200}),
        ({"temperature": 1.7, "top_p": 0.9}, {"max_tokens": DEFAULT_MAX_TOKENS, "temperature": 1.0}),
        ({"top_p": 0.9}, {"max_tokens": DEFAULT_MAX_TOKENS, "top_p": 0.9}),
        ({"stop": "END"}, {"max_tokens": DEFAULT_MAX_TOKENS, "stop_sequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"max_tokens": DEFAULT_MAX_TOKENS, "stop_sequences": ["a", "b"]}),
        (
            {"user": "u1", "seed": 3, "response_format": {"type": "text"}},
            {"max_tokens": DEFAULT_MAX_TOKENS, "metadata": {"user_id": "u1"}},
        ),
        ({"tools": [FUNCTION]}, {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL]}),
        (
            {"tools": [FUNCTION], "tool_choice": "required"},
            {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "any"}},
        ),
        (
            {"tools": [FUNCTION], "tool_choice": "none"},
            {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "none"}},
        ),
        (
            {"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "f"}}},
            {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "tool", "name": "f"}},
        ),
        (
            {"tools": [FUNCTION], "parallel_tool_calls": False},
            {
                "max_tokens": DEFAULT_MAX_TOKENS,
                "tools": [TOOL],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
            },
        ),
    ],
)
def test_openai_fields_to_anthropic(openai: dict[str, Any], anthropic: dict[str, Any]) -> None:
    assert to_anthropic(**openai) == anthropic


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [
        ({"max_tokens": 100}, {"max_tokens": 100}),
        ({"stop_sequences": ["a"], "top_k": 5, "temperature": 0.2}, {"stop": ["a"], "temperature": 0.2}),
        ({"stream": True}, {"stream": True, "stream_options": {"include_usage": True}}),
        ({"metadata": {"user_id": "u1"}, "thinking": {"type": "enabled", "budget_tokens": 1024}}, {"user": "u1"}),
        ({"tools": [TOOL]}, {"tools": [FUNCTION]}),
        ({"tools": [TOOL], "tool_choice": {"type": "any"}}, {"tools": [FUNCTION], "tool_choice": "required"}),
        (
            {"tools": [TOOL], "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True}},
            {
                "tools": [FUNCTION],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "parallel_tool_calls": False,
            },
        ),
    ],
)
def test_anthropic_fields_to_openai(anthropic: dict[str, Any], openai: dict[str, Any]) -> None:
    assert to_openai(**anthropic) == openai


PNG = "iVBORw0KGgo="


def test_images_both_ways() -> None:
    openai_parts = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    anthropic_blocks = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    there = translate_request({"messages": [{"role": "user", "content": openai_parts}]}, "openai", "anthropic", "a")
    assert there["messages"] == [{"role": "user", "content": anthropic_blocks}]
    back = translate_request(there, "anthropic", "openai", "o")
    assert back["messages"] == [{"role": "user", "content": openai_parts}]


def test_an_empty_assistant_turn_is_left_out() -> None:
    """An aborted step leaves an assistant message with nothing in it; the user turns around
    it become one, as Anthropic wants turns to alternate."""
    body = {"messages": [*USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}]}
    got = translate_request(body, "openai", "anthropic", "a")
    assert got["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}
    ]


def test_mid_conversation_system_and_developer_messages_move_to_the_front() -> None:
    body = {
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "A"}]},
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "B"},
        ]
    }
    got = translate_request(body, "openai", "anthropic", "a")
    assert got["system"] == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    assert got["messages"] == [{"role": "user", "content": "hi"}]
    single = translate_request({"messages": [{"role": "system", "content": "S"}, *USER]}, "openai", "anthropic", "a")
    assert single["system"] == "S"


# ---------------------------------------------------------------------------------------
# Requests: what is refused, with the one-line message the gateway returns


@pytest.mark.parametrize(
    ("body", "src", "message"),
    [
        ([], "openai", "the request body must be a JSON object"),
        ({"model": "m"}, "openai", "the request has no 'messages'"),
        ({"messages": []}, "anthropic", "messages: must be a non-empty list"),
        ({"messages": "hi"}, "openai", "messages: must be a non-empty list"),
        ({"messages": ["hi"]}, "openai", "messages[0]: must be an object"),
        (
            {"messages": [{"role": "system", "content": "s"}]},
            "anthropic",
            "messages[0].role: 'system' is not one of assistant, user",
        ),
        (
            {"messages": [{"role": "user"}]},
            "openai",
            "messages[0].content: must be a string or a list of content parts",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "anthropic",
            "messages[0].content: every part must be an object with a 'type'",
        ),
        ({"messages": USER, "tools": {"f": 1}}, "openai", "tools: must be a list"),
        (
            {"messages": USER, "tools": [{"type": "function"}]},
            "openai",
            "tools[0]: must be an object with a 'function' with a 'name'",
        ),
        ({"messages": USER, "tools": [{"input_schema": {}}]}, "anthropic", "tools[0]: must be an object with a 'name'"),
    ],
)
@pytest.mark.parametrize("same", [True, False])
def test_malformed_requests_are_refused(body: Any, src: str, message: str, same: bool) -> None:
    dst = src if same else ("anthropic" if src == "openai" else "openai")
    with pytest.raises(ProtocolError) as caught:
        translate_request(body, src, dst, "m")
    assert str(caught.value) == message
    assert isinstance(caught.value, UserError) and caught.value.status == 400


def call(arguments: str) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [fx.openai_call("c1", "f", arguments)]}


@pytest.mark.parametrize(
    ("body", "src", "message"),
    [
        (
            {"messages": [*USER, call("{not json")]},
            "openai",
            "messages[1].tool_calls[0].function.arguments: tool-call arguments are not valid JSON",
        ),
        (
            {"messages": [*USER, call("[1]")]},
            "openai",
            "messages[1].tool_calls[0].function.arguments: tool-call arguments must be a JSON object",
        ),
        (
            {"messages": [*USER, {"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}]},
            "openai",
            "messages[1].tool_calls[0]: a tool call needs an 'id' and a 'function' with a 'name'",
        ),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            "openai",
            "messages[0]: a tool message needs a 'tool_call_id'",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "openai",
            "messages[0].content[0]: content part 'input_audio' cannot be sent to an Anthropic upstream",
        ),
        (
            {"messages": USER, "n": 2},
            "openai",
            "n: 2 answers per request cannot be served by an Anthropic upstream (only 1)",
        ),
        (
            {"messages": USER, "tools": [FUNCTION], "tool_choice": "sometimes"},
            "openai",
            "tool_choice: must be 'auto', 'none', 'required' or a function to call",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "anthropic",
            "messages[0].content[0]: block 'document' cannot be sent to an OpenAI upstream",
        ),
        (
            {"messages": USER, "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "anthropic",
            "tools[0]: server tool 'web_search_20250305' cannot be sent to an OpenAI upstream",
        ),
        (
            {"messages": USER, "tools": [TOOL], "tool_choice": "auto"},
            "anthropic",
            "tool_choice: must be an object of type auto, any, none or tool",
        ),
    ],
)
def test_untranslatable_requests_are_refused(body: Any, src: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        translate_request(body, src, "anthropic" if src == "openai" else "openai", "m")
    assert str(caught.value) == message


def test_unknown_protocol_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gemini'"):
        translate_request({"messages": USER}, "openai", "gemini", "m")


# ---------------------------------------------------------------------------------------
# Stop reasons and error shapes


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_stop_reasons_map_both_ways(openai: str, anthropic: str) -> None:
    assert translate_stop(openai, "openai", "anthropic") == anthropic
    assert translate_stop(anthropic, "anthropic", "openai") == openai
    assert translate_stop(openai, "openai", "openai") == openai


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [("stop_sequence", "stop"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"), (None, None)],
)
def test_anthropic_only_stop_reasons(anthropic: str | None, openai: str | None) -> None:
    assert translate_stop(anthropic, "anthropic", "openai") == openai


@pytest.mark.parametrize(
    ("status", "anthropic", "openai", "code"),
    [
        (400, "invalid_request_error", "invalid_request_error", None),
        (401, "authentication_error", "authentication_error", "invalid_api_key"),
        (403, "permission_error", "permission_error", "permission_denied"),
        (404, "not_found_error", "invalid_request_error", "model_not_found"),
        (413, "request_too_large", "invalid_request_error", "request_too_large"),
        (422, "invalid_request_error", "invalid_request_error", None),
        (429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded"),
        (500, "api_error", "server_error", None),
        (502, "api_error", "server_error", None),
        (503, "overloaded_error", "server_error", "service_unavailable"),
        (529, "overloaded_error", "server_error", "overloaded"),
    ],
)
def test_error_bodies(status: int, anthropic: str, openai: str, code: str | None) -> None:
    assert error_body("anthropic", status, "no") == {"type": "error", "error": {"type": anthropic, "message": "no"}}
    assert error_body("openai", status, "no") == {
        "error": {"message": "no", "type": openai, "param": None, "code": code}
    }


def test_error_frames() -> None:
    frame = error_frame("anthropic", "upstream reset")
    assert frame.startswith(b"event: error\ndata: ") and frame.endswith(b"\n\n")
    assert json.loads(frame.split(b"data: ")[1]) == error_body("anthropic", 500, "upstream reset")
    assert error_frame("openai", "upstream reset", 503) == (
        b'data: {"error":{"message":"upstream reset","type":"server_error","param":null,'
        b'"code":"service_unavailable"}}\n\n'
    )
