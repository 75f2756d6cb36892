"""Bad arguments to the public run functions: a UserError naming the argument, not a deep TypeError.

The command line parses its options before these run; a notebook calls them directly, so
``simulate``, ``run_live`` and ``load_catalog`` check their own arguments
(:mod:`toolkit.arguments`).
"""

from __future__ import annotations

import math

import pytest
from bad_inputs import BASE_FILES

from toolkit import (
    CombinedModel,
    Scenario,
    Timeouts,
    UserError,
    combined_table,
    load_catalog,
    preset,
    run_live,
    simulate,
    sweep,
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "tiny.json"
    path.write_text(str(BASE_FILES["tiny.json"]))
    return CombinedModel.from_table(combined_table(load_catalog(path)), "m1")


POLICY = preset("seed-on-error")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"requests": 0}, "requests must be a whole number >= 1, got 0"),
        ({"requests": 2.5}, "requests must be a whole number >= 1, got 2.5"),
        ({"requests": "10"}, "requests must be a whole number >= 1, got '10'"),
        ({"requests": math.nan}, "requests must be a whole number >= 1, got nan"),
        ({"requests": True}, "requests must be a whole number >= 1, got True"),
        ({"seed": -1}, "seed must be a whole number >= 0, got -1"),
        ({"seed": 1.5}, "seed must be a whole number >= 0, got 1.5"),
        ({"scenario": None}, "scenario must be a Scenario (Scenario.load(path or bundled name)), not NoneType"),
        ({"policy": "seed-on-error"}, "policy must be a FailoverPolicy (preset(name)), not str"),
        ({"model": "m1"}, "model must be a CombinedModel (CombinedModel.from_table(table, combined_id)), not str"),
    ],
)
def test_simulate_refuses_a_bad_argument(model, changes, message):
    arguments = {"model": model, "policy": POLICY, "scenario": Scenario.load("calm-day"), "requests": 10, **changes}
    with pytest.raises(UserError) as caught:
        simulate(**arguments, progress=False)
    assert str(caught.value) == message


def test_simulate_refuses_a_run_too_large_before_allocating_it(model):
    with pytest.raises(UserError, match=r"^1 runs x 10,000,000,000,000 requests is too large: .*; lower requests$"):
        simulate(model, POLICY, Scenario.load("calm-day"), 10**13, progress=False)


def test_simulate_takes_a_scenario_name(model):
    by_name = simulate(model, POLICY, "calm-day", 20, progress=False)
    assert by_name.equals(simulate(model, POLICY, Scenario.load("calm-day"), 20, progress=False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"requests": 0}, "requests must be a whole number >= 1, got 0"),
        ({"concurrency": 1.5}, "concurrency must be a whole number >= 1, got 1.5"),
        ({"time_scale": math.nan}, "time_scale must be a finite number above 0, got nan"),
        ({"time_scale": 0}, "time_scale must be a finite number above 0, got 0"),
        ({"input_tokens": 0}, "input_tokens must be a whole number from 1 to 10,000,000, got 0"),
        ({"output_tokens": -1}, "output_tokens must be a whole number from 1 to 10,000,000, got -1"),
        (
            {"timeouts": (1, 2, 3)},
            "timeouts must be a Timeouts (Timeouts(connect_s, first_token_s, total_s)), not tuple",
        ),
        ({"policy": None}, "policy must be a FailoverPolicy (preset(name)), not NoneType"),
    ],
)
def test_run_live_refuses_a_bad_argument_before_starting_anything(model, changes, message):
    arguments = {"model": model, "policy": POLICY, "requests": 2, **changes}
    with pytest.raises(UserError) as caught:
        run_live(**arguments, progress=False)
    assert str(caught.value) == message


def test_load_catalog_takes_a_path_and_refuses_other_types(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(str(BASE_FILES["tiny.json"]))
    assert sorted(load_catalog(path)["provider"]) == ["p-one", "p-three", "p-two"]
    with pytest.raises(UserError) as caught:
        load_catalog(5)  # type: ignore[arg-type]
    assert str(caught.value) == "source must be a name (auto, bundled, ...), a path or a URL, not int"


def test_timeouts_is_still_checked_on_its_own():
    with pytest.raises(UserError, match="connect_s must be a positive number of seconds, got -1"):
        Timeouts(-1, None, 5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scenarios": []}, "scenarios must be a non-empty list of Scenario objects, e.g. [Scenario.load('calm-day')]"),
        ({"scenarios": "calm-day"}, "scenarios must be a non-empty list of Scenario objects"),
        ({"presets": "resilient"}, "presets must be a list of names, not the text 'resilient'; write ['resilient']"),
        ({"strategies": "on_error"}, "strategies must be a list of names, not the text 'on_error'"),
    ],
)
def test_sweep_refuses_a_text_or_an_empty_list(model, changes, message, tmp_path):
    arguments = {"scenarios": [Scenario.load("calm-day")], **changes}
    with pytest.raises(UserError) as caught:
        sweep(model, **arguments, seeds=1, requests=10, executor="serial", out=tmp_path / "r.csv", progress=False)
    assert str(caught.value).startswith(message)
    assert not (tmp_path / "r.csv").exists()


def test_a_policy_refuses_a_provider_twice():
    with pytest.raises(UserError) as caught:
        preset("seed-on-error", provider_priority=("p-one", "p-two", "p-one"))
    assert str(caught.value) == "provider_priority names 'p-one' twice; name each provider once"
