"""Deployment variants of one model, and which of them a failover order may use.

A provider often serves a model differently from the plain release: quantized
(``-fp8``, ``-int4``, ``-6bit``, ``-mlx-4bit``), inside a trusted execution environment
(``-tee``, ``TEE/``), at a speed tier (``-fast``, ``-turbo``, ``-lightning``,
``-highspeed``) or through a reseller's coding plan (``coding-``). Such a row joins the
combined model of the plain id and carries its **variant** (``"fp8"``, ``"tee"``,
``"fast"``, ``""`` for the plain model), so the user sees every way to reach the model.

Each variant has a **kind**, ordered by how far it may stray from the plain model:

=====================  ==========================================================
``same-weights``       TEE, coding plans, ``bf16``/``fp16``: the released weights
``precision-reduced``  quantizations: the same model at lower numeric precision
``speed-tier``         fast / turbo / lightning tiers: the provider does not say how
=====================  ==========================================================

The **variants setting** (:data:`SETTINGS`) says which kinds a failover order may use,
each admitting the kinds of the ones before it: ``exact`` (the reference variant only),
``same-weights``, ``precision-reduced``, ``all``. The reference variant of a combined
model is the plain one, or, when no provider offers the plain model (a model released as
FP8 only), the variant most providers offer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from toolkit.errors import UserError, closest

SETTINGS = ("exact", "same-weights", "precision-reduced", "all")
DEFAULT_SETTING = "exact"
KINDS = ("", "same-weights", "precision-reduced", "speed-tier")  # in SETTINGS order: index = level

# Tokens that can only mean a deployment variant: peeled off the id without catalog evidence.
QUANTIZED = frozenset(
    {
        "fp8",
        "fp4",
        "nvfp4",
        "mxfp4",
        "int4",
        "int8",
        "awq",
        "gptq",
        "3bit",
        "4bit",
        "5bit",
        "6bit",
        "8bit",
        "mlx",
        "gguf",
        "w4a16",
        "w8a8",
        "dynamic",
    }
)
SAME_WEIGHTS = frozenset({"tee", "bf16", "fp16", "coding"})
# Tokens that are sometimes a speed tier and sometimes part of a model's own name
# (``gpt-4-turbo``, ``grok-4-fast``): only catalog evidence peels these (toolkit.evidence).
SPEED = frozenset({"fast", "turbo", "lightning", "highspeed"})


def check_setting(setting: str) -> str:
    """``setting`` if it is one of :data:`SETTINGS`, else a one-line :class:`UserError`."""
    if setting not in SETTINGS:
        raise UserError(
            f"unknown variants setting {setting!r}{closest(setting, SETTINGS)}; use one of {', '.join(SETTINGS)}"
        )
    return setting


def kind(variant: str) -> str:
    """The kind of a variant (``""`` for the plain model): the farthest kind among its tokens."""
    level = 0
    for token in variant.split("-") if variant else ():
        if token in SPEED:
            level = max(level, 3)
        elif token in QUANTIZED:
            level = max(level, 2)
        else:
            level = max(level, 1)
    return KINDS[level]


def level(variant: str) -> int:
    """How far ``variant`` strays from the plain model: 0 plain ... 3 speed tier."""
    return KINDS.index(kind(variant))


def reference(variants: Iterable[str]) -> str:
    """The variant ``exact`` means for a group: the plain one if offered, else the most offered
    (ties: the closest to plain, then alphabetical)."""
    counts = Counter(variants)
    if "" in counts or not counts:
        return ""
    return min(counts, key=lambda v: (-counts[v], level(v), v))


def allowed(variant: str, setting: str, reference_variant: str = "") -> bool:
    """Whether a member serving ``variant`` may be in a failover order under ``setting``."""
    return variant == reference_variant or level(variant) <= SETTINGS.index(setting)


def split_variant(text: str) -> tuple[str, tuple[str, ...]]:
    """Peel unambiguous variant tokens off the end of a normalized id: ``x-fp8-fast`` -> ``("x", ("fp8", "fast"))``.

    A speed token is peeled only when an unambiguous token precedes it (``fp8-fast``); on
    its own it is left for the catalog evidence to judge.
    """
    tokens = text.split("-")
    peeled: list[str] = []
    while len(tokens) > 1:
        last = tokens[-1]
        if last in QUANTIZED or last in SAME_WEIGHTS - {"coding"}:
            peeled.insert(0, tokens.pop())
        elif last in SPEED and len(tokens) > 2 and tokens[-2] in QUANTIZED:
            peeled.insert(0, tokens.pop())
        else:
            break
    if peeled == ["dynamic"]:  # ``-dynamic`` alone is a name (``...-dynamic``), not a precision
        return text, ()
    return "-".join(tokens), tuple(peeled)
