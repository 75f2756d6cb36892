"""The failover engine's decisions, driven by hand on a fake clock (exact expectations)."""

from __future__ import annotations

import math
import random

import pytest

from toolkit.engine import FailoverEngine
from toolkit.policy import FailoverPolicy, preset
from toolkit.vocabulary import TRANSIENT

CLASSES = ("rate_limit", "overload", "server_error", "timeout", "connection", "auth", "client_error", "context_length")
FAILOVER_SET = {
    "on_error": {"rate_limit", "overload", "server_error", "timeout", "connection", "auth"},
    "on_rate_limit": {"rate_limit"},
    "on_overload": {"overload"},
}


def engine(n: int = 3, limits=None, seed: int = 0, **fields) -> FailoverEngine:
    fields.setdefault("jitter", "none")
    policy = FailoverPolicy(**fields)
    return FailoverEngine(policy, [f"p{i}" for i in range(n)], random.Random(seed), limits)


def attempt(eng: FailoverEngine, req, decision, outcome: str, duration: float = 1.0, retry_after=None):
    """Begin the planned attempt at its start time and report ``outcome`` after ``duration``."""
    assert eng.begin(req, decision.provider, decision.at) is None
    return eng.report(req, decision.provider, outcome, decision.at + duration, retry_after)


def fail_until_over(eng: FailoverEngine, outcome: str, duration: float = 1.0, now: float = 0.0) -> list[tuple]:
    """Start one request and fail every attempt with ``outcome``: ``(provider, start, decision)`` per attempt."""
    req, d = eng.start(now)
    path = []
    while d.action not in ("done", "give_up"):
        provider, at = d.provider, d.at
        d = attempt(eng, req, d, outcome, duration)
        path.append((provider, at, d.action))
    return path


def expected_action(strategy: str, outcome: str, max_attempts: int) -> str:
    moves = outcome in FAILOVER_SET[strategy]
    if outcome in TRANSIENT and max_attempts > 1:
        return "retry_same"
    return "next_provider" if moves else "give_up"


@pytest.mark.parametrize("max_attempts", [1, 2])
@pytest.mark.parametrize("outcome", CLASSES)
@pytest.mark.parametrize("strategy", list(FAILOVER_SET))
def test_each_strategy_and_class(strategy, outcome, max_attempts):
    eng = engine(strategy=strategy, max_attempts=max_attempts)
    req, d = eng.start(0.0)
    assert (d.action, d.provider, d.at) == ("start", 0, 0.0)
    d = attempt(eng, req, d, outcome)
    assert d.action == expected_action(strategy, outcome, max_attempts)
    if d.action == "next_provider":
        assert (d.provider, d.at) == (1, 1.0)
    if d.action == "retry_same":
        assert (d.provider, d.at) == (0, 2.0)  # backoff_base_s 1, no jitter


def test_ok_is_done():
    eng = engine()
    req, d = eng.start(0.0)
    assert attempt(eng, req, d, "ok").action == "done"


@pytest.mark.parametrize(("providers", "max_attempts"), [(1, 1), (2, 3), (3, 2), (3, 4)])
def test_max_attempts_counts_tries_per_provider_first_included(providers, max_attempts):
    eng = engine(n=providers, min_providers=1, max_attempts=max_attempts)
    path = fail_until_over(eng, "server_error")
    used, actions = [p for p, _, _ in path], [a for _, _, a in path]
    assert used == [p for p in range(providers) for _ in range(max_attempts)]
    assert actions.count("retry_same") == providers * (max_attempts - 1)
    assert actions.count("next_provider") == providers - 1
    assert actions[-1] == "give_up"


def test_transient_outside_the_failover_set_never_fails_over():
    eng = engine(strategy="on_rate_limit", max_attempts=3)
    assert [p for p, _, _ in fail_until_over(eng, "overload")] == [0, 0, 0]


