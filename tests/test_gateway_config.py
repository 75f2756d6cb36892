"""The gateway section of opencode.json: built from a choice, read back into the same policy."""

from __future__ import annotations

import json

import pytest

from toolkit.catalog import load_catalog
from toolkit.choice import Choice
from toolkit.combine import combined_table
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError, closest
from toolkit.gateway_config import (
    DEFAULT_URL,
    GatewaySettings,
    gateway_section,
    model_entry,
    policy_options,
    read_gateway_settings,
)
from toolkit.policy import PRESETS, FailoverPolicy, preset

# Overrides that touch every kind of field: the four seed options, tuples, optional numbers, flags.
OVERRIDES = {
    "provider_priority": ("openrouter", "anthropic"),
    "min_providers": 3,
    "strategy": "on_rate_limit",
    "max_attempts": 4,
    "cooldown_s": 12.5,
    "cooldown_on": ("overload",),
    "breaker_failures": 5,
    "max_retry_after_s": None,
    "routing": "weighted",
    "weights": {"openrouter": 2.0, "anthropic": 1.0},
    "cooldown_count_on": ("rate_limit", "timeout"),
    "jitter": "equal",
    "deadline_s": 120.0,
}


POLICY_FIELDS = [f for f in FailoverPolicy().to_dict() if f != "name"]


@pytest.fixture(scope="module")
def table():
    return combined_table(load_catalog("bundled"), min_providers=1)


def config_for(settings: GatewaySettings, table) -> dict:
    """A parsed opencode.json holding the gateway section (through JSON, as a file would be)."""
    return json.loads(json.dumps({"provider": {"combined": gateway_section(settings, table)}}))


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("overridden", [False, True])
def test_every_preset_round_trips_with_and_without_overrides(table, name, overridden):
    policy = preset(name, **OVERRIDES) if overridden else PRESETS[name]
    settings = GatewaySettings(policy, name, ("claude-sonnet-4",), "http://127.0.0.1:5000/v1", "GW_TOKEN", "anthropic")
    back = read_gateway_settings(config_for(settings, table), "opencode.json")
    assert back == settings
    assert back.policy.to_dict() | {"name": None} == policy.to_dict() | {"name": None}
    assert back.policy.name == name or back.policy.name.startswith(f"{name}+provider_priority=openrouter,anthropic ")


def test_a_choice_with_policy_fields_round_trips(table):
    policy = preset("litellm-like", provider_priority=("anthropic",), cooldown_s=9.0, hedge_after_s=2.0)
    choice = Choice.from_policy(policy, combined_id="claude-sonnet-4", preset="litellm-like")
    settings = GatewaySettings(choice.policy(), choice.preset, (choice.combined_id,))
    assert read_gateway_settings(config_for(settings, table)).policy == policy


def test_stored_policy_is_preset_seed_options_and_what_differs():
    policy = preset("resilient", provider_priority=("a", "b"), cooldown_s=3.0, max_attempts=2)
    assert policy_options(policy, "resilient") == {
        "preset": "resilient",
        "provider_priority": ["a", "b"],
        "min_providers": 2,
        "strategy": "on_error",
        "max_attempts": 2,  # equal to the preset's, written anyway: the seed options always are
        "cooldown_s": 3.0,
    }
    assert policy_options(FailoverPolicy(cooldown_s=1.0), None) == {
        "provider_priority": [],
        "min_providers": 2,
        "strategy": "on_error",
        "max_attempts": 3,
        "cooldown_s": 1.0,
    }


def test_section_describes_each_model_from_the_table(table):
    settings = GatewaySettings(
        preset("seed-on-error", provider_priority=("openrouter",)),
        "seed-on-error",
        ("claude-sonnet-4", "gpt-5"),
        token_env="GW",
    )
    section = gateway_section(settings, table)
    assert section["npm"] == "@ai-sdk/openai-compatible"
    assert section["options"]["baseURL"] == DEFAULT_URL and section["options"]["apiKey"] == "{env:GW}"
    assert list(section["models"]) == ["claude-sonnet-4", "gpt-5"]
    model = CombinedModel.from_table(table, "claude-sonnet-4")
    rows = table[table["model_ref"].isin([m.model_ref for m in model.members])]
    first = rows[rows["provider"] == "openrouter"].iloc[0]
    assert section["models"]["claude-sonnet-4"] == {
        "name": first["name"],
        "limit": {"context": min(m.context_limit for m in model.members), "output": rows["output_limit"].min()},
        "tool_call": bool(rows["tool_call"].dropna().all()),
        "reasoning": bool(rows["reasoning"].dropna().all()),
        "cost": {"input": first["cost_input"], "output": first["cost_output"]},
    }
    assert section["models"]["claude-sonnet-4"]["limit"]["context"] == rows["combined_context_limit"].min()


def test_flags_and_limits_left_out_when_the_catalog_does_not_say(table):
    model = table[table["combined_id"] == "claude-sonnet-4"].copy()
    for column in ("tool_call", "reasoning", "context_limit", "cost_input"):
        model[column] = None
    entry = model_entry(model, "claude-sonnet-4")
    assert set(entry) == {"name", "limit", "cost"}
    assert set(entry["limit"]) == {"output"} and set(entry["cost"]) == {"output"}


