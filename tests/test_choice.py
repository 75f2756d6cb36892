"""Choice: the seed plugin's four options (plus model and preset), validated when built."""

from __future__ import annotations

import json

import pytest

from toolkit.choice import Choice, options_schema, validate_options
from toolkit.errors import UserError, closest
from toolkit.policy import PRESETS, FailoverPolicy, preset


def test_defaults_are_the_seed_plugins():
    assert Choice().options() == {
        "provider_priority": [],
        "min_providers": 2,
        "strategy": "on_error",
        "max_attempts": 3,
    }


def test_options_keep_the_seed_readme_order():
    choice = Choice(["anthropic", "openrouter"], "on_rate_limit", 2, 3, combined_id="claude-sonnet-4")
    assert list(choice.options().items()) == [
        ("provider_priority", ["anthropic", "openrouter"]),
        ("min_providers", 3),
        ("strategy", "on_rate_limit"),
        ("max_attempts", 2),
    ]
    assert choice.provider_priority == ("anthropic", "openrouter")  # a list becomes a tuple: hashable
    assert hash(choice) == hash(Choice(("anthropic", "openrouter"), "on_rate_limit", 2, 3, "claude-sonnet-4"))


def test_save_and_load_round_trip(tmp_path):
    choice = Choice(["a", "b"], "on_overload", 4, 1, combined_id="m", preset="litellm")
    path = choice.save(tmp_path / "choice.json")
    assert json.loads(path.read_text()) == {
        "provider_priority": ["a", "b"],
        "strategy": "on_overload",
        "max_attempts": 4,
        "min_providers": 1,
        "combined_id": "m",
        "preset": "litellm",
        "variants": "exact",
    }
    assert Choice.load(path) == choice


def test_partial_dict_takes_seed_defaults():
    assert Choice.from_dict({"max_attempts": 5}) == Choice(max_attempts=5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"strategy": "always"},
            "c.json: strategy: 'always' is not one of ['on_error', 'on_rate_limit', 'on_overload']",
        ),
        ({"max_attempts": 0}, "c.json: max_attempts: 0 is less than the minimum of 1"),
        ({"max_attempts": 3.0}, "c.json: max_attempts: 3.0 is not of type 'integer'"),
        ({"min_providers": True}, "c.json: min_providers: True is not of type 'integer'"),
        ({"min_providers": 0}, "c.json: min_providers: 0 is less than the minimum of 1"),
        ({"provider_priority": "anthropic"}, "c.json: provider_priority: 'anthropic' is not of type 'array'"),
        ({"provider_priority": ["a", "a"]}, "c.json: provider_priority: ['a', 'a'] has non-unique elements"),
        (
            {"provider_priority": ["a b"]},
            "c.json: provider_priority.0: 'a b' does not match '^[A-Za-z0-9][A-Za-z0-9._@-]*$'",
        ),
        ({"combined_id": ""}, "c.json: combined_id: must be a non-empty string or null, not ''"),
        ({"preset": 3}, "c.json: preset: must be a non-empty string or null, not 3"),
        ({"max_attempt": 3}, "unknown field in c.json: 'max_attempt' (did you mean max_attempts?)"),
    ],
)
def test_invalid_fields_are_one_clear_line(data, message):
    with pytest.raises(UserError) as info:
        Choice.from_dict(data, "c.json")
    assert str(info.value) == message


def test_direct_construction_is_validated_too():
    with pytest.raises(UserError, match=r"^choice: strategy: 'x' is not one of"):
        Choice(strategy="x")


def test_not_an_object(tmp_path):
    (tmp_path / "c.json").write_text("[1]")
    with pytest.raises(UserError, match=r"c\.json: a choice must be a JSON object, not list$"):
        Choice.load(tmp_path / "c.json")


def test_malformed_file_names_line_and_column(tmp_path):
    (tmp_path / "c.json").write_text('{\n  "strategy": ,\n}')
    with pytest.raises(UserError, match=r"c\.json:2:15: invalid JSON"):
        Choice.load(tmp_path / "c.json")


