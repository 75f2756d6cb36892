"""OpenAI chat completions <-> Gemini generateContent: requests, stream chunks, finish reasons, usage."""

from __future__ import annotations

import json

import pytest

from toolkit.protocols import ProtocolError
from toolkit.translate_gemini import GeminiToOpenAI, gemini_request, openai_usage

CONVERSATION = {
    "model": "gemini-2.5-pro",
    "stream": True,
    "max_tokens": 100,
    "temperature": 0.2,
    "stop": "END",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "read "}, {"type": "text", "text": "a.py"}]},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"path": "a.py"}'}},
                {"id": "c2", "type": "function", "function": {"name": "stat", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "print(1)"},
        {"role": "tool", "tool_call_id": "c2", "content": "12 bytes"},
        {"role": "user", "content": "and now?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "read", "description": "read a file", "parameters": {"type": "object"}},
        }
    ],
    "tool_choice": "required",
}


def test_a_conversation_with_tool_calls_becomes_alternating_contents():
    assert gemini_request(CONVERSATION) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "read a.py"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Looking."},
                    {"functionCall": {"name": "read", "args": {"path": "a.py"}}},
                    {"functionCall": {"name": "stat", "args": {}}},
                ],
            },
            # the tool results and the user turn after them merge into one user turn
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "read", "response": {"content": "print(1)"}}},
                    {"functionResponse": {"name": "stat", "response": {"content": "12 bytes"}}},
                    {"text": "and now?"},
                ],
            },
        ],
        "tools": [
            {"functionDeclarations": [{"name": "read", "description": "read a file", "parameters": {"type": "object"}}]}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 100, "stopSequences": ["END"]},
    }


def test_a_named_tool_choice_and_refused_inputs():
    named = gemini_request({"messages": [], "tool_choice": {"type": "function", "function": {"name": "read"}}})
    assert named["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["read"]}}
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}
    with pytest.raises(ProtocolError, match="only text parts can be sent to a Gemini upstream"):
        gemini_request({"messages": [image]})
    bad = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{nope"}}]}
    with pytest.raises(ProtocolError, match="tool-call arguments are not JSON"):
        gemini_request({"messages": [bad]})


def _chunk(parts: list, finish: str | None = None, usage: dict | None = None) -> dict:
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **({"usageMetadata": usage} if usage else {})}


def test_a_stream_with_a_function_call_ends_as_tool_calls_with_usage():
    stream = GeminiToOpenAI("gemini-2.5-pro", "r1")
    out = stream.chunks(_chunk([{"text": "Looking."}, {"thought": True, "text": "hmm"}]))
    out += stream.chunks(_chunk([{"functionCall": {"name": "read", "args": {"path": "a.py"}}}]))
    out += stream.chunks(
        _chunk(
            [{"text": ""}],
            "STOP",
            {"promptTokenCount": 9, "candidatesTokenCount": 5, "thoughtsTokenCount": 2, "cachedContentTokenCount": 4},
        )
    )
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in out]
    assert deltas[0] == {"content": "Looking."}
    assert deltas[1] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_r1_0",
                "type": "function",
                "function": {"name": "read", "arguments": '{"path":"a.py"}'},
            }
        ]
    }
    assert [c["choices"][0]["finish_reason"] for c in out[:3]] == [None, None, "tool_calls"]
    assert out[3] == {
        "id": "r1",
        "object": "chat.completion.chunk",
        "model": "gemini-2.5-pro",
        "choices": [],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 7,
            "total_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }
    assert len(out) == 4 and json.dumps(out)


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(reason, finish):
    out = GeminiToOpenAI("m").chunks(_chunk([{"text": "x"}], reason, {"promptTokenCount": 1}))
    assert [c["choices"][0]["finish_reason"] for c in out if c["choices"]] == [None, finish]


def test_an_error_chunk_passes_through_and_usage_of_nothing_is_zero():
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    assert GeminiToOpenAI("m").chunks(error) == [error]
    assert openai_usage({}) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
