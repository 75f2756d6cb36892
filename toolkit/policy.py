"""Failover policies: the seed plugin's four options plus explicit fields for everything else.

A :class:`FailoverPolicy` is a frozen value, validated on construction (mistakes raise
:class:`~toolkit.errors.UserError`). :data:`PRESETS` names the policies worth comparing;
:func:`preset` returns one with fields overridden. The exact meaning of every field is in
``docs/failover.md`` ("Policies") and the README ("Failover policies and presets");
:mod:`toolkit.engine` implements it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from toolkit.combined_model import CombinedModel, Member
from toolkit.errors import UserError, check_known, closest
from toolkit.vocabulary import ERROR_CLASSES, STRATEGIES, TRANSIENT, Strategy

JITTERS = ("full", "equal", "none", "proportional", "additive")
RETRY_AFTER_MODES = ("max", "replace", "base", "ignore")
"""How a Retry-After sets a retry's wait: ``max`` (backoff, Retry-After); ``replace`` the backoff;
raise the backoff's ``base`` delay before cap and jitter; or ``ignore`` it."""
ROUTINGS = ("priority", "shuffle", "weighted", "least_busy")
"""How a request's first attempt (and a rerouted retry) picks among the providers available now."""
SEED_OPTIONS = ("provider_priority", "min_providers", "strategy", "max_attempts")
_ERROR_CLASSES = tuple(sorted(ERROR_CLASSES))  # as the error message lists them


