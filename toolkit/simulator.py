"""Discrete-event simulation of failover in virtual time, producing the attempt log.

Requests arrive as the scenario says and are driven through the shared
:class:`~toolkit.engine.FailoverEngine` exactly as a live run drives it (start, begin,
report, hedge, cancel); the scenario's providers answer instead of real servers.
Concurrent requests share provider state (rate-limit buckets here, Retry-After,
cooldowns and breakers in the engine), so one request's retries can hurt another's.

What a provider answers is :func:`toolkit.world.answerer`'s, the same function the mock
providers ask; the simulator adds the client's side (the attempt timeout, the request's
deadline, hedges) and the clock.

Speed matters (sweeps run thousands of these), so the loop is written for the
interpreter: one heap of ``(time, seq, kind, payload)`` events, arrivals pre-drawn with
numpy and merged with the heap instead of pushed into it, random variates pre-drawn in
numpy chunks and consumed through iterators, attempts as small lists, and rows collected
packed as they end (:class:`~toolkit.attempt_log.AttemptCollector`). Every decision is
still the engine's. The same seed gives the same log.
"""

from __future__ import annotations

import heapq
import math
import random

import numpy as np
import pandas as pd

from toolkit.arguments import instance, whole
from toolkit.attempt_log import AttemptCollector
from toolkit.combined_model import CombinedModel
from toolkit.engine import FailoverEngine
from toolkit.policy import FailoverPolicy
from toolkit.scenario import Scenario
from toolkit.vocabulary import (
    CANCELLED_TEXT,
    DECISION_CODE,
    DONE,
    GIVE_UP,
    NO_CALL_TEXT,
    OUTCOME_CODE,
    OUTCOMES,
    is_billed,
)
from toolkit.world import (
    BUCKET_TEXT,
    SIMULATED_TEXT,
    STATUS,
    answerer,
    poisson_arrivals,
    request_sizes,
    sampler,
    stream,
)

_OK, _TIMEOUT, _CANCELLED = (OUTCOME_CODE[k] for k in ("ok", "timeout", "cancelled"))
_START, _END, _HEDGE, _SESSION = 0, 1, 2, 3
PROGRESS_DELAY_S = 0.5
"""The simulator's bar appears only for runs longer than this, so short runs (the notebook
explorer, each point of a sweep) print nothing although ``progress`` defaults to true."""


def simulate(
    model: CombinedModel,
    policy: FailoverPolicy,
    scenario: Scenario | str,
    requests: int = 1000,
    *,
    seed: int = 0,
    run_id: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate ``requests`` requests to ``model`` under ``policy`` in ``scenario`` (a Scenario,
    or a file or bundled name it loads); return the attempt log.

    Virtual time starts at 0. Cost uses the members' catalog prices, billed by
    :func:`toolkit.vocabulary.is_billed` (successful attempts, and a hedge cancelled after its
    first token). ``run_id`` defaults to
    ``"<policy>|<scenario>|<seed>"``. Rows with ``attempt == 0`` are requests that gave up
    before any call (every provider blocked past the deadline). ``progress`` shows a tqdm bar
    for runs that last more than :data:`PROGRESS_DELAY_S`.
    """
    from toolkit import run_size

    instance("model", model, CombinedModel, "CombinedModel.from_table(table, combined_id)")
    instance("policy", policy, FailoverPolicy, "preset(name)")
    scenario = Scenario.load(scenario) if isinstance(scenario, str) else scenario
    instance("scenario", scenario, Scenario, "Scenario.load(path or bundled name)")
    run_size.check(1, whole("requests", requests, 1), lower="requests")  # not a MemoryError half-way
    whole("seed", seed, 0)
    members = policy.members(model)
    providers = [m.provider for m in members]
    worlds = scenario.resolve(providers, ranking=model.providers)
    gen = np.random.default_rng(seed)
    engine = FailoverEngine(policy, providers, random.Random(seed), [m.context_limit for m in members])
    log = AttemptCollector(
        run_id or f"{policy.name}|{scenario.name}|{seed}", model.combined_id, providers, [m.model_ref for m in members]
    )
    uniforms = stream(gen.random)  # one stream of error draws, shared by the providers
    answers = [answerer(w, m.context_limit, gen, uniforms) for w, m in zip(worlds, members)]
    price_in = [(m.cost_input or 0.0) / 1e6 for m in members]
    price_out = [(m.cost_output or 0.0) / 1e6 for m in members]
    in_tokens, out_tokens = request_sizes(scenario, requests, gen)
    static = list(zip(answers, price_in, price_out))  # per provider, one look-up
    error_code = [log.error_code(text) for text in SIMULATED_TEXT]
    error_code[_CANCELLED] = log.error_code(CANCELLED_TEXT)
    bucket_error, no_call_error = log.error_code(BUCKET_TEXT), log.error_code(NO_CALL_TEXT)
    timeout = policy.attempt_timeout_s
    hedge_after = policy.hedge_after_s
    begin, report, start, cancel = engine.begin, engine.report, engine.start, engine.cancel
    append, pack = log.append, log.pack
    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    nan, inf = math.nan, math.inf
    decision_code, outcomes, status = DECISION_CODE, OUTCOMES, STATUS
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
        answer, p_in, p_out = static[p]
        remaining = req.deadline - t
        oc, dur, ttft, tps, ra, limited = answer(t, n_in, n_out, timeout if timeout < remaining else remaining)
        if dur > remaining:  # the deadline cuts the attempt, a slow error answer too
            oc, dur, ra, limited = _TIMEOUT, remaining, nan, False
        if oc == _OK:
            produced, cost, err = n_out, n_in * p_in + n_out * p_out, error_code[_OK]
        else:
            produced, cost, err = 0, 0.0, bucket_error if limited else error_code[oc]
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
        """Log a hedge that lost; once its first token came, it is billed for what it streamed."""
        attempt[11] = False
        req, p, ts, ttft, oc, ra, produced, cost, err, number, tps = attempt[:11]
        cancel(req, p, t)
        reached = oc == _OK and t - ts >= ttft  # its first token had arrived
        streamed = min(req.output_tokens, int((t - ts - ttft) * tps)) if reached else 0
        if not reached:
            ttft = nan
        cost = req.input_tokens * price_in[p] + streamed * price_out[p] if is_billed("cancelled", reached) else 0.0
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
                cost,
                error_code[_CANCELLED],
            )
        )

    if sessions:
        think = sampler(arrivals_spec["think_time_s"], gen)
        for _ in range(min(arrivals_spec["sessions"], requests)):
            seq += 1
            push(heap, (next(think), seq, _SESSION, None))
        arrival_times: list[float] = []
    else:
        arrival_times = poisson_arrivals(arrivals_spec["rate_per_s"], requests, gen)
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
