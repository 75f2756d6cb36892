"""Properties of stream translation over generated answers: whatever the text, tool calls,
stop reason, usage, fragmentation of the deltas and cutting of the byte stream, a streamed
answer reassembles to the non-streamed one, in its own protocol and after translation."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_translate import CREATED, STOPS, assemble, canonical

from toolkit.sse import SSEDecoder, SSEEvent, sse_frame
from toolkit.translate import StreamTranslator, translate_response

ANSWERS = st.fixed_dictionaries({
    "text": st.text(max_size=30),
    "calls": st.lists(st.tuples(st.sampled_from(["read", "grep", "bash"]),
                                st.dictionaries(st.text(min_size=1, max_size=6), st.integers() | st.text(max_size=10),
                                                max_size=3)), max_size=3),  # fmt: skip
    "stop": st.integers(0, len(STOPS) - 1),
    "input": st.integers(0, 10**6),
    "output": st.integers(0, 10**5),
    "cached": st.integers(0, 10**5),
})  # fmt: skip


def pieces(data: st.DataObject, text: str) -> list[str]:
    """``text`` cut at drawn places (empty pieces included: servers send those too)."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def openai_answer(answer: dict[str, Any]) -> dict[str, Any]:
    calls = [{"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
             for i, (name, args) in enumerate(answer["calls"])]  # fmt: skip
    message = {"role": "assistant", "content": answer["text"] or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    usage = {"prompt_tokens": answer["input"] + answer["cached"], "completion_tokens": answer["output"],
             "total_tokens": answer["input"] + answer["cached"] + answer["output"]}  # fmt: skip
    if answer["cached"]:
        usage["prompt_tokens_details"] = {"cached_tokens": answer["cached"]}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": STOPS[answer["stop"]][0]}], "usage": usage}  # fmt: skip


def openai_stream(answer: dict[str, Any], data: st.DataObject) -> list[bytes]:
    body = openai_answer(answer)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse_frame({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "up",
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})  # fmt: skip

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in pieces(data, answer["text"])]
    for i, call in enumerate(body["choices"][0]["message"].get("tool_calls", [])):
        first, *rest = pieces(data, call["function"]["arguments"])
        head = {"index": i, "id": call["id"], "type": "function"}
        frames.append(chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"], "arguments": first}}]}))
        frames += [chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}) for piece in rest]
    frames.append(chunk({}, body["choices"][0]["finish_reason"]))
    usage = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "up", "choices": [],
             "usage": body["usage"]}  # fmt: skip
    return [*frames, sse_frame(usage), sse_frame("[DONE]")]


def anthropic_answer(answer: dict[str, Any]) -> dict[str, Any]:
    content = [{"type": "text", "text": answer["text"]}] if answer["text"] else []
    content += [{"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                for i, (name, args) in enumerate(answer["calls"])]  # fmt: skip
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": content,
            "stop_reason": STOPS[answer["stop"]][1], "stop_sequence": None,
            "usage": {"input_tokens": answer["input"], "cache_read_input_tokens": answer["cached"],
                      "output_tokens": answer["output"]}}  # fmt: skip


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
    frames.append(event("message_delta", delta={"stop_reason": body["stop_reason"], "stop_sequence": None},
                        usage={"output_tokens": answer["output"]}))  # fmt: skip
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
def test_a_streamed_answer_reassembles_to_the_non_streamed_one(answer: dict[str, Any], src: str,
                                                              data: st.DataObject) -> None:  # fmt: skip
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