@dataclass(frozen=True)
class FailoverPolicy:
    """How a request fails over; see ``docs/failover.md`` for the exact semantics of each field."""

    # -- the seed plugin's options -----------------------------------------------------------
    provider_priority: tuple[str, ...] = ()
    min_providers: int = 2
    strategy: Strategy = "on_error"
    max_attempts: int = 3
    # -- which members, how many attempts ----------------------------------------------------
    max_providers: int | None = None
    max_total_attempts: int | None = None
    switch_first: bool = False
    routing: str = "priority"
    weights: tuple[tuple[str, float], ...] = ()
    reroute: bool = False
    # -- waiting: Retry-After and backoff -----------------------------------------------------
    retry_after_mode: str = "max"
    share_retry_after: bool = True
    max_retry_after_s: float | None = None
    backoff_base_s: float = 1.0
    backoff_multiplier: float = 2.0
    backoff_cap_s: float = 30.0
    jitter: str = "full"
    jitter_amount: float = 0.25
    backoff_before_failover: bool = False
    # -- shared per-provider state -------------------------------------------------------------
    cooldown_s: float = 0.0
    cooldown_on: tuple[str, ...] = ("rate_limit", "overload")
    cooldown_from_retry_after: bool = False
    cooldown_failures: int | None = None
    cooldown_failure_rate: float | None = None
    cooldown_min_attempts: int = 5
    cooldown_window_s: float = 60.0
    cooldown_count_on: tuple[str, ...] = tuple(sorted(TRANSIENT))
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
        if isinstance(self.provider_priority, str):  # tuple("abc") would be three provider ids
            raise UserError(
                f"provider_priority must be a list of provider ids, not the text {self.provider_priority!r}"
            )
        object.__setattr__(self, "provider_priority", tuple(self.provider_priority))
        object.__setattr__(self, "cooldown_on", tuple(self.cooldown_on))
        object.__setattr__(self, "cooldown_count_on", tuple(self.cooldown_count_on))
        weights = self.weights.items() if isinstance(self.weights, Mapping) else self.weights
        object.__setattr__(self, "weights", tuple((p, w) for p, w in weights))
        _check_choice("strategy", [self.strategy], STRATEGIES)
        _check_choice("jitter", [self.jitter], JITTERS)
        _check_choice("retry_after_mode", [self.retry_after_mode], RETRY_AFTER_MODES)
        _check_choice("routing", [self.routing], ROUTINGS)
        _check_choice("cooldown_on class", self.cooldown_on, _ERROR_CLASSES)
        _check_choice("cooldown_count_on class", self.cooldown_count_on, _ERROR_CLASSES)
        for provider, weight in self.weights:
            if not (isinstance(provider, str) and provider):
                raise UserError("weights must map provider ids (strings) to numbers")
            _check_number(f"weight of {provider}", weight, minimum=0.0, strict=True)
        if self.reroute and self.switch_first:
            raise UserError("reroute and switch_first are two answers to the same question; set one of them")
        if (self.routing == "weighted") != bool(self.weights):
            raise UserError("routing 'weighted' needs weights, and weights need routing 'weighted'")
        if not all(isinstance(p, str) and p for p in self.provider_priority):
            raise UserError("provider_priority must be a list of provider ids (strings)")
        repeated = next((p for n, p in enumerate(self.provider_priority) if p in self.provider_priority[:n]), None)
        if repeated is not None:  # the same provider twice would be tried twice, each time with its own attempts
            raise UserError(f"provider_priority names {repeated!r} twice; name each provider once")
        for name in ("min_providers", "max_attempts", "retry_budget_min", "breaker_probes", "cooldown_min_attempts"):
            _check_int(name, getattr(self, name), minimum=1 if name != "retry_budget_min" else 0)
        for name in ("max_providers", "max_total_attempts", "breaker_failures", "cooldown_failures"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        for name in ("backoff_base_s", "backoff_cap_s", "jitter_amount", "cooldown_s", "breaker_open_s"):
            _check_number(name, getattr(self, name), minimum=0.0)
        _check_number("backoff_multiplier", self.backoff_multiplier, minimum=1.0)
        _check_number("attempt_timeout_s", self.attempt_timeout_s, minimum=0.0, strict=True)
        _check_number("cooldown_window_s", self.cooldown_window_s, minimum=0.0, strict=True)
        if self.cooldown_failure_rate is not None:
            _check_number("cooldown_failure_rate", self.cooldown_failure_rate, minimum=0.0)
            if self.cooldown_failure_rate >= 1:
                raise UserError(f"cooldown_failure_rate must be below 1, got {self.cooldown_failure_rate!r}")
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
        out["cooldown_count_on"] = list(self.cooldown_count_on)
        out["weights"] = dict(self.weights)
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


def _check_choice(kind: str, values: Iterable[str], choices: Collection[str]) -> None:
    """Like ``check_known``, and list the valid choices (short lists, so always helpful)."""
    try:
        check_known(kind, values, choices)
    except UserError as exc:
        raise UserError(f"{exc}; use one of {', '.join(choices)}") from None


MAX_COUNT = 1000
"""Largest count a policy field takes (attempts, providers, probes): beyond it a typo, not a policy."""
MAX_NUMBER = 86_400.0
"""Largest number a policy field takes (seconds, weights, multipliers): a day; beyond it a run never ends."""


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value > MAX_COUNT:
        raise UserError(f"{name} must be at most {MAX_COUNT:,}, got {value!r}")


def _check_number(name: str, value: object, minimum: float, strict: bool = False) -> None:
    valid = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > minimum if strict else value >= minimum)
    )
    if not valid:
        raise UserError(f"{name} must be a number {'>' if strict else '>='} {minimum:g}, got {value!r}")
    if isinstance(value, (int, float)) and value > MAX_NUMBER:
        raise UserError(f"{name} must be at most {MAX_NUMBER:,.0f}, got {value!r}")


class _Presets(dict):
    """Named policies, each listed once; an old name (:data:`ALIASES`) still finds its policy."""

    def __missing__(self, name: str) -> FailoverPolicy:
        if name in ALIASES:
            return self[ALIASES[name]]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in ALIASES


ALIASES: dict[str, str] = {"opencode-native": "opencode-1.18", "litellm-like": "litellm-1.110-shuffle"}
"""Earlier preset names -> the preset that models the same system now."""

