"""Live failover runs over real HTTP: the simulator's engine, fed the real clock.

:func:`run_live` sends requests to the members of a combined model with an
``httpx.AsyncClient`` (pooled connections, at most ``concurrency`` requests in flight),
streams every answer through :mod:`toolkit.upstream` (the call layer the gateway uses too:
a protocol adapter chosen from the member's ``npm`` package, timeouts, classification with
:func:`toolkit.classifier.classify`, Retry-After, key redaction), and lets :class:`toolkit.engine.FailoverEngine` decide
what happens next, exactly as the simulator does. The result is an attempt log with the
columns of :mod:`toolkit.attempt_log`; each row is also appended to a JSON-lines file and
flushed as soon as its attempt ends, so an interrupted run loses nothing
(:func:`read_log` reads it back).

Without endpoints, the run starts :class:`toolkit.mock_providers.MockProviders` for the
scenario and shares its clock: all times are scenario seconds, and ``time_scale`` runs
the scenario that many times faster than real time. Against real endpoints the clock is
the real one (``time_scale`` must be 1).

Keys: an endpoint's key goes into request headers only. Error texts pass through
:class:`toolkit.upstream.Redactor`, so a key that a provider echoes back cannot reach a log,
a message or an exception.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
import numpy as np
import pandas as pd

from toolkit.arguments import MAX_TOKENS, instance, positive, whole
from toolkit.attempt_log import COLUMNS, AttemptCollector
from toolkit.clock_lag import LAG_LIMIT_S, LagMeter
from toolkit.combined_model import CombinedModel, Member
from toolkit.endpoints import Endpoint, adapter_of, local_endpoints, reachable_endpoints
from toolkit.engine import Decision, FailoverEngine
from toolkit.errors import UserError
from toolkit.policy import FailoverPolicy
from toolkit.scenario import Scenario
from toolkit.sync import run_sync
from toolkit.upstream import AttemptResult, Timeouts, Upstream, log_row
from toolkit.upstream import client as upstream_client
from toolkit.vocabulary import (
    CANCELLED_TEXT,
    DECISION_CODE,
    DECISIONS,
    DONE,
    GIVE_UP,
    NO_CALL_TEXT,
    OUTCOME_CODE,
    OUTCOMES,
    is_billed,
)
from toolkit.world import poisson_arrivals, request_sizes, sampler

_INTERRUPTED_TEXT = "run interrupted before the attempt ended"
"""The error of an attempt still in flight when the run was interrupted (logged as ``cancelled``)."""

__all__ = ["Timeouts", "estimate_cost", "read_log", "run_live", "run_live_async"]

_NAN = math.nan
P = ParamSpec("P")
T = TypeVar("T")
logger = logging.getLogger(__name__)


def _body(model_id: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A request whose prompt is ``input_tokens`` whitespace words (the mock's tokens); every
    protocol the adapters speak shares this shape (each adds its own streaming fields)."""
    prompt = "Count upwards in words. " + "w " * max(0, input_tokens - 4)
    return {"model": model_id, "messages": [{"role": "user", "content": prompt}], "max_tokens": output_tokens}


# --------------------------------------------------------------------------------------------
# The runner


