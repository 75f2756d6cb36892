"""JSONC (JSON with comments and trailing commas), as OpenCode reads ``opencode.jsonc``.

Comments and trailing commas are blanked out with spaces of the same length (newlines
kept), so every offset, line and column in the blanked text is the one in the file:
error messages point at the user's real line, and editors of the file can splice
values by offset without disturbing comments elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit import json_input
from toolkit.errors import UserError
from toolkit.userfile import read_text


def _blank(text: str) -> str:
    return "".join(ch if ch == "\n" else " " for ch in text)


def _scan(text: str) -> tuple[str, list[tuple[int, int]], list[int]]:
    """Blank comments and trailing commas; also return the comment spans and trailing-comma offsets."""
    out: list[str] = []
    comments: list[tuple[int, int]] = []
    trailing: list[int] = []
    i, n = 0, len(text)
    last_comma = -1  # index in ``out`` of a comma that may turn out to be trailing
    comma_at = -1  # its offset in ``text``
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
            comments.append((i, j))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                line, col = position(text, i)
                raise ValueError(f"unterminated /* comment at line {line} column {col}")
            out.append(_blank(text[i : j + 2]))
            comments.append((i, j + 2))
            i = j + 2
        else:
            if ch in "}]" and last_comma >= 0:
                out[last_comma] = " "
                trailing.append(comma_at)
            if ch == "," and prev not in ("", ",", ":", "[", "{"):
                last_comma, comma_at = len(out), i
            elif not ch.isspace():
                last_comma = -1
            if not ch.isspace():
                prev = ch
            out.append(ch)
            i += 1
    return "".join(out), comments, trailing


def blank_comments(text: str) -> str:
    """``text`` with ``//`` and ``/* */`` comments and trailing commas replaced by spaces."""
    return _scan(text)[0]


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def loads(text: str, source: str = "<string>") -> object:
    """Parse JSONC text; a syntax error becomes a :class:`UserError` naming ``source:line:column``."""
    try:
        blanked = blank_comments(text)
    except ValueError as exc:
        raise UserError(f"{source}: invalid JSONC ({exc}); fix the file and retry") from None
    return json_input.loads(blanked, source)


def load(path: str | Path) -> object:
    """Read and parse a JSONC file; unreadable files (a directory, a FIFO, not UTF-8) become a :class:`UserError` too."""
    path = Path(path)
    return loads(read_text(path), str(path))


# --- editing the top-level object in place --------------------------------------------------
# The exporter changes a few top-level keys of a user's opencode.json[c]. Re-serializing the
# whole file would drop every comment and reformat it; instead the few values are spliced in by
# offset, and everything else (comments, spacing, key order) stays byte for byte.


@dataclass(frozen=True)
class MemberSpan:
    """Where one ``"key": value`` pair of the top-level object sits in the text."""

    key: str
    key_start: int
    value_start: int
    value_end: int


@dataclass(frozen=True)
class TopLevel:
    """The top-level object: offsets of its braces and of its members, in file order."""

    open: int
    close: int
    members: tuple[MemberSpan, ...]


_SPACE = re.compile(r"\s*")
# A UTF-16 surrogate on its own: JSON's "\ud800" escape parses to one, but it is not text.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_SPACE = re.compile(r"[ \t]*")


def _skip_space(text: str, i: int, space: re.Pattern[str] = _SPACE) -> int:
    """The index of the first character at or after ``i`` that ``space`` does not match."""
    match = space.match(text, i)
    assert match is not None  # both patterns match the empty string
    return match.end()


def _object_spans(blanked: str, opened: int) -> TopLevel:
    """Members of the object whose ``{`` is at ``opened`` in the blanked text (which must parse)."""
    decoder = json.JSONDecoder()
    i = opened + 1
    members: list[MemberSpan] = []
    while True:
        i = _skip_space(blanked, i)
        if blanked[i] == "}":
            return TopLevel(opened, i, tuple(members))
        key, after_key = decoder.raw_decode(blanked, i)
        value_start = _skip_space(blanked, _skip_space(blanked, after_key) + 1)
        _, value_end = decoder.raw_decode(blanked, value_start)
        members.append(MemberSpan(key, i, value_start, value_end))
        i = _skip_space(blanked, value_end)
        i += blanked[i] == ","


def top_level_spans(text: str, source: str = "<string>") -> TopLevel:
    """Locate the top-level object's members; the text must parse (see :func:`loads`)."""
    value = loads(text, source)
    if not isinstance(value, dict):
        raise UserError(f"{source}: the top level must be a JSON object {{...}}, not {type(value).__name__}")
    blanked = blank_comments(text)
    return _object_spans(blanked, _skip_space(blanked, 0))


