"""Exported configs against the real OpenCode CLI (``opencode debug config``), offline.

Proves that every layout loads on the current pinned release, that the ``gateway`` and
``plugin`` layouts also load on 1.18.15, and that 1.18.15 rejects the seed layout exactly
as the exporter's warning says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opencode_cli import CURRENT, STRICT, debug_config, opencode_binary

from toolkit import jsonc
from toolkit.export import LAYOUT_WARNING, SECTION, STRICT_REJECTION
from toolkit.gateway_config import read_gateway_settings
from toolkit.policy import preset

pytestmark = pytest.mark.opencode

PLUGIN = "opencode-combined-models"
OPTIONS = {
    "provider_priority": ["anthropic", "openrouter"],
    "min_providers": 2,
    "strategy": "on_rate_limit",
    "max_attempts": 2,
}
POLICY = {**OPTIONS, "provider_priority": tuple(OPTIONS["provider_priority"])}
USER_FILE = """{
  // the user's own settings, kept by the export
  "$schema": "https://opencode.ai/config.json",
  "plugin": ["opencode-other-plugin", "opencode-combined-models@0.1.0"], /* two plugins */
  "provider": {
    "anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}},
  },
}
"""


@pytest.fixture(scope="module")
def current() -> Path:
    return opencode_binary(CURRENT)


@pytest.fixture(scope="module")
def strict() -> Path:
    return opencode_binary(STRICT)


def export(cli, project: Path, name: str, layout: str, *extra: str) -> str:
    """Export OPTIONS into ``project/name`` (created from USER_FILE) with the CLI; returns its stderr."""
    project.mkdir(exist_ok=True)
    (project / name).write_text(USER_FILE)
    result = cli(
        "export",
        "--config",
        str(project / name),
        "--source",
        "bundled",
        "--layout",
        layout,
        "--priority",
        "anthropic,openrouter",
        "--strategy",
        "on_rate_limit",
        "--max-attempts",
        "2",
        "--set-model",
        "combined/claude-sonnet-4",
        *extra,
    )
    assert result.code == 0, result.err
    return result.err


def loaded(binary: Path, project: Path, home: Path) -> dict:
    """The configuration OpenCode resolved from ``project`` (the test fails if it refused it)."""
    result = debug_config(binary, project, home)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", ["opencode.json", "opencode.jsonc"])
@pytest.mark.parametrize("layout", ["combined_models", "plugin"])
def test_every_layout_loads_on_the_current_release(cli, tmp_path, current, layout, name):
    export(cli, tmp_path / "project", name, layout)
    config = loaded(current, tmp_path / "project", tmp_path / "home")
    pinned = f"{PLUGIN}@0.1.0"  # the user's pinned spec is kept
    assert config["plugin"] == ["opencode-other-plugin", [pinned, OPTIONS] if layout == "plugin" else pinned]
    assert config["model"] == "combined/claude-sonnet-4"
    assert list(config["provider"]) == ["anthropic"]  # OpenCode masks the key it resolved; the file keeps the reference
    assert '"apiKey": "{env:ANTHROPIC_API_KEY}"' in (tmp_path / "project" / name).read_text()
    assert SECTION not in config  # 1.18.16+ drop unknown top-level keys: the plugin reads the file itself


@pytest.mark.parametrize("version", [CURRENT, STRICT])
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_gateway_layout_loads_on_every_pinned_release(cli, tmp_path, version, protocol):
    extra = ("--preset", "resilient", "--combined", "claude-sonnet-4", "gpt-5", "--gateway-protocol", protocol)
    assert export(cli, tmp_path / "project", "opencode.jsonc", "gateway", *extra) == ""
    written = jsonc.load(tmp_path / "project" / "opencode.jsonc")
    config = loaded(opencode_binary(version), tmp_path / "project", tmp_path / "home")
    assert config["model"] == "combined/claude-sonnet-4"
    assert config["plugin"] == ["opencode-other-plugin"]  # the seed plugin's entry is gone
    combined = config["provider"]["combined"]
    # as written, the policy included; 1.18.33 masks every key it prints, even an empty one
    assert combined["options"].pop("apiKey") == ("***" if version == CURRENT else "")
    assert written["provider"]["combined"]["options"].pop("apiKey") == ""
    assert combined == written["provider"]["combined"]
    assert read_gateway_settings(config).policy == preset("resilient", **POLICY)


def test_plugin_layout_loads_on_the_strict_release(cli, tmp_path, strict):
    assert export(cli, tmp_path / "project", "opencode.jsonc", "plugin") == ""  # no warning for this layout
    config = loaded(strict, tmp_path / "project", tmp_path / "home")
    assert config["plugin"] == ["opencode-other-plugin", [f"{PLUGIN}@0.1.0", OPTIONS]]


def test_seed_layout_is_rejected_on_the_strict_release_as_the_warning_says(cli, tmp_path, strict):
    warning = export(cli, tmp_path / "project", "opencode.json", "combined_models")
    assert warning == f"warning: {LAYOUT_WARNING}\n"
    result = debug_config(strict, tmp_path / "project", tmp_path / "home")
    assert result.code == 1
    quoted = LAYOUT_WARNING.split('"')[1]  # "Configuration is invalid ... Unrecognized key: combined_models"
    for fragment in quoted.split(" ... "):
        assert fragment in result.stderr, result.stderr
    assert STRICT_REJECTION in result.stderr


def test_the_cli_really_validates(tmp_path, current):
    """Control: a type error is refused, so a passing load above means something."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "opencode.json").write_text('{"model": 123}')
    result = debug_config(current, tmp_path / "project", tmp_path / "home")
    assert result.code == 1
    assert "Expected string | undefined, got 123" in result.stderr or "expected string" in result.stderr.lower()
