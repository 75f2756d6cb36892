"""Scenario files: validation messages, profile layering, rank selectors, incidents, fitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.errors import UserError
from toolkit.scenario import Dist, Scenario, bundled_scenarios

BASE = {
    "name": "t",
    "arrivals": {"kind": "poisson", "rate_per_s": 1.0},
    "providers": {"default": {"errors": {"server_error": 0.1}, "ttft_s": 1.0}},
}


def make(**changes) -> Scenario:
    return Scenario.from_dict({**BASE, **changes})


def test_the_five_scenarios_of_the_issue_are_bundled():
    assert set(bundled_scenarios()) >= {
        "calm-day",
        "busy-team-rate-limit",
        "overload-storm",
        "provider-outage",
        "long-tail-latency",
    }


@pytest.mark.parametrize("name", bundled_scenarios())
def test_bundled_scenarios_load_and_resolve_for_any_providers(name):
    scenario = Scenario.load(name)
    assert scenario.name == name
    worlds = scenario.resolve(["x", "y", "z", "w"])
    assert [w.provider for w in worlds] == ["x", "y", "z", "w"]
    assert [w.rank for w in worlds] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arrivals": {"kind": "poisson"}}, "at arrivals"),
        ({"arrivals": {"kind": "sessions", "sessions": 0, "think_time_s": 1}}, "at arrivals"),
        ({"providers": {"default": {"errors": {"rate_limit": 1.5}}}}, "at providers.default.errors.rate_limit"),
        ({"providers": {"default": {"errors": {"teapot": 0.1}}}}, "teapot"),
        ({"providers": {"default": {"ttft_s": {"dist": "gamma", "k": 2}}}}, "at providers.default.ttft_s"),
        ({"providers": {"bad key!": {}}}, "bad key!"),
        ({"name": "Has Spaces"}, "at name"),
    ],
)
def test_schema_errors_name_the_place(change, message):
    with pytest.raises(UserError, match="scenario <dict>: at ") as info:
        make(**change)
    assert message in str(info.value)


def test_error_probabilities_may_not_exceed_one_after_layering():
    with pytest.raises(UserError, match=r"providers.rank:0: error probabilities add up to 1.05"):
        make(providers={"default": {"errors": {"server_error": 0.5}}, "rank:0": {"errors": {"overload": 0.55}}})


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        ({"provider": "rank:0", "kind": "outage", "start_s": 10, "end_s": 10}, "end_s must be greater"),
        ({"provider": "rank:0", "kind": "errors", "start_s": 0, "end_s": 10}, "needs an 'errors' table"),
    ],
)
def test_incident_rules(incident, message):
    with pytest.raises(UserError, match=message):
        make(incidents=[incident])


def test_uniform_bounds_are_checked():
    with pytest.raises(UserError, match="low must not exceed high"):
        make(request={"input_tokens": {"dist": "uniform", "low": 5, "high": 1}})


def test_missing_file_and_bad_json(tmp_path):
    with pytest.raises(UserError, match="did you mean calm-day"):
        Scenario.load("calm-dya")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ')
    with pytest.raises(UserError, match=r"bad\.json:1:10: invalid JSON \(Expecting value\)"):
        Scenario.load(bad)


def test_layering_builtin_default_rank_then_provider_id():
    scenario = make(
        providers={
            "default": {"errors": {"server_error": 0.1, "overload": 0.05}, "ttft_s": 1.0},
            "rank:0": {"errors": {"overload": 0.2}, "ttft_s": 2.0, "rate_limit": {"requests_per_minute": 30}},
            "beta": {"ttft_s": 3.0},
        }
    )
    alpha, beta, gamma = scenario.resolve(["alpha", "beta", "gamma"])
    assert alpha.profile.errors == (("overload", 0.2), ("server_error", 0.1))
    assert alpha.profile.ttft_s == Dist("constant", 2.0)
    assert alpha.profile.requests_per_minute == 30
    assert beta.profile.ttft_s == Dist("constant", 3.0)
    assert gamma.profile.errors == (("overload", 0.05), ("server_error", 0.1))
    assert gamma.profile.tokens_per_s == Dist("lognormal", 60.0, 0.3)  # built-in
    # the provider id wins over the rank selector when both name the same provider
    (beta_first,) = scenario.resolve(["beta"])
    assert beta_first.profile.ttft_s == Dist("constant", 3.0)
    assert beta_first.profile.requests_per_minute == 30


def test_incident_replaces_the_error_table_and_scales_latency_in_its_window():
    scenario = make(
        incidents=[
            {"provider": "rank:1", "kind": "outage", "start_s": 10, "end_s": 20},
            {"provider": "all", "kind": "degraded", "start_s": 15, "end_s": 30, "latency_factor": 2},
        ]
    )
    first, second = scenario.resolve(["a", "b"])
    assert first.profile_at(12).errors == (("server_error", 0.1),)
    assert second.profile_at(12).errors == (("connection", 1.0),)
    assert second.profile_at(17).errors == (("connection", 1.0),)  # the first listed incident wins
    assert second.profile_at(20).ttft_s == Dist("constant", 2.0)
    assert second.profile_at(20).tokens_per_s == Dist("lognormal", 30.0, 0.3)
    assert second.profile_at(30) is second.profile


@pytest.mark.parametrize(
    "dist",
    [Dist("constant", 2.0), Dist("exponential", 2.0), Dist("lognormal", 2.0, 0.5), Dist("uniform", 1.0, 3.0)],
)
def test_dist_json_round_trip_and_sample_mean(dist):
    assert Dist.parse(dist.to_json()) == dist
    draws = dist.sample(np.random.default_rng(1), 200_000)
    assert abs(draws.mean() - dist.mean) < 0.02 * dist.mean


def test_save_round_trip(tmp_path):
    scenario = Scenario.load("busy-team-rate-limit")
    path = tmp_path / "copy.json"
    scenario.save(path)
    assert Scenario.load(path).data == scenario.data
    assert json.loads(path.read_text())["name"] == "busy-team-rate-limit"
    assert [p.name for p in tmp_path.iterdir()] == ["copy.json"]  # no temp file left behind


def test_ranks_follow_the_model_order_not_the_try_order():
    scenario = Scenario.load("busy-team-rate-limit")
    worlds = scenario.resolve(["b", "a"], ranking=["a", "b"])
    assert [(w.provider, w.rank) for w in worlds] == [("b", 1), ("a", 0)]
    assert worlds[1].profile.requests_per_minute == 60  # rank:0 is the model's first member, "a"
    assert worlds[0].profile.requests_per_minute is None
    assert [(w.provider, w.rank) for w in scenario.resolve(["b", "a"])] == [("b", 0), ("a", 1)]


def test_a_dict_with_nan_or_infinity_is_refused_with_its_path():
    data = {"name": "x", "arrivals": {"kind": "poisson", "rate_per_s": 1.0}, "providers": {}}
    data["providers"]["default"] = {"errors": {"timeout": float("nan")}}
    with pytest.raises(UserError, match=r"^scenario <dict>: at providers\.default\.errors\.timeout: NaN and infinity"):
        Scenario.from_dict(data)
    data["providers"]["default"] = {"ttft_s": float("inf")}
    with pytest.raises(UserError, match=r"at providers\.default\.ttft_s: NaN and infinity are not allowed"):
        Scenario.from_dict(data)


def test_check_members_refuses_selectors_that_apply_to_nobody():
    data = {"name": "x", "arrivals": {"kind": "poisson", "rate_per_s": 1.0}, "providers": {"rank:1": {}, "b": {}}}
    scenario = Scenario.from_dict(data)
    scenario.check_members(["a", "b"])  # rank:1 and b are both members
    with pytest.raises(
        UserError, match=r"providers\.rank:1: rank:1 is past the last of 1 providers; use rank:0 to rank:0"
    ):
        scenario.check_members(["a"])
    with pytest.raises(UserError, match=r"providers\.b: unknown provider id 'b'; use one of a, c, rank:0 to rank:1"):
        scenario.check_members(["a", "c"])
    scenario.check_members(["a", "c"], known={"b"})  # a catalog provider this model does not use
    scenario.check_members(["a", "c"], known=None)  # ranks only