def test_a_member_without_tools_makes_the_combined_model_toolless(table):
    model = table[table["combined_id"] == "claude-sonnet-4"].copy()
    model["tool_call"] = True
    model.loc[model.index[-1], "tool_call"] = False
    assert model_entry(model, "claude-sonnet-4")["tool_call"] is False


def test_no_gateway_section_is_none():
    assert read_gateway_settings({}) is None
    assert read_gateway_settings({"provider": {"anthropic": {}}}) is None


def valid_section() -> dict:
    return {
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": "http://127.0.0.1:4141/v1", "apiKey": "{env:GW}", "failover": {"preset": "resilient"}},
        "models": {"claude-sonnet-4": {}},
    }


def test_valid_section_reads_back():
    settings = read_gateway_settings({"provider": {"combined": valid_section()}})
    assert settings == GatewaySettings(PRESETS["resilient"], "resilient", ("claude-sonnet-4",), token_env="GW")
    assert (settings.host, settings.port, settings.npm) == ("127.0.0.1", 4141, "@ai-sdk/openai-compatible")


@pytest.mark.parametrize("key", ["", ...])
def test_an_empty_or_missing_key_means_no_token(key):
    assert read_gateway_settings(broken("options.apiKey", key)).token_env is None


def broken(path: str, value: object) -> dict:
    """``valid_section()`` with the value at a dotted ``path`` replaced (``...`` deletes it)."""
    section = valid_section()
    *parents, last = path.split(".")
    target = section
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return {"provider": {"combined": section}}


W = "c.json: provider.combined"
MALFORMED = [
    ({"provider": []}, "c.json: 'provider' must be an object of provider id -> settings"),
    ({"provider": {"combined": 3}}, f"{W} must be an object with 'options'; export it again with --layout gateway"),
    (broken("options.failover", ...), f"{W}.options has no 'failover' policy; export it again with --layout gateway"),
    (broken("options.failover", []), f"{W}.options.failover must be an object of policy fields, not list"),
    (
        broken("options.failover.preset", "resilent"),
        f"{W}.options.failover: unknown preset 'resilent' (did you mean resilient?); presets: " + ", ".join(PRESETS),
    ),
    (broken("options.failover.preset", 3), f"{W}.options.failover.preset must be a preset name, not 3"),
    (
        broken("options.failover.cooldown", 3),
        f"{W}.options.failover: unknown policy field 'cooldown'{closest('cooldown', POLICY_FIELDS)}",
    ),
    (
        broken("options.failover.max_attempts", 0),
        f"{W}.options.failover: max_attempts must be a whole number >= 1, got 0",
    ),
    (
        broken("npm", "@ai-sdk/openai"),
        f"{W}.npm must be one of @ai-sdk/openai-compatible, @ai-sdk/anthropic, not '@ai-sdk/openai'",
    ),
    (
        broken("options.apiKey", "sk-planted-secret"),
        f"{W}.options.apiKey must be an {{env:VAR}} reference to the gateway token",
    ),
    (broken("models", {}), f"{W}.models must name at least one combined model"),
    (
        broken("options.baseURL", "http://127.0.0.1:4141"),
        f"{W}: the gateway URL must end in /v1 (the SDK appends /chat/completions or /messages), not 'http://127.0.0.1:4141'",
    ),
    (
        broken("options.baseURL", "127.0.0.1:4141/v1"),
        f"{W}: the gateway URL must be http://HOST:PORT/v1, not '127.0.0.1:4141/v1'",
    ),
    (
        broken("options.baseURL", "http://127.0.0.1:99999/v1"),
        f"{W}: the gateway URL 'http://127.0.0.1:99999/v1' has an invalid port",
    ),
]


@pytest.mark.parametrize(("config", "message"), MALFORMED, ids=[m[1][len(W) :][:40] for m in MALFORMED])
def test_malformed_sections_are_one_clear_line(config, message):
    with pytest.raises(UserError) as info:
        read_gateway_settings(config, "c.json")
    assert str(info.value) == message
    assert "sk-planted-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"combined_ids": ()}, "the gateway layout needs at least one combined model (--combined ID)"),
        ({"protocol": "grpc"}, "unknown gateway protocol 'grpc'"),
        ({"token_env": "MY TOKEN"}, "--token-env takes the name of an environment variable, not 'MY TOKEN'"),
        ({"preset": "nope"}, "unknown preset 'nope'"),
    ],
)
def test_settings_refuse_bad_values(fields, message):
    values = {"policy": FailoverPolicy(), "preset": None, "combined_ids": ("m",)} | fields
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        GatewaySettings(**values)


def test_the_variants_setting_round_trips_and_is_written_only_when_not_exact(table):
    settings = GatewaySettings(PRESETS["resilient"], "resilient", ("claude-sonnet-4",), variants="same-weights")
    config = config_for(settings, table)
    assert config["provider"]["combined"]["options"]["failover"]["variants"] == "same-weights"
    assert read_gateway_settings(config) == settings
    plain = config_for(GatewaySettings(PRESETS["resilient"], "resilient", ("claude-sonnet-4",)), table)
    assert "variants" not in plain["provider"]["combined"]["options"]["failover"]
