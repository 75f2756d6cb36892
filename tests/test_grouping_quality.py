"""Grouping quality on the hand-labelled pairs and on the held-out synthetic newer catalog.

The floors are what the grouping reached when these sets were built (docs/catalog.md,
"Grouping quality"); a change that loses a pair fails here and says which.
"""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.catalog import load_catalog
from toolkit.data_files import path
from toolkit.grouping_quality import catalog_scores, labelled_pairs, labelled_result, newer_catalog, scores
from toolkit.normalize import normalize_models

# (precision, recall) reached: labelled 157 of 162 positive pairs and no false join,
# newer catalog 420 of 427 and no false join
LABELLED_FLOOR = (1.0, 0.969)
NEWER_FLOOR = (1.0, 0.983)
CATEGORIES = {
    "bedrock-v1",
    "glued-version",
    "tee",
    "quantization",
    "speed-tier",
    "coding-plan",
    "word-order",
    "short-name",
    "plain",
    "size",
    "version",
    "mini-full",
    "preview-ga",
    "snapshot",
    "thinking",
    "finetune",
}


@pytest.fixture(scope="module")
def judged():
    return labelled_result()


def test_labelled_pairs_are_well_formed():
    pairs = labelled_pairs()
    refs = set(load_catalog("bundled")["model_ref"])
    assert len(pairs) >= 200
    assert set(pairs["label"]) == {"same", "variant", "different"}
    assert set(pairs["category"]) == CATEGORIES
    assert set(pairs["model_a"]) | set(pairs["model_b"]) <= refs
    assert (pairs["model_a"].str.split("/").str[0] != pairs["model_b"].str.split("/").str[0]).all()
    assert not pairs[["model_a", "model_b"]].apply(frozenset, axis=1).duplicated().any()
    assert pairs["reason"].str.len().min() > 5
    counts = pairs.groupby("category")["label"].agg(lambda labels: set(labels))
    # every category of spelling has joins it must make and joins it must not make
    for category in (
        "bedrock-v1",
        "glued-version",
        "tee",
        "quantization",
        "speed-tier",
        "coding-plan",
        "word-order",
        "short-name",
    ):
        assert "different" in counts[category] and counts[category] - {"different"}, category


def test_labelled_precision_and_recall_hold(judged):
    result = scores(judged)
    missed = judged[judged["positive"] & ~judged["predicted"]]
    wrong = judged[~judged["positive"] & judged["predicted"]]
    assert (result.precision, len(wrong)) >= (LABELLED_FLOOR[0], 0), wrong[["model_a", "model_b"]].to_string()
    assert result.recall >= LABELLED_FLOOR[1], missed[["model_a", "model_b", "category"]].to_string()


def test_joined_variants_are_named(judged):
    joined = judged[(judged["label"] == "variant") & judged["predicted"]]
    differs = joined["variant_a"] != joined["variant_b"]
    # two TEE builds are one variant; a reseller's "Uncensored" wrapper of a closed model has no id token
    assert sorted(joined.loc[~differs, "model_a"]) == ["chutes/zai-org/GLM-5-TEE", "venice/qwen-3-6-plus"]
    same = judged[(judged["label"] == "same") & judged["predicted"]]
    assert (same["variant_a"] == same["variant_b"]).all()


@pytest.fixture(scope="module")
def newer():
    return newer_catalog()


def test_newer_catalog_loads_as_a_user_catalog(newer):
    models = load_catalog(str(path("newer_catalog.json")))
    assert models.attrs["source"].endswith("newer_catalog.json")
    assert sorted(models["model_ref"]) == sorted(newer["model_ref"])
    assert newer["provider"].nunique() >= 40 and newer["model"].nunique() >= 25


def test_newer_catalog_precision_and_recall_hold(newer):
    result = catalog_scores(newer)
    assert result.precision >= NEWER_FLOOR[0], result
    assert result.recall >= NEWER_FLOOR[1], result


def test_newer_catalog_variants_are_found(newer):
    grouped = normalize_models(newer)
    assert grouped["variant"].tolist() == grouped["true_variant"].tolist()
    assert grouped.loc[grouped["model"] == "glm-5-2", "combined_id"].unique().tolist() == ["glm-5-2"]
    assert set(grouped.loc[grouped["model"] == "glm-5-2", "variant"]) == {"", "tee", "fp8", "6bit", "coding", "fast"}
    # the closed GLM-5.2-Turbo five weeks later, and Grok 5 Fast with 2M context, are models of their own
    for one, other in [
        ("glm-5-2-turbo", "glm-5-2"),
        ("grok-5-fast", "grok-5"),
        ("gemini-3-5-pro-preview-07-15", "gemini-3-5-pro"),
    ]:
        ids = grouped.groupby("model")["combined_id"].agg(set)
        assert not ids[one] & ids[other], (one, other)


def test_combine_on_a_newer_opencode_cache_groups_every_provider(cli, isolated_home, tmp_path, newer):
    """``--source auto`` picks the user's OpenCode cache first; a newer catalog there groups as well."""
    cache = isolated_home / ".cache" / "opencode" / "models.json"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(path("newer_catalog.json").read_bytes())
    out = tmp_path / "combined.csv"
    result = cli("combine", "--source", "auto", "--min-providers", "2", "--out", str(out))
    assert result.code == 0, result.err
    assert result.out.startswith(f"source: opencode-cache ({cache})")
    table = pd.read_csv(out, keep_default_na=False)
    glm = table[table["combined_id"] == "glm-5-2"]
    expected = newer[newer["model"] == "glm-5-2"]
    assert sorted(glm["model_ref"]) == sorted(expected["model_ref"])
    assert sorted(glm["variant"]) == sorted(expected["true_variant"])