class _Run:
    """One live run: shared engine, client, clock, log writers."""

    def __init__(
        self,
        model: CombinedModel,
        policy: FailoverPolicy,
        members: Sequence[Member],
        endpoints: Mapping[str, Endpoint],
        upstream: Upstream,
        seed: int,
        run_id: str,
        log_file: Any,
    ) -> None:
        self.members = list(members)
        self.endpoints = [endpoints[m.provider] for m in self.members]
        self.engine = FailoverEngine(
            policy, [m.provider for m in self.members], random.Random(seed), [m.context_limit for m in self.members]
        )
        self.policy, self.upstream, self.clock, self.scale = policy, upstream, upstream.clock, upstream.scale
        self.collector = AttemptCollector(
            run_id, model.combined_id, self.engine.providers, [m.model_ref for m in self.members]
        )
        self.redact = upstream.redact
        self.log_file = log_file
        self.answers: dict[int, str] = {}
        self.lag = LagMeter()  # lateness of arrivals and retries against the scenario clock

    async def sleep_until(self, at: float) -> None:
        """Wait until scenario time ``at``; how late the wake-up came goes into ``self.lag``."""
        delay = (at - self.clock()) / self.scale
        if delay > 0:
            await asyncio.sleep(delay)
        self.lag.record(self.clock() - at)

    async def attempt(
        self,
        acc: AttemptResult,
        provider: int,
        request_id: int,
        attempt: int,
        deadline: float,
        input_tokens: int,
        output_tokens: int,
    ) -> AttemptResult:
        """One streamed attempt of a synthetic prompt into ``acc`` (see :meth:`toolkit.upstream.Upstream.attempt`)."""
        body = _body(self.members[provider].model_id, input_tokens, output_tokens)
        return await self.upstream.attempt(self.endpoints[provider], body, acc, deadline, f"{request_id}-{attempt}")

    def record(
        self,
        req: Any,
        provider: int,
        attempt: int,
        t_start: float,
        result: AttemptResult,
        decision: Decision,
        streamed: bool = False,
    ) -> None:
        """One attempt-log row: into the collector and, flushed at once, into the JSON-lines log.

        Cost follows :func:`toolkit.vocabulary.is_billed`: successful attempts, and hedges
        cancelled after their first token (``streamed``), pay for their tokens; failures are free.
        """
        t_end = self.clock()
        member = self.members[provider]
        paid = is_billed(result.outcome, streamed)
        cost = member.cost_usd(result.input_tokens, result.output_tokens) if paid else 0.0
        self.collector.add(
            req.request_id,
            attempt,
            provider,
            t_start,
            t_end,
            result.ttft_s,
            OUTCOME_CODE[result.outcome],
            result.status or 0,
            _NAN if result.retry_after_s is None else result.retry_after_s,
            DECISION_CODE[decision.action],
            decision.wait,
            result.input_tokens,
            result.output_tokens,
            cost,
            self.collector.error_code(result.error),
        )
        if self.log_file is not None:
            row = log_row(
                self.collector.run_id,
                req.request_id,
                attempt,
                self.collector.combined_id,
                member,
                t_start,
                t_end,
                result,
                decision,
                cost,
            )
            self.log_file.write(json.dumps(row) + "\n")
            self.log_file.flush()

    async def request(self, request_id: int, input_tokens: int, output_tokens: int) -> None:
        """Drive one request through the engine until done or give-up (hedges included)."""
        engine = self.engine
        req, decision = engine.start(self.clock(), input_tokens, output_tokens, request_id=request_id)
        if decision.action == GIVE_UP:
            self._no_call(req, 0)
        while decision.action not in (DONE, GIVE_UP):
            await self.sleep_until(decision.at)
            again = engine.begin(req, decision.provider, self.clock())
            if again is None:
                decision = await self._attempts(req, decision.provider)
                continue
            if again.action == GIVE_UP:
                self._no_call(req, decision.provider)
            decision = again

    def _no_call(self, req: Any, provider: int) -> None:
        """The row of a request that gives up without making the call it planned (attempt 0)."""
        result = AttemptResult("cancelled", input_tokens=req.input_tokens, error=NO_CALL_TEXT)
        self.record(req, provider, 0, self.clock(), result, _GAVE_UP)

    async def _attempts(self, req: Any, provider: int) -> Any:
        """Run the admitted attempt (and a hedge, when the policy asks) and report each to the engine."""
        engine, hedge_after = self.engine, self.policy.hedge_after_s
        if hedge_after is None:  # one attempt at a time: no task, no extra turn of the event loop
            attempt, t_start, acc = req.attempts, self.clock(), AttemptResult("ok")
            try:
                result = await self.attempt(
                    acc, provider, req.request_id, attempt, req.deadline, req.input_tokens, req.output_tokens
                )
            except asyncio.CancelledError:  # the run was interrupted: the attempt in flight is logged too
                self._abandon(req, provider, attempt, t_start, acc, _INTERRUPTED_TEXT)
                raise
            decision = engine.report(req, provider, result.outcome, self.clock(), result.retry_after_s)
            self.record(req, provider, attempt, t_start, result, decision)
            if decision.action == DONE:
                self.answers[req.request_id] = result.text
            return decision
        tasks: dict[asyncio.Task, tuple[int, int, float, AttemptResult]] = {}

        def launch(p: int) -> None:
            acc = AttemptResult("ok")
            task = asyncio.ensure_future(
                self.attempt(acc, p, req.request_id, req.attempts, req.deadline, req.input_tokens, req.output_tokens)
            )
            tasks[task] = (p, req.attempts, self.clock(), acc)

        launch(provider)
        hedge_at: float | None = self.clock() + hedge_after
        decision = None
        while tasks:
            timeout = None if hedge_at is None else max(0.0, (hedge_at - self.clock()) / self.scale)
            try:
                finished, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the run was interrupted: stop and log the attempts in flight
                await self._cancel_others(req, tasks, _INTERRUPTED_TEXT)
                raise
            if not finished:
                hedge_at = None
                now = self.clock()
                hedge = engine.hedge(req, now)
                if hedge is not None and engine.begin(req, hedge.provider, now) is None:
                    launch(hedge.provider)
                continue
            for task in finished:
                p, attempt, t_start, _ = tasks.pop(task)
                result = task.result()
                decision = engine.report(req, p, result.outcome, self.clock(), result.retry_after_s)
                self.record(req, p, attempt, t_start, result, decision)
                if decision.action == DONE:
                    self.answers[req.request_id] = result.text
                    await self._cancel_others(req, tasks, CANCELLED_TEXT)
        return decision

    async def _cancel_others(
        self, req: Any, tasks: dict[asyncio.Task, tuple[int, int, float, AttemptResult]], why: str
    ) -> None:
        """Cancel the attempts of ``tasks`` (a losing hedge, or all of them when the run is
        interrupted), wait until they have stopped, and log each as :meth:`_abandon` does.

        The run may be interrupted while a losing hedge is being cancelled: the wait is shielded
        and the rows are written in ``finally``, so an attempt the provider saw is never missing
        from the log (the interruption still ends this request)."""
        for task in tasks:
            task.cancel()
        try:
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            for p, attempt, t_start, acc in tasks.values():
                self._abandon(req, p, attempt, t_start, acc, why)
            tasks.clear()

    def _abandon(self, req: Any, provider: int, attempt: int, t_start: float, acc: AttemptResult, why: str) -> None:
        """Log an attempt stopped before it ended as ``cancelled`` (billed for the prompt and what it
        streamed, as the simulator does) with ``why`` as its error; its probe slot is freed."""
        self.engine.cancel(req, provider, self.clock())
        streamed = len("".join(acc.parts).split())
        cancelled = AttemptResult(
            "cancelled", None, None, acc.ttft_s, req.input_tokens, streamed, error=self.redact(why)
        )
        self.record(req, provider, attempt, t_start, cancelled, _CANCELLED, streamed=bool(acc.parts))


