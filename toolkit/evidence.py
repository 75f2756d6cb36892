"""Joins the id alone cannot settle, accepted or refused on what the catalog knows.

:func:`toolkit.normalize.parse_id` rewrites each id on its own. Some spellings of one
model still differ after it, and some of those differences are also how *different*
models differ; this module looks at every base id the catalog has and decides, on
evidence, which ones are the same model:

* **spelling** (rule ``spelling joins <id>``): ids equal once separators go
  (``claude-opus-41`` / ``claude-opus-4-1``, ``gpt-55`` / ``gpt-5-5``, ``qwen-3-6-plus`` /
  ``qwen3-6-plus``), a trailing ``-v1`` goes (``nova-pro-v1`` / ``nova-pro``), or
  words are reordered and the active-parameter tag trimmed
  (``nemotron-super-3-120b`` / ``nemotron-3-super-120b-a12b``). The spelling most
  providers use names the group;
* **size tag trimmed**: ``nemotron-3-super`` joins the one sized id with its words
  (``nemotron-3-super-120b-a12b``), and the other way round when more providers use it;
* **display name fills in words**: ``nemotron-3-120b-a12b`` named "Nemotron 3 Super
  120B" joins the one id its name spells, when the name only adds plain words (not
  ``mini``, ``preview``, ``latest``... :data:`DISTINGUISHING`, and no numbers);
* **speed tiers** (``speed tier as variant``): ``x-fast``, ``x-turbo``, ``x-lightning``,
  ``x-highspeed`` join ``x`` as a variant only on strict evidence, because the same
  words also name models of their own (``gpt-4-turbo``, ``grok-4-fast``, ``glm-5-turbo``);
* **coding plans** (``coding plan as variant``): a reseller's ``coding-x`` (or
  ``coding-vendor-x``) joins ``x``;
* **vendor short names** (``vendor short name``): ``k2-5`` joins ``kimi-k2-5`` when it
  is the tail of exactly one known id, one provider uses it and the row's display name
  starts with that id ("Kimi K2.5").

**Evidence** per base id, over its rows so one wrong row does not decide: release dates
(earliest, median, latest; placeholders before 2015 ignored), median context limit, open
weights (the majority of two or more rows), and the most common version number in the
display names. A join is refused when the two ids' release dates are more than
:data:`DATE_SLACK` apart at their closest, their name versions differ, or their
open-weights majorities differ. A speed tier also needs both median dates known, from
:data:`SPEED_SLACK` before to :data:`TIER_LAG` after the model's, and context limits
within :data:`LIMIT_RATIO`. Everything here is per distinct base id and dictionary work,
so the cost grows linearly with the catalog. Every join records the evidence it was
compared on, and every refused candidate why it was refused, for ``match_rules``.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple, TypeVar

import pandas as pd

from toolkit.variants import SPEED

# Dates are compared in days (float), which is also how the evidence stores them.
DATE_SLACK = 45.0  # spellings of one model are listed within weeks of each other
SPEED_SLACK = 30.0  # a speed tier of the same model ships with it...
TIER_LAG = 75.0  # ...or up to this much later (Anthropic's fast mode for Opus 4.6)
LIMIT_RATIO = 2.0  # a speed tier serves the same context window, give or take
EARLIEST = pd.Timestamp("2015-01-01")  # earlier release dates (``1970-01-01``) are placeholders
_EPOCH, _DAY = pd.Timestamp("1970-01-01"), pd.Timedelta(days=1)

_SEPARATORS = re.compile(r"[-_.]")
_ACTIVE = re.compile(r"^a\d+(\.\d+)?b$")  # ``a12b``: active parameters of a mixture of experts
_SIZE = re.compile(r"^\d+(\.\d+)?[bmt]$")
_FINE = re.compile(r"[a-z]+|\d+")
_GLUED = re.compile(r"(?<=[a-z])(?=\d)")
_NON_ID = re.compile(r"[^a-z0-9]+")
# Words that make another model of the same name (``-latest``, ``-preview``, ``-mini``...): a
# display name adding one of them does not name the same model as the id without it.
DISTINGUISHING = frozenset(
    {
        "latest",
        "preview",
        "exp",
        "experimental",
        "thinking",
        "think",
        "reasoning",
        "mini",
        "nano",
        "lite",
        "pro",
        "max",
        "plus",
        "ultra",
        "flash",
        "turbo",
        "fast",
        "vision",
        "vl",
        "omni",
        "coder",
        "code",
        "free",
        "beta",
    }
)
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
    """Words in any order, numbers in order, the active-parameter tag dropped beside a size,
    a number glued to the word before it split off (``qwen3`` -> ``qwen``, ``3``).

    ``nemotron-super-3-120b`` and ``nemotron-3-super-120b-a12b`` share a key, as do
    ``qwen-3-7-35b`` and ``qwen3-7-35b-a3b``; ``glm-4-5`` and ``glm-5-4`` do not (numbers
    keep their order).
    """
    tokens = base.split("-")
    if any(t[:1].isdigit() and _SIZE.match(t) for t in tokens):
        tokens = [t for t in tokens if not (t[:1] == "a" and _ACTIVE.match(t))]
    tokens = [part for token in tokens for part in (_GLUED.split(token) if _GLUED.search(token) else (token,))]
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
    released: float | None  # median release date, in days since 1970
    first: float | None  # earliest and latest release date of its rows
    last: float | None
    context: float | None
    open_weights: bool | None
    version: str
    name: str


def release_dates(values: pd.Series) -> pd.Series:
    """Catalog release dates (``2025-05-14``, ``2025-05``) as timestamps, NaT when unreadable.

    Each distinct text is parsed once: a catalog repeats a few hundred dates thousands of times.
    """
    distinct = values.drop_duplicates()
    parsed = pd.Series(pd.to_datetime(distinct, errors="coerce", format="mixed").to_numpy(), index=distinct.to_numpy())
    return pd.Series(parsed.reindex(values.to_numpy()).to_numpy(), index=values.index)


def base_facts(rows: pd.DataFrame) -> dict[str, BaseFacts]:
    """Evidence per base id from rows with ``base``, ``provider``, ``release_date``,
    ``context_limit``, ``open_weights`` (1.0 / 0.0 / NaN) and ``name``.

    One pass over plain lists: a few thousand small groups cost pandas more in overhead
    than the arithmetic.
    """
    released = release_dates(rows["release_date"])
    days = ((released.where(released >= EARLIEST) - _EPOCH) / _DAY).tolist()
    contexts = pd.to_numeric(rows["context_limit"], errors="coerce").tolist()
    opens = rows["open_weights"].to_numpy(dtype="float64").tolist()
    names = rows["name"].tolist()
    members: dict[str, list[int]] = defaultdict(list)
    for i, base in enumerate(rows["base"].tolist()):
        members[base].append(i)
    providers = rows["provider"].tolist()
    facts = {}
    for base, idx in members.items():
        dates = sorted(d for i in idx if (d := days[i]) == d)  # NaN != NaN: unknown dates drop out
        windows = [c for i in idx if (c := contexts[i]) == c and c > 0]
        votes = [o for i in idx if (o := opens[i]) == o]
        # open weights need a majority of two or more rows: single rows disagree with the vendor too often
        share = sum(votes) / len(votes) if len(votes) >= 2 else 0.5
        versions = Counter(v for i in idx if (v := name_version(names[i])))
        name = names[idx[0]]
        facts[base] = BaseFacts(
            providers=len({providers[i] for i in idx}),
            released=statistics.median(dates) if dates else None,
            first=dates[0] if dates else None,
            last=dates[-1] if dates else None,
            context=statistics.median(windows) if windows else None,
            open_weights=None if share == 0.5 else share > 0.5,
            version=versions.most_common(1)[0][0] if versions else "",
            name=name if isinstance(name, str) else "",
        )
    return facts


def disagreement(a: BaseFacts, b: BaseFacts, *, tier: bool = False) -> str | None:
    """Why ``a`` and ``b`` cannot be one model, or None when the evidence allows it.

    Two spellings disagree when their rows' release dates are more than :data:`DATE_SLACK`
    apart at their closest. ``tier`` (``a`` a speed tier of ``b``) is stricter: both median
    dates known, ``a`` from :data:`SPEED_SLACK` before to :data:`TIER_LAG` after ``b``, and
    context limits within :data:`LIMIT_RATIO`.
    """
    if tier:
        if a.released is None or b.released is None:
            return "release dates unknown"
        if not -SPEED_SLACK <= a.released - b.released <= TIER_LAG:
            return "release dates differ"
        if (
            a.context is None
            or b.context is None
            or max(a.context, b.context) > LIMIT_RATIO * min(a.context, b.context)
        ):
            return "context limits differ"
    elif (
        a.first is not None
        and b.first is not None
        and a.last is not None
        and b.last is not None
        and max(a.first, b.first) - min(a.last, b.last) > DATE_SLACK
    ):
        return "release dates differ"
    if a.version and b.version and a.version != b.version:
        return "name versions differ"
    if a.open_weights is not None and b.open_weights is not None and a.open_weights != b.open_weights:
        return "open weights differ"
    return None


def agreement(a: BaseFacts, b: BaseFacts, *, tier: bool = False) -> str:
    """What evidence ``a`` and ``b`` were compared on (and agreed), for ``match_rules``."""
    compared = [
        name
        for name, known in (
            ("dates", a.released is not None and b.released is not None),
            ("name versions", bool(a.version and b.version)),
            ("open weights", a.open_weights is not None and b.open_weights is not None),
            ("context", tier),
        )
        if known
    ]
    return f"{', '.join(compared)} agree" if compared else "no evidence against"


class Judgements(NamedTuple):
    """What the evidence decided: the joins, and the joins it refused (base -> why), for ``match_rules``."""

    joins: dict[str, Join]
    refused: dict[str, str]


def _spelling_roots(
    facts: Mapping[str, BaseFacts], key_of: Mapping[str, tuple], refused: dict[str, str]
) -> dict[str, str]:
    """Each base id -> the spelling it joins (itself when none): per key, the base most
    providers use is the root, and every other base with that key joins it if the
    evidence agrees (else the refusal goes to ``refused``)."""

    def rank(base: str) -> tuple:
        return (-facts[base].providers, -base.count("-"), len(base), base)

    root = {base: base for base in facts}
    for key in (squashed, key_of.__getitem__):
        groups: dict[object, list[str]] = defaultdict(list)
        for base in facts:
            if root[base] == base:
                groups[key(base)].append(base)
        for members in groups.values():
            if len(members) < 2:
                continue
            leader = min(members, key=rank)
            for base in members:
                if base == leader:
                    continue
                if (why := disagreement(facts[base], facts[leader])) is None:
                    root[base] = leader
                else:
                    refused.setdefault(base, f"spelling of {leader} refused: {why}")
    for base in root:  # a root that joined another root in the second pass: follow the chain
        while root[root[base]] != root[base]:
            root[base] = root[root[base]]
    return root


def _sizeless(key: tuple[tuple[str, ...], tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A :func:`word_key` without its size tags (``120b``)."""
    words, numbers = key
    return words, tuple(n for n in numbers if not _SIZE.match(n))


