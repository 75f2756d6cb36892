"""Exporting a Choice into opencode.json[c]: layouts, merging, comments, atomic writes, bad input."""

from __future__ import annotations

import json
import re
import stat
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit import jsonc
from toolkit.catalog import load_catalog
from toolkit.choice import Choice
from toolkit.combine import combined_table
from toolkit.errors import UserError
from toolkit.export import (
    LAYOUT_WARNING,
    LAYOUTS,
    SECTION,
    ExportWarning,
    GatewayOptions,
    check_against_catalog,
    export_opencode_config,
    merge_plugin,
    plan_export,
    plugin_name,
)
from toolkit.gateway_config import read_gateway_settings
from toolkit.policy import preset

PLUGIN = "opencode-combined-models"
OPTIONS = {
    "provider_priority": ["anthropic", "openrouter"],
    "min_providers": 2,
    "strategy": "on_error",
    "max_attempts": 3,
}
CHOICE = Choice(["anthropic", "openrouter"])
# the seed layout always warns about old OpenCode releases; one test checks that warning
pytestmark = pytest.mark.filterwarnings("ignore::toolkit.export.ExportWarning")

# A four-provider catalog: Claude Sonnet 4 from three providers, two single-provider models.
API = {
    "anthropic": {
        "id": "anthropic",
        "name": "Anthropic",
        "env": ["ANTHROPIC_API_KEY"],
        "npm": "@ai-sdk/anthropic",
        "models": {
            "claude-sonnet-4-20250514": {"id": "claude-sonnet-4-20250514", "name": "Claude Sonnet 4"},
            "claude-opus-4-1-20250805": {"id": "claude-opus-4-1-20250805", "name": "Claude Opus 4.1"},
        },
    },
    "openrouter": {
        "id": "openrouter",
        "name": "OpenRouter",
        "env": ["OPENROUTER_API_KEY"],
        "npm": "@openrouter/ai-sdk-provider",
        "models": {"anthropic/claude-sonnet-4": {"id": "anthropic/claude-sonnet-4", "name": "Claude Sonnet 4"}},
    },
    "amazon-bedrock": {
        "id": "amazon-bedrock",
        "name": "Amazon Bedrock",
        "env": ["AWS_ACCESS_KEY_ID"],
        "npm": "@ai-sdk/amazon-bedrock",
        "models": {
            "anthropic.claude-sonnet-4-20250514-v1:0": {
                "id": "anthropic.claude-sonnet-4-20250514-v1:0",
                "name": "Claude Sonnet 4",
            }
        },
    },
    "mistral": {
        "id": "mistral",
        "name": "Mistral",
        "env": ["MISTRAL_API_KEY"],
        "npm": "@ai-sdk/mistral",
        "models": {"mistral-large-latest": {"id": "mistral-large-latest", "name": "Mistral Large"}},
    },
}


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "api.json"
    path.write_text(json.dumps(API))
    return path


@pytest.fixture(scope="module")
def table(catalog_file):
    return combined_table(load_catalog(str(catalog_file)), min_providers=1)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: bytes and permission bits (to prove nothing changed)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"", stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
    }


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.bak"))


# --- layouts ------------------------------------------------------------------------------------


def test_missing_file_is_created_with_schema_and_the_seed_section(tmp_path):
    path = tmp_path / "opencode.json"
    export_opencode_config(path, CHOICE, dry_run=False)
    assert path.read_text() == (
        "{\n"
        '  "$schema": "https://opencode.ai/config.json",\n'
        '  "plugin": ["opencode-combined-models"],\n'
        '  "combined_models": {\n'
        '    "provider_priority": ["anthropic", "openrouter"],\n'
        '    "min_providers": 2,\n'
        '    "strategy": "on_error",\n'
        '    "max_attempts": 3\n'
        "  }\n"
        "}\n"
    )
    assert backups(tmp_path) == []


def test_plugin_layout_puts_the_options_in_the_plugin_entry(tmp_path):
    path = tmp_path / "opencode.json"
    export_opencode_config(path, CHOICE, layout="plugin", set_model="combined/claude-sonnet-4")
    assert json.loads(path.read_text()) == {
        "$schema": "https://opencode.ai/config.json",
        "plugin": [[PLUGIN, OPTIONS]],
        "model": "combined/claude-sonnet-4",
    }


