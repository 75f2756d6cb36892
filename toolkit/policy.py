"""Failover policies: the seed plugin's four options plus explicit fields for everything else.

A :class:`FailoverPolicy` is a frozen value, validated on construction (mistakes raise
:class:`~toolkit.errors.UserError`). :data:`PRESETS` names the policies worth comparing;
:func:`preset` returns one with fields overridden. The exact meaning of every field is in
``docs/failover.md`` ("Policies") and the README ("Failover policies and presets");
:mod:`toolkit.engine` implements it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace

from toolkit.classifier import TRANSIENT
from toolkit.combined_model import CombinedModel, Member
from toolkit.errors import UserError, check_known, closest

STRATEGIES: dict[str, frozenset[str]] = {
    "on_error": TRANSIENT | {"auth"},
    "on_rate_limit": frozenset({"rate_limit"}),
    "on_overload": frozenset({"overload"}),
}
"""Seed strategy -> the outcome classes that move a request to the next provider."""

JITTERS = ("full", "equal", "none", "proportional", "additive")
SEED_OPTIONS = ("provider_priority", "min_providers", "strategy", "max_attempts")
_ERROR_CLASSES = tuple(sorted(TRANSIENT | {"auth", "client_error", "context_length"}))


@dataclass(frozen=True)
class FailoverPolicy:
    """How a request fails over; see ``docs/failover.md`` for the exact semantics of each field."""

    # -- the seed plugin's options -----------------------------------------------------------
    provider_priority: tuple[str, ...] = ()
    min_providers: int = 2
    strategy: str = "on_error"
    max_attempts: int = 3
    # -- which members, how many attempts ----------------------------------------------------
    max_providers: int | None = None
    max_total_attempts: int | None = None
    switch_first: bool = False
    # -- waiting: Retry-After and backoff -----------------------------------------------------
    honor_retry_after: bool = True
    max_retry_after_s: float | None = None
    backoff_base_s: float = 1.0
    backoff_multiplier: float = 2.0
    backoff_cap_s: float = 30.0
    jitter: str = "full"
    jitter_amount: float = 0.25
    # -- shared per-provider state -------------------------------------------------------------
    cooldown_s: float = 0.0
    cooldown_on: tuple[str, ...] = ("rate_limit", "overload")
    breaker_failures: int | None = None
    breaker_open_s: float = 30.0
    breaker_probes: int = 1
    retry_budget: float | None = None
    retry_budget_min: int = 10
    # -- per request ---------------------------------------------------------------------------
    deadline_s: float | None = None
    attempt_timeout_s: float = 60.0
    context_failover: bool = False
    hedge_after_s: float | None = None
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        # JSON and notebooks hand in lists; keep the value hashable and immutable.
        object.__setattr__(self, "provider_priority", tuple(self.provider_priority))
        object.__setattr__(self, "cooldown_on", tuple(self.cooldown_on))
        _check_choice("strategy", [self.strategy], STRATEGIES)
        _check_choice("jitter", [self.jitter], JITTERS)
        _check_choice("cooldown_on class", self.cooldown_on, _ERROR_CLASSES)
        if not all(isinstance(p, str) and p for p in self.provider_priority):
            raise UserError("provider_priority must be a list of provider ids (strings)")
        for name in ("min_providers", "max_attempts", "retry_budget_min", "breaker_probes"):
            _check_int(name, getattr(self, name), minimum=1 if name != "retry_budget_min" else 0)
        for name in ("max_providers", "max_total_attempts", "breaker_failures"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        for name in ("backoff_base_s", "backoff_cap_s", "jitter_amount", "cooldown_s", "breaker_open_s"):
            _check_number(name, getattr(self, name), minimum=0.0)
        _check_number("backoff_multiplier", self.backoff_multiplier, minimum=1.0)
        _check_number("attempt_timeout_s", self.attempt_timeout_s, minimum=0.0, strict=True)
        for name in ("max_retry_after_s", "retry_budget"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), minimum=0.0)
        for name in ("deadline_s", "hedge_after_s"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), minimum=0.0, strict=True)

    @property
    def failover_classes(self) -> frozenset[str]:
        """Outcome classes that move a request to the next provider (from ``strategy``)."""
        return STRATEGIES[self.strategy]

    def seed_options(self) -> dict:
        """The seed plugin's four options as its ``combined_models`` config section spells them."""
        return {
            "provider_priority": list(self.provider_priority),
            "min_providers": self.min_providers,
            "strategy": self.strategy,
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def from_options(cls, options: Mapping, **fields_: object) -> FailoverPolicy:
        """A policy from the seed's options dict (unknown keys are an error), plus explicit fields."""
        check_known("seed option", options, SEED_OPTIONS)
        return cls(**{**options, **fields_})

    def to_dict(self) -> dict:
        """Every field as plain JSON values."""
        out = asdict(self)
        out["provider_priority"] = list(self.provider_priority)
        out["cooldown_on"] = list(self.cooldown_on)
        return out

    def members(self, model: CombinedModel) -> tuple[Member, ...]:
        """The members this policy uses, in try order.

        ``provider_priority`` puts its providers first (names the model does not offer are
        skipped: the seed's priority list is global, not per model); the others keep the
        model's order, which for a model from the combined table is already the seed's
        (priority, then alphabetical). Then
        ``max_providers`` keeps the first ones. Fewer distinct providers than
        ``min_providers`` is a UserError, as in the seed.
        """
        offered = set(model.providers)
        ordered = model.ordered([p for p in self.provider_priority if p in offered])
        if len(offered) < self.min_providers:
            raise UserError(
                f"{model.combined_id} has {len(offered)} provider(s) but the policy needs min_providers="
                f"{self.min_providers}; lower min_providers or pick a model with more providers"
            )
        return ordered.members[: self.max_providers]


def _check_choice(kind: str, values: object, choices: object) -> None:
    """Like ``check_known``, and list the valid choices (short lists, so always helpful)."""
    try:
        check_known(kind, values, choices)
    except UserError as exc:
        raise UserError(f"{exc}; use one of {', '.join(choices)}") from None


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _check_number(name: str, value: object, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        raise UserError(f"{name} must be a number {'>' if strict else '>='} {minimum:g}, got {value!r}")


PRESETS: dict[str, FailoverPolicy] = {
    p.name: p
    for p in (
        FailoverPolicy(name="seed-on-error", strategy="on_error"),
        FailoverPolicy(name="seed-on-rate-limit", strategy="on_rate_limit"),
        FailoverPolicy(name="seed-on-overload", strategy="on_overload"),
        # OpenCode 1.18.33 on one provider: ceil(2 s * 2^(n-1) * (1 + 0.25 U)), 30 s cap without
        # headers, Retry-After honoured as sent, 6 requests in all; no failover.
        FailoverPolicy(
            name="opencode-native",
            min_providers=1,
            max_providers=1,
            max_attempts=6,
            backoff_base_s=2.0,
            backoff_cap_s=30.0,
            jitter="proportional",
            jitter_amount=0.25,
            attempt_timeout_s=300.0,
        ),
        # LiteLLM Router: num_retries=2 (3 calls), a healthy sibling is tried at once,
        # min(max(0.5 * 2^n, ...), 8) + U(0, 0.75) s otherwise, 5 s passive cooldown on 429,
        # Retry-After not honoured across deployments, context-window fallbacks configured.
        FailoverPolicy(
            name="litellm-like",
            max_attempts=3,
            max_total_attempts=3,
            switch_first=True,
            honor_retry_after=False,
            backoff_base_s=0.5,
            backoff_cap_s=8.0,
            jitter="additive",
            jitter_amount=0.75,
            cooldown_s=5.0,
            cooldown_on=("rate_limit",),
            context_failover=True,
            attempt_timeout_s=600.0,
        ),
        # Portkey fallback mode with retry: 3 attempts per target, 1, 2, 4 ... s without jitter,
        # Retry-After honoured up to its 60 s retry-wait cap, then the next target.
        FailoverPolicy(
            name="portkey-like",
            max_attempts=3,
            backoff_base_s=1.0,
            backoff_cap_s=16.0,
            jitter="none",
            max_retry_after_s=60.0,
        ),
        # Route around trouble quickly, keep load bounded, never exceed what a provider asked for.
        FailoverPolicy(
            name="resilient",
            max_attempts=2,
            max_total_attempts=6,
            max_retry_after_s=5.0,
            backoff_base_s=0.5,
            backoff_cap_s=8.0,
            jitter="full",
            cooldown_s=10.0,
            cooldown_on=("rate_limit", "overload"),
            breaker_failures=3,
            breaker_open_s=30.0,
            breaker_probes=1,
            retry_budget=0.2,
            retry_budget_min=10,
            deadline_s=300.0,
            attempt_timeout_s=30.0,
            context_failover=True,
        ),
    )
}
"""Named policies, documented side by side in the README."""


def preset(name: str, **overrides: object) -> FailoverPolicy:
    """The preset ``name`` with some fields replaced (``preset("resilient", max_attempts=3)``)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}{closest(name, PRESETS)}; presets: {', '.join(PRESETS)}")
    known = {f.name for f in fields(FailoverPolicy)}
    check_known("policy field", overrides, known)
    if overrides and "name" not in overrides:  # say what differs from the preset
        shown = {k: ",".join(v) if isinstance(v, (tuple, list)) else v for k, v in overrides.items()}
        overrides["name"] = name + "+" + " ".join(f"{k}={v}" for k, v in shown.items())
    return replace(PRESETS[name], **overrides)
