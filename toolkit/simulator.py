"""Discrete-event simulation of failover in virtual time, producing the attempt log.

Requests arrive as the scenario says and are driven through the shared
:class:`~toolkit.engine.FailoverEngine` exactly as a live run drives it (start, begin,
report, hedge, cancel); the scenario's providers answer instead of real servers.
Concurrent requests share provider state (rate-limit buckets here, Retry-After,
cooldowns and breakers in the engine), so one request's retries can hurt another's.

Speed matters (sweeps run thousands of these), so the world's side is written for the
interpreter: one heap of ``(time, seq, kind, payload)`` events, arrivals pre-drawn with
numpy and merged with the heap instead of pushed into it, random variates pre-drawn in
numpy chunks and consumed through iterators, attempts as small lists, and rows collected
packed as they end (:class:`~toolkit.attempt_log.AttemptCollector`). Every decision is
still the engine's. The same seed gives the same log.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from toolkit.attempt_log import DECISION_CODE, OUTCOME_CODE, AttemptCollector
from toolkit.classifier import OUTCOMES
from toolkit.combined_model import CombinedModel
from toolkit.engine import DONE, GIVE_UP, FailoverEngine
from toolkit.errors import UserError
from toolkit.policy import FailoverPolicy
from toolkit.scenario import Dist, Profile, Scenario
from toolkit.world import bucket_take, rate_bucket

_OK, _RL, _OVL, _TIMEOUT, _CTX, _CANCELLED = (
    OUTCOME_CODE[k] for k in ("ok", "rate_limit", "overload", "timeout", "context_length", "cancelled")
)
# HTTP status the simulated provider answers with, per outcome code (0: no HTTP answer).
_STATUS = [
    {
        "ok": 200,
        "rate_limit": 429,
        "overload": 529,
        "server_error": 500,
        "auth": 401,
        "client_error": 400,
        "context_length": 400,
    }.get(name, 0)
    for name in OUTCOMES
]
_ERROR_TEXT = {
    "rate_limit": "simulated 429: rate limit",
    "overload": "simulated 529: overloaded_error",
    "server_error": "simulated 500: internal server error",
    "timeout": "simulated timeout: no first token before the client gave up",
    "connection": "simulated connection refused",
    "auth": "simulated 401: invalid API key",
    "client_error": "simulated 400: bad request",
    "context_length": "simulated 400: prompt exceeds the model's maximum context length",
    "cancelled": "hedged attempt cancelled: another attempt answered first",
}
_BUCKET_TEXT = "simulated 429: requests/tokens per minute exhausted"
_NO_CALL_TEXT = "gave up before calling: no provider available before the deadline"
_START, _END, _HEDGE, _SESSION = 0, 1, 2, 3
PROGRESS_DELAY_S = 0.5
"""The simulator's bar appears only for runs longer than this, so short runs (the notebook
explorer, each point of a sweep) print nothing although ``progress`` defaults to true."""

_CHUNK = 1 << 15


def _stream(draw: Callable[[int], np.ndarray]) -> Iterator[float]:
    """An endless iterator of Python floats, drawn from numpy in chunks."""
    # chained: ``next`` runs in C, and the generator resumes only once per chunk
    return itertools.chain.from_iterable(draw(n).tolist() for n in itertools.repeat(_CHUNK))


def _sampler(dist: Dist, gen: np.random.Generator) -> Iterator[float]:
    """An endless iterator of draws from ``dist`` (vectorised in chunks; ``next`` is all the loop pays)."""
    if dist.kind == "constant":
        return itertools.repeat(dist.a)
    return _stream(lambda n: dist.sample(gen, n))


class _Compiled:
    """A profile turned into samplers and a cumulative error table, for the inner loop."""

    __slots__ = ("edges", "p_error", "ttft", "tps", "elat", "ra")

    def __init__(self, profile: Profile, gen: np.random.Generator) -> None:
        edges, edge = [], 0.0
        for name, p in profile.errors:
            edge += p
            edges.append((edge, OUTCOME_CODE[name]))
        self.edges = tuple(edges)
        self.p_error = edge  # any error at all: below it, ``edges`` says which
        self.ttft = _sampler(profile.ttft_s, gen)
        self.tps = _sampler(profile.tokens_per_s, gen)
        self.elat = _sampler(profile.error_latency_s, gen)
        self.ra = None if profile.retry_after_s is None else _sampler(profile.retry_after_s, gen)


def _tokens(dist: Dist, gen: np.random.Generator, n: int) -> list[int]:
    return np.maximum(1, np.rint(dist.sample(gen, n))).astype(np.int64).tolist()


def simulate(
    model: CombinedModel,
    policy: FailoverPolicy,
    scenario: Scenario,
    requests: int = 1000,
    *,
    seed: int = 0,
    run_id: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate ``requests`` requests to ``model`` under ``policy`` in ``scenario``; return the attempt log.

    Virtual time starts at 0. Cost uses the members' catalog prices (providers bill
    successful attempts, and the tokens a cancelled hedge streamed). ``run_id`` defaults to
    ``"<policy>|<scenario>|<seed>"``. Rows with ``attempt == 0`` are requests that gave up
    before any call (every provider blocked past the deadline). ``progress`` shows a tqdm bar
    for runs that last more than :data:`PROGRESS_DELAY_S`.
    """
    if requests < 1:
        raise UserError(f"requests must be at least 1, got {requests}")
    members = policy.members(model)
    providers = [m.provider for m in members]
    worlds = scenario.resolve(providers, ranking=model.providers)
    gen = np.random.default_rng(seed)
    engine = FailoverEngine(policy, providers, random.Random(seed), [m.context_limit for m in members])
    log = AttemptCollector(
        run_id or f"{policy.name}|{scenario.name}|{seed}", model.combined_id, providers, [m.model_ref for m in members]
    )
    uniforms = _stream(gen.random)
    base = [_Compiled(w.profile, gen) for w in worlds]
    incidents = [[(i.start_s, i.end_s, _Compiled(i.profile, gen)) for i in w.incidents] for w in worlds]
    buckets = [rate_bucket(w.profile) for w in worlds]
    limits = [m.context_limit for m in members]
    price_in = [(m.cost_input or 0.0) / 1e6 for m in members]
    price_out = [(m.cost_output or 0.0) / 1e6 for m in members]
    in_tokens = _tokens(scenario.input_tokens, gen, requests)
    out_tokens = _tokens(scenario.output_tokens, gen, requests)
    static = list(zip(base, incidents, limits, buckets, price_in, price_out))  # per provider, one look-up
    error_code = [log.error_code(_ERROR_TEXT.get(name, "")) for name in OUTCOMES]
    bucket_error, no_call_error = log.error_code(_BUCKET_TEXT), log.error_code(_NO_CALL_TEXT)
    timeout = policy.attempt_timeout_s
    hedge_after = policy.hedge_after_s
    begin, report, start, cancel = engine.begin, engine.report, engine.start, engine.cancel
    append, pack = log.append, log.pack
    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    nan, inf = math.nan, math.inf
    decision_code, outcomes, status = DECISION_CODE, OUTCOMES, _STATUS
    done_code, give_up_code = DECISION_CODE[DONE], DECISION_CODE[GIVE_UP]
    arrivals_spec = scenario.arrivals
    sessions = arrivals_spec["kind"] == "sessions"
    bar = _progress(requests) if progress else None

    def session_next(t: float) -> None:
        """A closed-loop session's request is over: the session thinks, then sends its next one."""
        nonlocal seq
        if issued < requests:
            seq += 1
            push(heap, (t + next(think), seq, _SESSION, None))

    def no_call(req, provider: int, t: float) -> None:
        """A request that gives up without making the call it planned."""
        append(
            pack(
                req.request_id,
                0,
                provider,
                t,
                t,
                nan,
                _CANCELLED,
                0,
                nan,
                give_up_code,
                0.0,
                req.input_tokens,
                0,
                0.0,
                no_call_error,
            )
        )
        if sessions and req.inflight == 0:
            session_next(t)

    def launch(req, p: int, t: float) -> None:
        """Start the planned attempt on ``p`` at ``t`` (or follow the engine's new plan)."""
        nonlocal seq
        while True:
            again = begin(req, p, t)
            if again is None:
                break
            if again.action is GIVE_UP:
                no_call(req, p, t)
                return
            if again.at > t:
                seq += 1
                push(heap, (again.at, seq, _START, (req, again.provider)))
                return
            p = again.provider
        n_in, n_out = req.input_tokens, req.output_tokens
        prof, windows, limit, bucket, p_in, p_out = static[p]
        if windows:
            for s, e, inc in windows:
                if s <= t < e:
                    prof = inc
                    break
        remaining = req.deadline - t
        cut = timeout if timeout < remaining else remaining
        ra = ttft = tps = nan
        produced, cost, err = 0, 0.0, 0
        oc = -1
        if limit is not None and n_in + n_out > limit:
            oc, dur = _CTX, next(prof.elat)
        else:
            if bucket is not None:
                ra = bucket_take(bucket, t, n_in + n_out)
                if ra > 0.0:
                    oc, dur, err = _RL, next(prof.elat), bucket_error
                else:
                    ra = nan
            if oc < 0:
                u = next(uniforms)
                if u < prof.p_error:
                    for edge, code in prof.edges:
                        if u < edge:
                            oc = code
                            break
                if oc < 0:
                    ttft = next(prof.ttft)
                    if ttft > cut:
                        oc, dur, ttft = _TIMEOUT, cut, nan
                    else:
                        tps = next(prof.tps)
                        dur = ttft + n_out / tps
                        if dur > remaining:
                            oc, dur = _TIMEOUT, remaining
                        else:
                            oc, produced = _OK, n_out
                            cost = n_in * p_in + n_out * p_out
                elif oc == _TIMEOUT:
                    dur = cut
                else:
                    dur = next(prof.elat)
                    if (oc == _RL or oc == _OVL) and prof.ra is not None:
                        ra = next(prof.ra)
        if oc != _OK and dur > remaining:  # the deadline cuts a slow error answer too
            oc, dur, ra, err = _TIMEOUT, remaining, nan, 0
        if err == 0:
            err = error_code[oc]
        attempt = [req, p, t, ttft, oc, ra, produced, cost, err, req.attempts, tps, True]
        seq += 1
        push(heap, (t + dur, seq, _END, attempt))
        if hedge_after is not None:
            if req.tag is None:
                req.tag = []
            req.tag.append(attempt)
            if req.inflight == 1 and hedge_after < dur:
                seq += 1
                push(heap, (t + hedge_after, seq, _HEDGE, attempt))

    def cancelled(attempt: list, t: float) -> None:
        """Log a hedge that lost; it is billed for what it streamed before the cancel."""
        attempt[11] = False
        req, p, ts, ttft, oc, ra, produced, cost, err, number, tps = attempt[:11]
        cancel(req, p, t)
        streamed = 0
        if oc == _OK and t - ts >= ttft:
            streamed = min(req.output_tokens, int((t - ts - ttft) * tps))
        else:
            ttft = nan
        append(
            pack(
                req.request_id,
                number,
                p,
                ts,
                t,
                ttft,
                _CANCELLED,
                0,
                nan,
                done_code,
                0.0,
                req.input_tokens,
                streamed,
                req.input_tokens * price_in[p] + streamed * price_out[p] if oc == _OK else 0.0,
                error_code[_CANCELLED],
            )
        )

    if sessions:
        think = _sampler(arrivals_spec["think_time_s"], gen)
        for _ in range(min(arrivals_spec["sessions"], requests)):
            seq += 1
            push(heap, (next(think), seq, _SESSION, None))
        arrival_times: list[float] = []
    else:
        arrival_times = np.cumsum(gen.exponential(1.0 / arrivals_spec["rate_per_s"], requests)).tolist()
        arrival_times.append(math.inf)  # sentinel: no more arrivals
    issued = 0
    next_arrival = arrival_times[0] if arrival_times else math.inf
    while True:
        if heap and heap[0][0] < next_arrival:
            t, _, kind, payload = pop(heap)
            if kind == _END:  # an attempt answered: report it, log it, follow the decision
                req, p, ts, ttft, oc, ra, produced, cost, err, number, _, running = payload
                if not running:
                    continue  # a hedge cancelled earlier
                payload[11] = False
                d = report(req, p, outcomes[oc], t, None if ra != ra else ra)
                action = d.action
                append(
                    pack(
                        req.request_id,
                        number,
                        p,
                        ts,
                        t,
                        ttft,
                        oc,
                        status[oc],
                        ra,
                        decision_code[action],
                        d.wait,
                        req.input_tokens,
                        produced,
                        cost,
                        err,
                    )
                )
                if req.tag is not None:
                    req.tag.remove(payload)
                    if oc == _OK:
                        for other in req.tag:
                            cancelled(other, t)
                        req.tag.clear()
                if action is DONE or action is GIVE_UP:
                    if sessions and req.inflight == 0:
                        session_next(t)
                elif d.at <= t:
                    launch(req, d.provider, t)
                else:
                    seq += 1
                    push(heap, (d.at, seq, _START, (req, d.provider)))
                continue
            if kind == _START:
                launch(payload[0], payload[1], t)
                continue
            if kind == _HEDGE:  # the attempt that set the timer is still running alone
                req = payload[0]
                if payload[11] and req.inflight == 1:
                    hedge = engine.hedge(req, t)
                    if hedge is not None:
                        launch(req, hedge.provider, t)
                continue
            if issued >= requests:  # a session wants to send, but the run has all its requests
                continue
        elif next_arrival < inf:  # an open-loop arrival
            t = next_arrival
            next_arrival = arrival_times[issued + 1]
        else:
            break
        # a new request (open-loop arrival or a session's next one)
        i = issued
        issued += 1
        if bar is not None and not issued & 4095:  # move the bar every 4096 requests
            bar.update(4096)
        req, d = start(t, in_tokens[i], out_tokens[i], i)
        if d.action is GIVE_UP:
            no_call(req, 0, t)
        elif d.at <= t:
            launch(req, d.provider, t)
        else:
            seq += 1
            push(heap, (d.at, seq, _START, (req, d.provider)))
    if bar is not None:
        bar.update(issued - bar.n)
        bar.close()
    return log.frame()


def _progress(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="req", desc="simulate", delay=PROGRESS_DELAY_S)
