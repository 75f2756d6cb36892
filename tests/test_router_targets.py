"""Exports to LiteLLM (router_targets, export --target litellm): config content, keys, safety, and the
real pinned LiteLLM loading the config and failing over as the fallbacks preset says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Imported when the tests are collected, before the suite's autouse fixture points HOME at a
# temporary folder: the harness's cached LiteLLM environments are then the machine's, installed once.
from benchmarks.fidelity import systems
from benchmarks.fidelity.faults import scenario
from benchmarks.fidelity.metrics import calls_from_log, measure
from toolkit import jsonc
from toolkit.combined_model import CombinedModel, Member
from toolkit.errors import UserError
from toolkit.policy import preset
from toolkit.router_targets import (
    litellm_proxy_config,
    losses,
    opencode_provider_block,
    openrouter_routing,
    plan_litellm_export,
)

ANTHROPIC = Member("anthropic", "anthropic/claude-x", 200_000, 64_000, provider_env=("ANTHROPIC_API_KEY",))
BEDROCK = Member(
    "amazon-bedrock",
    "amazon-bedrock/anthropic.claude-x-v1:0",
    provider_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"),
)
SMALL = Member(
    "small-host", "small-host/claude-x", provider_api="https://api.small.example/v1", provider_env=("SMALL_KEY",)
)
MODEL = CombinedModel("claude-x", (ANTHROPIC, BEDROCK, SMALL))


def test_a_seed_policy_becomes_a_fallback_chain_with_keys_from_the_environment():
    config = litellm_proxy_config(MODEL, preset("seed-on-error", context_failover=True))
    assert config["model_list"] == [
        {
            "model_name": "claude-x",
            "litellm_params": {"model": "anthropic/claude-x", "api_key": "os.environ/ANTHROPIC_API_KEY"},
        },
        {
            "model_name": "claude-x@amazon-bedrock",
            "litellm_params": {
                "model": "bedrock/anthropic.claude-x-v1:0",
                "aws_access_key_id": "os.environ/AWS_ACCESS_KEY_ID",
                "aws_secret_access_key": "os.environ/AWS_SECRET_ACCESS_KEY",
                "aws_region_name": "os.environ/AWS_REGION",
            },
        },
        {
            "model_name": "claude-x@small-host",
            "litellm_params": {
                "api_base": "https://api.small.example/v1",
                "model": "openai/claude-x",
                "api_key": "os.environ/SMALL_KEY",
            },
        },
    ]
    chain = [{"claude-x": ["claude-x@amazon-bedrock", "claude-x@small-host"]}]
    assert config["router_settings"] == {
        "num_retries": 2,
        "timeout": 60.0,
        "fallbacks": chain,
        "context_window_fallbacks": chain,
    }


def test_reroute_policies_become_one_group_with_order_or_weights():
    order = litellm_proxy_config(MODEL, preset("litellm-1.110-order"))
    assert [d["litellm_params"]["order"] for d in order["model_list"]] == [1, 2, 3]
    assert {d["model_name"] for d in order["model_list"]} == {"claude-x"}
    assert order["router_settings"] == {
        "num_retries": 2,
        "timeout": 600.0,
        "routing_strategy": "simple-shuffle",
        "cooldown_time": 5.0,
    }
    weighted = litellm_proxy_config(
        MODEL, preset("litellm-1.110-shuffle", routing="weighted", weights={"anthropic": 3.0})
    )
    assert [d["litellm_params"]["weight"] for d in weighted["model_list"]] == [3.0, 1.0, 1.0]
    least_busy = litellm_proxy_config(MODEL, preset("litellm-1.110-shuffle", routing="least_busy"))
    assert least_busy["router_settings"]["routing_strategy"] == "least-busy"
    assert not any({"order", "weight"} & set(d["litellm_params"]) for d in least_busy["model_list"])
    assert openrouter_routing(ROUTED, preset("litellm-1.110-shuffle", routing="least_busy"))[1] == {
        "only": ["anthropic", "amazon-bedrock"]
    }
    assert (
        "least_busy: OpenRouter balances by its own measure among `only`"
        in losses(preset("seed-on-error", routing="least_busy"))["openrouter"]
    )


def test_what_litellm_cannot_express_is_listed():
    assert losses(preset("litellm-1.110-fallbacks"))["litellm"] == []
    assert losses(preset("resilient"))["gateway"] == []
    lost = losses(preset("resilient"))["litellm"]
    assert any(item.startswith("circuit breaker") for item in lost)
    assert any(item.startswith("retry budget") for item in lost)
    assert any(item.startswith("cooldown:") for item in lost)


def test_providers_litellm_cannot_reach_are_left_out_and_said(tmp_path):
    azure = Member("azure", "azure/claude-x", provider_env=("AZURE_API_KEY",))
    odd = CombinedModel("claude-x", (ANTHROPIC, azure))
    config = litellm_proxy_config(odd, preset("seed-on-error", min_providers=1))
    assert [d["model_name"] for d in config["model_list"]] == ["claude-x"] and "fallbacks" not in config[
        "router_settings"
    ]
    _, plan = plan_litellm_export(tmp_path / "o.json", tmp_path / "l.yaml", odd, preset("seed-on-error"), source="t")
    assert plan.warnings == ("left out of the LiteLLM config (LiteLLM cannot reach them): azure",)
    with pytest.raises(UserError, match="LiteLLM can reach none of claude-x's providers"):
        litellm_proxy_config(CombinedModel("claude-x", (azure,)), preset("seed-on-error", min_providers=1))


def test_the_export_writes_both_files_atomically_and_never_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret-value")
    config = tmp_path / "opencode.jsonc"
    config.write_text('{\n  // mine\n  "theme": "dark"\n}\n')
    proxy, opencode = plan_litellm_export(
        config, tmp_path / "litellm.yaml", MODEL, preset("seed-on-error"), source="test"
    )
    assert opencode.write() is not None and proxy.write() is None  # a backup of the old config; a new proxy file
    written = jsonc.loads(config.read_text(), "test")
    assert written["model"] == "litellm/claude-x"
    assert written["provider"]["litellm"] == opencode_provider_block(MODEL)
    assert written["provider"]["litellm"]["options"]["apiKey"] == "{env:LITELLM_MASTER_KEY}"
    assert "// mine" in config.read_text()
    text = (tmp_path / "litellm.yaml").read_text()
    assert "sk-secret-value" not in text + config.read_text()
    assert json.loads(text.split("\n", 2)[2]) == litellm_proxy_config(MODEL, preset("seed-on-error"))
    again = plan_litellm_export(config, tmp_path / "litellm.yaml", MODEL, preset("seed-on-error"), source="test")
    assert not any(plan.changed for plan in again)
    assert again[1].notes == tuple(
        f"LiteLLM cannot express {lost}" for lost in losses(preset("seed-on-error"))["litellm"]
    )
    assert again[1].notes[0].startswith("LiteLLM cannot express backoff shape")
    with pytest.raises(UserError, match="--proxy-url must be an http"):
        plan_litellm_export(config, tmp_path / "l.yaml", MODEL, preset("seed-on-error"), source="t", base_url="x")


def test_cli_target_litellm(cli, tmp_path):
    path = tmp_path / "opencode.json"
    args = [
        "export",
        "--config",
        str(path),
        "--source",
        "bundled",
        "--target",
        "litellm",
        "--combined",
        "claude-sonnet-4-5",
        "--priority",
        "anthropic,amazon-bedrock,openrouter",
        "--preset",
        "resilient",
    ]
    first = cli(*args)
    assert first.code == 0, first.err
    assert first.out.splitlines() == [f"created {tmp_path / 'litellm.config.yaml'}", f"created {path}"]
    assert "note: LiteLLM cannot express circuit breaker" in first.err
    assert "warning: left out of the LiteLLM config (LiteLLM cannot reach them): azure," in first.err
    proxy = (tmp_path / "litellm.config.yaml").read_text()
    assert proxy.startswith("# LiteLLM proxy config") and '"model": "anthropic/claude-sonnet-4-5' in proxy
    assert json.loads(path.read_text())["model"] == "litellm/claude-sonnet-4-5"
    bad = cli("export", "--config", str(path), "--source", "bundled", "--target", "litellm")
    assert (bad.code, bad.err) == (2, "error: --target litellm needs exactly one combined model: pass --combined ID\n")


@pytest.mark.slow
def test_the_real_litellm_loads_the_config_and_falls_back_as_the_preset_says(tmp_path, mock_providers):
    """LiteLLM 1.110.2 (the fidelity harness's cached environment) reads the exported file as its
    proxy does (YAML) and routes through it: 3 calls on the failing first member, then the next."""
    from toolkit.mock_providers import Reply

    try:
        python = systems.litellm_python()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"pip could not install litellm: {exc}")
    mock = mock_providers(["a", "b"], script={"a": [Reply("server_error")] * 3})
    members = tuple(
        Member(p, f"{p}/model", provider_api=url, provider_env=("MOCK_KEY",)) for p, url in mock.endpoints.items()
    )
    model = CombinedModel("model", members)
    proxy, _ = plan_litellm_export(
        tmp_path / "opencode.json", tmp_path / "litellm.yaml", model, preset("litellm-1.110-fallbacks"), source="test"
    )
    proxy.write()
    script = (
        "import sys, yaml, litellm\n"
        "from litellm import Router\n"
        "c = yaml.safe_load(open(sys.argv[1]))\n"
        "r = Router(model_list=c['model_list'], **c['router_settings'])\n"
        "out = r.completion(model='model', messages=[{'role': 'user', 'content': 'hi'}], max_tokens=4)\n"
        "print(len(r.get_model_list()), out.choices[0].message.content)\n"
    )
    env = {
        **os.environ,
        "MOCK_KEY": "mock-key-not-a-secret",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    run = subprocess.run(
        [str(python), "-c", script, str(tmp_path / "litellm.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[0] == "2"
    assert [(r["provider"], r["kind"]) for r in mock.requests] == [("a", "server_error")] * 3 + [("b", "ok")]


@pytest.mark.slow
def test_the_real_litellm_proxy_serving_the_export_behaves_as_the_preset_predicts():
    """What ``export --target litellm --preset litellm-1.110-fallbacks`` writes, served by the real
    LiteLLM 1.110.2 proxy (``litellm --config``, its own cached environment) in front of mock providers
    with the first one down, against the simulator running the preset on the same scenario: the same
    success, calls per request and call shares (3 calls on the first, then the second)."""
    from toolkit.simulator import simulate

    try:
        systems.litellm_python(proxy=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"pip could not install the LiteLLM proxy: {exc}")
    providers = ["a", "b", "c"]
    real = measure(*systems.run_litellm_proxy("litellm-1.110-fallbacks", "hard-down", 8)[:2], providers)
    world = scenario("hard-down", systems.LITELLM_CONCURRENCY)
    log = simulate(CombinedModel.of(providers), preset("litellm-1.110-fallbacks"), world, 8, progress=False)
    predicted = measure(*calls_from_log(log), providers)
    same = ["success", "calls_per_request", "share_a", "share_b", "share_c"]
    assert [real[m] for m in same] == [predicted[m] for m in same] == [1.0, 4.0, 0.75, 0.25, 0.0]


OPENROUTER = Member("openrouter", "openrouter/anthropic/claude-x", provider_env=("OPENROUTER_API_KEY",))
ROUTED = CombinedModel("claude-x", (ANTHROPIC, OPENROUTER, BEDROCK, SMALL))


def test_openrouter_routing_expresses_the_try_order():
    model_id, routing, left_out = openrouter_routing(ROUTED, preset("seed-on-error"))
    assert (model_id, routing, left_out) == (
        "anthropic/claude-x",
        {"order": ["anthropic", "amazon-bedrock"], "allow_fallbacks": True},
        ["small-host"],
    )
    limited = openrouter_routing(
        ROUTED, preset("seed-on-error", max_providers=3, provider_priority=("amazon-bedrock",))
    )
    assert limited[1] == {"order": ["amazon-bedrock", "anthropic"], "allow_fallbacks": False}
    assert openrouter_routing(ROUTED, preset("litellm-1.110-shuffle"))[1] == {"only": ["anthropic", "amazon-bedrock"]}
    with pytest.raises(UserError, match="claude-x is not offered by openrouter"):
        openrouter_routing(MODEL, preset("seed-on-error"))
    assert losses(preset("seed-on-error"))["openrouter"] == [
        "retries, backoff and Retry-After handling: OpenRouter's own, not configurable"
    ]


@pytest.mark.opencode
def test_the_real_opencode_sends_the_exported_routing_to_openrouter(cli, tmp_path, mock_providers):
    """``export --layout openrouter`` on a config whose OpenRouter provider points at a mock: the real
    OpenCode 1.18.33 sends the exported ``provider`` object in its request body."""
    sys.path.insert(0, str(Path(__file__).parent))
    from opencode_cli import CURRENT, opencode_binary, run_prompt

    binary = opencode_binary(CURRENT)
    mock = mock_providers(["openrouter", "title"], keep_bodies=True)
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    path = project / "opencode.json"
    title = mock.opencode_providers()["title"]
    path.write_text(
        json.dumps(
            {
                "provider": {
                    "openrouter": {"options": {"baseURL": mock.endpoints["openrouter"], "apiKey": "{env:OR_KEY}"}},
                    "title": {**title, "models": {"t": {"name": "t"}}},
                },
                "small_model": "title/t",
            },
            indent=2,
        )
    )
    result = cli(
        "export",
        "--config",
        str(path),
        "--source",
        "bundled",
        "--layout",
        "openrouter",
        "--combined",
        "claude-sonnet-4-5",
        "--priority",
        "anthropic,amazon-bedrock,google-vertex",
    )
    assert result.code == 0, result.err
    assert "note: OpenRouter cannot express retries, backoff" in result.err
    config = json.loads(path.read_text())
    routing = config["provider"]["openrouter"]["models"]["anthropic/claude-sonnet-4.5"]["options"]["provider"]
    assert routing["order"][:3] == ["anthropic", "amazon-bedrock", "google-vertex"] and routing["allow_fallbacks"]
    assert config["model"] == "openrouter/anthropic/claude-sonnet-4.5"
    run = run_prompt(binary, project, home, "hi", config["model"], timeout_s=300)
    assert run.code == 0, run.stderr[-1000:]
    sent = [r["body"] for r in mock.requests if r["provider"] == "openrouter"]
    assert sent and all(body["provider"] == routing for body in sent)