@pytest.mark.parametrize(
    ("jitter", "amount", "expected"),
    [
        ("none", 0.25, [1.0, 2.0, 4.0, 5.0, 5.0]),
        ("full", 0.25, "u*d"),
        ("equal", 0.25, "d/2+u*d/2"),
        ("proportional", 0.25, "d*(1+0.25u)"),
        ("additive", 0.75, "d+0.75u"),
    ],
)
def test_backoff_and_jitter_formulas(jitter, amount, expected):
    eng = engine(n=1, min_providers=1, max_attempts=6, backoff_cap_s=5.0, jitter=jitter, jitter_amount=amount, seed=7)
    req, d = eng.start(0.0)
    waits = []
    while d.action == "start" or d.action == "retry_same":
        d = attempt(eng, req, d, "server_error", duration=0.0)
        if d.action == "retry_same":
            waits.append(d.wait)
    base = [1.0, 2.0, 4.0, 5.0, 5.0]
    rnd = random.Random(7)
    formulas = {
        "u*d": lambda d: rnd.random() * d,
        "d/2+u*d/2": lambda d: d / 2 + d / 2 * rnd.random(),
        "d*(1+0.25u)": lambda d: d * (1 + 0.25 * rnd.random()),
        "d+0.75u": lambda d: d + 0.75 * rnd.random(),
    }
    want = expected if isinstance(expected, list) else [formulas[expected](d) for d in base]
    assert waits == pytest.approx(want, abs=1e-12)


def test_retry_after_wins_over_shorter_backoff_and_blocks_every_request():
    eng = engine(max_attempts=2)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", duration=1.0, retry_after=7.0)
    assert (d.action, d.provider, d.at) == ("retry_same", 0, 8.0)
    other, d2 = eng.start(3.0)  # another request: p0 is blocked until 8, so it starts on p1
    assert (d2.provider, d2.at) == (1, 3.0)
    assert eng.available_at(0, 3.0) == 8.0


def test_retry_after_not_honoured_when_the_policy_says_so():
    eng = engine(max_attempts=2, retry_after_mode="ignore")
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", retry_after=7.0)
    assert (d.action, d.at) == ("retry_same", 2.0)
    assert eng.available_at(0, 1.0) == 1.0  # and nobody else is held back by it


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 8.0), (0.5, 1.5), (None, 3.0)])
def test_retry_after_replaces_the_backoff(retry_after, expected):
    # backoff before the 3rd try would be 2 s: a Retry-After, longer or shorter, is used instead
    eng = engine(n=1, min_providers=1, max_attempts=3, retry_after_mode="replace")
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "server_error", duration=0.0)
    assert (d.action, d.at) == ("retry_same", 1.0)
    d = attempt(eng, req, d, "rate_limit", duration=0.0, retry_after=retry_after)
    assert (d.action, d.at) == ("retry_same", expected)
    assert eng.available_at(0, 1.0) == (1.0 + retry_after if retry_after else 1.0)  # still shared
    draws = engine(n=1, min_providers=1, max_attempts=3, retry_after_mode="replace", jitter="full")
    req, d = draws.start(0.0)
    state = draws.rng.getstate()
    attempt(draws, req, d, "rate_limit", duration=0.0, retry_after=2.0)
    assert draws.rng.getstate() == state  # no backoff was drawn


def test_retry_after_mode_max_keeps_a_longer_backoff():
    eng = engine(n=1, min_providers=1, max_attempts=4, backoff_base_s=4.0)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", duration=0.0, retry_after=1.0)
    assert (d.action, d.at) == ("retry_same", 4.0)


def test_begin_refuses_a_provider_blocked_since_the_plan():
    eng = engine(max_attempts=2)
    a, da = eng.start(0.0)
    b, db = eng.start(0.0)
    assert eng.begin(a, 0, 0.0) is None
    eng.report(a, 0, "rate_limit", 0.5, 10.0)  # blocks p0 until 10.5
    again = eng.begin(b, 0, 0.5)
    assert (again.action, again.provider, again.at) == ("next_provider", 1, 0.5)


def test_a_long_retry_after_moves_on_at_once():
    eng = engine(max_attempts=3, max_retry_after_s=5.0)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", retry_after=30.0)
    assert (d.action, d.provider, d.at) == ("next_provider", 1, 1.0)
    short = engine(max_attempts=3, max_retry_after_s=5.0)
    req, d = short.start(0.0)
    d = attempt(short, req, d, "rate_limit", retry_after=4.0)
    assert (d.action, d.provider, d.at) == ("retry_same", 0, 5.0)


