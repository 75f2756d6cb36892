"""OpenAI chat completions <-> Bedrock Converse: requests, ConverseStream events, stop reasons, usage."""

from __future__ import annotations

import pytest
from test_translate_gemini import CONVERSATION

from toolkit.protocols import ProtocolError
from toolkit.translate_bedrock import ConverseToOpenAI, converse_request, exception_payload


def test_a_conversation_with_tool_calls_becomes_alternating_messages():
    assert converse_request(CONVERSATION) == {
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "read a.py"}]},
            {
                "role": "assistant",
                "content": [
                    {"text": "Looking."},
                    {"toolUse": {"toolUseId": "c1", "name": "read", "input": {"path": "a.py"}}},
                    {"toolUse": {"toolUseId": "c2", "name": "stat", "input": {}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "c1", "content": [{"text": "print(1)"}]}},
                    {"toolResult": {"toolUseId": "c2", "content": [{"text": "12 bytes"}]}},
                    {"text": "and now?"},
                ],
            },
        ],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "read",
                        "description": "read a file",
                        "inputSchema": {"json": {"type": "object"}},
                    }
                }
            ],
            "toolChoice": {"any": {}},
        },
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "stopSequences": ["END"]},
    }


def test_tool_choice_none_sends_no_tools_and_images_are_refused():
    assert "toolConfig" not in converse_request({**CONVERSATION, "tool_choice": "none"})
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}
    with pytest.raises(ProtocolError, match="only text parts can be sent to a Bedrock upstream"):
        converse_request({"messages": [image]})


def test_a_stream_with_a_tool_use_ends_as_tool_calls_with_usage():
    stream = ConverseToOpenAI("claude", "r1")
    events = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Looking."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "read"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"path"'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ': "a.py"}'}}}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 9, "outputTokens": 5, "cacheReadInputTokens": 4}}),
    ]
    out = [chunk for name, payload in events for chunk in stream.chunks(name, payload)]
    deltas = [c["choices"][0]["delta"] for c in out if c["choices"]]
    assert deltas == [
        {"content": "Looking."},
        {"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "read", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"path"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ': "a.py"}'}}]},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in out if c["choices"]][-1] == "tool_calls"
    assert out[-1]["usage"] == {
        "prompt_tokens": 13,
        "completion_tokens": 5,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 4},
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("guardrail_intervened", "content_filter"),
    ],
)
def test_stop_reasons(reason, finish):
    assert (
        ConverseToOpenAI("m").chunks("messageStop", {"stopReason": reason})[0]["choices"][0]["finish_reason"] == finish
    )


def test_an_exception_event_becomes_an_error_naming_its_type():
    payload = exception_payload("throttlingException", b'{"message":"Too many requests, please wait."}')
    assert payload == {
        "error": {"type": "throttlingException", "message": "throttlingException: Too many requests, please wait."}
    }
    assert ConverseToOpenAI("m").chunks("error", payload) == [payload]
