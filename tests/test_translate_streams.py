"""Contract tests for streams: exact event sequences each way, pass-through, streamed and
non-streamed answers equal, errors, cut-short streams and server quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest
import translate_fixtures as fx
from translate_fixtures import (
    CREATED,
    STOPS,
    USER,
    assemble,
    canonical,
    decode_all,
    minimal_stream,
    parsed,
    translate_stream,
    upstream,
    with_model,
)

from toolkit.sse import SSEEvent
from toolkit.translate import (
    MalformedAnswer,
    StreamAssembler,
    StreamTranslator,
    translate_request,
    translate_response,
)

# ---------------------------------------------------------------------------------------
# Streams


STREAMS = {"openai": (fx.openai_stream, fx.openai_answer), "anthropic": (fx.anthropic_stream, fx.anthropic_answer)}
EXPECTED = {
    ("openai", "anthropic"): fx.openai_answer_as_anthropic,
    ("anthropic", "openai"): fx.anthropic_answer_as_openai,
}


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
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": fx.CHATCMPL,
                    "type": "message",
                    "role": "assistant",
                    "model": "combined/coder",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            },
        ),
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
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"input_tokens": 472, "output_tokens": 57, "cache_read_input_tokens": 1800},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    assert (translator.input_tokens, translator.output_tokens, translator.stop_reason) == (2272, 57, "tool_use")


def test_anthropic_stream_to_openai_chunks() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
        return None, {
            "id": fx.MSG_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "combined/coder",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def arguments(text: str, **head: Any) -> dict[str, Any]:
        return {
            "tool_calls": [
                {"index": 0, **head, "function": {**({"name": "get_weather"} if head else {}), "arguments": text}}
            ]
        }

    translator, frames = translate_stream(upstream("anthropic", fx.anthropic_stream()), "anthropic", "openai")
    usage = {
        "prompt_tokens": 2272,
        "completion_tokens": 89,
        "total_tokens": 2361,
        "prompt_tokens_details": {"cached_tokens": 1800},
    }
    assert parsed(decode_all(frames)) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Okay, let me check"}),
        chunk({"content": " the weather."}),
        chunk(arguments("", id=fx.TOOLU, type="function")),
        chunk(arguments('{"location": "San Fra')),
        chunk(arguments('ncisco, CA", "unit": "celsius"}')),
        chunk({}, "tool_calls"),
        (
            None,
            {
                "id": fx.MSG_ID,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": "combined/coder",
                "choices": [],
                "usage": usage,
            },
        ),
        (None, "[DONE]"),
    ]
    assert (translator.input_tokens, translator.output_tokens, translator.stop_reason) == (2272, 89, "tool_calls")


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_same_protocol_stream_passes_through_with_only_the_model_changed(protocol: str) -> None:
    stream = STREAMS[protocol][0]()
    events = upstream(protocol, stream)
    translator, frames = translate_stream(events, protocol, protocol)
    got, sent = parsed(decode_all(frames)), parsed(events)
    assert got == [(name, with_model(data, protocol)) for name, data in sent]
    assert translator.has_content and translator.done
    assert (translator.input_tokens, translator.stop_reason) == (
        2272,
        "tool_use" if protocol == "anthropic" else "tool_calls",
    )


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_every_stop_reason_in_streams(openai: str, anthropic: str) -> None:
    translator, frames = translate_stream(minimal_stream("openai", openai), "openai", "anthropic")
    assert translator.stop_reason == assemble("anthropic", decode_all(frames))["stop_reason"] == anthropic
    translator, frames = translate_stream(minimal_stream("anthropic", anthropic), "anthropic", "openai")
    assert translator.stop_reason == assemble("openai", decode_all(frames))["choices"][0]["finish_reason"] == openai


@pytest.mark.parametrize(
    ("src", "dst"), [("openai", "anthropic"), ("anthropic", "openai"), ("openai", "openai"), ("anthropic", "anthropic")]
)
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
    calls = [
        fx.openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "read", "arguments": f'{{"n":{i}}}'},
                    }
                ]
            }
        )
        for i in (1, 2)
    ]
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
        with_model(data, "openai") for _, data in parsed(events) if data == "[DONE]" or data["choices"]
    ]
    assert (translator.input_tokens, translator.output_tokens) == (2272, 57)  # still counted


def test_text_in_an_anthropic_block_start_is_not_lost() -> None:
    events = minimal_stream("anthropic", "end_turn")
    events[1] = SSEEvent(
        "content_block_start",
        json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Oh, "}}),
    )
    _, frames = translate_stream(events, "anthropic", "openai")
    assert assemble("openai", decode_all(frames))["choices"][0]["message"]["content"] == "Oh, hi"
    assert assemble("anthropic", events)["content"] == [{"type": "text", "text": "Oh, hi"}]


def test_a_tool_called_without_arguments_gets_an_empty_object() -> None:
    """Anthropic streams a no-argument call as one empty fragment; an OpenAI client needs JSON."""
    events = upstream(
        "anthropic",
        [
            ("message_start", {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 565}}}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "todoread", "input": {}},
                },
            ),
            ("ping", {"type": "ping"}),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use"},
                    "usage": {"input_tokens": 565, "output_tokens": 48},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ],
    )
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
    request = {
        "messages": [
            *USER,
            {"role": "assistant", "content": None, "tool_calls": [fx.openai_call(kimi, "read", "{}")]},
            {"role": "tool", "tool_call_id": kimi, "content": "x"},
        ]
    }
    turns = translate_request(request, "openai", "anthropic", "a")["messages"]
    assert turns[1]["content"][0]["id"] == turns[2]["content"][0]["tool_use_id"] == "functions_read_0"
    answer = fx.openai_answer()
    answer["choices"][0]["message"]["tool_calls"][0]["id"] = kimi
    assert translate_response(answer, "openai", "anthropic", "m")["content"][1]["id"] == "functions_read_0"
    stream = fx.openai_stream()
    stream[5]["choices"][0]["delta"]["tool_calls"][0]["id"] = kimi
    _, frames = translate_stream(upstream("openai", stream), "openai", "anthropic")
    assert assemble("anthropic", decode_all(frames))["content"][1]["id"] == "functions_read_0"
