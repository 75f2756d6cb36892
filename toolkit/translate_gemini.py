"""Translation between OpenAI chat completions and Gemini ``generateContent``: pure functions, no I/O.

The Gemini adapters (:mod:`toolkit.upstream`) put an OpenAI face on Gemini: the request an
OpenAI client (or the gateway, after :mod:`toolkit.translate`) sends becomes a Gemini body, and
each Gemini stream chunk becomes OpenAI chunks, so live runs, the gateway and its Anthropic
clients reach Gemini through the translations they already have.

==========================  =================================================================
OpenAI chat completions     Gemini ``generateContent`` / ``streamGenerateContent``
==========================  =================================================================
``system``/``developer``    ``systemInstruction.parts`` (one text part per message)
``user`` text / parts       ``contents`` role ``user``, ``text`` parts (image parts refused)
``assistant`` content,      role ``model``: ``text`` part, then one ``functionCall`` part per
``tool_calls``              call (``args`` object)
``role: tool`` messages     role ``user``: a ``functionResponse`` part each (``name`` from the
                            call it answers, ``response: {"content": text}``); consecutive
                            turns of one role merge, as Gemini requires alternation
``tools`` (functions)       ``tools[0].functionDeclarations`` (``parameters`` as given)
``tool_choice``             ``toolConfig.functionCallingConfig.mode`` auto / none / any
                            (a named function: any + ``allowedFunctionNames``)
``max_completion_tokens``   ``generationConfig.maxOutputTokens``; ``temperature``, ``top_p``
/ ``max_tokens``, ...       (``topP``), ``stop`` (``stopSequences``) likewise
``finish_reason``           ``finishReason``: STOP -> stop (tool_calls when the answer called
                            a function), MAX_TOKENS -> length, SAFETY / RECITATION /
                            BLOCKLIST / PROHIBITED_CONTENT / SPII -> content_filter
``usage``                   ``usageMetadata``: ``promptTokenCount`` (cached part:
                            ``cachedContentTokenCount``), ``candidatesTokenCount`` +
                            ``thoughtsTokenCount`` as completion tokens
``{"error": {...}}``        ``{"error": {"code", "message", "status"}}`` (passed on as is)
==========================  =================================================================

Gemini streams whole function calls (no argument fragments): each becomes one OpenAI
``tool_calls`` delta with the complete arguments. Thought parts (``thought: true``) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolkit.openai_turns import functions, merged, sampling, turns
from toolkit.protocols import MalformedAnswer

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def gemini_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Gemini ``generateContent`` body of an OpenAI chat-completions body (model and stream dropped:
    both go in the URL)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for turn in turns(body, "Gemini"):
        if turn.role == "system":
            system.append({"text": turn.text})
        elif turn.role == "user":
            merged(contents, "user", [{"text": turn.text}], "parts")
        elif turn.role == "assistant":
            calls = [{"functionCall": {"name": name, "args": arguments}} for _, name, arguments in turn.calls]
            merged(contents, "model", [{"text": turn.text}] * bool(turn.text) + calls, "parts")
        else:
            response = {"name": turn.name, "response": {"content": turn.text}}
            merged(contents, "user", [{"functionResponse": response}], "parts")
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = functions(body)
    if tools:
        out["tools"] = [
            {
                "functionDeclarations": [
                    {
                        k: v
                        for k, v in (
                            ("name", f.get("name")),
                            ("description", f.get("description")),
                            ("parameters", f.get("parameters")),
                        )
                        if v is not None
                    }
                    for f in tools
                ]
            }
        ]
    choice = body.get("tool_choice")
    if choice is not None:
        out["toolConfig"] = {"functionCallingConfig": _calling_config(choice)}
    names = {"max_tokens": "maxOutputTokens", "temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
    config = {names[k]: v for k, v in sampling(body).items()}
    if config:
        out["generationConfig"] = config
    return out


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, Mapping):
        return {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name", "")]}
    return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(str(choice), "AUTO")}


class GeminiToOpenAI:
    """Gemini stream chunks -> OpenAI chat-completion chunks, for one streamed answer.

    :meth:`chunks` takes one decoded Gemini chunk and returns the OpenAI chunks it amounts to:
    text deltas, one ``tool_calls`` delta per function call, and with the finish reason a
    finishing chunk and a usage chunk (``choices: []``), as an OpenAI stream with
    ``include_usage`` ends.
    """

    def __init__(self, model: str, answer_id: str = "gemini") -> None:
        self.model, self.id = model, answer_id
        self.calls = 0
        self.finished = False

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "model": self.model, "choices": choices, **extra}

    def chunks(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The OpenAI chunks of one Gemini chunk (an ``error`` chunk passes through unchanged)."""
        if "error" in chunk:
            return [dict(chunk)]
        candidates = chunk.get("candidates")
        if candidates is not None and not isinstance(candidates, list):
            raise MalformedAnswer("Gemini chunk whose candidates is not a list")
        out = []
        candidate = (candidates or [{}])[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            if part.get("text"):
                out.append(self._chunk([{"index": 0, "delta": {"content": part["text"]}, "finish_reason": None}]))
            call = part.get("functionCall")
            if call:
                delta = {
                    "index": self.calls,
                    "id": f"call_{self.id}_{self.calls}",
                    "type": "function",
                    "function": {
                        "name": call.get("name", ""),
                        "arguments": json.dumps(call.get("args") or {}, separators=(",", ":")),
                    },
                }
                self.calls += 1
                out.append(self._chunk([{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}]))
        reason = candidate.get("finishReason")
        if reason and not self.finished:
            self.finished = True
            finish = "content_filter" if reason in _FILTERED else _FINISH.get(reason, "stop")
            if finish == "stop" and self.calls:
                finish = "tool_calls"
            out.append(self._chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
            out.append(self._chunk([], usage=openai_usage(chunk.get("usageMetadata") or {})))
        return out


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's ``usage`` object of a Gemini ``usageMetadata``."""
    prompt = int(usage.get("promptTokenCount") or 0)
    completion = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    cached = int(usage.get("cachedContentTokenCount") or 0)
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out