def object_spans(text: str, path: Sequence[str] = (), source: str = "<string>") -> TopLevel | None:
    """The members of the object at ``path`` (keys from the top level down); None if a key is missing.

    A value on the path that is not an object is a :class:`UserError` naming the path.
    """
    top = top_level_spans(text, source)
    blanked = blank_comments(text)
    for depth, key in enumerate(path):
        member = _member(top, key, source, path[:depth])
        if member is None:
            return None
        if blanked[member.value_start] != "{":
            raise UserError(f"{source}: {_where(path[: depth + 1])} must be an object {{...}}; fix it and retry")
        top = _object_spans(blanked, member.value_start)
    return top


@dataclass(frozen=True)
class Edit:
    """The result of :func:`edit_top_level`: the new text, and the comments it had to drop."""

    text: str
    lost_comments: tuple[str, ...]


def _same(a: object, b: object) -> bool:
    """Equal as JSON (``1``, ``1.0`` and ``true`` differ; key order does not matter)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def render(value: object, indent: str = "", unit: str = "  ") -> str:
    """JSON for ``value`` as a person would write it: lists of scalars on one line, the rest nested.

    ``indent`` is the indentation of the line the value starts on, ``unit`` one level more.
    """
    if isinstance(value, dict) and value:
        inner = indent + unit
        items = [f"{inner}{_dumps(k)}: {render(v, inner, unit)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) and v for v in value):
        inner = indent + unit
        return "[\n" + ",\n".join(f"{inner}{render(v, inner, unit)}" for v in value) + f"\n{indent}]"
    return _dumps(value, separators=(", ", ": "))


def _dumps(value: object, separators: tuple[str, str] | None = None) -> str:
    """``json.dumps`` keeping non-ASCII text as written, except a lone surrogate (as parsed from
    ``"\\ud800"``), which goes back to its escape: raw, it could not be written as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, separators=separators)
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _line_start(text: str, offset: int) -> int:
    """Start of ``offset``'s line if only blanks precede it there, else ``offset`` itself."""
    start = text.rfind("\n", 0, offset) + 1
    return start if not text[start:offset].strip() else offset