def test_a_long_retry_after_waits_when_nothing_else_is_left():
    eng = engine(n=1, min_providers=1, max_attempts=2, max_retry_after_s=5.0)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", retry_after=30.0)
    assert (d.action, d.at) == ("retry_same", 31.0)


def test_cooldown_is_shared_and_expires():
    eng = engine(max_attempts=1, cooldown_s=5.0, cooldown_on=("overload",))
    req, d = eng.start(0.0)
    attempt(eng, req, d, "overload", duration=1.0)  # p0 cooled down until 6
    assert eng.start(2.0)[1].provider == 1
    assert eng.start(6.0)[1].provider == 0
    eng2 = engine(max_attempts=1, cooldown_s=5.0, cooldown_on=("overload",))
    req, d = eng2.start(0.0)
    attempt(eng2, req, d, "server_error")  # not in cooldown_on
    assert eng2.start(2.0)[1].provider == 0


def test_when_every_provider_is_blocked_the_request_waits_for_the_soonest():
    eng = engine(n=2, max_attempts=1, cooldown_s=10.0)
    for p, t in ((0, 0.0), (1, 2.0)):
        req, d = eng.start(t)
        assert d.provider == p
        attempt(eng, req, d, "rate_limit", duration=0.0)
    req, d = eng.start(3.0)
    assert (d.action, d.provider, d.at, d.wait) == ("start", 0, 10.0, 7.0)


def test_breaker_opens_half_opens_and_closes_at_the_stated_points():
    eng = engine(max_attempts=1, breaker_failures=3, breaker_open_s=30.0, breaker_probes=2)
    for t in (0.0, 1.0, 2.0):  # three consecutive failures on p0
        req, d = eng.start(t)
        assert d.provider == 0
        attempt(eng, req, d, "server_error", duration=0.5)
    assert eng.breaker_state(0) == "open"
    assert eng.transitions == [(2.5, "p0", "open")]
    assert eng.start(32.0)[1].provider == 1  # still open until 32.5
    probe, d = eng.start(32.5)
    assert (d.provider, d.at) == (0, 32.5)
    assert eng.begin(probe, 0, 32.5) is None
    assert eng.breaker_state(0) == "half_open"
    assert eng.start(33.0)[1].provider == 1  # one probe at a time
    eng.report(probe, 0, "ok", 34.0)
    assert eng.breaker_state(0) == "half_open"  # needs two probes
    second, d = eng.start(34.0)
    assert d.provider == 0
    attempt(eng, second, d, "ok", duration=1.0)
    assert eng.breaker_state(0) == "closed"
    assert eng.transitions == [(2.5, "p0", "open"), (32.5, "p0", "half_open"), (35.0, "p0", "closed")]


def test_a_failed_probe_reopens_and_success_resets_the_count():
    eng = engine(max_attempts=1, breaker_failures=2, breaker_open_s=10.0)
    for t, outcome in ((0.0, "server_error"), (1.0, "ok"), (2.0, "server_error"), (3.0, "client_error")):
        req, d = eng.start(t)
        attempt(eng, req, d, outcome, duration=0.1)
    assert eng.breaker_state(0) == "closed"  # ok reset the count; client_error does not count
    req, d = eng.start(4.0)
    attempt(eng, req, d, "timeout", duration=0.1)
    assert eng.breaker_state(0) == "open"
    probe, d = eng.start(14.1)
    attempt(eng, probe, d, "overload", duration=1.0)
    assert eng.transitions == [(4.1, "p0", "open"), (14.1, "p0", "half_open"), (15.1, "p0", "open")]


def test_deadline_stops_retries_that_would_start_too_late():
    eng = engine(n=1, min_providers=1, max_attempts=5, deadline_s=10.0, backoff_base_s=4.0, backoff_multiplier=1.0)
    assert eng.start(0.0)[0].deadline == 10.0
    assert [at for _, at, _ in fail_until_over(eng, "server_error", now=1.0)] == [
        1.0,
        6.0,
    ]  # the third would start at 10.0, the deadline


