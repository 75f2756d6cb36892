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


# --- top-level spans and in-place edits -----------------------------------------------------


def test_top_level_spans_point_at_keys_and_values():
    text = '{\n  // c\n  "a": [1, 2], /* b */ "b": {"x": 1},\n}'
    top = jsonc.top_level_spans(text)
    assert (text[top.open], text[top.close]) == ("{", "}")
    assert [(m.key, text[m.key_start : m.key_start + 3], text[m.value_start : m.value_end]) for m in top.members] == [
        ("a", '"a"', "[1, 2]"),
        ("b", '"b"', '{"x": 1}'),
    ]


def test_top_level_must_be_an_object():
    with pytest.raises(UserError, match=r"^cfg: the top level must be a JSON object \{\.\.\.\}, not list$"):
        jsonc.top_level_spans("[1]", "cfg")


def test_edit_replaces_adds_and_keeps_everything_else():
    text = '{\n  // keep me\n  "a": 1, // and me\n  "b": [1,\n 2], /* me too */\n}\n'
    edit = jsonc.edit_top_level(text, {"a": 2, "c": {"x": [1, 2]}})
    assert edit.text == (
        '{\n  // keep me\n  "a": 2, // and me\n  "b": [1,\n 2], /* me too */\n  "c": {\n    "x": [1, 2]\n  }\n}\n'
    )
    assert edit.lost_comments == ()


def test_edit_leaves_equal_values_as_written():
    text = '{"a": [1,2] /* mine */}'
    assert jsonc.edit_top_level(text, {"a": [1, 2]}).text == text
    assert jsonc.edit_top_level(text, {"a": [1.0, 2]}).text == '{"a": [1.0, 2] /* mine */}'  # 1.0 is not 1 in JSON


def test_edit_reports_comments_inside_replaced_values():
    edit = jsonc.edit_top_level('{"a": [1, /* gone */ 2], "b": 1 // kept\n}', {"a": []})
    assert edit.text == '{"a": [], "b": 1 // kept\n}'
    assert edit.lost_comments == ("/* gone */",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "x": 2}', '{"a": 1 }'),
        ('{"x": 1, "a": 2}', '{"a": 2}'),
        ('{"x": 2,}', "{}"),
        ('{\n  "a": 1,\n  // about x\n  "x": {"y": 1},\n  "b": 2\n}', '{\n  "a": 1,\n  // about x\n  "b": 2\n}'),
        ('{\n  "a": 1,\n  "x": 3,\n}\n', '{\n  "a": 1\n}\n'),
        ('{\n  "a": 1,\n  "x": 3\n}\n', '{\n  "a": 1\n}\n'),
    ],
)
def test_edit_removes_a_member_and_its_comma(text, expected):
    edit = jsonc.edit_top_level(text, {}, remove=["x"])
    assert edit.text == expected
    assert jsonc.loads(edit.text) == {k: v for k, v in jsonc.loads(text).items() if k != "x"}


def test_removing_reports_a_comment_ending_the_member_line():
    edit = jsonc.edit_top_level('{\n  "x": 1, // about x\n  "a": 2\n}', {}, remove=["x", "missing"])
    assert (edit.text, edit.lost_comments) == ('{\n  "a": 2\n}', ("// about x",))


def test_new_keys_follow_the_file_indentation():
    assert (
        jsonc.edit_top_level('{\n\t"a": 1\n}\n', {"b": {"c": 1}}).text == '{\n\t"a": 1,\n\t"b": {\n\t\t"c": 1\n\t}\n}\n'
    )
    assert jsonc.edit_top_level("{}", {"b": 1}).text == '{\n  "b": 1\n}'


def test_a_key_written_twice_is_refused():
    with pytest.raises(UserError, match=r"^f: key 'a' appears 2 times at the top level; keep one and retry$"):
        jsonc.edit_top_level('{"a": 1, "a": 2}', {"a": 3}, source="f")


def test_render_keeps_scalar_lists_on_one_line():
    assert jsonc.render({"p": ["a", "b"], "q": [["x", {"y": 1}]], "e": {}}) == (
        '{\n  "p": ["a", "b"],\n  "q": [\n    [\n      "x",\n      {\n        "y": 1\n      }\n    ]\n  ],\n  "e": {}\n}'
    )


keys = st.text(alphabet="abcxyz_", min_size=1, max_size=4)


@given(st.dictionaries(keys, json_values, max_size=5), st.dictionaries(keys, json_values, max_size=3), st.booleans())
def test_edit_sets_exactly_the_updates(base, updates, with_comments):
    lines = [
        f"  {'// note' + chr(10) + '  ' if with_comments else ''}{json.dumps(k)}: {json.dumps(v)}"
        for k, v in base.items()
    ]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    edit = jsonc.edit_top_level(text, updates)
    assert jsonc.loads(edit.text) == {**base, **updates}
    assert edit.lost_comments == ()
    assert edit.text.count("// note") == text.count("// note")
    assert jsonc.edit_top_level(edit.text, updates).text == edit.text