def newline_of(text: str) -> str:
    """The line ending ``text`` mostly uses: ``"\\r\\n"`` for a CRLF file, else ``"\\n"``."""
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def _splice(text: str, splices: list[tuple[int, int, str]], lost: list[str]) -> str:
    """Apply non-overlapping ``(start, end, replacement)`` splices; record comments they cut into.

    Replacements are written with ``\\n``; each becomes the file's own line ending
    (:func:`newline_of`), so new lines in a CRLF file end in CRLF like the rest.
    """
    _, comments, _ = _scan(text)
    newline = newline_of(text)
    splices = [(start, end, replacement.replace("\n", newline)) for start, end, replacement in splices]
    lost.extend(text[a:b] for a, b in comments if any(s < b and a < e for s, e, _ in splices))
    # back to front, so earlier offsets stay valid; of two inserts at one offset, the later-listed goes after
    for _, (start, end, replacement) in sorted(enumerate(splices), key=lambda s: (s[1][0], s[0]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _where(path: Sequence[str]) -> str:
    """A path of keys as a user reads it: ``'provider.combined'``."""
    return repr(".".join(path))


def _member(top: TopLevel, key: str, source: str, path: Sequence[str] = ()) -> MemberSpan | None:
    """The member named ``key`` (None if absent); a key written twice is refused, not guessed."""
    found = [m for m in top.members if m.key == key]
    if len(found) > 1:
        where = f"in {_where(path)}" if path else "at the top level"
        raise UserError(f"{source}: key {key!r} appears {len(found)} times {where}; keep one and retry")
    return found[0] if found else None


def _remove(text: str, path: Sequence[str], source: str, lost: list[str]) -> str:
    """``text`` without the member at ``path`` and its comma; comments around it stay.

    The member's own line goes (with a comment that ends it); a comment on the line above
    is left alone, since it may describe the next member as well.
    """
    top = object_spans(text, path[:-1], source)
    member = None if top is None else _member(top, path[-1], source, path[:-1])
    if top is None or member is None:
        return text
    blanked, _, trailing = _scan(text)
    start = _line_start(text, member.key_start)
    end = _skip_space(blanked, member.value_end)
    if blanked[end] == ",":
        end += 1
    else:
        end = next((c + 1 for c in trailing if member.value_end <= c < top.close), member.value_end)
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    if start < member.key_start and not blanked[end:line_end].strip():
        end = min(line_end + 1, len(text))  # the whole line, with a comment that ends it
    else:  # something else follows on the line: keep the line and its indentation
        start, end = member.key_start, _skip_space(text, end, _LINE_SPACE)
    splices = [(start, end, "")]
    index = top.members.index(member)
    if index == len(top.members) - 1 and index > 0 and blanked[member.value_end : top.close].strip() == "":
        # the last member without a trailing comma: the comma before it must go too
        comma = blanked.index(",", top.members[index - 1].value_end)
        splices.append((comma, comma + 1, ""))
    return _splice(text, splices, lost)


def _own_line_indent(text: str, offset: int) -> str | None:
    """The blanks before ``offset`` when they are all that precede it on its line, else None."""
    indent = text[_line_start(text, offset) : offset]
    return indent if indent and not indent.strip(" \t") else None


def _update(text: str, updates: Mapping[str, object], source: str, lost: list[str], path: Sequence[str] = ()) -> str:
    """``text`` with each ``key: value`` of ``updates`` replaced, or added at the end, in the object at ``path``.

    The object at ``path`` must exist. New members are indented like its first member, or one
    level (the file's unit: the indentation of its first top-level member) deeper than the
    line the object opens on.
    """
    top = object_spans(text, path, source)
    assert top is not None  # callers add a missing object one level up instead
    outer = top_level_spans(text, source)
    unit = (_own_line_indent(text, outer.members[0].key_start) if outer.members else None) or "  "
    unit = unit if len(set(unit)) == 1 else "  "
    line = text[text.rfind("\n", 0, top.open) + 1 : top.open]
    base = line[: len(line) - len(line.lstrip(" \t"))]
    indent = (_own_line_indent(text, top.members[0].key_start) if top.members else None) or base + unit

    splices: list[tuple[int, int, str]] = []
    added: list[str] = []
    for key, value in updates.items():
        member = _member(top, key, source, path)
        if member is None:
            added.append(f"{indent}{_dumps(key)}: {render(value, indent, unit)}")
        elif not _same(loads(text[member.value_start : member.value_end]), value):
            splices.append((member.value_start, member.value_end, render(value, indent, unit)))
    if added:
        if top.members and not any(top.members[-1].value_end <= c < top.close for c in _scan(text)[2]):
            splices.append((top.members[-1].value_end, top.members[-1].value_end, ","))
        body = ",\n".join(added)
        newline = text.rfind("\n", 0, top.close)
        if newline > top.open and not text[newline : top.close].strip():
            newline -= text[newline - 1] == "\r"  # before the whole line ending of a CRLF line
            splices.append((newline, newline, "\n" + body))  # the closing brace keeps its own line
        else:
            splices.append((top.close, top.close, "\n" + body + "\n" + base))
    return _splice(text, splices, lost)


def _set(text: str, path: Sequence[str], value: object, source: str, lost: list[str]) -> str:
    """``text`` with the member at ``path`` set to ``value``, creating missing objects on the way."""
    for depth in range(len(path) - 1, -1, -1):
        if object_spans(text, path[:depth], source) is not None:
            for key in reversed(path[depth + 1 :]):
                value = {key: value}
            return _update(text, {path[depth]: value}, source, lost, path[:depth])
    raise AssertionError("the top-level object always exists")


def edit(
    text: str,
    updates: Mapping[tuple[str, ...], object] | None = None,
    remove: Iterable[tuple[str, ...]] = (),
    source: str = "<string>",
) -> Edit:
    """Set (``updates``) and delete (``remove``) members at key paths such as ``("provider", "combined")``.

    Like :func:`edit_top_level`, one level down or more: objects missing on a path are
    created, and everything outside the changed members is kept byte for byte. A value on a
    path that is not an object is a :class:`UserError`.
    """
    lost: list[str] = []
    for path in remove:
        text = _remove(text, path, source, lost)
    for path, value in (updates or {}).items():
        text = _set(text, path, value, source, lost)
    return Edit(text, tuple(lost))


def edit_top_level(
    text: str, updates: Mapping[str, object], remove: Iterable[str] = (), source: str = "<string>"
) -> Edit:
    """Set (``updates``) and delete (``remove``) top-level keys of a JSONC object text.

    Everything outside the changed members is kept byte for byte. A value already equal to
    the update is left as written, so applying the same edit twice changes nothing. New keys
    go last, indented like the first existing key. Comments inside replaced or removed
    members cannot be kept: they are returned in :attr:`Edit.lost_comments`.
    """
    lost: list[str] = []
    for key in remove:
        text = _remove(text, (key,), source, lost)
    return Edit(_update(text, updates, source, lost), tuple(lost))
