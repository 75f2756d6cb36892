"""Joins the id alone cannot settle, accepted or refused on what the catalog knows.

:func:`toolkit.normalize.parse_id` rewrites each id on its own. Some spellings of one
model still differ after it, and some of those differences are also how *different*
models differ; this module looks at every base id the catalog has and decides, on
evidence, which ones are the same model:

* **spelling** (rule ``spelling joins <id>``): ids equal once separators go
  (``claude-opus-41`` / ``claude-opus-4-1``, ``gpt-55`` / ``gpt-5-5``, ``qwen-3-6-plus`` /
  ``qwen3-6-plus``), a trailing ``-v1`` goes (``nova-pro-v1`` / ``nova-pro``), or
  words are reordered and the active-parameter tag trimmed
  (``nemotron-super-3-120b`` / ``nemotron-3-super-120b-a12b``);
* **speed tiers** (``speed tier as variant``): ``x-fast``, ``x-turbo``, ``x-lightning``,
  ``x-highspeed`` join ``x`` as a variant only on strict evidence, because the same
  words also name models of their own (``gpt-4-turbo``, ``grok-4-fast``, ``glm-5-turbo``);
* **coding plans** (``coding plan as variant``): a reseller's ``coding-x`` joins ``x``;
* **vendor short names** (``vendor short name``): ``k2-5`` joins ``kimi-k2-5`` when it
  is the tail of exactly one known id and the row's display name spells that id.

**Evidence** per base id (medians over its rows, so one wrong row does not decide):
release date, context limit, open weights (the majority), and the version number in
the display names. A join is refused when release dates differ by more than
:data:`DATE_SLACK`, the name versions differ, or the open-weights majorities differ;
a speed tier also needs both dates known and within :data:`SPEED_SLACK` and context
limits within 2x. Everything here is per distinct base id and dictionary work, so the
cost grows linearly with the catalog.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import pandas as pd

from toolkit.variants import SPEED

DATE_SLACK = pd.Timedelta(days=45)  # spellings of one model are listed within weeks of each other
SPEED_SLACK = pd.Timedelta(days=30)  # a speed tier of the same model ships with it
LIMIT_RATIO = 2.0  # a speed tier serves the same context window, give or take
EARLIEST = pd.Timestamp("2015-01-01")  # earlier release dates (``1970-01-01``) are placeholders

_SEPARATORS = re.compile(r"[-_.]")
_ACTIVE = re.compile(r"^a\d+(\.\d+)?b$")  # ``a12b``: active parameters of a mixture of experts
_SIZE = re.compile(r"^\d+(\.\d+)?[bmt]$")
_PARENS = re.compile(r"\([^)]*\)")
_ID_VERSION_DASH = re.compile(r"(?<=\d)-(?=\d(?![\da-z]))", re.IGNORECASE)  # ``4-5`` in id-like names means 4.5
_NUMBER = re.compile(r"\d+(?:\.\d+)*")


@cache
def name_version(name: object) -> str:
    """The first version number in a display name: ``Claude Sonnet 4.5 (latest)`` -> ``4.5``.

    Parentheses (``(US)``, ``(20250929)``) are ignored, a number stops at a date-like part
    of 4+ digits and a trailing ``.0`` goes, so ``claude-sonnet-4-5-20250929``, ``Claude
    Sonnet 4.5`` and ``Claude 4.5 Sonnet`` agree while ``Claude Sonnet 4`` does not.
    """
    if not isinstance(name, str):
        return ""
    text = _ID_VERSION_DASH.sub(".", _PARENS.sub(" ", name))
    for match in _NUMBER.finditer(text):
        parts = []
        for part in match.group().split("."):
            if len(part) >= 4:
                break
            parts.append(part)
        while len(parts) > 1 and parts[-1] == "0":
            parts.pop()
        if parts:
            return ".".join(parts)
    return ""


def squashed(base: str) -> str:
    """The id without separators or a trailing ``-v1``: one key for every way to punctuate it."""
    return _SEPARATORS.sub("", base.removesuffix("-v1"))


def word_key(base: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words in any order, numbers in order, the active-parameter tag dropped beside a size.

    ``nemotron-super-3-120b`` and ``nemotron-3-super-120b-a12b`` share a key; ``glm-4-5``
    and ``glm-5-4`` do not (numbers keep their order).
    """
    tokens = base.split("-")
    if any(_SIZE.match(t) for t in tokens):
        tokens = [t for t in tokens if not _ACTIVE.match(t)]
    words = sorted(t for t in tokens if not t[:1].isdigit())
    numbers = tuple(t for t in tokens if t[:1].isdigit())
    return tuple(words), numbers


class Join(NamedTuple):
    """Where a base id goes: the target base, the rule that says why, and a variant it adds."""

    target: str
    rule: str
    variant: str = ""
    snapshot: str | None = None  # a snapshot the target spelling carries (``x-2507-fast`` -> ``x``, ``2507``)


@dataclass(frozen=True)
class BaseFacts:
    """What the catalog says about one base id (medians over its rows)."""

    providers: int
    released: pd.Timestamp | None
    context: float | None
    open_weights: bool | None
    version: str
    name: str


