"""The user's setup, studied by default: config discovery, the stated try order, and the checks that rely on it."""

from __future__ import annotations

import json

import pytest

from toolkit.catalog import load_catalog
from toolkit.choice import Choice
from toolkit.combine import combined_table
from toolkit.errors import UserError
from toolkit.user_setup import combined_id_of, find_config, rule_order, user_case, vendor_of


@pytest.fixture(scope="module")
def models():
    return load_catalog("bundled")


@pytest.fixture(scope="module")
def table(models):
    return combined_table(models, min_providers=1)


def test_config_is_found_where_opencode_looks(tmp_path):
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    home = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}
    assert find_config(project / "src", home) is None
    glob = tmp_path / "home" / ".config" / "opencode" / "opencode.json"
    glob.parent.mkdir(parents=True)
    glob.write_text("{}")
    assert find_config(project / "src", home) == glob
    (tmp_path / "opencode.json").write_text("{}")  # above the project root: not OpenCode's
    assert find_config(project / "src", home) == glob
    (project / "opencode.jsonc").write_text("{}")
    assert find_config(project / "src", home) == project / "opencode.jsonc"
    explicit = tmp_path / "elsewhere.json"
    explicit.write_text("{}")
    assert find_config(project / "src", {**home, "OPENCODE_CONFIG": str(explicit)}) == explicit


def test_vendor_comes_from_the_catalogs_own_ids(table):
    assert (
        vendor_of(table, "claude-sonnet-4-5") == "anthropic"
    )  # openrouter/anthropic/..., anthropic.claude-... on Bedrock
    assert vendor_of(table, "kimi-k2-5") == "moonshotai"
    assert vendor_of(table, "gpt-5") == "openai"


def test_rule_order_vendor_then_clouds_then_the_broadest(table):
    order = rule_order(table, "claude-sonnet-4-5")
    assert order[:5] == ["anthropic", "amazon-bedrock", "google-vertex-anthropic", "google-vertex", "azure"]
    assert sorted(order) == sorted(set(table.loc[table["combined_id"] == "claude-sonnet-4-5", "provider"]))
    assert rule_order(table, "claude-sonnet-4-5", ["openrouter", "nano-gpt", "anthropic"]) == [
        "anthropic",
        "nano-gpt",
        "openrouter",  # nano-gpt offers more models than openrouter
    ]


def test_model_strings_map_to_combined_ids(table):
    assert combined_id_of("anthropic/claude-sonnet-4-5", table) == "claude-sonnet-4-5"  # an alias of the dated id
    assert combined_id_of("openrouter/anthropic/claude-sonnet-4.5", table) == "claude-sonnet-4-5"
    assert combined_id_of("combined/kimi-k2-5", table) == "kimi-k2-5"
    assert combined_id_of("nobody/no-such-model", table) is None


def test_default_case_is_the_readme_story(models):
    case = user_case(models, search=False, environ={})
    assert case.combined_id == "claude-sonnet-4-5"
    assert case.providers == ("anthropic", "amazon-bedrock", "google-vertex-anthropic", "openrouter")
    assert case.describe().startswith("claude-sonnet-4-5 via anthropic > amazon-bedrock > google-vertex-anthropic")


def test_config_model_and_connected_providers(models, tmp_path):
    config = tmp_path / "opencode.json"
    config.write_text(json.dumps({"model": "openai/gpt-5"}))
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"openrouter": {}, "openai": {}, "azure": {}, "nano-gpt": {}, "groq": {}}))
    case = user_case(models, config=config, auth_file=auth, environ={})
    assert case.combined_id == "gpt-5"
    assert case.providers == ("openai", "azure", "nano-gpt", "openrouter")  # groq does not offer gpt-5
    assert f"model openai/gpt-5 from {config}" in case.origin
    assert "your connected providers (azure, nano-gpt, openai, openrouter)" in case.origin
    capped = user_case(models, config=config, auth_file=auth, environ={}, priority=["openrouter"], max_providers=2)
    assert capped.providers == ("openrouter", "openai")
    assert (
        capped.order_rule.startswith("your --priority, then first-party vendor") and "first 2 of 4" in capped.order_rule
    )


def test_one_connected_provider_falls_back_and_says_so(models, tmp_path):
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"anthropic": {}}))
    case = user_case(models, search=False, auth_file=auth, environ={})
    assert case.providers == ("anthropic", "amazon-bedrock", "google-vertex-anthropic", "openrouter")
    assert "you have 1 connected provider(s) offering it; default providers" in case.origin