def test_retry_budget_limits_same_provider_retries_across_requests():
    eng = engine(n=1, min_providers=1, max_attempts=3, retry_budget=0.0, retry_budget_min=1)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "server_error")
    assert d.action == "retry_same"
    d = attempt(eng, req, d, "server_error")
    assert d.action == "give_up"  # budget of one retry spent
    assert eng.retries == 1


def test_max_total_attempts_caps_the_request():
    eng = engine(max_attempts=3, max_total_attempts=4)
    assert len(fail_until_over(eng, "server_error")) == 4


@pytest.mark.parametrize(
    ("limits", "failing", "expected"),
    [
        ([100, 200, 150], 0, ("next_provider", 1)),
        ([100, 90, 150], 0, ("next_provider", 2)),
        ([200, 100, 150], 0, ("give_up", -1)),
        ([None, 200, 150], 0, ("give_up", -1)),
    ],
)
def test_context_failover_goes_to_a_larger_window(limits, failing, expected):
    eng = engine(limits=limits, context_failover=True)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "context_length")
    assert (d.action, d.provider) == expected
    plain = engine(limits=limits)
    req, d = plain.start(0.0)
    assert attempt(plain, req, d, "context_length").action == "give_up"


def test_switch_first_goes_round_the_providers():
    eng = engine(n=2, switch_first=True, max_attempts=3, max_total_attempts=3)
    path = [(p, at) for p, at, _ in fail_until_over(eng, "server_error")]
    assert path == [(0, 0.0), (1, 1.0), (0, 2.0)]  # 3 calls, siblings at once


def test_switch_first_backs_off_when_only_the_same_provider_is_left():
    eng = engine(n=1, min_providers=1, switch_first=True, max_attempts=2, backoff_base_s=0.5)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "server_error", duration=1.0)
    assert (d.action, d.at) == ("retry_same", 1.5)


def test_hedging():
    eng = engine(hedge_after_s=2.0)
    req, d = eng.start(0.0)
    assert eng.begin(req, 0, 0.0) is None
    h = eng.hedge(req, 2.0)
    assert (h.action, h.provider, h.at) == ("next_provider", 1, 2.0)
    assert eng.begin(req, 1, 2.0) is None
    assert eng.hedge(req, 3.0) is None  # one hedge per request
    assert eng.report(req, 1, "server_error", 3.0).action == "give_up"  # the other branch runs on
    assert eng.report(req, 0, "ok", 4.0).action == "done"
    assert (req.inflight, req.done) == (0, True)
    off = engine()
    req, d = off.start(0.0)
    off.begin(req, 0, 0.0)
    assert off.hedge(req, 5.0) is None


def test_cancel_frees_a_probe_slot():
    eng = engine(max_attempts=1, breaker_failures=1, breaker_open_s=1.0, hedge_after_s=1.0)
    req, d = eng.start(0.0)
    attempt(eng, req, d, "server_error")  # opens p0 until 2
    probe, d = eng.start(2.0)
    assert eng.begin(probe, 0, 2.0) is None
    assert eng.available_at(0, 2.5) > 2.5
    eng.cancel(probe, 0, 2.5)
    assert eng.available_at(0, 2.5) == 2.5


def test_the_engine_reads_no_clock_and_uses_only_its_rng():
    a = engine(jitter="full", seed=3, n=1, min_providers=1, max_attempts=5)
    b = engine(jitter="full", seed=3, n=1, min_providers=1, max_attempts=5)
    runs = [[at for _, at, _ in fail_until_over(eng, "overload", 0.25, now=100.0)] for eng in (a, b)]
    assert runs[0] == runs[1]
    assert all(math.isfinite(t) for t in runs[0])


def test_after_a_failed_hedge_the_plan_follows_the_attempt_that_ended_last():
    eng = engine(hedge_after_s=1.0, switch_first=True)
    req, d = eng.start(0.0)
    eng.begin(req, 0, 0.0)
    eng.begin(req, eng.hedge(req, 1.0).provider, 1.0)
    assert eng.report(req, 1, "server_error", 2.0).action == "give_up"  # the hedge branch ends
    d = eng.report(req, 0, "server_error", 3.0)
    assert (d.action, d.provider, d.at) == ("next_provider", 1, 3.0)  # moving from p0, not retrying p1


