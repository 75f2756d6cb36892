"""FailoverPolicy: validation, presets, the seed's options, member order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.policy import ALIASES, PRESETS, FailoverPolicy, preset
from toolkit.policy_table import presets_frame, presets_markdown


def test_the_presets_of_the_issue_exist():
    assert list(PRESETS) == [
        "seed-on-error",
        "seed-on-rate-limit",
        "seed-on-overload",
        "opencode-1.18",
        "litellm-1.110-order",
        "litellm-1.110-shuffle",
        "litellm-1.110-fallbacks",
        "portkey-like",
        "resilient",
    ]


def test_old_names_are_aliases_listed_once():
    assert PRESETS["opencode-native"] is PRESETS["opencode-1.18"]
    assert PRESETS["litellm-like"] is PRESETS["litellm-1.110-shuffle"]
    assert "litellm-like" in PRESETS and "litellm-like" not in list(PRESETS)
    assert preset("opencode-native", max_attempts=2).name == "opencode-native+max_attempts=2"
    assert set(ALIASES.values()) <= set(PRESETS)
    with pytest.raises(KeyError):
        PRESETS["nope"]
    assert {name: p.strategy for name, p in PRESETS.items() if name.startswith("seed-")} == {
        "seed-on-error": "on_error",
        "seed-on-rate-limit": "on_rate_limit",
        "seed-on-overload": "on_overload",
    }


def test_seed_presets_differ_only_in_strategy():
    base = PRESETS["seed-on-error"]
    for name in ("seed-on-rate-limit", "seed-on-overload"):
        assert PRESETS[name] == FailoverPolicy(strategy=PRESETS[name].strategy)
    assert base == FailoverPolicy()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "on_failure"}, "unknown strategy 'on_failure'; use one of on_error, on_rate_limit, on_overload"),
        ({"max_attempts": 0}, "max_attempts must be a whole number >= 1, got 0"),
        ({"max_attempts": 2.5}, "max_attempts must be a whole number >= 1, got 2.5"),
        ({"min_providers": True}, "min_providers must be a whole number >= 1, got True"),
        ({"jitter": "fulll"}, "unknown jitter 'fulll'"),
        ({"backoff_base_s": -1}, "backoff_base_s must be a number >= 0, got -1"),
        ({"backoff_multiplier": 0.5}, "backoff_multiplier must be a number >= 1"),
        ({"deadline_s": 0}, "deadline_s must be a number > 0, got 0"),
        ({"hedge_after_s": float("nan")}, "hedge_after_s must be a number > 0, got nan"),
        ({"cooldown_on": ("rate_limits",)}, "unknown cooldown_on class 'rate_limits'"),
        ({"provider_priority": ["a", 3]}, "provider_priority must be a list of provider ids"),
        ({"breaker_failures": 0}, "breaker_failures must be a whole number >= 1, got 0"),
        ({"retry_after_mode": "min"}, "unknown retry_after_mode 'min'; use one of max, replace, base, ignore"),
        ({"routing": "random"}, "unknown routing 'random'; use one of priority, shuffle, weighted"),
        ({"routing": "weighted"}, "routing 'weighted' needs weights, and weights need routing 'weighted'"),
        ({"weights": {"a": 2}}, "routing 'weighted' needs weights"),
        ({"routing": "weighted", "weights": {"a": 0}}, "weight of a must be a number > 0, got 0"),
        ({"routing": "weighted", "weights": {"": 1}}, "weights must map provider ids (strings) to numbers"),
        ({"reroute": True, "switch_first": True}, "reroute and switch_first are two answers"),
        ({"cooldown_failure_rate": 1.0}, "cooldown_failure_rate must be below 1, got 1.0"),
        ({"cooldown_failures": 0}, "cooldown_failures must be a whole number >= 1, got 0"),
        ({"cooldown_window_s": 0}, "cooldown_window_s must be a number > 0, got 0"),
        ({"cooldown_count_on": ("oops",)}, "unknown cooldown_count_on class 'oops'"),
    ],
)
def test_validation(fields, message):
    with pytest.raises(UserError) as info:
        FailoverPolicy(**fields)
    assert str(info.value).startswith(message)


def test_lists_become_tuples_so_policies_stay_hashable():
    policy = FailoverPolicy(provider_priority=["b", "a"], cooldown_on=["overload"])
    assert policy.provider_priority == ("b", "a")
    assert hash(policy) == hash(FailoverPolicy(provider_priority=("b", "a"), cooldown_on=("overload",)))


def test_seed_options_round_trip():
    options = {
        "provider_priority": ["anthropic", "openrouter"],
        "min_providers": 2,
        "strategy": "on_rate_limit",
        "max_attempts": 4,
    }
    policy = FailoverPolicy.from_options(options, deadline_s=60.0)
    assert policy.seed_options() == options
    assert policy.deadline_s == 60.0
    with pytest.raises(UserError, match="unknown seed option 'max_attempt'"):
        FailoverPolicy.from_options({"max_attempt": 3})


def test_preset_overrides_and_names():
    policy = preset("resilient", max_attempts=4)
    assert policy.max_attempts == 4
    assert policy.breaker_failures == PRESETS["resilient"].breaker_failures
    assert policy.name == "resilient+max_attempts=4"
    assert preset("resilient").name == "resilient"
    assert preset("seed-on-error", provider_priority=("b", "a"), max_attempts=2).name == (
        "seed-on-error+provider_priority=b,a max_attempts=2"
    )
    with pytest.raises(UserError, match="unknown preset 'resilent' \\(did you mean resilient"):
        preset("resilent")
    with pytest.raises(UserError, match="unknown policy field 'max_attempt'"):
        preset("resilient", max_attempt=3)
    with pytest.raises(UserError, match="max_attempts must be"):
        preset("resilient", max_attempts=0)


def test_members_follow_priority_then_model_order_and_respect_limits():
    model = CombinedModel.of(["zeta", "alpha", "mid"])  # as ranked by the combined table
    policy = FailoverPolicy(provider_priority=("mid", "not-offered"))
    assert [m.provider for m in policy.members(model)] == ["mid", "zeta", "alpha"]
    assert [m.provider for m in preset("opencode-1.18").members(model)] == ["zeta"]
    with pytest.raises(UserError, match="has 1 provider\\(s\\) but the policy needs min_providers=2"):
        FailoverPolicy().members(CombinedModel.of(["solo"]))


@pytest.mark.parametrize("name", list(PRESETS))
def test_to_dict_is_plain_json(name):
    data = json.loads(json.dumps(PRESETS[name].to_dict()))
    assert FailoverPolicy(**data) == PRESETS[name]
    weighted = FailoverPolicy(routing="weighted", weights={"a": 2.0, "b": 1.0})
    assert weighted.to_dict()["weights"] == {"a": 2.0, "b": 1.0}
    assert FailoverPolicy(**weighted.to_dict()) == weighted


def test_the_readme_table_is_the_presets_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = presets_markdown()
    assert table in readme
    assert presets_frame().loc["retry_after_mode", "opencode-1.18"] == "replace"
    assert presets_frame().columns.tolist() == list(PRESETS)