# Rows the simulator writes the same way: a hedge that lost (decision done, the request
# was served) and a request that gave up before making a planned call.
_CANCELLED = Decision(DONE, -1, math.nan, 0.0)
_GAVE_UP = Decision(GIVE_UP, -1, math.nan, 0.0)


# --------------------------------------------------------------------------------------------
# Arrivals


def _sizes(
    scenario: Scenario, requests: int, gen: np.random.Generator, input_tokens: int | None, output_tokens: int | None
) -> list[tuple[int, int]]:
    """Each request's (input, output) tokens, drawn up front so they do not depend on timing
    (:func:`toolkit.world.request_sizes`, as the simulator draws them); a given size overrides the draw."""
    inputs, outputs = request_sizes(scenario, requests, gen)
    return [
        (input_tokens if input_tokens is not None else i, output_tokens if output_tokens is not None else o)
        for i, o in zip(inputs, outputs)
    ]


async def _drive(
    run: _Run,
    scenario: Scenario,
    sizes: Sequence[tuple[int, int]],
    concurrency: int,
    gen: np.random.Generator,
    progress: Any,
) -> None:
    """Issue the requests as the scenario's arrivals say, ``concurrency`` at most in flight
    (arrival times and think times drawn from ``gen`` as the simulator draws them)."""
    slots = asyncio.Semaphore(concurrency)
    arrivals = scenario.arrivals

    async def one(request_id: int) -> None:
        async with slots:
            await run.request(request_id, *sizes[request_id])
        progress.update(1)

    def sessions() -> list[asyncio.Task]:  # closed-loop sessions sharing one request counter
        issued = iter(range(len(sizes)))
        think = sampler(arrivals["think_time_s"], gen)

        async def session() -> None:
            for request_id in issued:  # shared iterator: the run stops issuing after the last request
                pause = next(think)
                if pause > 0:
                    await run.sleep_until(run.clock() + pause)
                await one(request_id)

        return [asyncio.create_task(session()) for _ in range(arrivals["sessions"])]

    tasks: list[asyncio.Task] = []
    try:
        if arrivals["kind"] == "poisson":
            t0 = run.clock()
            for request_id, at in enumerate(poisson_arrivals(arrivals["rate_per_s"], len(sizes), gen)):
                await run.sleep_until(t0 + at)
                tasks.append(asyncio.create_task(one(request_id)))
        else:
            tasks = sessions()
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:  # interrupted (Ctrl-C): every request logs what it did before it stops,
        for task in tasks:  # and only then may the caller close the log
            if not task.cancelling():  # once only: a second cancel would cut a request's own clean-up short
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --------------------------------------------------------------------------------------------
# Public API