def test_shuffle_spreads_first_attempts_by_the_engine_rng():
    eng = engine(routing="shuffle", seed=11)
    rnd = random.Random(11)
    firsts = [eng.start(float(t))[1] for t in range(300)]
    assert [d.provider for d in firsts] == [int(rnd.random() * 3) for _ in range(300)]
    assert {d.action for d in firsts} == {"start"} and {d.wait for d in firsts} == {0.0}
    counts = [sum(d.provider == q for d in firsts) for q in range(3)]
    assert min(counts) > 70  # about 100 each


def test_weighted_routing_and_what_is_left_out():
    eng = engine(routing="weighted", weights={"p0": 3.0, "p2": 1.0}, seed=2)  # p1 unlisted: weight 1
    rnd = random.Random(2)

    def expected(free: list[int], w: list[float]) -> int:
        u = rnd.random() * sum(w[q] for q in free)
        for q in free:
            u -= w[q]
            if u < 0:
                return q
        return free[-1]

    assert [eng.start(0.0)[1].provider for _ in range(50)] == [expected([0, 1, 2], [3, 1, 1]) for _ in range(50)]
    req, d = eng.start(1.0)
    assert d.provider == expected([0, 1, 2], [3, 1, 1])
    eng.begin(req, d.provider, 1.0)
    eng.report(req, d.provider, "rate_limit", 1.0, 10.0)  # that provider is blocked until 11
    free = [q for q in range(3) if q != d.provider]
    assert [eng.start(2.0)[1].provider for _ in range(30)] == [expected(free, [3, 1, 1]) for _ in range(30)]


def test_shuffle_fails_over_to_every_other_provider_whatever_the_first():
    eng = engine(routing="shuffle", max_attempts=1, seed=4)
    path = fail_until_over(eng, "server_error")
    assert sorted(p for p, _, _ in path) == [0, 1, 2]
    first = path[0][0]
    assert [p for p, _, _ in path] == [first] + [(first + k) % 3 for k in (1, 2)]


def test_least_busy_sends_a_first_attempt_where_fewest_are_in_flight():
    eng = engine(routing="least_busy")

    def begin_next(now: float) -> int:
        req, d = eng.start(now)
        assert (d.action, d.at, d.wait) == ("start", now, 0.0)
        assert eng.begin(req, d.provider, now) is None
        running.append((req, d.provider))
        return d.provider

    running: list = []
    assert [begin_next(0.0) for _ in range(4)] == [0, 1, 2, 0]  # a tie goes to the try order
    req, provider = running.pop(2)
    eng.report(req, provider, "ok", 1.0)  # p2 is free again: 2, 1, 0 in flight
    assert begin_next(1.0) == 2
    req, provider = running.pop(1)
    eng.report(req, provider, "server_error", 2.0)  # a failure frees its place too: p1 has none
    assert begin_next(2.0) == 1


def test_least_busy_skips_a_blocked_provider_and_counts_a_cancelled_hedge_out():
    eng = engine(routing="least_busy", hedge_after_s=1.0, max_attempts=1)
    req, d = eng.start(0.0)
    attempt(eng, req, d, "rate_limit", duration=1.0, retry_after=10.0)  # p0 idle but blocked until 11
    first, d = eng.start(2.0)
    assert d.provider == 1
    eng.begin(first, 1, 2.0)
    hedge = eng.hedge(first, 3.0)
    assert (hedge.action, hedge.provider) == ("next_provider", 2)
    eng.begin(first, 2, 3.0)  # p1 and p2 one each, p0 blocked: a tie, so the try order
    assert eng.start(4.0)[1].provider == 1
    eng.cancel(first, 2, 4.0)  # the hedge lost: p2 has nothing in flight again
    assert eng.start(4.0)[1].provider == 2
    assert eng.start(12.0)[1].provider == 0  # p0's Retry-After is over


def test_reroute_with_least_busy_may_retry_the_same_provider_at_once():
    eng = engine(routing="least_busy", reroute=True, max_attempts=3, max_total_attempts=3)
    others = []
    for now in (0.0, 0.0):
        req, d = eng.start(now)
        eng.begin(req, d.provider, now)
        others.append(d.provider)
    assert others == [0, 1]
    req, d = eng.start(0.0)
    assert d.provider == 2
    d = attempt(eng, req, d, "server_error", duration=1.0)
    assert (d.action, d.provider, d.at, d.wait) == ("retry_same", 2, 1.0, 0.0)  # p0, p1 still busy


