"""Deployment variants: their kinds, the variants setting, and how the failover code, the
exporter and the CLI respect it on the real bundled catalog."""

from __future__ import annotations

import json

import pytest

from toolkit.catalog import load_catalog
from toolkit.choice import Choice
from toolkit.combine import combined_table
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.export import check_against_catalog, export_opencode_config
from toolkit.variants import allowed, check_setting, kind, reference, split_variant


@pytest.fixture(scope="module")
def table():
    return combined_table(load_catalog("bundled"), min_providers=1)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("", ""),
        ("tee", "same-weights"),
        ("coding", "same-weights"),
        ("fp8", "precision-reduced"),
        ("mlx-4bit", "precision-reduced"),
        ("fast", "speed-tier"),
        ("fp8-fast", "speed-tier"),
    ],
)
def test_kind_is_the_farthest_token(variant, expected):
    assert kind(variant) == expected


def test_settings_admit_kinds_cumulatively():
    admitted = {
        setting: [v for v in ("", "tee", "fp8", "turbo") if allowed(v, setting)]
        for setting in ("exact", "same-weights", "precision-reduced", "all")
    }
    assert admitted == {
        "exact": [""],
        "same-weights": ["", "tee"],
        "precision-reduced": ["", "tee", "fp8"],
        "all": ["", "tee", "fp8", "turbo"],
    }
    assert allowed("fp8", "exact", reference_variant="fp8")  # a model nobody offers plain
    with pytest.raises(UserError, match=r"unknown variants setting 'exakt' \(did you mean exact"):
        check_setting("exakt")


def test_reference_is_plain_else_the_most_offered():
    assert reference(["fp8", "", "tee"]) == ""
    assert reference(["fp8", "tee", "fp8"]) == "fp8"
    assert reference(["fp8", "tee"]) == "tee"  # a tie goes to the closer kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("glm-5-fp8", ("glm-5", ("fp8",))),
        ("llama-3-3-70b-instruct-fp8-fast", ("llama-3-3-70b-instruct", ("fp8", "fast"))),
        ("gpt-4-turbo", ("gpt-4-turbo", ())),
        ("fp8", ("fp8", ())),
        ("x-fp8-dynamic", ("x", ("fp8", "dynamic"))),
    ],
)
def test_split_variant_peels_only_unambiguous_tokens(text, expected):
    assert split_variant(text) == expected


def test_glm_5_members_by_setting(table):
    rows = table[table["combined_id"] == "glm-5"]
    assert set(rows.loc[rows["variant"] != "", "variant"]) == {"tee", "fp8", "fast"}
    assert "variants" in rows["flags"].iloc[0].split(",")
    served = {
        setting: sorted(
            (m.provider, m.variant) for m in CombinedModel.from_table(table, "glm-5", setting).members if m.variant
        )
        for setting in ("exact", "same-weights", "precision-reduced", "all")
    }
    assert served["exact"] == []
    assert served["same-weights"] == [("chutes", "tee")]  # nano-gpt serves glm-5 plain too: its plain member stays
    assert served["precision-reduced"] == [("chutes", "tee"), ("gmicloud", "fp8"), ("vultr", "fp8"), ("wandb", "fp8")]
    assert served["all"] == sorted([*served["precision-reduced"], ("neuralwatt", "fast")])
    exact = CombinedModel.from_table(table, "glm-5", "exact")
    assert exact.member("nano-gpt").model_ref == "nano-gpt/zai-org/glm-5"
    assert len(exact.members) == rows.loc[rows["variant"] == "", "provider"].nunique()


def test_spreads_compare_the_reference_variant_only(table):
    rows = table[table["combined_id"] == "glm-5"]
    plain = rows[rows["variant"] == ""]
    assert rows["combined_context_limit"].iloc[0] == plain["context_limit"].min()


def test_export_checks_and_writes_the_setting(table, tmp_path):
    variant_only = ["gmicloud", "vultr"]  # they serve glm-5 as FP8 only; most others serve it plain
    choice = Choice(provider_priority=variant_only, min_providers=2, combined_id="glm-5")
    with pytest.raises(UserError, match=r"^provider 'gmicloud' does not offer glm-5"):
        check_against_catalog(choice, table)
    reduced = choice.with_overrides(variants="precision-reduced")
    check_against_catalog(reduced, table)
    # among themselves the FP8 build is the reference, so exact already accepts them
    check_against_catalog(choice, table[table["provider"].isin(variant_only)])
    path = tmp_path / "opencode.json"
    export_opencode_config(path, reduced, layout="plugin", combined=table)
    assert json.loads(path.read_text())["plugin"][0][1] == {
        "provider_priority": variant_only,
        "min_providers": 2,
        "strategy": "on_error",
        "max_attempts": 3,
        "variants": "precision-reduced",
    }


def test_cli_simulate_uses_the_setting(cli):
    args = [
        "simulate",
        "--scenario",
        "calm-day",
        "--source",
        "bundled",
        "--combined",
        "glm-5",
        "--providers",
        "gmicloud,vultr,zai",
        "--requests",
        "50",
        "--json",
    ]
    exact = cli(*args)  # zai serves glm-5 plain, gmicloud and vultr only as FP8
    assert exact.code == 2 and exact.err.splitlines()[-1].startswith(
        "error: provider 'gmicloud' does not offer glm-5 (variants: exact); it is offered by 302ai, "
    )
    reduced = cli(*args, "--variants", "precision-reduced")
    assert reduced.code == 0, reduced.err
    assert {k for k in json.loads(reduced.out) if k.startswith("share_")} == {
        "share_gmicloud",
        "share_vultr",
        "share_zai",
    }


def test_recommend_and_cli_carry_the_setting_into_the_choice(cli, tmp_path):
    import pandas as pd

    from toolkit.sweeps import recommend

    results = pd.DataFrame(
        [
            {
                "combined_id": "glm-5",
                "preset": "seed-on-error",
                "strategy": "on_error",
                "priority": "gmicloud>zai",
                "max_attempts": 2,
                "scenario": "s",
                "seed": seed,
                "success_rate": 1.0,
                "latency_p95_s": 1.0 + seed / 100,
                "cost_per_success_usd": 0.1,
            }
            for seed in range(3)
        ]
    )
    assert recommend(results, variants="precision-reduced").choice.variants == "precision-reduced"
    assert recommend(results).choice.variants == "exact"
    path, saved = tmp_path / "results.csv", tmp_path / "choice.json"
    results.to_csv(path, index=False)
    result = cli("recommend", "--results", str(path), "--variants", "precision-reduced", "--save", str(saved))
    assert result.code == 0, result.err
    assert json.loads(saved.read_text())["variants"] == "precision-reduced"


def test_cli_export_checks_the_setting_against_a_newer_catalog(cli, tmp_path):
    from toolkit.data_files import path as data_path

    config = tmp_path / "opencode.json"
    args = [
        "export",
        "--config",
        str(config),
        "--source",
        str(data_path("newer_catalog.json")),
        "--layout",
        "plugin",
        "--priority",
        "gmicloud,vultr",
        "--set-model",
        "combined/glm-5-2",
    ]
    refused = cli(*args)  # both serve GLM-5.2 as FP8 only
    assert refused.code == 2 and refused.err.startswith("error: provider 'gmicloud' does not offer glm-5-2")
    assert not config.exists()
    written = cli(*args, "--variants", "precision-reduced")
    assert written.code == 0, written.err
    options = json.loads(config.read_text())["plugin"][0][1]
    assert (options["provider_priority"], options["variants"]) == (["gmicloud", "vultr"], "precision-reduced")
