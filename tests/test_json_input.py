"""Strict JSON input (toolkit/json_input.py) and the run-size guard (toolkit/run_size.py)."""

from __future__ import annotations

import math

import pytest

from toolkit import json_input, run_size
from toolkit.errors import UserError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 65 + "]" * 65, "f: nested more than 64 levels deep"),
        ("[" * 100_000, "f: nested more than 64 levels deep"),  # the parser's own RecursionError, converted
        ('{"a": NaN}', r"f: invalid JSON \(NaN is not a JSON value; write a finite number\)"),
        ("[Infinity]", r"f: invalid JSON \(Infinity is not a JSON value"),
        ("[1e400]", r"f: invalid JSON \(the number 1e400 is out of range\)"),
        ("[" + "9" * 5000 + "]", r"f: invalid JSON \(an integer with thousands of digits\)"),
        (b'["\xff"]', r"f: not UTF-8 text \(byte 2\)"),
        ("[1,", r"f:1:4: invalid JSON \(Expecting value\)"),
    ],
)
def test_loads_refuses_each_kind_of_bad_json_in_one_line(text, message):
    with pytest.raises(UserError, match=f"^{message}") as caught:
        json_input.loads(text, "f", hint="")
    assert "\n" not in str(caught.value)


def test_loads_accepts_64_levels_and_ordinary_numbers():
    assert json_input.depth(json_input.loads("[" * 64 + "]" * 64, "f")) == 64
    assert json_input.loads('{"a": [1, 2.5, -3e2, 1e308]}', "f") == {"a": [1, 2.5, -300.0, 1e308]}


def test_non_finite_names_the_path_of_the_first_bad_number():
    assert json_input.non_finite({"a": [1.0, {"b": math.nan}]}) == "a.1.b"
    assert json_input.non_finite({"a": [1.0, 2]}) is None
    assert json_input.non_finite(math.inf) == "top level"


def test_run_size_refuses_with_the_estimate_and_accepts_ordinary_runs(monkeypatch):
    monkeypatch.setattr(run_size, "memory_bytes", lambda: 16 << 30)
    run_size.check(648 * 5, 2000, parallel=2)  # the default report: well within a day and memory
    with pytest.raises(UserError) as caught:
        run_size.check(1, 10_000_000_000)
    assert str(caught.value) == (
        "1 runs x 10,000,000,000 requests is too large: about 5.8 days and 6.4 TiB of memory "
        "(limits: 1.0 days, 12.8 GiB); lower --requests"
    )
    with pytest.raises(UserError, match=r"about 1\.2 days and 1\.3 MiB of memory"):
        run_size.check(1_000_000, 2000, lower="--seeds")