def test_overrides_ignore_unset_flags():
    base = Choice(["a"], max_attempts=4)
    assert base.with_overrides(provider_priority=None, strategy="on_overload", max_attempts=None) == Choice(
        ["a"], "on_overload", 4
    )


def test_from_policy_takes_its_seed_options():
    policy = preset("seed-on-rate-limit", provider_priority=("x", "y"), max_attempts=1)
    choice = Choice.from_policy(policy, combined_id="m", preset="seed-on-rate-limit")
    assert choice == Choice(("x", "y"), "on_rate_limit", 1, 2, "m", "seed-on-rate-limit")
    assert choice.policy_fields == () and "policy_fields" not in choice.to_dict()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_from_policy_keeps_the_whole_policy(name, tmp_path):
    policy = preset(
        name,
        provider_priority=("x", "y"),
        cooldown_s=7.5,
        cooldown_on=("overload",),
        deadline_s=None,
        breaker_failures=4,
        jitter="none",
        routing="weighted",
        weights={"x": 2.0, "y": 1.0},
    )
    choice = Choice.from_policy(policy, combined_id="m", preset=name)
    assert hash(choice) == hash(Choice.from_dict(choice.to_dict()))
    assert choice.policy() == policy  # field by field (the name is a label, not compared)
    assert choice.policy().name.startswith(f"{name}+provider_priority=x,y ")
    differing = {k for k, v in policy.to_dict().items() if v != PRESETS[name].to_dict()[k]} - {"name"}
    assert set(dict(choice.policy_fields)) == differing - {"provider_priority"}
    assert Choice.load(choice.save(tmp_path / "c.json")) == choice
    saved = json.loads((tmp_path / "c.json").read_text())["policy_fields"]
    assert (saved["cooldown_on"], saved["weights"]) == (["overload"], {"x": 2.0, "y": 1.0})


def test_policy_fields_equal_to_the_preset_are_dropped():
    assert Choice(preset="resilient", policy_fields={"cooldown_s": 10.0, "jitter": "none"}).policy_fields == (
        ("jitter", "none"),
    )
    assert Choice.from_policy(PRESETS["resilient"], preset="resilient").policy() == PRESETS["resilient"]
    assert Choice(preset="resilient").policy().max_attempts == 3  # the seed options are always the choice's own
    assert Choice().policy() == FailoverPolicy()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"policy_fields": {"cooldown": 1}},
            "c.json: policy_fields: unknown policy field 'cooldown'"
            + closest("cooldown", [f for f in FailoverPolicy().to_dict() if f != "name"]),
        ),
        ({"policy_fields": {"cooldown_s": -1}}, "c.json: policy_fields: cooldown_s must be a number >= 0, got -1"),
        ({"policy_fields": [1]}, "c.json: policy_fields: must be an object of policy field -> value, not [1]"),
        (
            {"preset": "resilent", "policy_fields": {"cooldown_s": 1}},
            "c.json: policy_fields: unknown preset 'resilent' (did you mean resilient?); presets: "
            + ", ".join(PRESETS),
        ),
    ],
)
def test_bad_policy_fields_are_one_clear_line(data, message):
    with pytest.raises(UserError) as info:
        Choice.from_dict(data, "c.json")
    assert str(info.value) == message


def test_schema_allows_exactly_the_four_options_and_variants():
    schema = options_schema()
    assert sorted(schema["required"]) == sorted(Choice().options())
    assert (
        sorted(schema["properties"])
        == sorted(Choice(variants="all").options())
        == sorted([*schema["required"], "variants"])
    )
    with pytest.raises(UserError, match=r"^choice: variants: 'some' is not one of \['exact', 'same-weights'"):
        Choice(variants="some")
    with pytest.raises(
        UserError, match=r"^s: options: Additional properties are not allowed \('extra' was unexpected\)$"
    ):
        validate_options({**Choice().options(), "extra": 1}, "s")