def _name_id(name: str) -> str:
    """A display name written as an id: ``Nemotron 3 Super 120B`` -> ``nemotron-3-super-120b``,
    ``Kimi K2.5`` -> ``kimi-k2-5``."""
    return _NON_ID.sub("-", name.lower()).strip("-")


K = TypeVar("K")


def _unique(pairs: Iterable[tuple[K, str]]) -> dict[K, str]:
    """key -> base for the keys exactly one base has."""
    seen: dict[K, set[str]] = defaultdict(set)
    for key, base in pairs:
        seen[key].add(base)
    return {key: next(iter(bases)) for key, bases in seen.items() if len(bases) == 1}


def find_joins(
    facts: Mapping[str, BaseFacts], parse: Callable, key_of: Mapping[str, tuple] | None = None
) -> Judgements:
    """Every base id that joins another, with the rule, the evidence and any variant (see
    the module doc), and the joins the evidence refused.

    ``parse`` is :func:`toolkit.normalize.parse_id`, for the stem of a speed tier
    (``x-2507-fast`` -> ``x`` with snapshot ``2507``). ``key_of`` holds :func:`word_key`
    of bases already keyed (the rest are keyed here).
    """
    known = key_of or {}
    key_of = {base: known[base] if base in known else word_key(base) for base in facts}
    refused: dict[str, str] = {}
    root = _spelling_roots(facts, key_of, refused)
    joins = {
        base: Join(target, f"spelling joins {target} ({agreement(facts[base], facts[target])})")
        for base, target in root.items()
        if target != base
    }
    roots = [base for base in facts if root[base] == base]
    keys = {base: key_of[base] for base in roots}
    lookups = _Lookups(
        root=root,
        key_of=keys,
        by_key=_unique((key, base) for base, key in keys.items()),
        by_tail=_unique((base.split("-", 1)[1], base) for base in roots if "-" in base),
        by_sizeless=_unique((_sizeless(key), base) for base, key in keys.items() if key[1] != _sizeless(key)[1]),
    )
    for base in roots:
        join = _join_one(base, facts, lookups, parse, refused)
        if join is None:
            continue
        if join.rule.startswith("size tag trimmed") and facts[base].providers > facts[join.target].providers:
            # the spelling most providers use names the group, as for spellings
            base, join = join.target, join._replace(target=base)
        if base not in joins:
            joins[base] = join
    joins = {base: _follow(join, joins) for base, join in joins.items()}
    return Judgements(joins, {base: why for base, why in refused.items() if base not in joins})


