"""Contract tests for non-streamed answers: each direction, every stop reason, unreadable ones."""

from __future__ import annotations

from typing import Any

import pytest
import translate_fixtures as fx
from translate_fixtures import (
    STOPS,
)

from toolkit.errors import UserError
from toolkit.translate import (
    MalformedAnswer,
    translate_response,
)

# ---------------------------------------------------------------------------------------
# Non-streamed answers


def test_anthropic_answer_to_openai() -> None:
    got = translate_response(fx.anthropic_answer(), "anthropic", "openai", "combined/coder", created=1770772293)
    assert got == fx.anthropic_answer_as_openai()


def test_openai_answer_to_anthropic() -> None:
    assert (
        translate_response(fx.openai_answer(), "openai", "anthropic", "combined/coder")
        == fx.openai_answer_as_anthropic()
    )


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_same_protocol_answer_changes_only_the_model(protocol: str) -> None:
    answer = fx.openai_answer() if protocol == "openai" else fx.anthropic_answer()
    assert translate_response(answer, protocol, protocol, "combined/coder") == {**answer, "model": "combined/coder"}


@pytest.mark.parametrize(("openai", "anthropic"), STOPS)
def test_every_stop_reason_in_answers(openai: str, anthropic: str) -> None:
    plain = {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": openai}],
    }
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
        (
            {"choices": []},
            "openai",
            "the upstream answer has no readable first choice (IndexError('list index out of range'))",
        ),
        ({"type": "message"}, "anthropic", "the upstream answer has no content list"),
        (
            {"choices": [{"message": {"tool_calls": [fx.openai_call("c", "f", "{oops")]}}]},
            "openai",
            "the upstream's tool-call arguments are not JSON: '{oops'",
        ),
    ],
)
def test_unreadable_answers(body: Any, src: str, message: str) -> None:
    with pytest.raises(MalformedAnswer) as caught:
        translate_response(body, src, "anthropic" if src == "openai" else "openai", "m")
    assert str(caught.value) == message
    assert not isinstance(caught.value, UserError)  # the upstream's fault, not the client's