def test_switching_layouts_moves_the_options(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{\n  "plugin": ["other"],\n  "theme": "dark"\n}\n')
    export_opencode_config(path, CHOICE)
    assert json.loads(path.read_text()) == {"plugin": ["other", PLUGIN], "theme": "dark", SECTION: OPTIONS}
    export_opencode_config(path, CHOICE, layout="plugin")
    assert json.loads(path.read_text()) == {"plugin": ["other", [PLUGIN, OPTIONS]], "theme": "dark"}
    export_opencode_config(path, CHOICE)
    assert json.loads(path.read_text()) == {"plugin": ["other", PLUGIN], "theme": "dark", SECTION: OPTIONS}


@pytest.mark.parametrize(
    ("before", "spec", "after"),
    [
        ([], None, [PLUGIN]),
        (["a", "b"], None, ["a", "b", PLUGIN]),
        (["a", f"{PLUGIN}@1.2.0", "b"], None, ["a", f"{PLUGIN}@1.2.0", "b"]),
        ([[PLUGIN, {"old": 1}], "a"], None, [PLUGIN, "a"]),
        (
            ["a", "file:///src/opencode-combined-models/", "b", PLUGIN, [PLUGIN, {}]],
            None,
            ["a", "file:///src/opencode-combined-models/", "b"],
        ),
        (["file:///src/opencode-combined-models/index.ts"], None, ["file:///src/opencode-combined-models/index.ts"]),
        ([PLUGIN, "a"], "file:///x/opencode-combined-models", ["file:///x/opencode-combined-models", "a"]),
        (["a"], "@me/combined@2", ["a", "@me/combined@2"]),
        (["@me/combined@1", "a"], "@me/combined@2", ["@me/combined@2", "a"]),
    ],
)
def test_the_plugin_appears_exactly_once_whatever_its_form(before, spec, after):
    assert merge_plugin(before, spec, None, "f") == after
    with_options = [[e, OPTIONS] if plugin_name(e) == plugin_name(spec or PLUGIN) else e for e in after]
    assert merge_plugin(before, spec, OPTIONS, "f") == with_options


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (3, "a number"),
        ({"name": "x", "apiKey": "sk-plugin-entry-key-9f8e7d6c"}, "an object"),  # the key is not repeated
        ([{"token": "plugin-entry-token-1a2b3c"}, {}], "a list starting with an object"),
        ([], "an empty list"),
        (None, "null"),
    ],
)
def test_plugin_entries_must_name_a_plugin(entry, kind):
    with pytest.raises(UserError) as raised:
        merge_plugin(["a", entry], None, None, "f")
    assert str(raised.value) == f'f: every \'plugin\' entry must be "name" or ["name", {{options}}], not {kind}'


# --- merging keeps the user's file ----------------------------------------------------------------

JSONC = """{
  // my settings
  "$schema": "https://opencode.ai/config.json",
  "theme": "dark", /* keep */
  "plugin": ["other"],
  "provider": {
    // a local model
    "local": {"options": {"baseURL": "http://127.0.0.1:8080/v1", "apiKey": "{env:LOCAL_KEY}"}},
  },
}
"""