def estimate_cost(
    members: Sequence[Member],
    scenario: Scenario,
    requests: int,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> float:
    """USD for ``requests`` requests if each were served once by the priciest member (an upper
    estimate for a healthy run: failures that bill tokens come on top)."""
    tokens_in = input_tokens if input_tokens is not None else scenario.input_tokens.mean
    tokens_out = output_tokens if output_tokens is not None else scenario.output_tokens.mean
    return requests * max(m.cost_usd(tokens_in, tokens_out) for m in members)


async def run_live_async(
    model: CombinedModel,
    policy: FailoverPolicy,
    scenario: Scenario | str | None = None,
    *,
    requests: int = 100,
    concurrency: int = 16,
    endpoints: Mapping[str, Endpoint] | None = None,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    time_scale: float = 1.0,
    timeouts: Timeouts = Timeouts(),
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    log_path: str | Path | None = None,
    run_id: str | None = None,
    mock_log_path: str | Path | None = None,
    progress: bool = True,
    client: httpx.AsyncClient | None = None,
    lag_limit_s: float = LAG_LIMIT_S,
) -> pd.DataFrame:
    """Run ``requests`` requests of ``model`` under ``policy`` over real HTTP; the attempt log.

    With neither ``endpoints`` nor ``config`` (a parsed ``opencode.json``), mock providers
    follow ``scenario`` on 127.0.0.1 (and their clock: times are scenario seconds,
    ``time_scale`` times faster than real time). ``requests`` are issued as the scenario's
    arrivals say, at most ``concurrency`` in flight; ``seed`` fixes request sizes and arrivals
    (the simulator's for the same seed) and backoff jitter; ``input_tokens`` / ``output_tokens``
    override the scenario's sizes. ``timeouts`` bound each attempt. ``log_path`` appends every
    attempt as a JSON line, flushed as it ends, under ``run_id``; ``mock_log_path`` is the mock's
    own request log; ``progress`` shows a bar of finished requests (tqdm.auto). ``client``
    replaces the pooled ``httpx.AsyncClient`` the run would open (for example one over
    ``httpx.ASGITransport`` to call an in-process app); it is used as given and left open.
    ``attrs["clock_lag"]`` says how late scheduled wake-ups came against the scenario clock
    (:class:`toolkit.clock_lag.ClockLag`); past ``lag_limit_s`` scenario seconds at the 95th
    percentile the run logs a warning naming a time scale that would keep up. The frame's
    ``attrs["answers"]`` maps each served request to its text.

    :func:`run_live` blocks until the run is over (in a notebook too: an already running event
    loop is left alone, the run gets its own thread); :func:`run_live_async` is the same run as
    a coroutine, for callers that already run an event loop.
    """
    from tqdm.auto import tqdm

    from toolkit.mock_providers import MockProviders

    instance("model", model, CombinedModel, "CombinedModel.from_table(table, combined_id)")
    instance("policy", policy, FailoverPolicy, "preset(name)")
    instance("timeouts", timeouts, Timeouts, "Timeouts(connect_s, first_token_s, total_s)")
    scenario = Scenario.load(scenario or "calm-day") if not isinstance(scenario, Scenario) else scenario
    whole("requests", requests, 1)
    whole("concurrency", concurrency, 1)
    whole("seed", seed, 0)
    positive("time_scale", time_scale)
    for name, tokens in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if tokens is not None:
            whole(name, tokens, 1, MAX_TOKENS)
    members = policy.members(model)
    providers = [m.provider for m in members]
    mock = None
    if endpoints is None and config is not None:
        endpoints, unreachable = reachable_endpoints(members, config)
        for reason in unreachable.values():  # never send a request bound to fail
            logger.warning("live %s: skipped: %s", model.combined_id, reason)
        if not endpoints:
            raise UserError(f"no member of {model.combined_id} can be reached: " + "; ".join(unreachable.values()))
        members = [m for m in members if m.provider in endpoints]
        providers = [m.provider for m in members]
    if endpoints is None:
        mock = MockProviders.from_scenario(
            scenario,
            providers,
            seed=seed,
            context_limits={m.provider: m.context_limit for m in members},
            ranking=model.providers,
            time_scale=time_scale,
            log_path=mock_log_path,
            models=sorted({m.model_id for m in members}),
        )
        endpoints = local_endpoints(mock.start().endpoints, {m.provider: adapter_of(m) for m in members})
        clock = mock.now_s
    else:
        missing = [p for p in providers if p not in endpoints]
        if missing:
            raise UserError(f"no endpoint for provider {missing[0]!r}; give one for every member")
        if time_scale != 1.0 and not all(endpoints[p].is_local for p in providers):
            raise UserError("time_scale applies only to mock providers; real providers run in real time")
        t0 = time.monotonic()

        def clock() -> float:
            return (time.monotonic() - t0) * time_scale

    log_file = open(log_path, "a", encoding="utf-8") if log_path is not None else None
    bar = tqdm(total=requests, desc=f"live {model.combined_id}", unit="req", disable=not progress)
    own_client = client is None
    if client is None:
        client = upstream_client(concurrency, timeouts.connect_s / time_scale)
    try:
        upstream = Upstream(client, endpoints.values(), timeouts, policy.attempt_timeout_s, clock, time_scale)
        run = _Run(model, policy, members, endpoints, upstream, seed, run_id or uuid.uuid4().hex[:12], log_file)
        gen = np.random.default_rng(seed)  # sizes, then arrivals: the simulator's draws for this seed
        sizes = _sizes(scenario, requests, gen, input_tokens, output_tokens)
        await _drive(run, scenario, sizes, concurrency, gen, bar)
    finally:
        if own_client:
            await client.aclose()
        bar.close()
        if log_file is not None:
            log_file.close()
        if mock is not None:
            mock.stop()
    log = run.collector.frame()
    log.attrs["answers"] = run.answers
    if mock is not None:
        run.lag.extend(mock.lag)
    lag = run.lag.summary(time_scale, lag_limit_s)
    log.attrs["clock_lag"] = lag.as_dict()
    if lag.behind:
        logger.warning("live %s: %s", model.combined_id, lag.message())
    return log


def _blocking(run: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """``run``'s blocking twin, with the same parameters (:func:`toolkit.sync.run_sync`: in a
    thread of its own when the caller is inside an event loop already, a notebook)."""

    @functools.wraps(run)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(run(*args, **kwargs))

    return blocking


run_live = _blocking(run_live_async)
run_live.__name__ = run_live.__qualname__ = "run_live"


def read_log(path: str | Path, run_id: str | None = None) -> pd.DataFrame:
    """An attempt log written by a live run (JSON lines; only ``run_id``'s rows when given),
    with the dtypes of :data:`~toolkit.attempt_log.COLUMNS`."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame([r for r in rows if run_id is None or r["run_id"] == run_id], columns=list(COLUMNS))
    frame = frame.astype({c: d for c, d in COLUMNS.items() if d != "category"})
    fixed = {"outcome": OUTCOMES, "decision": DECISIONS}
    for column, dtype in COLUMNS.items():
        if dtype == "category":
            frame[column] = pd.Categorical(frame[column], categories=fixed.get(column))
    return frame
