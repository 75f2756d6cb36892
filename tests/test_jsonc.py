"""JSONC parsing: comments and trailing commas accepted, errors point at the user's line and column."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit import jsonc
from toolkit.errors import UserError


def test_comments_and_trailing_commas_are_accepted():
    text = '{\n  // line comment\n  "a": [1, 2,], /* block\n comment */ "b": "x // not a comment",\n}\n'
    assert jsonc.loads(text) == {"a": [1, 2], "b": "x // not a comment"}


def test_blanking_keeps_offsets_and_lines():
    text = '{"a": 1, /* two\nlines */ "b": 2,}'
    blanked = jsonc.blank_comments(text)
    assert len(blanked) == len(text)
    assert blanked.count("\n") == 1
    assert blanked.index('"b"') == text.index('"b"')


def test_escaped_quote_inside_string():
    assert jsonc.loads(r'{"a": "say \"hi\" // x"}') == {"a": 'say "hi" // x'}


def test_error_names_line_and_column():
    with pytest.raises(UserError, match=r"^cfg.jsonc:3:8: invalid JSON"):
        jsonc.loads('{\n  "a": 1,\n  "b": ,\n}', "cfg.jsonc")


def test_unterminated_comment():
    with pytest.raises(UserError, match="unterminated /\\* comment at line 2 column 1"):
        jsonc.loads('{"a": 1}\n/* open', "x")


def test_unreadable_paths(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        jsonc.load(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        jsonc.load(tmp_path / "missing.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_plain_json_round_trips(value):
    assert jsonc.loads(json.dumps(value, indent=1)) == value
