"""JSONC (JSON with comments and trailing commas), as OpenCode reads ``opencode.jsonc``.

Comments and trailing commas are blanked out with spaces of the same length (newlines
kept), so every offset, line and column in the blanked text is the one in the file:
error messages point at the user's real line, and editors of the file can splice
values by offset without disturbing comments elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.errors import UserError


def _blank(text: str) -> str:
    return "".join(ch if ch == "\n" else " " for ch in text)


def blank_comments(text: str) -> str:
    """``text`` with ``//`` and ``/* */`` comments and trailing commas replaced by spaces."""
    out: list[str] = []
    i, n = 0, len(text)
    last_comma = -1  # index in ``out`` of a comma that may turn out to be trailing
    prev = ""  # the last significant character kept
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
            last_comma, prev = -1, '"'
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(_blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                line, col = position(text, i)
                raise ValueError(f"unterminated /* comment at line {line} column {col}")
            out.append(_blank(text[i : j + 2]))
            i = j + 2
        else:
            if ch in "}]" and last_comma >= 0:
                out[last_comma] = " "
            if ch == "," and prev not in ("", ",", ":", "[", "{"):
                last_comma = len(out)
            elif not ch.isspace():
                last_comma = -1
            if not ch.isspace():
                prev = ch
            out.append(ch)
            i += 1
    return "".join(out)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def loads(text: str, source: str = "<string>") -> object:
    """Parse JSONC text; a syntax error becomes a :class:`UserError` naming ``source:line:column``."""
    try:
        return json.loads(blank_comments(text))
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg}); fix the file and retry") from None
    except ValueError as exc:
        raise UserError(f"{source}: invalid JSONC ({exc}); fix the file and retry") from None


def load(path: str | Path) -> object:
    """Read and parse a JSONC file; unreadable files become a :class:`UserError` too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a JSON file") from None
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return loads(text, str(path))