def test_reroute_with_priority_retries_the_first_available_at_once():
    eng = engine(reroute=True, max_attempts=3, max_total_attempts=3)
    path = fail_until_over(eng, "server_error")
    assert path == [(0, 0.0, "retry_same"), (0, 1.0, "retry_same"), (0, 2.0, "give_up")]  # no backoff


def test_reroute_skips_a_cooling_provider_and_backs_off_when_nothing_is_free():
    eng = engine(
        n=2,
        reroute=True,
        max_attempts=5,
        max_total_attempts=4,
        cooldown_s=5.0,
        cooldown_on=("rate_limit",),
        backoff_base_s=0.5,
    )
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", duration=1.0)  # p0 cools until 6
    assert (d.action, d.provider, d.at) == ("next_provider", 1, 1.0)
    d = attempt(eng, req, d, "rate_limit", duration=1.0)  # p1 cools until 7: nothing free at 2
    assert (d.action, d.provider, d.at, d.wait) == ("next_provider", 0, 6.0, 4.0)  # 2 + 1 s backoff < 6
    d = attempt(eng, req, d, "server_error", duration=0.0)
    assert (d.action, d.provider, d.at) == ("retry_same", 0, 6.0)
    d = attempt(eng, req, d, "server_error", duration=0.0)
    assert d.action == "give_up"  # max_total_attempts 4


def test_reroute_with_shuffle_draws_again_among_the_available():
    eng = engine(routing="shuffle", reroute=True, max_attempts=9, max_total_attempts=9, seed=5)
    rnd = random.Random(5)
    path = fail_until_over(eng, "server_error", duration=0.0)
    assert [p for p, _, _ in path] == [int(rnd.random() * 3) for _ in range(9)]
    assert {at for _, at, _ in path} == {0.0}


@pytest.mark.parametrize(("retry_after", "until"), [(3.0, 4.0), (8.0, 9.0), (None, 6.0)])
def test_cooldown_from_retry_after_sets_its_length(retry_after, until):
    eng = engine(
        max_attempts=1,
        cooldown_s=5.0,
        cooldown_on=("rate_limit",),
        cooldown_from_retry_after=True,
        retry_after_mode="ignore",
    )
    req, d = eng.start(0.0)
    attempt(eng, req, d, "rate_limit", duration=1.0, retry_after=retry_after)
    assert eng.available_at(0, 1.0) == until


def test_cooldown_by_failure_rate_in_fixed_windows():
    eng = engine(
        n=2,
        max_attempts=1,
        cooldown_s=5.0,
        cooldown_on=(),
        cooldown_failure_rate=0.5,
        cooldown_min_attempts=5,
        cooldown_window_s=60.0,
        cooldown_count_on=("server_error",),
    )

    def call(t: float, outcome: str) -> None:
        req, d = eng.start(t)
        assert d.provider == 0
        attempt(eng, req, d, outcome, duration=0.0)

    for t, outcome in ((1, "ok"), (2, "server_error"), (3, "ok"), (4, "server_error")):
        call(t, outcome)
    assert eng.available_at(0, 4.0) == 4.0  # 2 of 4: too few attempts, and not above 50 %
    call(5, "overload")  # not a counted class: 2 of 5
    assert eng.available_at(0, 5.0) == 5.0
    call(6, "server_error")  # 3 of 6 = 50 %: not above
    assert eng.available_at(0, 6.0) == 6.0
    call(7, "server_error")  # 4 of 7 > 50 %
    assert eng.available_at(0, 7.0) == 12.0
    assert eng.start(8.0)[1].provider == 1
    call(60, "server_error")  # a new window: 1 of 1, below the minimum of 5
    assert eng.available_at(0, 60.0) == 60.0