def test_case_mistakes_are_user_errors(models):
    with pytest.raises(UserError, match="no combined model 'claude-sonet-4-5'.*claude-sonnet-4-5"):
        user_case(models, search=False, combined_id="claude-sonet-4-5")
    with pytest.raises(UserError, match="provider 'groq' does not offer claude-sonnet-4-5"):
        user_case(models, search=False, providers=["anthropic", "groq"])
    with pytest.raises(UserError, match="--priority names 'azure', which is not among the providers tried"):
        user_case(models, search=False, environ={}, priority=["azure"])


def test_simulate_without_providers_tries_the_stated_order_capped(cli):
    result = cli(
        "simulate",
        "--scenario",
        "calm-day",
        "--combined",
        "claude-sonnet-4-5",
        "--source",
        "bundled",
        "--requests",
        "50",
        "--json",
    )
    assert result.code == 0, result.err
    assert (
        "model: claude-sonnet-4-5 via anthropic > amazon-bedrock > google-vertex-anthropic > openrouter "
        "(default providers; order: first-party vendor, then major clouds"
    ) in result.err
    shares = [key for key in json.loads(result.out) if key.startswith("share_")]
    assert shares == ["share_anthropic", "share_amazon-bedrock", "share_google-vertex-anthropic", "share_openrouter"]
    result = cli(
        "simulate",
        "--scenario",
        "calm-day",
        "--combined",
        "kimi-k2-5",
        "--source",
        "bundled",
        "--requests",
        "20",
        "--json",
        "--max-providers",
        "0",
    )
    assert result.code == 0 and "via moonshotai > amazon-bedrock > azure > " in result.err
    assert len([key for key in json.loads(result.out) if key.startswith("share_")]) > 30  # 0: every provider


def test_export_stops_when_the_choice_was_tuned_for_another_model(cli, tmp_path):
    config = tmp_path / "opencode.json"
    original = '{"model": "anthropic/claude-sonnet-4-5"}\n'
    config.write_text(original)
    choice = Choice(("nano-gpt", "kilo", "openrouter"), combined_id="kimi-k2-5").save(tmp_path / "choice.json")
    result = cli("export", "--config", str(config), "--from", str(choice), "--source", "bundled")
    assert result.code == 2
    assert result.err == (
        f"error: {choice} was tuned for kimi-k2-5, but {config} runs anthropic/claude-sonnet-4-5 (claude-sonnet-4-5); "
        f"run 'combined-models report --combined claude-sonnet-4-5 --config {config}' for your model, "
        "or pass --force to export it anyway\n"
    )
    assert config.read_text() == original
    result = cli("export", "--config", str(config), "--from", str(choice), "--source", "bundled", "--force")
    assert result.code == 0, result.err
    assert json.loads(config.read_text())["combined_models"]["provider_priority"] == ["nano-gpt", "kilo", "openrouter"]


def test_an_unreachable_catalog_is_reported_once_per_command(cli, monkeypatch):
    import socket

    from toolkit import catalog

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # released: nothing listens there, as good as offline
    monkeypatch.setattr(catalog, "MODELS_DEV_URL", f"http://127.0.0.1:{port}/api.json")
    result = cli("simulate", "--scenario", "calm-day", "--source", "models.dev", "--requests", "20", "--json")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "using the bundled snapshot" in warnings[0]


def test_providers_serving_only_a_variant_the_setting_refuses_are_not_tried(models, table):
    # glm-4-5: submodel serves it only in FP8, which "exact" does not allow
    rows = table[(table["combined_id"] == "glm-4-5") & (table["provider"] == "submodel")]
    assert rows["variant"].tolist() == ["fp8"]
    exact = user_case(models, combined_id="glm-4-5", search=False, max_providers=None)
    every = user_case(models, combined_id="glm-4-5", search=False, max_providers=None, variants="all")
    assert "submodel" not in exact.providers and "submodel" in every.providers
    assert set(every.providers) - set(exact.providers) == {"submodel"}
    with pytest.raises(UserError, match=r"^provider 'submodel' does not offer glm-4-5 \(variants: exact\)"):
        user_case(models, combined_id="glm-4-5", search=False, providers=["zai", "submodel"])
    assert user_case(
        models, combined_id="glm-4-5", search=False, providers=["zai", "submodel"], variants="precision-reduced"
    ).providers == ("zai", "submodel")
