"""The failover engine: every "wait, retry here, go elsewhere, give up" decision, in one place.

:class:`FailoverEngine` is pure and clock-injected: callers pass the current time ``now``
(virtual seconds in the simulator, ``time.monotonic()`` in live runs) and an injected
:class:`random.Random` supplies the jitter. It never reads a clock and never sleeps; it
returns *when* the next attempt may start and the caller waits. Per-provider state
(Retry-After and cooldown expiry, circuit breaker, retry budget) is shared by every
request of the engine, which is how one request's retries can hurt another's.

The driving protocol (documented with an example in ``docs/failover.md``)::

    req, d = engine.start(now, input_tokens, output_tokens)
    while d.action not in ("done", "give_up"):
        wait until d.at
        again = engine.begin(req, d.provider, now)   # None: admitted, call the provider
        if again is not None: d = again; continue    # state changed meanwhile: new plan
        ... call the provider, classify the answer ...
        d = engine.report(req, d.provider, outcome, now, retry_after_s)

Providers are indices into ``engine.providers`` (the try order), to keep the simulator's
inner loop free of dictionary look-ups.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from toolkit.policy import FailoverPolicy
from toolkit.vocabulary import DONE, GIVE_UP, NEXT_PROVIDER, RETRY_SAME, TRANSIENT

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
START = "start"  # the first attempt of a request; the other actions are the logged decisions
_INF = math.inf
# A probe counts as busy a little past its longest possible end, so a request planned for
# exactly that instant re-checks after the probe's result instead of racing it.
_PROBE_SLACK_S = 1e-3


class Decision:
    """What to do next: ``action`` (start, done, retry_same, next_provider, give_up), on which
    ``provider`` (an index, -1 for done / give_up), starting no earlier than ``at`` (seconds on
    the caller's clock; NaN for done / give_up), i.e. after ``wait`` seconds."""

    __slots__ = ("action", "provider", "at", "wait")

    def __init__(self, action: str, provider: int, at: float, wait: float) -> None:
        self.action = action
        self.provider = provider
        self.at = at
        self.wait = wait

    def __repr__(self) -> str:
        return f"Decision({self.action!r}, provider={self.provider}, at={self.at:.6g}, wait={self.wait:.6g})"


_DONE = Decision(DONE, -1, math.nan, 0.0)
_GIVE_UP = Decision(GIVE_UP, -1, math.nan, 0.0)


class Request:
    """One request's failover state. ``tag`` is free for the driver (the simulator keeps its
    in-flight attempts there, a live runner its tasks)."""

    __slots__ = (
        "request_id",
        "t0",
        "deadline",
        "tries",
        "attempts",
        "inflight",
        "current",
        "done",
        "hedged",
        "input_tokens",
        "output_tokens",
        "tag",
    )

    def __init__(self, request_id: int, t0: float, deadline: float, n: int, input_tokens: int, output_tokens: int):
        self.request_id = request_id
        self.t0 = t0
        self.deadline = deadline  # absolute time; inf without a deadline
        self.tries = [0] * n  # attempts started per provider
        self.attempts = 0
        self.inflight = 0
        self.current = -1  # provider of the latest attempt started
        self.done = False  # an attempt succeeded
        self.hedged = False
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.tag: object = None


class ProviderState:
    """Shared state of one provider: when it may next be called, and its circuit breaker."""

    __slots__ = (
        "blocked_until",
        "state",
        "failures",
        "open_until",
        "probe_owner",
        "probe_until",
        "probe_successes",
        "window",
        "calls",
        "fails",
        "busy",
    )

    def __init__(self) -> None:
        self.blocked_until = -_INF  # Retry-After / cooldown expiry
        self.busy = 0  # attempts begun on it and not yet reported or cancelled (least_busy routing)
        self.window = -1  # the cooldown window the two counts below belong to
        self.calls = 0  # attempts reported in that window
        self.fails = 0  # ... of a class in cooldown_count_on
        self.state = CLOSED
        self.failures = 0  # consecutive transient failures while closed
        self.open_until = -_INF
        self.probe_owner: Request | None = None
        self.probe_until = -_INF
        self.probe_successes = 0


class FailoverEngine:
    """Decisions of one :class:`~toolkit.policy.FailoverPolicy` over one try order of providers.

    ``providers`` is the try order (``policy.members(model)``); ``context_limits`` the
    members' context windows (None when unknown) for context-length failover; ``rng``
    supplies the backoff jitter. ``transitions`` records every breaker change as
    ``(time, provider, new_state)``.
    """

    __slots__ = (
        "policy",
        "providers",
        "states",
        "limits",
        "rng",
        "requests",
        "retries",
        "transitions",
        "_n",
        "_failover",
        "_after",
        "_from",
        "_others",
        "_max_attempts",
        "_max_total",
        "_deadline",
        "_timeout",
        "_honor",
        "_ra_mode",
        "_share_ra",
        "_failover_backoff",
        "_weights",
        "_spread",
        "_reroute",
        "_first",
        "_max_wait",
        "_cooldown",
        "_cooldown_on",
        "_cooldown_ra",
        "_windowed",
        "_window_s",
        "_count_on",
        "_cool_failures",
        "_cool_rate",
        "_cool_min",
        "_breaker",
        "_switch_first",
        "_budget",
        "_budget_min",
        "_hedge",
        "_next_id",
    )

    def __init__(
        self,
        policy: FailoverPolicy,
        providers: Sequence[str],
        rng: random.Random,
        context_limits: Sequence[float | None] | None = None,
    ) -> None:
        n = len(providers)
        if n == 0:
            raise ValueError("a failover engine needs at least one provider")
        self.policy = policy
        self.providers = list(providers)
        self.states = [ProviderState() for _ in range(n)]
        self.limits = list(context_limits) if context_limits is not None else [None] * n
        self.rng = rng
        self.requests = 0
        self.retries = 0  # same-provider retries granted (what the retry budget limits)
        self.transitions: list[tuple[float, str, str]] = []
        self._n = n
        self._failover = policy.failover_classes
        # after p: the rest of the try order, then (switch_first, or a first attempt that may
        # land anywhere) the providers before p
        cyclic = policy.switch_first or policy.routing != "priority"
        self._after = [tuple(range(p + 1, n)) + (tuple(range(p + 1)) if cyclic else ()) for p in range(n)]
        self._from = [tuple(range(p, n)) + (tuple(range(p)) if cyclic else ()) for p in range(n)]
        self._others = [tuple(range(p + 1, n)) + tuple(range(p)) for p in range(n)]
        self._max_attempts = policy.max_attempts
        self._max_total = policy.max_total_attempts if policy.max_total_attempts is not None else 1 << 30
        self._deadline = policy.deadline_s if policy.deadline_s is not None else _INF
        self._timeout = policy.attempt_timeout_s
        self._honor = policy.retry_after_mode != "ignore"
        self._ra_mode = policy.retry_after_mode
        self._share_ra = policy.share_retry_after
        self._failover_backoff = policy.backoff_before_failover
        # _spread: a first attempt (and a reroute) is picked by _pick among the providers available
        # now, by weight (shuffle: all 1) or, with least_busy (no weights), by attempts in flight
        self._spread = policy.routing != "priority"
        self._weights: list[float] | None = None
        if policy.routing in ("shuffle", "weighted"):
            named = dict(policy.weights)
            self._weights = [float(named.get(p, 1.0)) for p in self.providers]
        self._reroute = policy.reroute
        self._first = self._from[0] if not self._spread else ()  # start's fast path: priority only
        self._max_wait = policy.max_retry_after_s if policy.max_retry_after_s is not None else _INF
        self._cooldown = policy.cooldown_s
        self._cooldown_on = frozenset(policy.cooldown_on) if policy.cooldown_s > 0 else frozenset()
        self._cooldown_ra = policy.cooldown_from_retry_after
        self._cool_failures = policy.cooldown_failures
        self._cool_rate = policy.cooldown_failure_rate
        self._cool_min = policy.cooldown_min_attempts
        self._windowed = policy.cooldown_s > 0 and (self._cool_failures is not None or self._cool_rate is not None)
        self._window_s = policy.cooldown_window_s
        self._count_on = frozenset(policy.cooldown_count_on)
        self._breaker = policy.breaker_failures
        self._switch_first = policy.switch_first
        self._budget = policy.retry_budget
        self._budget_min = policy.retry_budget_min
        self._hedge = policy.hedge_after_s
        self._next_id = 0

    # -- the protocol ----------------------------------------------------------------------------
    def start(
        self, now: float, input_tokens: int = 0, output_tokens: int = 0, request_id: int | None = None
    ) -> tuple[Request, Decision]:
        """A new request arriving at ``now`` and the plan for its first attempt.

        The first attempt goes to the provider ``routing`` picks among those available now (with
        ``priority``, the first in try order), else to the one available soonest (action
        ``start``), or the request gives up at once when none is available before its deadline.
        """
        if request_id is None:
            request_id = self._next_id
        self._next_id = request_id + 1
        self.requests += 1
        req = Request(request_id, now, now + self._deadline, self._n, input_tokens, output_tokens)
        states = self.states
        for q in self._first:  # the common case: a closed, unblocked provider early in the order
            s = states[q]
            if s.state is not CLOSED:
                break  # an expired open breaker may be available: let _route decide
            if s.blocked_until <= now:
                return req, Decision(START, q, now, 0.0)
        if self._spread:
            q = self._pick(req, now)
            if q >= 0:
                return req, Decision(START, q, now, 0.0)
        return req, self._route(req, now, self._from[0], START)

    def begin(self, req: Request, provider: int, now: float) -> Decision | None:
        """Admit the planned attempt on ``provider`` at ``now`` (None), or re-plan (a Decision)
        when the provider became unavailable since the plan (another request's Retry-After,
        cooldown, an opened breaker, a half-open probe in flight)."""
        s = self.states[provider]
        if s.state is not CLOSED or s.blocked_until > now:  # the common case skips these checks
            busy_probe = s.state == HALF_OPEN and s.probe_owner is not None and now < s.probe_until
            if busy_probe or self._available_at(provider, now) > now:
                return self._route(req, now, self._from[provider], None)
        if s.state is not CLOSED:
            if s.state == OPEN:
                s.state = HALF_OPEN
                self.transitions.append((now, self.providers[provider], HALF_OPEN))
            s.probe_owner = req  # half-open now: this attempt is the probe
            s.probe_until = now + self._timeout + _PROBE_SLACK_S
        req.tries[provider] += 1
        req.attempts += 1
        req.inflight += 1
        req.current = provider
        s.busy += 1
        return None

    def report(
        self, req: Request, provider: int, outcome: str, now: float, retry_after_s: float | None = None
    ) -> Decision:
        """Record how an attempt ended (an outcome class of :mod:`toolkit.classifier`) and decide.

        Updates the shared state first (breaker, Retry-After, cooldown), then returns done,
        retry_same / next_provider with the earliest start time, or give_up. While another
        attempt of the same request (a hedge) is still running, a failed attempt only ends
        its own branch (give_up) and the request lives on in the other.
        """
        s = self.states[provider]
        req.inflight -= 1
        s.busy -= 1
        probe = s.probe_owner is req
        if outcome == "ok":
            if probe:
                self._probe_passed(s, provider, now)
            elif s.state == CLOSED:
                s.failures = 0
            if self._windowed:
                self._tally(s, now, False)
            req.done = True
            return _DONE
        transient = outcome in TRANSIENT
        if self._breaker is not None:
            if probe:
                s.probe_owner = None
                if transient:
                    self._open(s, provider, now)
            elif transient and s.state == CLOSED:
                s.failures += 1
                if s.failures >= self._breaker:
                    self._open(s, provider, now)
        ra = retry_after_s if (self._honor and retry_after_s is not None and retry_after_s > 0) else 0.0
        if ra and now + ra > s.blocked_until and self._share_ra:
            s.blocked_until = now + ra
        if outcome in self._cooldown_on or (self._windowed and self._tally(s, now, outcome in self._count_on)):
            self._cool(s, now, retry_after_s)
        if req.done or req.inflight > 0:
            return _GIVE_UP
        req.current = provider  # after a hedge, the plan follows from the attempt that just ended
        return self._after_failure(req, provider, outcome, now, ra, transient)

    def hedge(self, req: Request, now: float) -> Decision | None:
        """A hedged attempt to start now while the request's only attempt is still running
        (call it ``policy.hedge_after_s`` after that attempt started), or None: hedging off,
        already hedged, or no other provider available now."""
        if self._hedge is None or req.done or req.inflight != 1 or req.hedged or req.attempts >= self._max_total:
            return None
        for q in self._others[req.current]:
            if req.tries[q] < self._max_attempts and self._available_at(q, now) <= now:
                req.hedged = True
                return Decision(NEXT_PROVIDER, q, now, 0.0)
        return None

    def cancel(self, req: Request, provider: int, now: float) -> None:
        """An attempt abandoned without an answer (a hedge that lost): frees its probe slot."""
        req.inflight -= 1
        s = self.states[provider]
        s.busy -= 1
        if s.probe_owner is req:
            s.probe_owner = None

    # -- queries ---------------------------------------------------------------------------------
    def available_at(self, provider: int, now: float) -> float:
        """The earliest time >= ``now`` at which ``provider`` may be called (shared state only)."""
        return self._available_at(provider, now)

    def breaker_state(self, provider: int) -> str:
        """``closed``, ``open`` or ``half_open`` (an expired open breaker turns half-open at the next
        admitted attempt, its probe)."""
        return self.states[provider].state

    # -- internals -------------------------------------------------------------------------------
    def _available_at(self, provider: int, now: float) -> float:
        s = self.states[provider]
        t = s.blocked_until
        if s.state is not CLOSED:
            if s.state is OPEN:
                if s.open_until > t:
                    t = s.open_until
            elif s.probe_owner is not None and s.probe_until > t:
                t = s.probe_until
        return t if t > now else now

    def _route(
        self, req: Request, now: float, order: tuple[int, ...], action: str | None, min_limit: float | None = None
    ) -> Decision:
        """The first provider of ``order`` available now, else the one available soonest."""
        if req.attempts >= self._max_total:
            return _GIVE_UP
        tries = req.tries
        best, best_t = -1, _INF
        for q in order:
            if tries[q] >= self._max_attempts:
                continue
            if min_limit is not None:
                limit = self.limits[q]
                if limit is None or limit <= min_limit:
                    continue
            t = self._available_at(q, now)
            if t <= now:
                best, best_t = q, now
                break
            if t < best_t:
                best, best_t = q, t
        if best < 0 or best_t >= req.deadline:
            return _GIVE_UP
        if action is None:
            action = RETRY_SAME if best == req.current else NEXT_PROVIDER
        return Decision(action, best, best_t, best_t - now)

    def _pick(self, req: Request, now: float) -> int:
        """A provider among those available now with tries left (-1: none): drawn by the routing
        weights, or (least_busy) the one with the fewest attempts in flight, the first in try order
        on a tie."""
        tries, cap = req.tries, self._max_attempts
        free = [q for q in range(self._n) if tries[q] < cap and self._available_at(q, now) <= now]
        if not free:
            return -1
        weights = self._weights
        if weights is None:
            states = self.states
            return min(free, key=lambda q: states[q].busy)  # min keeps the first of equals: try order
        u = self.rng.random() * sum(weights[q] for q in free)
        for q in free:
            u -= weights[q]
            if u < 0:
                return q
        return free[-1]  # u landed on the total through rounding

    def _cool(self, s: ProviderState, now: float, retry_after_s: float | None) -> None:
        """Block ``s`` for the cooldown (its Retry-After instead, with ``cooldown_from_retry_after``)."""
        length = self._cooldown
        if self._cooldown_ra and retry_after_s is not None and retry_after_s > 0:
            length = retry_after_s
        if now + length > s.blocked_until:
            s.blocked_until = now + length

    def _tally(self, s: ProviderState, now: float, failed: bool) -> bool:
        """Count one reported attempt in its fixed window; True when the failures now call for a cooldown."""
        window = int(now // self._window_s)
        if window != s.window:
            s.window, s.calls, s.fails = window, 0, 0
        s.calls += 1
        if not failed:
            return False
        s.fails += 1
        if self._cool_failures is not None and s.fails >= self._cool_failures:
            return True
        return self._cool_rate is not None and s.calls >= self._cool_min and s.fails > self._cool_rate * s.calls

    def _reroute_after(self, req: Request, p: int, now: float, ra: float) -> Decision:
        """Pick again as for a first attempt, ``p`` included, at once; back off only when nothing is available."""
        if self._spread:
            q = self._pick(req, now) if req.attempts < self._max_total else -1
            if q >= 0:
                return Decision(RETRY_SAME if q == p else NEXT_PROVIDER, q, now, 0.0)
        else:
            d = self._route(req, now, self._from[0], None)
            if d is _GIVE_UP or d.at <= now:
                return d
        if req.attempts >= self._max_total:
            return _GIVE_UP
        d = self._route(req, now + self._retry_wait(req.attempts, ra), self._from[0], None)
        return d if d is _GIVE_UP else Decision(d.action, d.provider, d.at, d.at - now)

    def _after_failure(self, req: Request, p: int, outcome: str, now: float, ra: float, transient: bool) -> Decision:
        if outcome == "context_length":
            limit = self.limits[p]
            if not self.policy.context_failover or limit is None:
                return _GIVE_UP
            return self._route(req, now, self._others[p], NEXT_PROVIDER, min_limit=limit)
        moves = outcome in self._failover
        if not transient:  # auth under on_error moves on at once: retrying cannot fix a key
            return self._route(req, now, self._after[p], NEXT_PROVIDER) if moves else _GIVE_UP
        if moves and self._reroute:
            return self._reroute_after(req, p, now, ra)
        if moves and self._switch_first:  # elsewhere at once; back off only when p is all that is left
            elsewhere = self._route(req, now, self._after[p], None)
            if elsewhere is _GIVE_UP or elsewhere.provider != p:
                return elsewhere
        if req.tries[p] < self._max_attempts and req.attempts < self._max_total and self._budget_left():
            at = now + (self._retry_wait(req.tries[p], ra) if ra else self._backoff(req.tries[p]))
            available = self._available_at(p, now)
            if available > at:
                at = available
            if at < req.deadline:
                if moves and at - now > self._max_wait:  # too long a wait: elsewhere if possible
                    elsewhere = self._route(req, now, self._after[p], NEXT_PROVIDER)
                    if elsewhere is not _GIVE_UP and elsewhere.provider != p:
                        return elsewhere
                self.retries += 1
                return Decision(RETRY_SAME, p, at, at - now)
        if not moves:
            return _GIVE_UP
        if self._failover_backoff:  # the backoff of one more try, then the next provider
            at = now + self._retry_wait(req.tries[p], ra)
            d = self._route(req, at, self._after[p], NEXT_PROVIDER)
            return d if d is _GIVE_UP else Decision(NEXT_PROVIDER, d.provider, d.at, d.at - now)
        return self._route(req, now, self._after[p], NEXT_PROVIDER)

    def _retry_wait(self, n: int, ra: float) -> float:
        """The wait after ``n`` tries when a Retry-After ``ra`` was honoured (``retry_after_mode``)."""
        mode = self._ra_mode
        if not ra or mode == "ignore":
            return self._backoff(n)
        if mode == "replace":
            return ra
        if mode == "base":
            return self._backoff(n, ra)
        wait = self._backoff(n)
        return ra if ra > wait else wait

    def _budget_left(self) -> bool:
        return self._budget is None or self.retries < self._budget_min + self._budget * self.requests

    def _backoff(self, n: int, floor: float = 0.0) -> float:
        """Delay before try ``n + 1`` on the same provider (``n`` tries made so far); ``floor``
        raises the delay before the cap and the jitter (a Retry-After under mode ``base``)."""
        pol = self.policy
        d = pol.backoff_base_s * pol.backoff_multiplier ** (n - 1)
        if floor > d:
            d = floor
        if d > pol.backoff_cap_s:
            d = pol.backoff_cap_s
        jitter = pol.jitter
        if jitter == "full":
            return d * self.rng.random()
        if jitter == "equal":
            return d / 2 + d / 2 * self.rng.random()
        if jitter == "proportional":
            return d * (1 + pol.jitter_amount * self.rng.random())
        if jitter == "additive":
            return d + pol.jitter_amount * self.rng.random()
        return d

    def _open(self, s: ProviderState, provider: int, now: float) -> None:
        s.state = OPEN
        s.open_until = now + self.policy.breaker_open_s
        s.failures = 0
        s.probe_successes = 0
        s.probe_owner = None
        self.transitions.append((now, self.providers[provider], OPEN))

    def _probe_passed(self, s: ProviderState, provider: int, now: float) -> None:
        s.probe_owner = None
        s.probe_successes += 1
        if s.probe_successes >= self.policy.breaker_probes:
            s.state = CLOSED
            s.failures = 0
            s.probe_successes = 0
            self.transitions.append((now, self.providers[provider], CLOSED))