def test_comments_and_layout_outside_the_changed_values_survive(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text(JSONC)
    export_opencode_config(path, CHOICE, set_model="combined/claude-sonnet-4")
    assert path.read_text() == JSONC.replace('["other"]', f'["other", "{PLUGIN}"]').replace(
        "  },\n}\n",
        '  },\n  "combined_models": {\n'
        '    "provider_priority": ["anthropic", "openrouter"],\n'
        '    "min_providers": 2,\n'
        '    "strategy": "on_error",\n'
        '    "max_attempts": 3\n'
        '  },\n  "model": "combined/claude-sonnet-4"\n}\n',
    )


def test_a_comment_that_cannot_be_kept_stops_the_export_first(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text('{\n  "plugin": [\n    "other" // why\n  ]\n}\n')
    before = snapshot(tmp_path)
    plan = plan_export(path, CHOICE)
    assert plan.lost_comments == ("// why",)
    with pytest.raises(UserError, match=r"would drop comments inside values it replaces \(// why\); .* --force"):
        export_opencode_config(path, CHOICE)
    assert snapshot(tmp_path) == before
    export_opencode_config(path, CHOICE, drop_comments=True)
    assert jsonc.load(path)["plugin"] == ["other", PLUGIN]


def test_second_identical_export_changes_nothing_and_makes_no_backup(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text(JSONC)
    path.chmod(0o600)
    first = export_opencode_config(path, CHOICE)
    assert first.changed
    [backup] = backups(tmp_path)
    assert backup.read_text() == JSONC
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(backup.stat().st_mode) == 0o600
    written = path.read_bytes()
    second = export_opencode_config(path, CHOICE)
    assert not second.changed
    assert path.read_bytes() == written
    assert backups(tmp_path) == [backup]


def test_every_changing_export_keeps_its_own_backup(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    export_opencode_config(path, CHOICE)
    after_first = path.read_text()
    export_opencode_config(path, CHOICE, layout="plugin")
    assert [b.read_text() for b in backups(tmp_path)] == ["{}", after_first]


def test_a_file_changed_after_planning_is_not_overwritten(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    plan = plan_export(path, CHOICE)
    path.write_text('{"theme": "dark"}')
    with pytest.raises(UserError, match=r"opencode\.json changed since this export was planned; run the export again$"):
        plan.write()
    assert path.read_text() == '{"theme": "dark"}' and backups(tmp_path) == []


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text("{}")
    before = snapshot(tmp_path)
    plan = export_opencode_config(path, CHOICE, dry_run=True)
    assert plan.changed and snapshot(tmp_path) == before


def test_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "opencode.json"
    link.symlink_to(real)
    export_opencode_config(link, CHOICE)
    assert link.is_symlink()
    assert jsonc.load(real)[SECTION] == OPTIONS


def test_the_seed_layout_warns_about_old_opencode_releases(tmp_path):
    with pytest.warns(ExportWarning) as record:
        export_opencode_config(tmp_path / "a.json", CHOICE)
    assert [str(w.message) for w in record] == [LAYOUT_WARNING]
    assert "Unrecognized key: combined_models" in LAYOUT_WARNING
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_opencode_config(tmp_path / "b.json", CHOICE, layout="plugin")


def test_diff_masks_literal_secrets_already_in_the_file(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{\n  "provider": {"x": {"options": {"apiKey": "sk-live-123"}}},\n  "plugin": []\n}\n')
    diff = plan_export(path, CHOICE).diff()
    assert '"apiKey": "***"' in diff
    assert "sk-live-123" not in diff


# --- the catalog check ----------------------------------------------------------------------------


def test_catalog_accepts_providers_that_offer_the_model(table):
    check_against_catalog(Choice(["openrouter", "anthropic"], combined_id="claude-sonnet-4"), table)
    check_against_catalog(Choice(["amazon-bedrock"], min_providers=3), table, "claude-sonnet-4")
    check_against_catalog(Choice(["mistral"], min_providers=1), table)


@pytest.mark.parametrize(
    ("choice", "model", "message"),
    [
        (Choice(["anthropc"]), None, "unknown provider 'anthropc' (did you mean anthropic?)"),
        (
            Choice(["mistral"]),
            "claude-sonnet-4",
            "provider 'mistral' does not offer claude-sonnet-4; it offers amazon-bedrock, anthropic, openrouter",
        ),
        (
            Choice(["anthropic"], combined_id="claude-sonet-4"),
            None,
            "no combined model 'claude-sonet-4' in the table (did you mean claude-sonnet-4, claude-opus-4-1?)",
        ),
        (
            Choice(min_providers=4),
            "claude-sonnet-4",
            "claude-sonnet-4 is offered by 3 provider(s), fewer than min_providers=4, so it would not be a combined model;"
            " lower --min-providers",
        ),
        (
            Choice(["mistral"]),
            None,
            "provider 'mistral' offers no model shared by 2 or more providers; drop it from --priority or lower "
            "--min-providers",
        ),
    ],
)
def test_catalog_refuses_what_it_contradicts(table, choice, model, message):
    with pytest.raises(UserError) as info:
        check_against_catalog(choice, table, model)
    assert str(info.value) == message


# --- the command line -----------------------------------------------------------------------------


def test_cli_writes_then_finds_nothing_to_do(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    args = ["export", "--config", str(path), "--source", str(catalog_file), "--priority", "anthropic,openrouter"]
    first = cli(*args, "--layout", "plugin", "--set-model", "combined/claude-sonnet-4", "--max-attempts", "2")
    assert (first.code, first.out, first.err) == (0, f"created {path}\n", "")
    assert json.loads(path.read_text())["plugin"] == [[PLUGIN, {**OPTIONS, "max_attempts": 2}]]
    again = cli(*args, "--layout", "plugin", "--set-model", "combined/claude-sonnet-4", "--max-attempts", "2")
    assert (again.code, again.out) == (0, f"{path} is already up to date; nothing written\n")
    third = cli(*args)
    [backup] = backups(tmp_path)
    assert (third.code, third.out) == (0, f"wrote {path} (previous version saved as {backup})\n")
    assert third.err == f"warning: {LAYOUT_WARNING}\n"


def test_cli_diff_and_dry_run_write_nothing(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    path.write_text('{\n  "theme": "dark"\n}\n')
    before = snapshot(tmp_path)
    base = ["export", "--config", str(path), "--source", str(catalog_file), "--layout", "plugin"]
    diff = cli(*base, "--diff")
    assert diff.code == 0
    assert diff.out.splitlines() == [
        f"--- {path}",
        f"+++ {path}",
        "@@ -1,3 +1,14 @@",
        " {",
        '-  "theme": "dark"',
        '+  "theme": "dark",',
        '+  "plugin": [',
        "+    [",
        '+      "opencode-combined-models",',
        "+      {",
        '+        "provider_priority": [],',
        '+        "min_providers": 2,',
        '+        "strategy": "on_error",',
        '+        "max_attempts": 3',
        "+      }",
        "+    ]",
        "+  ]",
        " }",
    ]
    dry = cli(*base, "--dry-run")
    assert (dry.code, dry.out) == (0, f"{path}: would change; nothing written\n")
    assert snapshot(tmp_path) == before


def test_cli_starts_from_a_saved_choice(cli, tmp_path, catalog_file):
    saved = Choice(["openrouter", "anthropic"], "on_rate_limit", 4, combined_id="claude-sonnet-4").save(
        tmp_path / "c.json"
    )
    path = tmp_path / "opencode.json"
    result = cli(
        "export",
        "--config",
        str(path),
        "--source",
        str(catalog_file),
        "--from",
        str(saved),
        "--strategy",
        "on_overload",
    )
    assert result.code == 0
    assert json.loads(path.read_text())[SECTION] == {
        "provider_priority": ["openrouter", "anthropic"],
        "min_providers": 2,
        "strategy": "on_overload",
        "max_attempts": 4,
    }


def test_cli_starts_from_a_preset(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    result = cli(
        "export",
        "--config",
        str(path),
        "--source",
        str(catalog_file),
        "--preset",
        "seed-on-overload",
        "--priority",
        "openrouter",
    )
    assert result.code == 0
    assert json.loads(path.read_text())[SECTION] == {
        "provider_priority": ["openrouter"],
        "min_providers": 2,
        "strategy": "on_overload",
        "max_attempts": 3,
    }


def test_cli_never_writes_a_key_from_the_environment(cli, tmp_path, catalog_file, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")
    path = tmp_path / "opencode.json"
    path.write_text('{"provider": {"anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}}}}')
    result = cli("export", "--config", str(path), "--source", str(catalog_file), "--priority", "anthropic")
    assert result.code == 0
    outputs = [result.out, result.err] + [p.read_text() for p in tmp_path.iterdir()]
    assert not any("sk-ant-secret-value" in text for text in outputs)
    assert jsonc.load(path)["provider"]["anthropic"]["options"]["apiKey"] == "{env:ANTHROPIC_API_KEY}"


BAD_INPUT = [
    ("malformed", '{\n  "model": "x",\n  "plugin": [\n}', [], r"opencode\.json:4:1: invalid JSON \(Expecting value\)"),
    ("plugin not a list", '{"plugin": "x"}', [], r"opencode\.json: 'plugin' must be a list of plugin entries, not str"),
    ("read-only", "{}", [], r"opencode\.json is read-only; make it writable \(chmod u\+w\)"),
    ("directory", None, [], r"opencode\.json is a directory"),
    ("unknown provider", "{}", ["--priority", "anthropc"], r"unknown provider 'anthropc' \(did you mean anthropic\?\)"),
    (
        "provider lacks model",
        "{}",
        ["--priority", "mistral", "--set-model", "combined/claude-sonnet-4"],
        r"provider 'mistral' does not offer claude-sonnet-4",
    ),
    (
        "unknown model",
        "{}",
        ["--set-model", "combined/claude-sonet-4"],
        r"no combined model 'claude-sonet-4' in the table \(did you mean claude-sonnet-4, claude-opus-4-1\?\)",
    ),
    ("not combined", "{}", ["--set-model", "anthropic/claude"], r"--set-model takes combined/ID"),
    ("strategy", "{}", ["--strategy", "sometimes"], r"strategy: 'sometimes' is not one of"),
    ("attempts text", "{}", ["--max-attempts", "three"], r"--max-attempts takes a whole number, not 'three'"),
    ("attempts zero", "{}", ["--max-attempts", "0"], r"max_attempts: 0 is less than the minimum of 1"),
    ("min providers", "{}", ["--min-providers", "-1"], r"min_providers: -1 is less than the minimum of 1"),
    ("layout", "{}", ["--layout", "plugins"], r"unknown layout 'plugins' \(did you mean plugin\?\)"),
    ("duplicate key", '{"plugin": [], "plugin": []}', [], r"key 'plugin' appears 2 times"),
    ("empty plugin", "{}", ["--plugin", " "], r"--plugin must name the plugin"),
    (
        "unknown preset",
        "{}",
        ["--preset", "seed-on-eror"],
        r"unknown preset 'seed-on-eror' \(did you mean seed-on-error",
    ),
    ("bad saved choice", "{}", ["--from", "/nonexistent/choice.json"], r"/nonexistent/choice\.json does not exist"),
]


@pytest.mark.parametrize(("content", "extra", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_cli_bad_input_is_one_line_and_changes_nothing(cli, tmp_path, catalog_file, content, extra, message):
    path = tmp_path / "opencode.json"
    if content is None:
        path.mkdir()
    else:
        path.write_text(content)
    if "read-only" in message:
        path.chmod(0o444)
    before = snapshot(tmp_path)
    result = cli("export", "--config", str(path), "--source", str(catalog_file), *extra)
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert re.search(message, result.err), result.err
    assert snapshot(tmp_path) == before


def test_a_missing_folder_is_not_created(tmp_path):
    with pytest.raises(UserError, match=r"/nowhere does not exist; create the folder or choose another --config$"):
        plan_export(tmp_path / "nowhere" / "opencode.json", CHOICE)
    assert list(tmp_path.iterdir()) == []


def test_cli_needs_a_config(cli):
    result = cli("export", "--priority", "anthropic")
    assert result.code == 2
    assert result.err == "error: export needs --config FILE: the opencode.json or opencode.jsonc to write\n"


# --- property: export then parse gives back exactly the options, everything else untouched ------

MANAGED = {"plugin", SECTION, "model"}
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
other_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_$", min_size=1, max_size=8).filter(lambda k: k not in MANAGED)
other_plugins = st.lists(st.sampled_from(["a-plugin", "@scope/b@1", "file:///x/c.js"]), unique=True, max_size=3)
our_forms = st.sampled_from(
    [None, PLUGIN, f"{PLUGIN}@0.9", [PLUGIN, {"max_attempts": 9}], "file:///src/opencode-combined-models"]
)
choices = st.builds(
    Choice,
    provider_priority=st.lists(st.sampled_from(["anthropic", "openrouter", "amazon-bedrock"]), unique=True),
    strategy=st.sampled_from(["on_error", "on_rate_limit", "on_overload"]),
    max_attempts=st.integers(1, 10),
    min_providers=st.integers(1, 3),
)


def render_config(config: dict, comments: bool) -> str:
    """``config`` as JSON text, or as JSONC: a comment before and after each member, a trailing comma."""
    if not comments:
        return json.dumps(config, indent=2)
    members = [f"  // about {k}\n  {json.dumps(k)}: {json.dumps(v)} /* end {k} */" for k, v in config.items()]
    return "{\n" + ",\n".join(members) + ",\n  // the end\n}\n"


@settings(max_examples=60, deadline=None)
@given(
    others=st.dictionaries(other_keys, values, max_size=5),
    plugins=other_plugins,
    ours=our_forms,
    old_section=st.booleans(),
    choice=choices,
    layout=st.sampled_from(["combined_models", "plugin"]),
    comments=st.booleans(),
)
def test_export_then_parse_gives_back_the_options_and_keeps_the_rest(
    others, plugins, ours, old_section, choice, layout, comments
):
    config = dict(others)
    config["plugin"] = plugins + ([ours] if ours is not None else [])
    if old_section:
        config[SECTION] = {"strategy": "on_error"}
    text = render_config(config, comments)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("opencode.jsonc" if comments else "opencode.json")
        path.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExportWarning)
            export_opencode_config(
                path, choice, layout=layout, set_model="combined/claude-sonnet-4", drop_comments=True
            )
            written = path.read_text()
            assert not export_opencode_config(path, choice, layout=layout, set_model="combined/claude-sonnet-4").changed
        assert path.read_text() == written
    result = jsonc.loads(written)
    assert {k: v for k, v in result.items() if k not in MANAGED} == others
    assert result["model"] == "combined/claude-sonnet-4"
    ours_spec = ours[0] if isinstance(ours, list) else ours or PLUGIN
    if layout == "plugin":
        assert SECTION not in result
        expected_entry = [ours_spec, choice.options()]
    else:
        assert result[SECTION] == choice.options()
        expected_entry = ours_spec
    kept = [p for p in result["plugin"] if p != expected_entry]
    assert kept == plugins and len(result["plugin"]) == len(plugins) + 1
    if comments:  # every comment outside the replaced values is still there
        untouched = [k for k in config if k not in MANAGED]
        assert all(f"// about {k}" in written and f"/* end {k} */" in written for k in untouched)
        assert "// the end" in written


# --- the gateway layout ---------------------------------------------------------------------------

GATEWAY_CHOICE = Choice.from_policy(
    preset("resilient", provider_priority=("openrouter", "anthropic"), cooldown_s=4.0),
    combined_id="claude-sonnet-4",
    preset="resilient",
)
GATEWAY_SECTION = {
    "npm": "@ai-sdk/openai-compatible",
    "name": "Combined models (local gateway)",
    "options": {
        "baseURL": "http://127.0.0.1:4141/v1",
        "apiKey": "",  # no token: empty, so no key of the user's own is sent
        "failover": {
            "preset": "resilient",
            "provider_priority": ["openrouter", "anthropic"],
            "min_providers": 2,
            "strategy": "on_error",
            "max_attempts": 2,
            "cooldown_s": 4.0,
        },
    },
    "models": {"claude-sonnet-4": {"name": "Claude Sonnet 4"}},  # the test catalog has no limits, flags or prices
}


def test_gateway_layout_writes_the_combined_provider_and_nothing_else(tmp_path, table):
    path = tmp_path / "opencode.json"
    export_opencode_config(path, GATEWAY_CHOICE, layout="gateway", combined=table)
    assert json.loads(path.read_text()) == {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"combined": GATEWAY_SECTION},
    }
    settings = read_gateway_settings(jsonc.load(path))
    assert settings.policy == GATEWAY_CHOICE.policy() and settings.combined_ids == ("claude-sonnet-4",)


def test_gateway_options_and_set_model_shape_the_section(tmp_path, table):
    path = tmp_path / "opencode.json"
    options = GatewayOptions(("claude-sonnet-4",), "http://127.0.0.1:5151/v1", "anthropic", "GW_TOKEN")
    choice = GATEWAY_CHOICE.with_overrides(min_providers=1)  # Claude Opus has one provider in the test catalog
    export_opencode_config(
        path, choice, layout="gateway", combined=table, gateway=options, set_model="combined/claude-opus-4-1"
    )
    config = json.loads(path.read_text())
    assert config["model"] == "combined/claude-opus-4-1"
    section = config["provider"]["combined"]
    assert section["npm"] == "@ai-sdk/anthropic"
    assert section["options"]["baseURL"] == "http://127.0.0.1:5151/v1"
    assert section["options"]["apiKey"] == "{env:GW_TOKEN}"
    assert list(section["models"]) == ["claude-sonnet-4", "claude-opus-4-1"]  # the model to set is served too


GATEWAY_JSONC = """{
  // my settings
  "$schema": "https://opencode.ai/config.json",
  "plugin": ["other", "opencode-combined-models@0.1.0"], // two plugins
  "provider": {
    // a local model
    "local": {"options": {"baseURL": "http://127.0.0.1:8080/v1", "apiKey": "{env:LOCAL_KEY}"}}, /* mine */
  },
  "combined_models": {"strategy": "on_error"},
  "theme": "dark",
}
"""


def test_gateway_layout_keeps_comments_and_other_providers_byte_for_byte(tmp_path, table):
    path = tmp_path / "opencode.jsonc"
    path.write_text(GATEWAY_JSONC)
    plan = export_opencode_config(
        path, GATEWAY_CHOICE, layout="gateway", combined=table, set_model="combined/claude-sonnet-4"
    )
    assert plan.warnings == () and plan.lost_comments == ()
    section = '    "combined": ' + jsonc.render(GATEWAY_SECTION, "    ")
    assert path.read_text() == GATEWAY_JSONC.replace(
        '"plugin": ["other", "opencode-combined-models@0.1.0"]', '"plugin": ["other"]'
    ).replace("/* mine */\n", "/* mine */\n" + section + "\n").replace(
        '  "combined_models": {"strategy": "on_error"},\n', ""
    ).replace('"theme": "dark",\n', '"theme": "dark",\n  "model": "combined/claude-sonnet-4"\n')
    again = export_opencode_config(
        path, GATEWAY_CHOICE, layout="gateway", combined=table, set_model="combined/claude-sonnet-4"
    )
    assert not again.changed and len(backups(tmp_path)) == 1


def test_leaving_the_gateway_layout_removes_its_section(tmp_path, table):
    path = tmp_path / "opencode.jsonc"
    path.write_text(GATEWAY_JSONC)
    export_opencode_config(path, GATEWAY_CHOICE, layout="gateway", combined=table)
    export_opencode_config(path, GATEWAY_CHOICE, layout="plugin", combined=table)
    config = jsonc.load(path)
    assert list(config["provider"]) == ["local"]
    assert config["plugin"] == ["other", ["opencode-combined-models", GATEWAY_CHOICE.options()]]
    assert "// a local model" in path.read_text() and "/* mine */" in path.read_text()


def test_a_combined_provider_of_the_users_own_is_left_to_the_other_layouts(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{"provider": {"combined": {"options": {"baseURL": "http://x/v1"}}}}')
    export_opencode_config(path, CHOICE, layout="plugin")
    assert jsonc.load(path)["provider"] == {"combined": {"options": {"baseURL": "http://x/v1"}}}


@pytest.mark.parametrize(
    ("choice", "options", "message"),
    [
        (
            CHOICE,
            GatewayOptions(),
            "the gateway layout needs a combined model to serve: pass --combined ID (or --set-model)",
        ),
        (CHOICE, GatewayOptions(("claude-sonet-4",)), "no combined model 'claude-sonet-4' in the table"),
        (
            Choice(["mistral"], min_providers=1),
            GatewayOptions(("claude-sonnet-4", "claude-opus-4-1")),
            "provider 'mistral' offers none of claude-sonnet-4, claude-opus-4-1; drop it from --priority",
        ),
        (
            CHOICE,
            GatewayOptions(("claude-sonnet-4",), base_url="http://127.0.0.1:4141/"),
            "the gateway URL must end in /v1 (the SDK appends /chat/completions or /messages)",
        ),
    ],
)
def test_gateway_layout_refuses_what_cannot_be_served(tmp_path, table, choice, options, message):
    with pytest.raises(UserError) as info:
        plan_export(tmp_path / "opencode.json", choice, layout="gateway", combined=table, gateway=options)
    assert str(info.value).startswith(message)
    assert list(tmp_path.iterdir()) == []


def test_several_models_need_each_listed_provider_to_offer_one(table):
    check_against_catalog(
        Choice(["mistral", "anthropic"], min_providers=1), table, ["claude-sonnet-4", "mistral-large-latest"]
    )


def test_the_combined_provider_is_never_a_member_of_the_catalog(tmp_path, catalog_file, table):
    path = tmp_path / "opencode.json"
    export_opencode_config(path, GATEWAY_CHOICE, layout="gateway", combined=table)
    again = combined_table(load_catalog(str(catalog_file), config=path), min_providers=1)
    assert "combined" not in set(again["provider"])


def test_cli_exports_the_gateway_layout(cli, tmp_path, catalog_file, monkeypatch):
    monkeypatch.setenv("GW_TOKEN", "gw-secret-value")
    saved = GATEWAY_CHOICE.save(tmp_path / "choice.json")
    path = tmp_path / "opencode.json"
    args = [
        "export",
        "--config",
        str(path),
        "--source",
        str(catalog_file),
        "--from",
        str(saved),
        "--layout",
        "gateway",
        "--token-env",
        "GW_TOKEN",
        "--gateway-protocol",
        "anthropic",
        "--set-model",
        "combined/claude-sonnet-4",
    ]
    first = cli(*args)
    assert (first.code, first.out, first.err) == (0, f"created {path}\n", "")
    config = json.loads(path.read_text())
    assert config["model"] == "combined/claude-sonnet-4"
    assert config["provider"]["combined"]["options"]["apiKey"] == "{env:GW_TOKEN}"
    assert config["provider"]["combined"]["options"]["failover"] == GATEWAY_SECTION["options"]["failover"]
    assert "gw-secret-value" not in path.read_text() + first.out + first.err
    again = cli(*args)
    assert (again.code, again.out) == (0, f"{path} is already up to date; nothing written\n")
    assert read_gateway_settings(config).policy == GATEWAY_CHOICE.policy()


GATEWAY_BAD_INPUT = [
    (
        ["--layout", "plugin", "--gateway-url", "http://127.0.0.1:1/v1"],
        r"the gateway options \(--combined, --gateway-url, \.\.\.\) apply to --layout gateway, not plugin",
    ),
    (["--layout", "gateway"], r"the gateway layout needs a combined model to serve: pass --combined ID"),
    (
        ["--layout", "gateway", "--combined", "claude-sonnet-4"],
        r".*/opencode\.json: 'provider' must be an object of provider id -> settings$",
    ),
    (
        ["--layout", "gateway", "--combined", "claude-sonnet-4", "--token-env", "A-B"],
        r"--token-env takes the name of an environment variable, not 'A-B'",
    ),
    (
        ["--layout", "gateway", "--combined", "claude-sonnet-4", "--gateway-url", "http://127.0.0.1:4141"],
        r"the gateway URL must end in /v1",
    ),
]


@pytest.mark.parametrize(("extra", "message"), GATEWAY_BAD_INPUT, ids=[m[1][:30] for m in GATEWAY_BAD_INPUT])
def test_cli_gateway_bad_input_is_one_line_and_changes_nothing(cli, tmp_path, catalog_file, extra, message):
    path = tmp_path / "opencode.json"
    path.write_text('{"provider": []}' if "'provider'" in message else "{}")
    result = cli("export", "--config", str(path), "--source", str(catalog_file), *extra)
    assert (result.code, result.out) == (2, "")
    assert result.err.count("\n") == 1 and re.search("^error: " + message, result.err), result.err
    assert path.read_text() in ("{}", '{"provider": []}') and backups(tmp_path) == []


def test_a_provider_list_does_not_trip_the_other_layouts(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{"provider": []}')
    export_opencode_config(path, CHOICE, layout="plugin")  # not this export's to judge: OpenCode will say
    assert jsonc.load(path)["provider"] == []


# -- the openrouter layout through the Python API (the CLI offers the same registry) --------------

ROUTED_CHOICE = Choice(["anthropic", "amazon-bedrock", "openrouter"], combined_id="claude-sonnet-4")
ROUTED_JSONC = """{
  // mine
  "provider": {"openrouter": {"options": {"apiKey": "{env:OPENROUTER_API_KEY}"}}},
  "theme": "dark"
}
"""


def test_the_api_and_the_cli_offer_the_same_layouts(cli, tmp_path):
    assert list(LAYOUTS) == ["gateway", "combined_models", "plugin", "openrouter"]
    result = cli("export", "--help")
    assert all(f"{name}: {layout.description}"[:40] in " ".join(result.out.split()) for name, layout in LAYOUTS.items())
    with pytest.raises(UserError, match=r"^unknown layout 'openroute' \(did you mean openrouter\?\)$"):
        plan_export(tmp_path / "opencode.json", ROUTED_CHOICE, layout="openroute")


def test_openrouter_layout_routes_the_choices_model_and_keeps_the_rest(tmp_path, table):
    path = tmp_path / "opencode.jsonc"
    path.write_text(ROUTED_JSONC)
    plan = export_opencode_config(path, ROUTED_CHOICE, layout="openrouter", combined=table)
    assert plan.warnings == () and plan.notes == (
        "OpenRouter cannot express retries, backoff and Retry-After handling: OpenRouter's own, not configurable",
    )
    config = jsonc.load(path)
    assert config["provider"]["openrouter"] == {
        "options": {"apiKey": "{env:OPENROUTER_API_KEY}"},
        "models": {
            "anthropic/claude-sonnet-4": {
                "options": {"provider": {"order": ["anthropic", "amazon-bedrock"], "allow_fallbacks": True}}
            }
        },
    }
    assert config["model"] == "openrouter/anthropic/claude-sonnet-4" and config["theme"] == "dark"
    assert path.read_text().startswith("{\n  // mine\n") and len(backups(tmp_path)) == 1
    again = export_opencode_config(path, ROUTED_CHOICE, layout="openrouter", combined=table)
    assert not again.changed and len(backups(tmp_path)) == 1


def test_openrouter_layout_spreads_a_shuffled_policy_with_only(tmp_path, table):
    choice = Choice.from_policy(
        preset("litellm-1.110-shuffle", provider_priority=("amazon-bedrock", "anthropic")),
        combined_id="claude-sonnet-4",
        preset="litellm-1.110-shuffle",
    )
    plan = plan_export(tmp_path / "opencode.json", choice, layout="openrouter", combined=table)
    routing = json.loads(plan.new_text)["provider"]["openrouter"]["models"]["anthropic/claude-sonnet-4"]
    assert routing == {"options": {"provider": {"only": ["amazon-bedrock", "anthropic"]}}}
    assert "OpenRouter cannot express cooldown and circuit breaker: OpenRouter's own outage tracking instead" in (
        plan.notes
    )


@pytest.mark.parametrize(
    ("choice", "options", "message"),
    [
        (
            CHOICE,
            {},
            "the openrouter layout routes one combined model: pass --combined ID (the choice's combined_id)",
        ),
        (
            ROUTED_CHOICE,
            {"combined": None},
            "the openrouter layout finds the model's providers in the catalog: pass the combined table",
        ),
        (
            ROUTED_CHOICE,
            {"set_model": "combined/claude-sonnet-4"},
            "the openrouter layout sets the model to the OpenRouter one itself; drop --set-model and --plugin",
        ),
        (
            ROUTED_CHOICE,
            {"gateway": GatewayOptions(token_env="T")},
            "the gateway options (--combined, --gateway-url, ...) apply to --layout gateway, not openrouter",
        ),
        (
            Choice(["mistral"], min_providers=1, combined_id="mistral-large-latest"),
            {},
            "mistral-large-latest is not offered by openrouter in the catalog: no OpenRouter model to route",
        ),
    ],
)
def test_openrouter_layout_refuses_what_it_cannot_route(tmp_path, table, choice, options, message):
    with pytest.raises(UserError) as info:
        plan_export(tmp_path / "opencode.json", choice, layout="openrouter", **{"combined": table, **options})
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_cli_openrouter_layout_takes_the_model_from_combined(cli, tmp_path, catalog_file):
    path = tmp_path / "opencode.json"
    args = ["export", "--config", str(path), "--source", str(catalog_file), "--layout", "openrouter"]
    result = cli(*args, "--priority", "amazon-bedrock,anthropic", "--combined", "claude-sonnet-4")
    assert result.code == 0, result.err
    assert result.err == (
        "note: OpenRouter cannot express retries, backoff and Retry-After handling: OpenRouter's own, not configurable\n"
    )
    routing = json.loads(path.read_text())["provider"]["openrouter"]["models"]["anthropic/claude-sonnet-4"]
    assert routing["options"]["provider"] == {"order": ["amazon-bedrock", "anthropic"], "allow_fallbacks": True}
    two = cli(*args, "--combined", "claude-sonnet-4", "claude-opus-4-1")
    assert (two.code, two.err) == (2, "error: --layout openrouter routes one combined model: pass one --combined ID\n")
