"""Contract tests for protocol translation: exact expected bodies in each direction,
round trips, validation messages and error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import translate_fixtures as fx

from toolkit.errors import UserError
from toolkit.sse import SSEDecoder, SSEEvent, sse_frame
from toolkit.translate import (
    DEFAULT_MAX_TOKENS,
    MalformedAnswer,
    ProtocolError,
    StreamAssembler,
    StreamTranslator,
    error_body,
    error_frame,
    translate_request,
    translate_response,
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
        "openai", "anthropic", "combined/coder",
    )  # fmt: skip
    expected = fx.opencode_anthropic_request()
    del expected["thinking"]
    expected["system"] = [{"type": "text", "text": fx.SYSTEM}, {"type": "text", "text": fx.ENV}]
    messages = expected["messages"]
    messages[0]["content"] = messages[0]["content"][0]["text"]  # one text block is a plain string
    del messages[1]["content"][0]  # thinking
    messages[2]["content"][0].pop("is_error")
    messages[4]["content"][0] = {"type": "tool_result", "tool_use_id": "toolu_02",
                                 "content": "Error: no such directory /tmp/q"}  # fmt: skip
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

USER = [{"role": "user", "content": "hi"}]


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
        ({"user": "u1", "seed": 3, "response_format": {"type": "text"}},
         {"max_tokens": DEFAULT_MAX_TOKENS, "metadata": {"user_id": "u1"}}),
        ({"tools": [FUNCTION]}, {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL]}),
        ({"tools": [FUNCTION], "tool_choice": "required"},
         {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "any"}}),
        ({"tools": [FUNCTION], "tool_choice": "none"},
         {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "none"}}),
        ({"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "f"}}},
         {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL], "tool_choice": {"type": "tool", "name": "f"}}),
        ({"tools": [FUNCTION], "parallel_tool_calls": False},
         {"max_tokens": DEFAULT_MAX_TOKENS, "tools": [TOOL],
          "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}),
    ],
)  # fmt: skip
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
        ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True}},
         {"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "f"}},
          "parallel_tool_calls": False}),
    ],
)  # fmt: skip
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
    assert got["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]


def test_mid_conversation_system_and_developer_messages_move_to_the_front() -> None:
    body = {"messages": [{"role": "developer", "content": [{"type": "text", "text": "A"}]},
                         {"role": "user", "content": "hi"}, {"role": "system", "content": "B"}]}  # fmt: skip
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
        ({"messages": [{"role": "system", "content": "s"}]}, "anthropic",
         "messages[0].role: 'system' is not one of assistant, user"),
        ({"messages": [{"role": "user"}]}, "openai", "messages[0].content: must be a string or a list of content parts"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "anthropic",
         "messages[0].content: every part must be an object with a 'type'"),
        ({"messages": USER, "tools": {"f": 1}}, "openai", "tools: must be a list"),
        ({"messages": USER, "tools": [{"type": "function"}]}, "openai",
         "tools[0]: must be an object with a 'function' with a 'name'"),
        ({"messages": USER, "tools": [{"input_schema": {}}]}, "anthropic", "tools[0]: must be an object with a 'name'"),
    ],
)  # fmt: skip
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
        ({"messages": [*USER, call("{not json")]}, "openai",
         "messages[1].tool_calls[0].function.arguments: tool-call arguments are not valid JSON"),
        ({"messages": [*USER, call("[1]")]}, "openai",
         "messages[1].tool_calls[0].function.arguments: tool-call arguments must be a JSON object"),
        ({"messages": [*USER, {"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}]}, "openai",
         "messages[1].tool_calls[0]: a tool call needs an 'id' and a 'function' with a 'name'"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "openai", "messages[0]: a tool message needs a 'tool_call_id'"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "openai",
         "messages[0].content[0]: content part 'input_audio' cannot be sent to an Anthropic upstream"),
        ({"messages": USER, "n": 2}, "openai", "n: 2 answers per request cannot be served by an Anthropic upstream (only 1)"),
        ({"messages": USER, "tools": [FUNCTION], "tool_choice": "sometimes"}, "openai",
         "tool_choice: must be 'auto', 'none', 'required' or a function to call"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "anthropic",
         "messages[0].content[0]: block 'document' cannot be sent to an OpenAI upstream"),
        ({"messages": USER, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "anthropic",
         "tools[0]: server tool 'web_search_20250305' cannot be sent to an OpenAI upstream"),
        ({"messages": USER, "tools": [TOOL], "tool_choice": "auto"}, "anthropic",
         "tool_choice: must be an object of type auto, any, none or tool"),
    ],
)  # fmt: skip
def test_untranslatable_requests_are_refused(body: Any, src: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        translate_request(body, src, "anthropic" if src == "openai" else "openai", "m")
    assert str(caught.value) == message


def test_unknown_protocol_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gemini'"):
        translate_request({"messages": USER}, "openai", "gemini", "m")


# ---------------------------------------------------------------------------------------
# Stop reasons and error shapes

STOPS = [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")]


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_stop_reasons_map_both_ways(openai: str, anthropic: str) -> None:
    assert translate_stop(openai, "openai", "anthropic") == anthropic
    assert translate_stop(anthropic, "anthropic", "openai") == openai
    assert translate_stop(openai, "openai", "openai") == openai


@pytest.mark.parametrize(("anthropic", "openai"), [("stop_sequence", "stop"), ("pause_turn", "stop"),
                                                   ("model_context_window_exceeded", "length"), (None, None)])  # fmt: skip
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
    assert error_body("openai", status, "no") == {"error": {"message": "no", "type": openai, "param": None, "code": code}}


def test_error_frames() -> None:
    frame = error_frame("anthropic", "upstream reset")
    assert frame.startswith(b"event: error\ndata: ") and frame.endswith(b"\n\n")
    assert json.loads(frame.split(b"data: ")[1]) == error_body("anthropic", 500, "upstream reset")
    assert error_frame("openai", "upstream reset", 503) == (
        b'data: {"error":{"message":"upstream reset","type":"server_error","param":null,'
        b'"code":"service_unavailable"}}\n\n'
    )


# ---------------------------------------------------------------------------------------
# Non-streamed answers


def test_anthropic_answer_to_openai() -> None:
    got = translate_response(fx.anthropic_answer(), "anthropic", "openai", "combined/coder", created=1770772293)
    assert got == fx.anthropic_answer_as_openai()


def test_openai_answer_to_anthropic() -> None:
    assert translate_response(fx.openai_answer(), "openai", "anthropic", "combined/coder") == fx.openai_answer_as_anthropic()


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_same_protocol_answer_changes_only_the_model(protocol: str) -> None:
    answer = fx.openai_answer() if protocol == "openai" else fx.anthropic_answer()
    assert translate_response(answer, protocol, protocol, "combined/coder") == {**answer, "model": "combined/coder"}


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_every_stop_reason_in_answers(openai: str, anthropic: str) -> None:
    plain = {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                     "finish_reason": openai}]}  # fmt: skip
    assert translate_response(plain, "openai", "anthropic", "m")["stop_reason"] == anthropic
    message = {"id": "x", "content": [{"type": "text", "text": "hi"}], "stop_reason": anthropic, "usage": {}}
    assert translate_response(message, "anthropic", "openai", "m")["choices"][0]["finish_reason"] == openai


def test_openai_answer_with_tool_calls_that_says_stop_is_a_tool_use() -> None:
    answer = fx.openai_answer()
    answer["choices"][0]["finish_reason"] = "stop"
    assert translate_response(answer, "openai", "anthropic", "m")["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("body", "src", "message"),
    [
        ([], "openai", "the upstream answer is not a JSON object"),
        ({"choices": []}, "openai", "the upstream answer has no readable first choice (IndexError('list index out of range'))"),
        ({"type": "message"}, "anthropic", "the upstream answer has no content list"),
        ({"choices": [{"message": {"tool_calls": [fx.openai_call("c", "f", "{oops")]}}]}, "openai",
         "the upstream's tool-call arguments are not JSON: '{oops'"),
    ],
)  # fmt: skip
def test_unreadable_answers(body: Any, src: str, message: str) -> None:
    with pytest.raises(MalformedAnswer) as caught:
        translate_response(body, src, "anthropic" if src == "openai" else "openai", "m")
    assert str(caught.value) == message
    assert not isinstance(caught.value, UserError)  # the upstream's fault, not the client's


# ---------------------------------------------------------------------------------------
# Streams

CREATED = 1770772293


def upstream(protocol: str, stream: list[Any]) -> list[SSEEvent]:
    """A stream fixture as the gateway sees it: encoded to bytes, decoded by the SSE decoder."""
    frames = [sse_frame(data, name) for name, data in stream] if protocol == "anthropic" else [
        sse_frame(chunk) for chunk in stream
    ]
    return decode_all(frames)


def decode_all(frames: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [event for frame in frames for event in decoder.feed(frame)] + decoder.close()


def translate_stream(events: list[SSEEvent], src: str, dst: str, **options: Any) -> tuple[StreamTranslator, list[bytes]]:
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


STREAMS = {"openai": (fx.openai_stream, fx.openai_answer), "anthropic": (fx.anthropic_stream, fx.anthropic_answer)}
EXPECTED = {("openai", "anthropic"): fx.openai_answer_as_anthropic,
            ("anthropic", "openai"): fx.anthropic_answer_as_openai}  # fmt: skip


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_assembler_rebuilds_the_non_streamed_answer(protocol: str) -> None:
    stream, answer = STREAMS[protocol]
    assert assemble(protocol, upstream(protocol, stream())) == answer()


@pytest.mark.parametrize(("src", "dst"), list(EXPECTED))
def test_streamed_and_non_streamed_answers_are_the_same_message(src: str, dst: str) -> None:
    stream, answer = STREAMS[src]
    translator, frames = translate_stream(upstream(src, stream()), src, dst)
    streamed = assemble(dst, decode_all(frames))
    non_streamed = translate_response(answer(), src, dst, "combined/coder", created=CREATED)
    assert canonical(streamed) == canonical(non_streamed) == canonical(EXPECTED[src, dst]())
    assert translator.done and translator.error is None


def test_openai_stream_to_anthropic_events() -> None:
    def block(index: int, content_block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": index, "content_block": content_block}

    def delta(index: int, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}

    def stop(index: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": index}

    translator, frames = translate_stream(upstream("openai", fx.openai_stream()), "openai", "anthropic")
    assert parsed(decode_all(frames)) == [
        ("message_start", {"type": "message_start", "message": {
            "id": fx.CHATCMPL, "type": "message", "role": "assistant", "model": "combined/coder", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        block(0, {"type": "text", "text": ""}),
        delta(0, "text_delta", text="Let me"),
        delta(0, "text_delta", text=" look."),
        stop(0),
        block(1, {"type": "tool_use", "id": "call_a", "name": "list", "input": {}}),
        delta(1, "input_json_delta", partial_json='{"path":'),
        delta(1, "input_json_delta", partial_json=' "/tmp/p"}'),
        stop(1),
        block(2, {"type": "tool_use", "id": "call_b", "name": "grep", "input": {}}),
        delta(2, "input_json_delta", partial_json='{"pattern":"TODO"}'),
        stop(2),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"input_tokens": 472, "output_tokens": 57, "cache_read_input_tokens": 1800}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    assert (translator.input_tokens, translator.output_tokens, translator.stop_reason) == (2272, 57, "tool_use")


def test_anthropic_stream_to_openai_chunks() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
        return None, {"id": fx.MSG_ID, "object": "chat.completion.chunk", "created": CREATED, "model": "combined/coder",
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip

    def arguments(text: str, **head: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": 0, **head, "function": {**({"name": "get_weather"} if head else {}),
                                                                 "arguments": text}}]}  # fmt: skip

    translator, frames = translate_stream(upstream("anthropic", fx.anthropic_stream()), "anthropic", "openai")
    usage = {"prompt_tokens": 2272, "completion_tokens": 89, "total_tokens": 2361,
             "prompt_tokens_details": {"cached_tokens": 1800}}  # fmt: skip
    assert parsed(decode_all(frames)) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Okay, let me check"}),
        chunk({"content": " the weather."}),
        chunk(arguments("", id=fx.TOOLU, type="function")),
        chunk(arguments('{"location": "San Fra')),
        chunk(arguments('ncisco, CA", "unit": "celsius"}')),
        chunk({}, "tool_calls"),
        (None, {"id": fx.MSG_ID, "object": "chat.completion.chunk", "created": CREATED, "model": "combined/coder",
                "choices": [], "usage": usage}),
        (None, "[DONE]"),
    ]  # fmt: skip
    assert (translator.input_tokens, translator.output_tokens, translator.stop_reason) == (2272, 89, "tool_calls")


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_same_protocol_stream_passes_through_with_only_the_model_changed(protocol: str) -> None:
    stream = STREAMS[protocol][0]()
    events = upstream(protocol, stream)
    translator, frames = translate_stream(events, protocol, protocol)
    got, sent = parsed(decode_all(frames)), parsed(events)
    assert got == [(name, _with_model(data, protocol)) for name, data in sent]
    assert translator.has_content and translator.done
    assert (translator.input_tokens, translator.stop_reason) == (2272, "tool_use" if protocol == "anthropic" else "tool_calls")


def _with_model(data: Any, protocol: str) -> Any:
    if protocol == "openai" and isinstance(data, dict):
        return {**data, "model": "combined/coder"}
    if protocol == "anthropic" and data["type"] == "message_start":
        return {**data, "message": {**data["message"], "model": "combined/coder"}}
    return data


def minimal_stream(protocol: str, stop: str, text: str = "hi") -> list[SSEEvent]:
    """The shortest answer of each protocol: one text delta and a stop reason."""
    if protocol == "openai":
        return upstream("openai", [fx.openai_chunk({"role": "assistant", "content": ""}), fx.openai_chunk({"content": text}),
                                   fx.openai_chunk({}, stop), "[DONE]"])  # fmt: skip
    return upstream("anthropic", [
        ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_every_stop_reason_in_streams(openai: str, anthropic: str) -> None:
    translator, frames = translate_stream(minimal_stream("openai", openai), "openai", "anthropic")
    assert translator.stop_reason == assemble("anthropic", decode_all(frames))["stop_reason"] == anthropic
    translator, frames = translate_stream(minimal_stream("anthropic", anthropic), "anthropic", "openai")
    assert translator.stop_reason == assemble("openai", decode_all(frames))["choices"][0]["finish_reason"] == openai


@pytest.mark.parametrize(("src", "dst"), [("openai", "anthropic"), ("anthropic", "openai"), ("openai", "openai"),
                                          ("anthropic", "anthropic")])  # fmt: skip
def test_has_content_turns_true_with_the_first_answer_token(src: str, dst: str) -> None:
    translator = StreamTranslator(src, dst, "m")
    events = minimal_stream(src, "stop" if src == "openai" else "end_turn")
    text_at = 1 if src == "openai" else 2  # after the role chunk / message and block starts
    first = [translator.feed(event) for event in events[:text_at]]
    assert not translator.has_content and sum(map(len, first)) >= 1  # a start frame, no answer yet
    frames = translator.feed(events[text_at])
    assert translator.has_content and frames
    assert not translator.done
    for event in events[text_at + 1 :]:
        translator.feed(event)
    assert translator.done and translator.finish() == []


@pytest.mark.parametrize(
    ("protocol", "error"),
    [
        ("anthropic", SSEEvent("error", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')),
        ("openai", SSEEvent(None, '{"error":{"message":"upstream died","type":"server_error","code":null}}')),
    ],
)
@pytest.mark.parametrize("same", [True, False])
def test_an_upstream_error_event_is_kept_not_forwarded(protocol: str, error: SSEEvent, same: bool) -> None:
    dst = protocol if same else ("anthropic" if protocol == "openai" else "openai")
    events = minimal_stream(protocol, "stop" if protocol == "openai" else "end_turn")
    translator = StreamTranslator(protocol, dst, "m")
    for event in events[:3]:
        translator.feed(event)
    assert translator.feed(error) == [] and translator.error == error.data
    assert translator.finish() == [] and not translator.done
    assembler = StreamAssembler(protocol)
    for event in [*events[:3], error]:
        assembler.feed(event)
    assert assembler.error == error.data


def test_openai_stream_without_done_is_closed_by_finish() -> None:
    events = minimal_stream("openai", "length")[:-1]  # no [DONE]
    translator, frames = translate_stream(events, "openai", "anthropic")
    assert [e.event for e in decode_all(frames)][-2:] == ["message_delta", "message_stop"]
    assert translator.done and translator.stop_reason == "max_tokens"


def test_a_cut_short_stream_gets_no_closing_frames() -> None:
    translator, frames = translate_stream(minimal_stream("anthropic", "end_turn")[:3], "anthropic", "openai")
    assert translator.has_content and not translator.done and translator.stop_reason is None
    assert parsed(decode_all(frames))[-1][1]["choices"][0]["delta"] == {"content": "hi"}  # nothing after the text


def test_usage_chunk_only_when_the_client_asked() -> None:
    _, frames = translate_stream(minimal_stream("anthropic", "end_turn"), "anthropic", "openai", include_usage=False)
    chunks = parsed(decode_all(frames))
    assert chunks[-1] == (None, "[DONE]") and all(data["choices"] for _, data in chunks[:-1])


def test_tool_calls_sharing_index_zero_are_separate_calls() -> None:
    """Some OpenAI-compatible servers send every call at index 0, each with its own id."""
    calls = [fx.openai_chunk({"tool_calls": [{"index": 0, "id": f"c{i}", "type": "function",
                                              "function": {"name": "read", "arguments": f'{{"n":{i}}}'}}]})
             for i in (1, 2)]  # fmt: skip
    events = upstream("openai", [*calls, fx.openai_chunk({}, "stop"), "[DONE]"])
    _, frames = translate_stream(events, "openai", "anthropic")
    answer = assemble("anthropic", decode_all(frames))
    assert [(b["id"], b["input"]) for b in answer["content"]] == [("c1", {"n": 1}), ("c2", {"n": 2})]
    assert answer["stop_reason"] == "tool_use"  # "stop" next to tool calls
    openai = assemble("openai", events)["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in openai] == [("c1", '{"n":1}'), ("c2", '{"n":2}')]


def test_an_event_that_is_not_json_is_a_malformed_answer() -> None:
    with pytest.raises(MalformedAnswer, match="the upstream sent an event that is not JSON: '<html>'"):
        StreamTranslator("openai", "anthropic", "m").feed(SSEEvent(None, "<html>"))
    with pytest.raises(MalformedAnswer, match="not a JSON object: '\\[1\\]'"):
        StreamAssembler("anthropic").feed(SSEEvent("message_start", "[1]"))


def test_openai_usage_chunk_is_hidden_from_a_client_that_did_not_ask() -> None:
    """The gateway asks every OpenAI upstream for usage (to log it); the client may not have."""
    events = upstream("openai", fx.openai_stream())
    translator, frames = translate_stream(events, "openai", "openai", include_usage=False)
    assert [data for _, data in parsed(decode_all(frames))] == [
        _with_model(data, "openai") for _, data in parsed(events) if data == "[DONE]" or data["choices"]
    ]
    assert (translator.input_tokens, translator.output_tokens) == (2272, 57)  # still counted


def test_text_in_an_anthropic_block_start_is_not_lost() -> None:
    events = minimal_stream("anthropic", "end_turn")
    events[1] = SSEEvent("content_block_start", json.dumps(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Oh, "}}))  # fmt: skip
    _, frames = translate_stream(events, "anthropic", "openai")
    assert assemble("openai", decode_all(frames))["choices"][0]["message"]["content"] == "Oh, hi"
    assert assemble("anthropic", events)["content"] == [{"type": "text", "text": "Oh, hi"}]


def test_a_tool_called_without_arguments_gets_an_empty_object() -> None:
    """Anthropic streams a no-argument call as one empty fragment; an OpenAI client needs JSON."""
    events = upstream("anthropic", [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 565}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "tool_use", "id": "toolu_1", "name": "todoread", "input": {}}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"input_tokens": 565, "output_tokens": 48}}),
        ("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip
    _, frames = translate_stream(events, "anthropic", "openai")
    message = assemble("openai", decode_all(frames))["choices"][0]["message"]
    assert message["tool_calls"] == [fx.openai_call("toolu_1", "todoread", "{}")]
    assert assemble("anthropic", events)["content"][0]["input"] == {}


def test_a_choice_less_first_chunk_does_not_name_the_message() -> None:
    """Azure opens its streams with prompt filter results: no choices, empty id and model."""
    azure = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}
    events = upstream("openai", [azure, *fx.openai_stream()])
    _, frames = translate_stream(events, "openai", "anthropic")
    assert json.loads(decode_all(frames)[0].data)["message"]["id"] == fx.CHATCMPL
    assert assemble("openai", events) == fx.openai_answer()


def test_tool_call_ids_anthropic_refuses_are_rewritten_the_same_way_everywhere() -> None:
    """Kimi names its calls like ``functions.read:0``; Anthropic wants [A-Za-z0-9_-] only."""
    kimi = "functions.read:0"
    request = {"messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [fx.openai_call(kimi, "read", "{}")]},
                            {"role": "tool", "tool_call_id": kimi, "content": "x"}]}  # fmt: skip
    turns = translate_request(request, "openai", "anthropic", "a")["messages"]
    assert turns[1]["content"][0]["id"] == turns[2]["content"][0]["tool_use_id"] == "functions_read_0"
    answer = fx.openai_answer()
    answer["choices"][0]["message"]["tool_calls"][0]["id"] = kimi
    assert translate_response(answer, "openai", "anthropic", "m")["content"][1]["id"] == "functions_read_0"
    stream = fx.openai_stream()
    stream[5]["choices"][0]["delta"]["tool_calls"][0]["id"] = kimi
    _, frames = translate_stream(upstream("openai", stream), "openai", "anthropic")
    assert assemble("anthropic", decode_all(frames))["content"][1]["id"] == "functions_read_0"