def test_cooldown_by_failure_count_per_window():
    eng = engine(max_attempts=1, cooldown_s=5.0, cooldown_on=(), cooldown_failures=3, cooldown_window_s=10.0)
    for t in (1.0, 2.0, 9.0):  # 2 in the window [0, 10), then a third: cool
        req, d = eng.start(t)
        attempt(eng, req, d, "timeout", duration=0.0)
    assert eng.available_at(0, 9.0) == 14.0
    eng2 = engine(max_attempts=1, cooldown_s=5.0, cooldown_on=(), cooldown_failures=3, cooldown_window_s=10.0)
    for t in (1.0, 2.0, 10.0):  # the third lands in the next window
        req, d = eng2.start(t)
        attempt(eng2, req, d, "timeout", duration=0.0)
    assert eng2.available_at(0, 10.0) == 10.0


def test_the_fitted_litellm_order_preset_cools_a_failing_deployment_down():
    eng = FailoverEngine(preset("litellm-1.110-order"), ["a", "b"], random.Random(0))
    path = fail_until_over(eng, "server_error", duration=0.1)  # a: 3 calls at once, no backoff
    assert [(p, round(at, 6)) for p, at, _ in path] == [(0, 0.0), (0, 0.1), (0, 0.2)]
    path = fail_until_over(eng, "server_error", duration=0.1, now=1.0)  # 5 calls, 5 failures: cooled 5 s
    assert [p for p, _, _ in path] == [0, 0, 1]
    assert eng.available_at(0, 1.2) == pytest.approx(6.2)


def test_retry_after_mode_base_raises_the_backoff_before_cap_and_jitter():
    # LiteLLM's single-deployment wait: min(max(0.5 * 2^n, Retry-After), 8) + U(0, 0.75)
    eng = engine(
        n=1,
        min_providers=1,
        max_attempts=4,
        retry_after_mode="base",
        share_retry_after=False,
        backoff_base_s=0.5,
        backoff_cap_s=8.0,
        jitter="additive",
        jitter_amount=0.75,
        seed=9,
    )
    rnd = random.Random(9)
    req, d = eng.start(0.0)
    waits = []
    for retry_after in (2.0, 0.1, 30.0):
        d = attempt(eng, req, d, "rate_limit", duration=0.0, retry_after=retry_after)
        waits.append(d.wait)
    assert waits == pytest.approx([2.0 + 0.75 * rnd.random(), 1.0 + 0.75 * rnd.random(), 8.0 + 0.75 * rnd.random()])


def test_an_unshared_retry_after_delays_only_its_own_request():
    eng = engine(max_attempts=2, share_retry_after=False)
    req, d = eng.start(0.0)
    d = attempt(eng, req, d, "rate_limit", duration=1.0, retry_after=7.0)
    assert (d.action, d.provider, d.at) == ("retry_same", 0, 8.0)
    assert eng.available_at(0, 3.0) == 3.0
    assert eng.start(3.0)[1].provider == 0  # another request calls p0 at once


def test_backoff_before_failover_waits_one_more_backoff_then_moves_on():
    eng = engine(n=2, max_attempts=2, backoff_before_failover=True)
    path = fail_until_over(eng, "server_error", duration=0.0)
    # p0 at 0, retry after 1 s, then 2 s (the backoff a third try would wait) before p1
    assert path == [(0, 0.0, "retry_same"), (0, 1.0, "next_provider"), (1, 3.0, "retry_same"), (1, 4.0, "give_up")]
    plain = engine(n=2, max_attempts=2)
    assert [at for _, at, _ in fail_until_over(plain, "server_error", duration=0.0)] == [0.0, 1.0, 1.0, 2.0]


def test_the_fitted_litellm_fallbacks_preset_waits_before_falling_back():
    eng = FailoverEngine(preset("litellm-1.110-fallbacks"), ["a", "b"], random.Random(3))
    rnd = random.Random(3)
    path = []
    req, d = eng.start(0.0)
    while len(path) < 4:
        path.append((d.provider, d.at, None))
        d = attempt(eng, req, d, "rate_limit", duration=0.0, retry_after=2.0)
    bases = [2.0, 2.0, 2.0]  # Retry-After 2 s beats 0.5, 1 and 2 s; U(0, 0.75) on top
    starts = [0.0]
    for base in bases:
        starts.append(starts[-1] + base + 0.75 * rnd.random())
    assert [p for p, _, _ in path] == [0, 0, 0, 1]
    assert [at for _, at, _ in path] == pytest.approx(starts)
