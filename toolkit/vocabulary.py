"""The words the attempt log, the engine, the policies and the scenarios share, each defined once.

Every producer of an attempt log (the simulator, live runs, the gateway, an imported OpenCode
history) writes these names, and every reader (metrics, charts, the report, the fitter) reads
them, so they live here rather than in one of those modules: outcome classes, the error
classes a scenario can inject, the engine's decisions, the seed plugin's strategies, the
texts of the rows no provider wrote, and the billing rule. Each vocabulary is a ``Literal``
type (for type checkers) plus the tuple of its values in their canonical order (for code and
categorical columns). This module imports nothing from the package, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Outcome = Literal[
    "ok",
    "rate_limit",
    "overload",
    "server_error",
    "timeout",
    "connection",
    "client_error",
    "auth",
    "context_length",
    "protocol_error",
    "cancelled",
]
"""An outcome class (the type of the attempt log's ``outcome`` values)."""

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
"""Every outcome class, in the order of the attempt log's categorical.

``protocol_error`` is a 2xx answer the client cannot read as its protocol: a stream event
that is not JSON or not the protocol's shape (``data: [1,2,3]``, ``{"choices":[null]}``, a
string where a number belongs), invalid UTF-8, an event over the size limit, a body that is
not a stream, or a stream that runs past the request's ``max_tokens``. The call layer
(:mod:`toolkit.upstream`) decides it; :func:`toolkit.classifier.classify` never returns it (it
sees a status and a text, not a parsed stream), and a scenario cannot inject it.

``cancelled`` is not an error class: it marks a hedged attempt abandoned because another
attempt of the same request answered first (and a request that gave up before a call).
"""

ErrorClass = Literal[
    "rate_limit",
    "overload",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "client_error",
    "context_length",
    "protocol_error",
]
"""An outcome class that is a failure (what a policy can react to)."""

ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)
"""The error classes."""

INJECTABLE_CLASSES: tuple[ErrorClass, ...] = tuple(c for c in ERROR_CLASSES if c != "protocol_error")
"""The classes a scenario can inject, in the order it lays out their probability intervals."""

TRANSIENT: frozenset[ErrorClass] = frozenset(
    {"rate_limit", "overload", "server_error", "timeout", "connection", "protocol_error"}
)
"""Classes worth retrying: the same request may succeed later or elsewhere (a garbled stream
is often one bad replica or one broken connection, like a 500)."""

DecisionName = Literal["done", "retry_same", "next_provider", "give_up"]
"""What the engine decided after an attempt (the type of the ``decision`` column's values)."""

DECISIONS: tuple[DecisionName, ...] = get_args(DecisionName)
"""Every decision, in the categorical order of the ``decision`` column."""

DONE, RETRY_SAME, NEXT_PROVIDER, GIVE_UP = DECISIONS

OUTCOME_CODE: Mapping[str, int] = {name: i for i, name in enumerate(OUTCOMES)}
"""Outcome class -> its small integer code (the attempt log's categorical code, used in fast paths)."""

DECISION_CODE: Mapping[str, int] = {name: i for i, name in enumerate(DECISIONS)}
"""Decision -> its small integer code (the ``decision`` column's categorical code)."""

Strategy = Literal["on_error", "on_rate_limit", "on_overload"]
"""The seed plugin's ``strategy`` option."""

STRATEGIES: Mapping[Strategy, frozenset[ErrorClass]] = {
    "on_error": TRANSIENT | {"auth"},
    "on_rate_limit": frozenset({"rate_limit"}),
    "on_overload": frozenset({"overload"}),
}
"""Seed strategy -> the outcome classes that move a request to the next provider."""

CANCELLED_TEXT = "hedged attempt cancelled: another attempt answered first"
"""The ``error`` of a hedge that lost (outcome ``cancelled``, decision ``done``)."""

NO_CALL_TEXT = "gave up before calling: no provider available before the deadline"
"""The ``error`` of a request's row with ``attempt == 0``: it gave up before any planned call."""


def is_billed(outcome: Outcome, streamed: bool) -> bool:
    """The billing rule, the same for every attempt log: a provider bills an attempt that
    answered (``ok``) and one cut off after its first token (``cancelled`` with ``streamed``:
    a hedge that lost, a client that went away mid-answer), for its prompt and the tokens it
    produced. Failures, and attempts cancelled before any output, are free."""
    return outcome == "ok" or (streamed and outcome == "cancelled")
