"""Normalization on the real bundled catalog, on hand-picked spellings, and as properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.catalog import load_catalog
from toolkit.errors import UserError
from toolkit.normalize import Overrides, catalog_facts, load_overrides, normalize_id, normalize_models


@pytest.fixture(scope="module")
def normalized():
    return normalize_models(load_catalog("bundled")).set_index("model_ref")


def group_of(normalized, ref: str) -> str:
    return normalized.loc[ref, "combined_id"]


def ids_where(normalized, last_segment: str) -> set[str]:
    """Canonical ids of every row whose id, without path prefix and case, is ``last_segment``."""
    tail = normalized["model_id"].str.lower().str.rsplit("/", n=1).str[-1]
    return set(normalized.loc[tail == last_segment, "combined_id"])


CLAUDE_SONNET_4 = [
    "anthropic/claude-sonnet-4-20250514",
    "anthropic/claude-sonnet-4-0",
    "google-vertex-anthropic/claude-sonnet-4@20250514",
    "openrouter/anthropic/claude-sonnet-4",
    "github-copilot/claude-sonnet-4",
]
CLAUDE_SONNET_4_5 = [
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-sonnet-4-5-20250929",
    "amazon-bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
    "google-vertex-anthropic/claude-sonnet-4-5@20250929",
    "openrouter/anthropic/claude-sonnet-4.5",
    "github-copilot/claude-sonnet-4.5",
]


@pytest.mark.parametrize(
    ("combined_id", "refs"), [("claude-sonnet-4", CLAUDE_SONNET_4), ("claude-sonnet-4-5", CLAUDE_SONNET_4_5)]
)
def test_known_groups_hold_on_the_bundled_catalog(normalized, combined_id, refs):
    assert {ref: group_of(normalized, ref) for ref in refs} == dict.fromkeys(refs, combined_id)


def test_every_bedrock_region_profile_joins_claude_sonnet_4_5(normalized):
    pattern = re.compile(r"amazon-bedrock/([a-z]+\.)anthropic\.claude-sonnet-4-5-20250929-v1:0")
    profiles = [ref for ref in normalized.index if pattern.fullmatch(ref)]
    assert {p.split("/")[1].split(".")[0] for p in profiles} >= {"us", "eu", "global"}
    assert {group_of(normalized, p) for p in profiles} == {"claude-sonnet-4-5"}
    assert all("region profile dropped" in normalized.loc[p, "match_rules"] for p in profiles)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"),
        ("deepseek-r1", "deepseek-r1-0528"),
        ("deepseek-r1-0528", "deepseek-r1-0528-qwen3-8b"),
        ("claude-sonnet-4", "claude-sonnet-4-thinking"),
    ],
)
def test_different_models_never_share_a_group(normalized, one, other):
    ones, others = ids_where(normalized, one), ids_where(normalized, other)
    assert ones and others
    assert not ones & others


def test_dated_gpt_4o_snapshots_stay_apart(normalized):
    tails = normalized["model_id"].str.lower().str.rsplit("/", n=1).str[-1]
    dated = sorted(set(tails[tails.str.fullmatch(r"gpt-4o-\d{4}-\d\d-\d\d")]))
    assert len(dated) == 3
    groups = [ids_where(normalized, tail) for tail in dated]
    assert all(len(g) == 1 for g in groups)
    assert len(set().union(*groups)) == 3
    assert not ids_where(normalized, "gpt-4o") & set().union(*groups)


def test_undated_alias_of_several_snapshots_stays_apart_and_is_flagged(normalized):
    facts = catalog_facts(load_catalog("bundled"))
    assert {"claude-3-5-sonnet", "gpt-4o"} <= facts.several_snapshots
    assert "claude-sonnet-4" in facts.only_snapshot and "deepseek-r1" not in facts.only_snapshot
    for base in facts.several_snapshots:
        undated = normalized[normalized["combined_id"] == base]
        dated = normalized[normalized["combined_id"].str.startswith(base + "-")]
        assert not set(undated.index) & set(dated.index)
        assert undated["match_rules"].str.contains("undated alias of several snapshots").all()


@pytest.mark.parametrize(
    ("model_id", "expected", "rule"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", "bedrock version dropped"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4-20250514", "vertex date"),
        ("claude-sonnet-4-6@default", "claude-sonnet-4-6", "routing suffix dropped"),
        ("anthropic--claude-4.5-sonnet", "claude-sonnet-4-5", "claude word order"),
        ("claude-sonnet-3.7", "claude-3-7-sonnet", "claude word order"),
        ("gpt-4o-2024-05-13", "gpt-4o-20240513", "date split off"),
        ("meta-llama/Llama-3.3-70B-Instruct:free", "llama-3-3-70b-instruct", "tier suffix dropped"),
        ("gpt-oss:120b", "gpt-oss-120b", "size tag kept"),
        ("anthropic/claude-sonnet-4.6:thinking", "claude-sonnet-4-6-thinking", "thinking tag kept"),
        ("claude-sonnet-4-thinking:8192", "claude-sonnet-4-thinking", "budget suffix dropped"),
        ("deepseek.r1-v1:0", "deepseek-r1", "vendor prefix kept for a short name"),
        ("claude-opus-4-0", "claude-opus-4", "zero minor version dropped"),
        ("qwen3-235b-a22b-instruct-2507", "qwen3-235b-a22b-instruct-2507", "date split off"),
    ],
)
def test_spellings_without_catalog_facts(model_id, expected, rule):
    result = normalize_id("any", model_id)
    assert result.canonical_id == expected
    assert rule in result.rules


def test_organisation_prefix_needs_a_known_model(normalized):
    assert group_of(normalized, "databricks/databricks-claude-sonnet-4") == "claude-sonnet-4"
    assert "organisation prefix dropped" in normalized.loc["digitalocean/openai-gpt-4o", "match_rules"]
    assert group_of(normalized, "mistral/mistral-large-latest") == "mistral-large-latest"


def test_overrides_win_over_rules(tmp_path):
    models = load_catalog("bundled")
    path = tmp_path / "overrides.jsonc"
    path.write_text(
        '{// pin a row and drop one\n "aliases": {"openrouter/anthropic/claude-sonnet-4": "my-sonnet"},'
        ' "exclude": ["github-copilot/claude-sonnet-4"]}'
    )
    overrides = load_overrides(path)
    out = normalize_models(models, overrides).set_index("model_ref")
    assert out.loc["openrouter/anthropic/claude-sonnet-4", ["combined_id", "match_rules"]].tolist() == [
        "my-sonnet",
        "user alias",
    ]
    assert "github-copilot/claude-sonnet-4" not in out.index
    assert len(out) == len(models) - 1


def test_overrides_naming_unknown_model_refs_are_rejected(tmp_path):
    models = load_catalog("bundled")
    with pytest.raises(UserError, match="unknown model_ref in the overrides 'anthropic/claude-sonet-4'"):
        normalize_models(models, Overrides(exclude=frozenset({"anthropic/claude-sonet-4"})))
    bad = tmp_path / "o.json"
    bad.write_text('{"alias": {}}')
    with pytest.raises(UserError, match="only 'aliases' and 'exclude'"):
        load_overrides(bad)


# Property tests: ids built from tokens that occur in real catalogs, starting with a family
# name as real ids do (a bare ``r1`` after ``deepseek.`` deliberately keeps its vendor).
_NAMES = st.sampled_from(["claude", "gpt", "llama", "qwen3", "deepseek", "gemini", "mistral", "glm"])
_TOKENS = st.sampled_from(
    [
        "claude",
        "sonnet",
        "opus",
        "gpt",
        "4o",
        "4",
        "5",
        "0",
        "3",
        "llama",
        "70b",
        "instruct",
        "r1",
        "mini",
        "thinking",
        "20250514",
        "0528",
        "2024-05-13",
        "qwen3",
        "v2",
        "latest",
        "preview",
        "fp8",
    ]
)
_SEPARATORS = st.sampled_from(["-", "-", "-", ".", "_"])
_SUFFIXES = st.sampled_from(["", ":free", ":thinking", ":120b", "-v1:0", "@20250514", "@default", ":1024"])


@st.composite
def model_ids(draw) -> str:
    text = draw(_NAMES)
    for token in draw(st.lists(_TOKENS, max_size=5)):
        text += draw(_SEPARATORS) + token
    text = text if draw(st.booleans()) else text.upper()
    return text + draw(_SUFFIXES)


@given(model_ids())
def test_normalization_is_idempotent(model_id):
    once = normalize_id("p", model_id).canonical_id
    assert normalize_id("p", once).canonical_id == once


@given(
    model_ids(),
    st.sampled_from(
        ["anthropic/", "openai/", "accounts/fireworks/models/", "us.anthropic.", "global.meta.", "hf:org/"]
    ),
)
def test_provider_prefix_never_changes_the_canonical_id(model_id, prefix):
    assert normalize_id("a", prefix + model_id).canonical_id == normalize_id("a", model_id).canonical_id


FACTS = catalog_facts(load_catalog("bundled"))


@given(model_ids(), st.sampled_from(["anthropic", "openrouter", "amazon-bedrock", "x"]))
def test_provider_never_changes_the_canonical_id(model_id, provider):
    assert normalize_id(provider, model_id, facts=FACTS) == normalize_id("other", model_id, facts=FACTS)


# Each category of spelling the evidence joins, both ways: rows that must join a group
# (with the variant they serve) and rows that must stay out of it.
JOINS = [
    ("amazon-bedrock/anthropic.claude-opus-4-6-v1", "claude-opus-4-6", ""),
    ("amazon-bedrock/global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6", ""),
    ("github-copilot/claude-opus-41", "claude-opus-4-1", ""),
    ("cortecs/claude-opus4-7", "claude-opus-4-7", ""),
    ("venice/openai-gpt-55", "gpt-5-5", ""),
    ("nano-gpt/qwen-3.6-plus", "qwen3-6-plus", ""),
    ("chutes/zai-org/GLM-5-TEE", "glm-5", "tee"),
    ("nano-gpt/TEE/glm-5", "glm-5", "tee"),
    ("gmicloud/zai-org/GLM-5-FP8", "glm-5", "fp8"),
    ("routing-run/route/glm-5.1-6bit", "glm-5-1", "6bit"),
    ("neuralwatt/kimi-k2.5-fast", "kimi-k2-5", "fast"),
    ("moonshotai/kimi-k2-thinking-turbo", "kimi-k2-thinking", "turbo"),
    ("llmgateway/minimax-m2.1-lightning", "minimax-m2-1", "lightning"),
    ("aihubmix/coding-glm-5.1", "glm-5-1", "coding"),
    ("amazon-bedrock/nvidia.nemotron-super-3-120b", "nemotron-3-super-120b-a12b", ""),
    ("digitalocean/nvidia-nemotron-3-super-120b", "nemotron-3-super-120b-a12b", ""),
    ("kimi-for-coding/k2p5", "kimi-k2-5", ""),
    ("fireworks-ai/accounts/fireworks/models/kimi-k2p5", "kimi-k2-5", ""),
]


@pytest.mark.parametrize(("ref", "combined_id", "variant"), JOINS)
def test_new_spellings_join_their_model(normalized, ref, combined_id, variant):
    assert normalized.loc[ref, ["combined_id", "variant"]].tolist() == [combined_id, variant]


@pytest.mark.parametrize(
    ("one", "other", "why"),
    [
        ("openai/gpt-4-turbo", "openai/gpt-4", "a turbo released months later with 16x the context"),
        ("zai/glm-5-turbo", "zai/glm-5", "a turbo released five weeks later: not a speed tier"),
        ("zenmux/x-ai/grok-4-fast", "zenmux/x-ai/grok-4", "2M context against 256k"),
        ("zai/glm-5.1", "zai/glm-5", "another version"),
        ("openai/gpt-5-mini", "openai/gpt-5", "mini against full"),
        ("openrouter/qwen/qwen3-32b", "openrouter/qwen/qwen3-30b-a3b", "another size"),
        ("openrouter/google/gemini-2.5-pro-preview-05-06", "openrouter/google/gemini-2.5-pro", "preview against GA"),
        ("moonshotai/kimi-k2-thinking", "moonshotai/kimi-k2-0905-preview", "thinking stays its own model"),
        ("nvidia/nvidia/nemotron-3-nano-30b-a3b", "nvidia/nvidia/nemotron-3-super-120b-a12b", "nano against super"),
        ("amazon-bedrock/anthropic.claude-opus-4-6-v1", "anthropic/claude-opus-4-5", "bedrock -v1: another version"),
        ("venice/openai-gpt-55", "openai/gpt-5.5-pro", "glued version: full against pro"),
        ("github-copilot/claude-opus-41", "anthropic/claude-opus-4-5", "glued version: 4.1 against 4.5"),
        ("chutes/zai-org/GLM-5-TEE", "zai/glm-5.1", "tee: another version"),
        ("llmgateway/qwen3-32b-fp8", "openrouter/qwen/qwen3-30b-a3b", "quantization: another size"),
        ("aihubmix/coding-glm-5.1", "zai/glm-5", "coding plan: another version"),
        ("kimi-for-coding/k2p5", "moonshotai/kimi-k2.6", "short name: another version"),
        (
            "amazon-bedrock/nvidia.nemotron-nano-9b-v2",
            "vercel/nvidia/nemotron-nano-12b-v2-vl",
            "word order: another size",
        ),
        ("nano-gpt/huihui-ai/Qwen2.5-32B-Instruct-abliterated", "siliconflow/Qwen/Qwen2.5-32B-Instruct", "a fine-tune"),
    ],
)
def test_never_together(normalized, one, other, why):
    assert group_of(normalized, one) != group_of(normalized, other), why


@pytest.mark.parametrize(
    ("model_id", "expected", "variant", "rule"),
    [
        ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6", "", "bedrock version dropped"),
        ("zai-org/GLM-5-TEE", "glm-5", "tee", "variant split off"),
        ("TEE/glm-5", "glm-5", "tee", "tee folder as variant"),
        ("glm-5.1-6bit", "glm-5-1", "6bit", "variant split off"),
        ("Qwen/Qwen3-30B-A3B-Instruct-2507-FP8", "qwen3-30b-a3b-instruct-2507", "fp8", "date split off"),
        ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "llama-3-3-70b-instruct", "fp8-fast", "variant split off"),
        ("Qwen3_5-9B-MLX-4bit", "qwen3-5-9b", "mlx-4bit", "version dots as dashes"),
        ("kimi-k2p5", "kimi-k2-5", "", "p as decimal point"),
    ],
)
def test_variant_spellings_without_catalog_facts(model_id, expected, variant, rule):
    result = normalize_id("any", model_id)
    assert (result.canonical_id, result.variant) == (expected, variant)
    assert rule in result.rules


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("gpt-4-turbo", "gpt-4-turbo"),  # a speed word alone needs catalog evidence
        ("grok-4-fast", "grok-4-fast"),
        ("nvidia.nemotron-nano-9b-v2", "nemotron-nano-9b-v2"),  # only an undated Bedrock ``-v1`` goes
        ("mistral-dynamic", "mistral-dynamic"),
        ("coding-glm-5.1", "coding-glm-5-1"),  # a coding plan needs the model to be known
    ],
)
def test_ambiguous_words_stay_without_catalog_facts(model_id, expected):
    result = normalize_id("any", model_id)
    assert (result.canonical_id, result.variant) == (expected, "")


@pytest.mark.parametrize(
    ("ref", "rule"),
    [
        ("github-copilot/claude-opus-41", "spelling joins claude-opus-4-1 (dates, name versions agree)"),
        ("neuralwatt/kimi-k2.5-fast", "speed tier as variant (dates, name versions, open weights, context agree)"),
        ("zenmux/x-ai/grok-4-fast", "speed tier of grok-4 refused: context limits differ"),
        ("zai/glm-5-turbo", "speed tier of glm-5 refused: open weights differ"),
    ],
)
def test_match_rules_say_which_evidence_decided(normalized, ref, rule):
    assert rule in normalized.loc[ref, "match_rules"].split(";")
