"""Properties of stream translation over generated answers: whatever the text, tool calls,
stop reason, usage, fragmentation of the deltas and cutting of the byte stream, a streamed
answer reassembles to the non-streamed one, in its own protocol and after translation."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from translate_fixtures import CREATED, STOPS, assemble, canonical

from toolkit.sse import SSEDecoder, SSEEvent, sse_frame
from toolkit.translate import StreamTranslator, translate_request, translate_response

ANSWERS = st.fixed_dictionaries(
    {
        "text": st.text(max_size=30),
        "calls": st.lists(
            st.tuples(
                st.sampled_from(["read", "grep", "bash"]),
                st.dictionaries(st.text(min_size=1, max_size=6), st.integers() | st.text(max_size=10), max_size=3),
            ),
            max_size=3,
        ),
        "stop": st.integers(0, len(STOPS) - 1),
        "input": st.integers(0, 10**6),
        "output": st.integers(0, 10**5),
        "cached": st.integers(0, 10**5),
    }
)


def pieces(data: st.DataObject, text: str) -> list[str]:
    """``text`` cut at drawn places (empty pieces included: servers send those too)."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def openai_answer(answer: dict[str, Any]) -> dict[str, Any]:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(answer["calls"])
    ]
    message = {"role": "assistant", "content": answer["text"] or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    usage = {
        "prompt_tokens": answer["input"] + answer["cached"],
        "completion_tokens": answer["output"],
        "total_tokens": answer["input"] + answer["cached"] + answer["output"],
    }
    if answer["cached"]:
        usage["prompt_tokens_details"] = {"cached_tokens": answer["cached"]}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 7,
        "model": "up",
        "choices": [{"index": 0, "message": message, "finish_reason": STOPS[answer["stop"]][0]}],
        "usage": usage,
    }


def openai_stream(answer: dict[str, Any], data: st.DataObject) -> list[bytes]:
    body = openai_answer(answer)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse_frame(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 7,
                "model": "up",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in pieces(data, answer["text"])]
    for i, call in enumerate(body["choices"][0]["message"].get("tool_calls", [])):
        first, *rest = pieces(data, call["function"]["arguments"])
        head = {"index": i, "id": call["id"], "type": "function"}
        frames.append(
            chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"], "arguments": first}}]})
        )
        frames += [chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}) for piece in rest]
    frames.append(chunk({}, body["choices"][0]["finish_reason"]))
    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "up",
        "choices": [],
        "usage": body["usage"],
    }
    return [*frames, sse_frame(usage), sse_frame("[DONE]")]


def anthropic_answer(answer: dict[str, Any]) -> dict[str, Any]:
    content = [{"type": "text", "text": answer["text"]}] if answer["text"] else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
        for i, (name, args) in enumerate(answer["calls"])
    ]
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": content,
        "stop_reason": STOPS[answer["stop"]][1],
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer["input"],
            "cache_read_input_tokens": answer["cached"],
            "output_tokens": answer["output"],
        },
    }


def anthropic_stream(answer: dict[str, Any], data: st.DataObject) -> list[bytes]:
    body = anthropic_answer(answer)

    def event(name: str, **fields: Any) -> bytes:
        return sse_frame({"type": name, **fields}, name)

    start = {**body, "content": [], "stop_reason": None, "usage": {**body["usage"], "output_tokens": 1}}
    frames = [event("message_start", message=start), event("ping")]
    for index, block in enumerate(body["content"]):
        if block["type"] == "text":
            frames.append(event("content_block_start", index=index, content_block={"type": "text", "text": ""}))
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces(data, block["text"])]
        else:
            frames.append(event("content_block_start", index=index, content_block={**block, "input": {}}))
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(data, json.dumps(block["input"]))]
        frames += [event("content_block_delta", index=index, delta=delta) for delta in deltas]
        frames.append(event("content_block_stop", index=index))
    frames.append(
        event(
            "message_delta",
            delta={"stop_reason": body["stop_reason"], "stop_sequence": None},
            usage={"output_tokens": answer["output"]},
        )
    )
    return [*frames, event("message_stop")]


BUILDERS = {"openai": (openai_answer, openai_stream), "anthropic": (anthropic_answer, anthropic_stream)}


