"""From a provider's model id to a canonical id shared by every provider selling that model.

Two passes. :func:`parse_id` rewrites one id on its own (prefixes, suffixes, spelling)
and splits off a snapshot tag (a date such as ``20250514`` or ``0528``). Then
:func:`catalog_facts` reads the whole catalog to settle what a single id cannot:

* **dates**: an undated id (``claude-sonnet-4``) joins a dated one
  (``claude-sonnet-4-20250514``) only when the catalog knows exactly one snapshot of that
  model and the undated rows were not released clearly before it (``deepseek-r1``,
  January, is not ``deepseek-r1-0528``). With several snapshots, each is its own group
  and the undated id stays apart, flagged as an alias;
* **organisation prefixes glued with a dash** (``databricks-claude-sonnet-4``,
  ``openai-gpt-4o``): dropped only when the prefix is an organisation the catalog uses
  and the rest is a model the catalog knows, so ``mistral-large`` keeps its name.

* **evidence joins** (:mod:`toolkit.evidence`): spellings, speed tiers, coding plans and
  vendor short names that only the catalog's dates, limits, names and open weights can
  tell apart from different models.

Deployment variants (``-fp8``, ``-tee``, ``TEE/``, ...; :mod:`toolkit.variants`) join the
plain model's combined id and are named in ``variant``. Every rewrite that fires is
recorded by name, so a grouping can be explained (``match_rules``). Rules never depend
on the provider, so the same spelling always lands in the same group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from toolkit import jsonc
from toolkit.errors import UserError, check_known
from toolkit.evidence import DATE_SLACK, Join, base_facts, find_joins, release_dates, squashed, word_key
from toolkit.variants import split_variant

# Rules that mark a second spelling of a model at the same provider (a region profile, a
# tier, a routing hint, an undated alias). The combined table prefers ids with fewer.
VARIANT_RULES = frozenset(
    {
        "region profile dropped",
        "tier suffix dropped",
        "routing suffix dropped",
        "budget suffix dropped",
        "undated alias joins its only snapshot",
        "undated alias of several snapshots",
    }
)

_DOTTED_PREFIX = re.compile(r"^([a-z][a-z0-9]*)\.(?=[a-z])")  # no dash: a prefix is one word
_SIZE_TAG = re.compile(r"^\d+(\.\d+)?[bmkt](-[a-z0-9-]+)?$")
_BEDROCK_VERSION = re.compile(r"-v\d+$")
_VERSION_DOT = re.compile(r"(?<=\d)[._](?=\d)")
_POINT_P = re.compile(r"(?<=\d)p(?=\d)")  # ``k2p5``: a vendor's ``p`` for the decimal point
_CLAUDE_NEW = re.compile(r"^claude-(\d+)(?:-(\d))?-(opus|sonnet|haiku)(?=-|$)")
_CLAUDE_OLD = re.compile(r"^claude-(opus|sonnet|haiku)-([1-3])(?:-(\d))?(?=-|$)")
# The last full date in the id (``-20250514`` or ``-2024-05-13``); the last, so that the
# canonical form ``base-date`` parses back to itself.
_LONG_DATE = re.compile(r"^(.+)-(20\d\d-?\d\d-?\d\d)(?=-|$)")
_SHORT_DATE = re.compile(r"^(.+)-(\d{4})$")
_ZERO_MINOR = re.compile(r"-(\d+)(?:-0)+$")
_DASH = re.compile("-")
_WORD_START = re.compile(r"[a-z]{3}")  # a model name after an organisation starts with a word


class Normalized(NamedTuple):
    """A canonical id, the rules that produced it, and its parts."""

    canonical_id: str
    rules: tuple[str, ...]
    base: str  # the canonical id without its snapshot tag
    snapshot: str | None  # ``20250514`` / ``0528``, or None for an undated id
    variant: str = ""  # deployment variant (``fp8``, ``tee``, ``fast``), ``""`` for the plain model


def _short_date(tag: str) -> bool:
    """A 4-digit tag that reads as a date: MMDD (``0528``) or YYMM (``2507``)."""
    a, b = int(tag[:2]), int(tag[2:])
    return (1 <= a <= 12 and 1 <= b <= 31) or (23 <= a <= 29 and 1 <= b <= 12)


def _colon_parts(model_id: str, rules: list[str]) -> str:
    """Handle ``:`` suffixes: size tags and ``:thinking`` are kept as part of the name,
    versions and thinking budgets (digits) and tiers (``:free``, ``:beta``) are dropped."""
    head, *parts = model_id.split(":")
    for part in parts:
        if _SIZE_TAG.match(part):
            head += f"-{part}"
            rules.append("size tag kept")
        elif part == "thinking":
            head += "-thinking"
            rules.append("thinking tag kept")
        elif part.isdigit():
            if part == "0" and _BEDROCK_VERSION.search(head):
                head = _BEDROCK_VERSION.sub("", head)
                rules.append("bedrock version dropped")
            else:
                rules.append("version dropped" if part == "0" else "budget suffix dropped")
        elif part:
            rules.append("tier suffix dropped")
    return head


def _at_suffix(model_id: str, rules: list[str]) -> str:
    """Vertex ``@20250514`` becomes a date; ``@001`` (version) and ``@default``/``@eu`` (routing) go."""
    head, _, tail = model_id.partition("@")
    if re.fullmatch(r"20\d{6}", tail):
        rules.append("vertex date")
        return f"{head}-{tail}"
    rules.append("version dropped" if tail.isdigit() else "routing suffix dropped")
    return head


def _dotted_prefixes(model_id: str, rules: list[str]) -> str:
    """Drop Bedrock-style ``region.vendor.`` prefixes; keep the vendor for very short names (``deepseek.r1``)."""
    dropped = []
    while match := _DOTTED_PREFIX.match(model_id):
        dropped.append(match.group(1))
        model_id = model_id[match.end() :]
    if not dropped:
        return model_id
    if len(dropped) > 1:
        rules.append("region profile dropped")
    if re.match(r"[a-z]{3}", model_id):
        rules.append("vendor prefix dropped")
        return model_id
    rules.append("vendor prefix kept for a short name")
    return f"{dropped[-1]}-{model_id}"


def _snapshot(model_id: str, rules: list[str]) -> tuple[str, str | None]:
    """Split ``model_id`` into (base, snapshot tag)."""
    if (match := _LONG_DATE.match(model_id)) and len(match.group(2)) in (8, 10):
        base, tag = match.group(1) + model_id[match.end() :], match.group(2).replace("-", "")
    elif (match := _SHORT_DATE.match(model_id)) and _short_date(match.group(2)):
        base, tag = match.group(1), match.group(2)
    else:
        return model_id, None
    rules.append("date split off")
    return base, tag


@cache
def parse_id(model_id: str) -> Normalized:
    """Normalize one id without catalog knowledge (cached: providers repeat the same ids)."""
    rules: list[str] = []
    text = model_id.strip()
    if text != text.lower():
        rules.append("lowercased")
        text = text.lower()
    variant: list[str] = []
    if "/" in text:
        rules.append("path prefix dropped")
        folders, _, text = text.rpartition("/")
        if "tee" in folders.split("/"):  # nano-gpt's ``TEE/x``: x in a trusted execution environment
            rules.append("tee folder as variant")
            variant.append("tee")
    if "@" in text:
        text = _at_suffix(text, rules)
    if ":" in text:
        text = _colon_parts(text, rules)
    text = _dotted_prefixes(text, rules)
    if "vendor prefix dropped" in rules and text.endswith("-v1"):  # an undated Bedrock id without ``:0``
        rules.append("bedrock version dropped")
        text = text.removesuffix("-v1")
    if "--" in text:
        rules.append("vendor prefix dropped")
        text = text.split("--", 1)[1]
    if _VERSION_DOT.search(text):
        rules.append("version dots as dashes")
        text = _VERSION_DOT.sub("-", text)
    if _POINT_P.search(text):
        rules.append("p as decimal point")
        text = _POINT_P.sub("-", text)
    if (match := _CLAUDE_NEW.match(text)) and int(match.group(1)) >= 4:
        version = "-".join(v for v in match.group(1, 2) if v)
        text = f"claude-{match.group(3)}-{version}{text[match.end() :]}"
        rules.append("claude word order")
    elif match := _CLAUDE_OLD.match(text):
        version = "-".join(v for v in match.group(2, 3) if v)
        text = f"claude-{version}-{match.group(1)}{text[match.end() :]}"
        rules.append("claude word order")
    text, peeled = split_variant(text)
    if peeled:
        rules.append("variant split off")
        variant.extend(v for v in peeled if v not in variant)
    base, tag = _snapshot(text, rules)
    if _ZERO_MINOR.search(base):
        rules.append("zero minor version dropped")
        base = _ZERO_MINOR.sub(lambda m: f"-{m.group(1)}", base)
    return Normalized(f"{base}-{tag}" if tag else base, tuple(rules), base, tag, "-".join(variant))


@dataclass(frozen=True)
class CatalogFacts:
    """What the whole catalog says about ids: organisations, known models, joins, snapshots."""

    orgs: frozenset[str] = frozenset()  # path prefixes and provider ids
    bases: frozenset = frozenset()  # every base id after the first pass, and its spelling keys
    joins: Mapping[str, Join] = field(default_factory=dict)  # base -> where the evidence sends it
    refused: Mapping[str, str] = field(default_factory=dict)  # base -> a join the evidence refused, and why
    only_snapshot: Mapping[str, str] = field(default_factory=dict)  # base -> its one snapshot, undated joins
    several_snapshots: frozenset[str] = frozenset()  # bases with two or more snapshots
    org_rest: Mapping[str, str | None] = field(default_factory=dict)  # base -> without its organisation (None: kept)

    @cached_property
    def org_heads(self) -> frozenset[str]:
        """First words of the organisations: most ids start with none of them (a quick no)."""
        return frozenset(org.partition("-")[0] for org in self.orgs)


def _known(rest: str, facts: CatalogFacts) -> bool:
    return rest in facts.bases or squashed(rest) in facts.bases or word_key(rest) in facts.bases


def _org_rest(base: str, facts: CatalogFacts) -> str | None:
    """``model`` of ``org-model`` when ``org`` is an organisation and ``model`` is known (as
    spelled, or in another spelling the evidence joins: ``openai-gpt-55``); else None."""
    if base.partition("-")[0] not in facts.org_heads:
        return None
    for dash in _DASH.finditer(base):
        org, rest = base[: dash.start()], base[dash.end() :]
        if org in facts.orgs and _WORD_START.match(rest) and _known(rest, facts):
            return rest
    return None


def _org_prefix(parsed: Normalized, facts: CatalogFacts) -> Normalized:
    """``parsed`` without a glued organisation prefix (see :func:`_org_rest`)."""
    base = parsed.base
    rest = facts.org_rest[base] if base in facts.org_rest else _org_rest(base, facts)
    if rest is None:
        return parsed
    rules = parsed.rules + ("organisation prefix dropped",)
    return parsed._replace(
        canonical_id=f"{rest}-{parsed.snapshot}" if parsed.snapshot else rest, rules=rules, base=rest
    )


def _join(parsed: Normalized, joins: Mapping[str, Join]) -> Normalized:
    """Apply the evidence join for ``parsed.base``, if any (see :mod:`toolkit.evidence`)."""
    join = joins.get(parsed.base)
    if join is None:
        return parsed
    snapshot = parsed.snapshot or join.snapshot
    variant = "-".join(v for v in (parsed.variant, join.variant) if v)
    canonical = f"{join.target}-{snapshot}" if snapshot else join.target
    return Normalized(canonical, parsed.rules + (join.rule,), join.target, snapshot, variant)


def normalize_id(provider: str, model_id: str, *, facts: CatalogFacts | None = None) -> Normalized:
    """The canonical id of ``provider``'s ``model_id`` and the rules that fired.

    Without ``facts`` (see :func:`catalog_facts`) dated ids keep their snapshot tag and
    glued organisation prefixes and evidence joins are not applied. ``provider`` is
    accepted for symmetry with the catalog rows; by design no rule depends on it.
    """
    del provider  # the canonical id must not depend on who sells the model
    parsed = parse_id(model_id)
    if facts is None:
        return parsed
    parsed = _org_prefix(parsed, facts)
    if parsed.base in facts.refused:
        parsed = parsed._replace(rules=parsed.rules + (facts.refused[parsed.base],))
    parsed = _join(parsed, facts.joins)
    base = parsed.base
    if base in facts.only_snapshot:
        rule = "snapshot date dropped (only snapshot)" if parsed.snapshot else "undated alias joins its only snapshot"
        return parsed._replace(canonical_id=base, rules=parsed.rules + (rule,))
    if parsed.snapshot is None and base in facts.several_snapshots:
        return parsed._replace(rules=parsed.rules + ("undated alias of several snapshots",))
    return parsed


def _share(flags: pd.Series) -> object:
    """A nullable boolean column as floats (1.0 / 0.0 / NaN), for averaging."""
    return flags.astype("Float64").to_numpy(dtype="float64", na_value=float("nan"))


def catalog_facts(models: pd.DataFrame) -> CatalogFacts:
    """Derive :class:`CatalogFacts` from a models table (``model_id``, ``provider``, ``name``,
    ``release_date``, ``context_limit``, ``open_weights``)."""
    model_ids = models["model_id"].tolist()  # plain strings: iterating an Arrow-backed column is slow
    first = [parse_id(m) for m in model_ids]
    orgs = frozenset({m.split("/", 1)[0].lower() for m in model_ids if "/" in m} | set(models["provider"].tolist()))
    key_of = {base: word_key(base) for base in {p.base for p in first}}
    known = frozenset({*key_of, *map(squashed, key_of), *key_of.values()})
    lookup = CatalogFacts(orgs, known)
    org_rest = {base: _org_rest(base, lookup) for base in key_of}
    prefixed = CatalogFacts(orgs, known, org_rest=org_rest)
    parsed = [_org_prefix(p, prefixed) for p in first]
    evidence = base_facts(
        pd.DataFrame(
            {
                "base": [p.base for p in parsed],
                "provider": models["provider"].to_numpy(),
                "release_date": models["release_date"].to_numpy(),
                "context_limit": models["context_limit"].to_numpy(),
                "open_weights": _share(models["open_weights"]) if "open_weights" in models else float("nan"),
                "name": models["name"].to_numpy(),
            }
        )
    )
    joins, refused = find_joins(evidence, parse_id, key_of)
    joined = [_join(p, joins) for p in parsed]
    frame = pd.DataFrame(
        {
            "base": [p.base for p in joined],
            "snapshot": [p.snapshot for p in joined],
            "released": release_dates(models["release_date"]).to_numpy(),
        }
    )
    dated = frame[frame["snapshot"].notna()]
    tags = dated.groupby("base")["snapshot"].nunique()
    single = tags[tags == 1].index
    several = frozenset(tags[tags > 1].index)
    snapshot_of = dated.drop_duplicates("base").set_index("base")["snapshot"]
    # When was each single snapshot released, and when were its undated aliases? Medians,
    # because single catalog rows are often off by weeks or simply wrong.
    dated_release = dated[dated["base"].isin(single)].groupby("base")["released"].median()
    undated_release = frame[frame["snapshot"].isna() & frame["base"].isin(single)].groupby("base")["released"].median()
    only = {}
    for base in single:
        tag = snapshot_of[base]
        when = pd.to_datetime(tag, format="%Y%m%d") if len(tag) == 8 else dated_release.get(base)
        alias_when = undated_release.get(base)
        if pd.isna(when) or pd.isna(alias_when) or alias_when >= when - pd.Timedelta(days=DATE_SLACK):
            only[base] = tag
    return CatalogFacts(orgs, known, joins, refused, only, several, org_rest)


@dataclass(frozen=True)
class Overrides:
    """User corrections that win over the rules: ``aliases`` (model_ref -> combined id) and ``exclude``."""

    aliases: Mapping[str, str] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()


def load_overrides(path: str | Path) -> Overrides:
    """Read an overrides file (JSON or JSONC): ``{"aliases": {model_ref: id}, "exclude": [model_ref]}``."""
    data = jsonc.load(path)
    if not isinstance(data, dict) or set(data) - {"aliases", "exclude"}:
        raise UserError(f"{path}: an overrides file is an object with only 'aliases' and 'exclude'")
    aliases, exclude = data.get("aliases", {}), data.get("exclude", [])
    if not isinstance(aliases, dict) or not all(isinstance(v, str) and v for v in aliases.values()):
        raise UserError(f"{path}: 'aliases' must map model_ref (provider/model) to a combined id")
    if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
        raise UserError(f"{path}: 'exclude' must be a list of model_refs (provider/model)")
    return Overrides(dict(aliases), frozenset(exclude))


def normalize_models(models: pd.DataFrame, overrides: Overrides | None = None) -> pd.DataFrame:
    """``models`` plus ``combined_id``, ``variant``, ``match_rules`` and ``variant_rules`` (count, for member choice).

    Rows in ``overrides.exclude`` are dropped; ``overrides.aliases`` set the combined id.
    """
    overrides = overrides or Overrides()
    check_known("model_ref in the overrides", [*overrides.aliases, *sorted(overrides.exclude)], models["model_ref"])
    if overrides.exclude:
        models = models[~models["model_ref"].isin(overrides.exclude)]
    facts = catalog_facts(models)
    model_ids = models["model_id"].tolist()
    # the provider never matters, so each distinct id is normalized once
    by_id = {model_id: normalize_id("", model_id, facts=facts) for model_id in dict.fromkeys(model_ids)}
    results = [by_id[model_id] for model_id in model_ids]
    ids = [r.canonical_id for r in results]
    rules = [r.rules for r in results]
    if overrides.aliases:
        for i, ref in enumerate(models["model_ref"].tolist()):
            if ref in overrides.aliases:
                ids[i], rules[i] = overrides.aliases[ref], ("user alias",)
    out = models.copy()
    out["combined_id"] = ids
    out["variant"] = [r.variant for r in results]
    out["match_rules"] = [";".join(r) for r in rules]
    out["variant_rules"] = [sum(rule in VARIANT_RULES for rule in r) for r in rules]
    return out
