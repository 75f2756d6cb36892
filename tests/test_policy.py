"""FailoverPolicy: validation, presets, the seed's options, member order."""

from __future__ import annotations

import pytest

from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.policy import PRESETS, FailoverPolicy, preset


def test_the_presets_of_the_issue_exist():
    assert list(PRESETS) == [
        "seed-on-error",
        "seed-on-rate-limit",
        "seed-on-overload",
        "opencode-native",
        "litellm-like",
        "portkey-like",
        "resilient",
    ]
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
    options = {"provider_priority": ["anthropic", "openrouter"], "min_providers": 2, "strategy": "on_rate_limit",
               "max_attempts": 4}  # fmt: skip
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
    assert [m.provider for m in preset("opencode-native").members(model)] == ["zeta"]
    with pytest.raises(UserError, match="has 1 provider\\(s\\) but the policy needs min_providers=2"):
        FailoverPolicy().members(CombinedModel.of(["solo"]))


def test_to_dict_is_plain_json():
    data = PRESETS["litellm-like"].to_dict()
    assert data["cooldown_on"] == ["rate_limit"]
    assert data["switch_first"] is True
    assert FailoverPolicy(**data) == PRESETS["litellm-like"]