PRESETS: dict[str, FailoverPolicy] = _Presets(
    (p.name, p)
    for p in (
        FailoverPolicy(name="seed-on-error", strategy="on_error"),
        FailoverPolicy(name="seed-on-rate-limit", strategy="on_rate_limit"),
        FailoverPolicy(name="seed-on-overload", strategy="on_overload"),
        # OpenCode 1.18.33 (npm opencode-ai) on one provider, no failover: 6 requests in all;
        # 2 s * 2^(n-1) * (1 + 0.25 U) between them; a Retry-After replaces that delay, for
        # that session only (sessions share nothing).
        FailoverPolicy(
            name="opencode-1.18",
            min_providers=1,
            max_providers=1,
            max_attempts=6,
            retry_after_mode="replace",
            share_retry_after=False,
            backoff_base_s=2.0,
            backoff_cap_s=32.0,
            jitter="proportional",
            jitter_amount=0.25,
            attempt_timeout_s=300.0,
        ),
        # LiteLLM Router 1.110.2, one model group with a deployment per member and `order`
        # priorities 1, 2, ...; num_retries=2, no fallbacks, no cooldown_time. Each retry picks
        # again (the lowest order not cooling down, often the same deployment) at once;
        # 0.5 * 2^n + U(0, 0.75) s only when nothing is available. A 429 cools the deployment
        # down for its Retry-After (5 s without one), as do > 50 % failures over >= 5 calls in
        # a minute; the wait itself ignores Retry-After.
        FailoverPolicy(
            name="litellm-1.110-order",
            max_attempts=3,
            max_total_attempts=3,
            reroute=True,
            retry_after_mode="ignore",
            backoff_base_s=0.5,
            backoff_cap_s=8.0,
            jitter="additive",
            jitter_amount=0.75,
            cooldown_s=5.0,
            cooldown_on=("rate_limit", "auth"),
            cooldown_from_retry_after=True,
            cooldown_failure_rate=0.5,
            cooldown_min_attempts=5,
            cooldown_window_s=60.0,
            attempt_timeout_s=600.0,
        ),
        # The same group with LiteLLM's default routing, simple-shuffle: first calls and
        # retries spread at random over the deployments not cooling down.
        FailoverPolicy(
            name="litellm-1.110-shuffle",
            routing="shuffle",
            max_attempts=3,
            max_total_attempts=3,
            reroute=True,
            retry_after_mode="ignore",
            backoff_base_s=0.5,
            backoff_cap_s=8.0,
            jitter="additive",
            jitter_amount=0.75,
            cooldown_s=5.0,
            cooldown_on=("rate_limit", "auth"),
            cooldown_from_retry_after=True,
            cooldown_failure_rate=0.5,
            cooldown_min_attempts=5,
            cooldown_window_s=60.0,
            attempt_timeout_s=600.0,
        ),
        # LiteLLM Router 1.110.2 with a model group per member and `fallbacks` from the first
        # to the others in order (plus the same context_window_fallbacks), num_retries=2:
        # 3 calls on a group, min(max(0.5 * 2^n, Retry-After), 8) + U(0, 0.75) s apart, and
        # that wait once more before the next group. A group's only deployment is never
        # cooled down, and one request's Retry-After does not hold back the others.
        FailoverPolicy(
            name="litellm-1.110-fallbacks",
            max_attempts=3,
            retry_after_mode="base",
            share_retry_after=False,
            backoff_before_failover=True,
            backoff_base_s=0.5,
            backoff_cap_s=8.0,
            jitter="additive",
            jitter_amount=0.75,
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
)
"""Named policies, documented side by side in the README (old names answer through :data:`ALIASES`)."""


def preset(name: str, **overrides: Any) -> FailoverPolicy:
    """The preset ``name`` with some fields replaced (``preset("resilient", max_attempts=3)``)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}{closest(name, [*PRESETS, *ALIASES])}; presets: {', '.join(PRESETS)}")
    known = {f.name for f in fields(FailoverPolicy)}
    check_known("policy field", overrides, known)
    if overrides and "name" not in overrides:  # say what differs from the preset
        shown = {k: ",".join(v) if isinstance(v, (tuple, list)) else v for k, v in overrides.items()}
        overrides["name"] = name + "+" + " ".join(f"{k}={v}" for k, v in shown.items())
    return replace(PRESETS[name], **overrides)