def base_facts(rows: pd.DataFrame) -> dict[str, BaseFacts]:
    """Evidence per base id from rows with ``base``, ``provider``, ``release_date``,
    ``context_limit``, ``open_weights`` (1.0 / 0.0 / NaN) and ``name``."""
    released = pd.to_datetime(rows["release_date"], errors="coerce", format="mixed")
    frame = pd.DataFrame(
        {
            "base": rows["base"].to_numpy(),
            "provider": rows["provider"].to_numpy(),
            "released": released.where(released >= EARLIEST).to_numpy(),
            "context": pd.to_numeric(rows["context_limit"], errors="coerce").where(lambda c: c > 0).to_numpy(),
            "open": rows["open_weights"].to_numpy(dtype="float64"),
            "version": [name_version(n) or None for n in rows["name"].tolist()],
            "name": rows["name"].to_numpy(),
        }
    )
    grouped = frame.groupby("base", sort=False)
    summary = grouped.agg(
        providers=("provider", "nunique"),
        released=("released", "median"),
        context=("context", "median"),
        open=("open", "mean"),
        name=("name", "first"),
    )
    versions = frame.dropna(subset=["version"]).groupby(["base", "version"]).size()
    top_version = versions.sort_values(ascending=False, kind="stable").reset_index().drop_duplicates("base")
    version_of = dict(zip(top_version["base"], top_version["version"]))
    columns = zip(
        summary.index, summary["providers"].tolist(), summary["released"].tolist(), summary["context"].tolist(),
        summary["open"].tolist(), summary["name"].tolist(),
    )  # fmt: skip
    return {
        base: BaseFacts(
            providers=providers,
            released=None if pd.isna(released) else released,
            context=None if pd.isna(context) else context,
            open_weights=None if pd.isna(share) or share == 0.5 else share > 0.5,
            version=version_of.get(base, ""),
            name=name if isinstance(name, str) else "",
        )
        for base, providers, released, context, share, name in columns
    }


def disagreement(a: BaseFacts, b: BaseFacts, *, strict: bool = False) -> str | None:
    """Why ``a`` and ``b`` cannot be one model, or None when the evidence allows it.

    ``strict`` (speed tiers) also wants both release dates known and close, and context
    limits within :data:`LIMIT_RATIO`.
    """
    if a.released is not None and b.released is not None:
        if abs(a.released - b.released) > (SPEED_SLACK if strict else DATE_SLACK):
            return "release dates differ"
    elif strict:
        return "release dates unknown"
    if a.version and b.version and a.version != b.version:
        return "name versions differ"
    if a.open_weights is not None and b.open_weights is not None and a.open_weights != b.open_weights:
        return "open weights differ"
    if strict:
        if a.context is None or b.context is None or max(a.context, b.context) > LIMIT_RATIO * min(a.context, b.context):
            return "context limits differ"
    return None


def _spelling_roots(facts: Mapping[str, BaseFacts]) -> dict[str, str]:
    """Each base id -> the spelling it joins (itself when none): per key, the base most
    providers use is the root, and every other base with that key joins it if the
    evidence agrees."""

    def rank(base: str) -> tuple:
        return (-facts[base].providers, -base.count("-"), len(base), base)

    root = {base: base for base in facts}
    for key in (squashed, word_key):
        groups: dict[object, list[str]] = defaultdict(list)
        for base in facts:
            if root[base] == base:
                groups[key(base)].append(base)
        for members in groups.values():
            if len(members) < 2:
                continue
            leader = min(members, key=rank)
            for base in members:
                if base != leader and disagreement(facts[base], facts[leader]) is None:
                    root[base] = leader
    for base in root:  # a root that joined another root in the second pass: follow the chain
        while root[root[base]] != root[base]:
            root[base] = root[root[base]]
    return root


def find_joins(facts: Mapping[str, BaseFacts], parse: Callable) -> dict[str, Join]:
    """Every base id that joins another, with the rule and any variant (see the module doc).

    ``parse`` is :func:`toolkit.normalize.parse_id`, for the stem of a speed tier
    (``x-2507-fast`` -> ``x`` with snapshot ``2507``).
    """
    root = _spelling_roots(facts)
    joins = {base: Join(target, f"spelling joins {target}") for base, target in root.items() if target != base}
    tails: dict[str, list[str]] = defaultdict(list)
    for base in facts:
        if root[base] == base and "-" in base:
            tails[base.split("-", 1)[1]].append(base)
    for base, own in facts.items():
        if base in joins:
            continue
        head, _, rest = base.partition("-")
        tail = base.rpartition("-")[2]
        if tail in SPEED:
            stem = parse(base[: -len(tail) - 1])
            target = root.get(stem.base)
            if target and disagreement(own, facts[target], strict=True) is None:
                joins[base] = Join(target, "speed tier as variant", tail, stem.snapshot)
        elif head == "coding" and rest in root:
            target = root[rest]
            if disagreement(own, facts[target]) is None:
                joins[base] = Join(target, "coding plan as variant", "coding")
        elif own.providers == 1 and len(tails.get(base, ())) == 1:
            target = tails[base][0]
            if _spelled_by_name(own.name, target) and disagreement(own, facts[target]) is None:
                joins[base] = Join(target, "vendor short name")
    return joins


def _spelled_by_name(name: str, base: str) -> bool:
    """Whether a display name, written as an id, is ``base`` (``Kimi K2.5`` -> ``kimi-k2-5``)."""
    return squashed(re.sub(r"[\s()]+", "-", name.lower()).strip("-")) == squashed(base)


def known_keys(bases: Iterable[str]) -> frozenset:
    """Every base and its spelling keys: what an organisation-prefixed rest may match."""
    out: set = set()
    for base in bases:
        out.update((base, squashed(base), word_key(base)))
    return frozenset(out)