@dataclass(frozen=True)
class _Lookups:
    root: Mapping[str, str]  # base -> the spelling it joins
    key_of: Mapping[str, tuple]  # root -> its word key
    by_key: Mapping[object, str]  # word key -> the one root with it
    by_tail: Mapping[str, str]  # id without its first word -> the one root with it
    by_sizeless: Mapping[object, str]  # word key without sizes -> the one sized root with it


def _join_one(
    base: str, facts: Mapping[str, BaseFacts], lookups: _Lookups, parse: Callable, refused: dict[str, str]
) -> Join | None:
    """The join for one base id that no spelling joined, if the evidence allows one (a
    candidate the evidence rules out goes to ``refused``)."""
    own = facts[base]
    head, _, rest = base.partition("-")
    tail = base.rpartition("-")[2]
    if tail in SPEED:
        stem = parse(base[: -len(tail) - 1])
        target = lookups.root.get(stem.base) or lookups.by_key.get(word_key(stem.base))
        if not target or target == base:
            return None
        if (why := disagreement(own, facts[target], tier=True)) is not None:
            refused[base] = f"speed tier of {target} refused: {why}"
            return None
        return Join(target, f"speed tier as variant ({agreement(own, facts[target], tier=True)})", tail, stem.snapshot)
    candidates: list[tuple[str | None, str, str]] = []
    if head == "coding":  # the model, or the model after its vendor's name (``coding-xiaomi-mimo-v2-5-pro``)
        for model in (rest, rest.partition("-")[2]):
            candidates.append((lookups.root.get(model), "coding plan as variant", "coding"))
    named = _name_id(own.name)
    if own.providers == 1 and (target := lookups.by_tail.get(base)) and named.startswith(target):
        candidates.append((target, "vendor short name", ""))  # ``k2-5`` named ``Kimi K2.5``
    key = lookups.key_of[base]
    if key[1] == _sizeless(key)[1]:  # no size: ``nemotron-3-super`` for the one ``nemotron-3-super-120b-a12b``
        candidates.append((lookups.by_sizeless.get(key), "size tag trimmed", ""))
    if len(named) > len(base) and _adds_plain_words(
        named, base
    ):  # ``nemotron-3-120b-a12b`` named ``Nemotron 3 Super 120B``
        spelled = word_key(named)
        candidates.append(
            (lookups.by_key.get(spelled) or lookups.by_sizeless.get(spelled), "display name fills in words", "")
        )
    for target, rule, variant in candidates:
        if not target or target == base:
            continue
        if (why := disagreement(own, facts[target])) is None:
            return Join(target, f"{rule} ({agreement(own, facts[target])})", variant)
        refused.setdefault(base, f"{rule} ({target}) refused: {why}")
    return None


def _fine_tokens(base: str) -> set[str]:
    """Letters and digits apart, active-parameter tags dropped: ``qwen3-235b-a22b`` -> qwen, 3, 235, b."""
    return set(_FINE.findall("-".join(t for t in base.split("-") if not _ACTIVE.match(t))))


def _adds_plain_words(named: str, base: str) -> bool:
    """Whether the display name spells ``base`` plus words only, none of which names another model."""
    if not named:
        return False
    mine, theirs = _fine_tokens(base), _fine_tokens(named)
    added = theirs - mine
    return bool(added) and mine <= theirs and all(w.isalpha() and w not in DISTINGUISHING for w in added)


def _follow(join: Join, joins: Mapping[str, Join]) -> Join:
    """A join whose target joins further (a coding plan of a speed tier): straight to the end, variants kept."""
    seen = set()
    while join.target in joins and join.target not in seen:
        seen.add(join.target)
        further = joins[join.target]
        variant = "-".join(v for v in (further.variant, join.variant) if v)
        join = Join(further.target, join.rule, variant, join.snapshot or further.snapshot)
    return join