def received(frames: list[bytes], data: st.DataObject) -> list[SSEEvent]:
    """The frames as one byte stream, read in drawn pieces, decoded."""
    decoder = SSEDecoder()
    raw = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    bounds = [0, *cuts, len(raw)]
    return [e for a, b in zip(bounds, bounds[1:], strict=False) for e in decoder.feed(raw[a:b])] + decoder.close()


@settings(max_examples=60, deadline=None)
@given(answer=ANSWERS, src=st.sampled_from(["openai", "anthropic"]), data=st.data())
def test_a_streamed_answer_reassembles_to_the_non_streamed_one(
    answer: dict[str, Any], src: str, data: st.DataObject
) -> None:
    build_answer, build_stream = BUILDERS[src]
    events = received(build_stream(answer, data), data)
    assert canonical(assemble(src, events)) == canonical(build_answer(answer))
    for dst in ("openai", "anthropic"):
        translator = StreamTranslator(src, dst, "combined/coder", created=CREATED)
        frames = [frame for event in events for frame in translator.feed(event)] + translator.finish()
        expected = translate_response(build_answer(answer), src, dst, "combined/coder", created=CREATED)
        assert canonical(assemble(dst, received(frames, data))) == canonical(expected)
        assert translator.done and translator.output_tokens == answer["output"]
        assert translator.input_tokens == answer["input"] + answer["cached"]
        assert translator.has_content == bool(answer["text"] or answer["calls"])


# ---------------------------------------------------------------------------------------
# Requests: an OpenAI conversation within what both protocols can say survives a round trip

WORDS = st.text(min_size=1, max_size=12)
ARGUMENTS = st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=8), max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """System prompts, then exchanges: a user turn, tool steps (an assistant turn calling tools
    and one result per call), and a closing assistant text; turns alternate as both want."""
    messages = [{"role": "system", "content": text} for text in draw(st.lists(WORDS, max_size=2))]
    exchanges = draw(st.integers(1, 3))
    calls = 0
    for n in range(exchanges):
        messages.append({"role": "user", "content": draw(WORDS)})
        steps = draw(st.integers(0, 2))
        for _ in range(steps):
            names = draw(st.lists(st.sampled_from(["read", "grep", "bash"]), min_size=1, max_size=3))
            ids = [f"call_{calls + i}" for i in range(len(names))]
            calls += len(names)
            tool_calls = [
                {
                    "id": i,
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": json.dumps(draw(ARGUMENTS), separators=(",", ":"), ensure_ascii=False),
                    },
                }
                for i, name in zip(ids, names, strict=True)
            ]
            messages.append({"role": "assistant", "content": draw(st.just("") | WORDS), "tool_calls": tool_calls})
            messages += [{"role": "tool", "tool_call_id": i, "content": draw(WORDS)} for i in ids]
        if steps == 0 and n < exchanges - 1 or draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(WORDS)})
    return messages


TOOL_SCHEMAS = st.lists(st.sampled_from(["read", "grep", "bash"]), unique=True, max_size=3).map(
    lambda names: [
        {
            "type": "function",
            "function": {"name": n, "description": f"{n} tool", "parameters": {"type": "object", "properties": {}}},
        }
        for n in names
    ]
)


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "combined/coder",
        "messages": draw(conversations()),
        "max_tokens": draw(st.integers(1, 64000)),
    }
    optional = {
        "temperature": st.floats(0, 1, allow_nan=False),
        "stop": st.lists(WORDS, min_size=1, max_size=3),
        "user": WORDS,
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            body[key] = draw(values)
    if draw(st.booleans()):
        body["stream"], body["stream_options"] = True, {"include_usage": True}
    if tools := draw(TOOL_SCHEMAS):
        body["tools"] = tools
        choices = st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "read"}}])
        if draw(st.booleans()):
            body["tool_choice"] = draw(choices)
        if draw(st.booleans()):
            body["parallel_tool_calls"] = False
    return body


@settings(max_examples=80, deadline=None)
@given(openai_requests())
def test_an_openai_request_survives_the_round_trip_through_anthropic(body: dict[str, Any]) -> None:
    there = translate_request(body, "openai", "anthropic", "claude-sonnet-4-5")
    expected = dict(body)
    if body.get("parallel_tool_calls") is False:
        if body.get("tool_choice") == "none":
            del expected["parallel_tool_calls"]  # Anthropic's "none" has no such flag
        else:
            expected.setdefault("tool_choice", "auto")  # the flag rides on a tool choice; auto is the default
    assert translate_request(there, "anthropic", "openai", "combined/coder") == expected
