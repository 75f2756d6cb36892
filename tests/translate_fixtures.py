"""Realistic protocol fixtures: one multi-turn, tool-using OpenCode conversation as each of
OpenCode's two SDK packages sends it (``@ai-sdk/openai-compatible`` and ``@ai-sdk/anthropic``),
and its expected translations. Each fixture is a function so tests can mutate their copy."""

from __future__ import annotations

from typing import Any

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
TOOLS = [("read", "Reads a file from the local filesystem.", READ_SCHEMA),
         ("list", "Lists files and directories in a given path.", LIST_SCHEMA),
         ("grep", "Fast content search tool.", GREP_SCHEMA)]  # fmt: skip


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
            {"role": "assistant", "content": "",
             "tool_calls": [openai_call("call_1", "read", '{"filePath":"/tmp/p/README.md"}')]},
            {"role": "tool", "tool_call_id": "call_1", "content": README},
            {"role": "assistant", "content": "It is a tiny demo project."},
            {"role": "user", "content": "List the files and find the TODOs"},
            {"role": "assistant", "content": "I'll look at both.",
             "tool_calls": [openai_call("call_2", "list", '{"path":"/tmp/p"}'),
                            openai_call("call_3", "grep", '{"pattern":"TODO","path":"/tmp/p"}')]},
            {"role": "tool", "tool_call_id": "call_2", "content": LISTING},
            {"role": "tool", "tool_call_id": "call_3", "content": GREP},
            {"role": "user", "content": "Thanks, fix it"},
        ],
        "tools": [{"type": "function", "function": {"name": n, "description": d, "parameters": s}} for n, d, s in TOOLS],
        "tool_choice": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip


def opencode_openai_request_as_anthropic() -> dict[str, Any]:
    """The expected Anthropic upstream body for :func:`opencode_openai_request`."""
    return {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": SYSTEM}, {"type": "text", "text": ENV}],
        "messages": [
            {"role": "user", "content": "Read README.md and tell me what the project is"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "read", "input": {"filePath": "/tmp/p/README.md"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": README}]},
            {"role": "assistant", "content": [{"type": "text", "text": "It is a tiny demo project."}]},
            {"role": "user", "content": "List the files and find the TODOs"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "I'll look at both."},
                {"type": "tool_use", "id": "call_2", "name": "list", "input": {"path": "/tmp/p"}},
                {"type": "tool_use", "id": "call_3", "name": "grep", "input": {"pattern": "TODO", "path": "/tmp/p"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_2", "content": LISTING},
                {"type": "tool_result", "tool_use_id": "call_3", "content": GREP},
                {"type": "text", "text": "Thanks, fix it"}]},
        ],
        "max_tokens": 32000,
        "temperature": 0.0,
        "stream": True,
        "tools": [{"name": n, "description": d, "input_schema": s} for n, d, s in TOOLS],
        "tool_choice": {"type": "auto"},
    }  # fmt: skip


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
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "The user wants the README.", "signature": "EqQBCkYIBxgCKkB"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_01", "name": "read", "input": {"filePath": "/tmp/p/README.md"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": README, "is_error": False}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_02", "name": "list", "input": {"path": "/tmp/q"}},
                {"type": "tool_use", "id": "toolu_03", "name": "grep", "input": {"pattern": "TODO"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": True,
                 "content": [{"type": "text", "text": "Error: no such directory /tmp/q"}]},
                {"type": "tool_result", "tool_use_id": "toolu_03", "content": GREP},
                {"type": "text", "text": "Thanks, fix it", "cache_control": cache}]},
        ],
        "tools": [{"name": n, "description": d, "input_schema": s} for n, d, s in TOOLS],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 8000},
        "stream": True,
    }  # fmt: skip


def opencode_anthropic_request_as_openai() -> dict[str, Any]:
    """The expected OpenAI upstream body for :func:`opencode_anthropic_request`."""
    return {
        "model": "gpt-5-codex",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "system", "content": ENV},
            {"role": "user", "content": "Read README.md and tell me what the project is"},
            {"role": "assistant", "content": "Reading it.",
             "tool_calls": [openai_call("toolu_01", "read", '{"filePath":"/tmp/p/README.md"}')]},
            {"role": "tool", "tool_call_id": "toolu_01", "content": README},
            {"role": "assistant", "content": "",
             "tool_calls": [openai_call("toolu_02", "list", '{"path":"/tmp/q"}'),
                            openai_call("toolu_03", "grep", '{"pattern":"TODO"}')]},
            {"role": "tool", "tool_call_id": "toolu_02", "content": "Error: no such directory /tmp/q"},
            {"role": "tool", "tool_call_id": "toolu_03", "content": GREP},
            {"role": "user", "content": "Thanks, fix it"},
        ],
        "max_tokens": 32000,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": n, "description": d, "parameters": s}} for n, d, s in TOOLS],
        "tool_choice": "auto",
    }  # fmt: skip
