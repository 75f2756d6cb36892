"""The world a scenario describes, written once: what a provider answers to one attempt.

The simulator (virtual time) and the mock providers (real sockets) both ask this module, so
a scenario means the same in both (``docs/failover.md``, "Scenario files"). Per provider,
:func:`answerer` checks, in this order: the context window (the member's ``context_limit``),
the rate-limit buckets (``rate_limit``, with the exact Retry-After), one uniform draw against
the profile's cumulative error table (the class, its error latency and, for rate limits and
overloads, the profile's ``retry_after_s``), else a success after ``ttft_s`` at
``tokens_per_s``. The incident in force at the attempt's start time replaces the profile.

Randomness comes from numpy, drawn in chunks and read one value at a time (:func:`sampler`,
the one way a :class:`~toolkit.scenario.Dist` is sampled), so the answer costs the
simulator's inner loop a few ``next`` calls. The request sizes and open-loop arrival times
both drivers use come from here too (:func:`request_sizes`, :func:`poisson_arrivals`).
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from toolkit.scenario import Dist, Profile, ProviderWorld, Scenario
from toolkit.vocabulary import OUTCOME_CODE, OUTCOMES

OK, RATE_LIMIT, TIMEOUT, CONTEXT_LENGTH = (OUTCOME_CODE[k] for k in ("ok", "rate_limit", "timeout", "context_length"))
"""The outcome codes (:data:`~toolkit.vocabulary.OUTCOME_CODE`) an answer starts with."""

STATUS: tuple[int, ...] = tuple(
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
)
"""The HTTP status a provider of the scenario world answers, per outcome code (0: no HTTP
answer: a timeout, a dropped connection or a cancelled attempt). Anthropic's codes: 529 for an overload."""

SIMULATED_TEXT: tuple[str, ...] = tuple(
    {
        "rate_limit": "simulated 429: rate limit",
        "overload": "simulated 529: overloaded_error",
        "server_error": "simulated 500: internal server error",
        "timeout": "simulated timeout: no first token before the client gave up",
        "connection": "simulated connection refused",
        "auth": "simulated 401: invalid API key",
        "client_error": "simulated 400: bad request",
        "context_length": "simulated 400: prompt exceeds the model's maximum context length",
    }.get(name, "")
    for name in OUTCOMES
)
"""The ``error`` text the simulator logs per outcome code ("" for ``ok`` and ``cancelled``)."""

BUCKET_TEXT = "simulated 429: requests/tokens per minute exhausted"
"""The ``error`` text of a 429 from a rate-limit bucket (rather than an injected one)."""

Answer = tuple[int, float, float, float, float, bool]
"""``(outcome code, duration, ttft, tokens_per_s, retry_after, from_bucket)``: seconds after the
attempt's start until the answer ends (an error's latency, or the first token plus the output),
the time to first token and the pace (NaN unless ``ok``), the Retry-After (NaN if none), and
whether a rate-limit bucket (not an injected error) answered."""

_CHUNK = 1 << 15


def stream(draw: Callable[[int], np.ndarray]) -> Iterator[float]:
    """An endless iterator of Python floats, drawn from numpy ``_CHUNK`` at a time on first need."""
    # chained: ``next`` runs in C, and the generator resumes only once per chunk
    return itertools.chain.from_iterable(draw(n).tolist() for n in itertools.repeat(_CHUNK))


def sampler(dist: Dist, gen: np.random.Generator) -> Iterator[float]:
    """An endless iterator of draws from ``dist`` (vectorised in chunks; ``next`` is all a caller pays)."""
    if dist.kind == "constant":
        return itertools.repeat(dist.a)
    return stream(lambda n: dist.sample(gen, n))


def provider_generator(seed: int, provider: str) -> np.random.Generator:
    """A random stream of its own for one provider (the mock providers: one provider's traffic
    must not change another's draws)."""
    return np.random.default_rng([seed, zlib.crc32(provider.encode())])


class _Draws:
    """A profile turned into samplers and a cumulative error table, for :func:`answerer`.

    ``edges`` holds ``(cumulative probability, outcome code, Retry-After sampler or None,
    whether the class never answers)`` per injected class, so the answer needs no further test.
    """

    __slots__ = ("edges", "p_error", "ttft", "tps", "elat")

    def __init__(self, profile: Profile, gen: np.random.Generator) -> None:
        retry_after = None if profile.retry_after_s is None else sampler(profile.retry_after_s, gen)
        edges, edge = [], 0.0
        for name, p in profile.errors:
            edge += p
            ra = retry_after if name in ("rate_limit", "overload") else None
            edges.append((edge, OUTCOME_CODE[name], ra, name == "timeout"))
        self.edges = tuple(edges)
        self.p_error = edge  # any error at all: below it, ``edges`` says which
        self.ttft = sampler(profile.ttft_s, gen)
        self.tps = sampler(profile.tokens_per_s, gen)
        self.elat = sampler(profile.error_latency_s, gen)


def answerer(
    world: ProviderWorld,
    context_limit: float | None,
    gen: np.random.Generator,
    uniforms: Iterator[float] | None = None,
) -> Callable[[float, int, int, float], Answer]:
    """The provider's answer function ``answer(t, input_tokens, output_tokens, patience)``.

    ``t`` is the attempt's start (scenario seconds; it picks the incident in force and
    refills the rate-limit buckets), the tokens are the prompt and the answer asked for (the
    context check and the token bucket count both), and ``patience`` is how long the caller
    waits for a first token: an injected timeout, or a first token later than that, answers
    ``timeout`` after ``patience`` (the mock providers, whose clients keep their own time,
    pass ``inf``). Draws come from ``gen``, the error draw from ``uniforms`` when given (the
    simulator shares one uniform stream among its providers). Each call draws only what its
    answer needs, so a fixed seed gives the same answers in the same order.
    """
    base = _Draws(world.profile, gen)
    windows = tuple((i.start_s, i.end_s, _Draws(i.profile, gen)) for i in world.incidents)
    bucket = rate_bucket(world.profile)
    uniform = uniforms if uniforms is not None else stream(gen.random)
    limit = math.inf if context_limit is None else context_limit  # one comparison per call
    nan = math.nan

    def answer(t: float, n_in: int, n_out: int, patience: float) -> Answer:
        prof = base
        if windows:
            for start, end, incident in windows:
                if start <= t < end:
                    prof = incident
                    break
        if n_in + n_out > limit:
            return CONTEXT_LENGTH, next(prof.elat), nan, nan, nan, False
        if bucket is not None:
            wait = bucket_take(bucket, t, n_in + n_out)
            if wait > 0.0:
                return RATE_LIMIT, next(prof.elat), nan, nan, wait, True
        u = next(uniform)
        if u < prof.p_error:
            for edge, code, retry_after, hangs in prof.edges:
                if u < edge:
                    if hangs:
                        return TIMEOUT, patience, nan, nan, nan, False
                    if retry_after is None:
                        return code, next(prof.elat), nan, nan, nan, False
                    return code, next(prof.elat), nan, nan, next(retry_after), False
        ttft = next(prof.ttft)
        if ttft > patience:
            return TIMEOUT, patience, nan, nan, nan, False
        tps = next(prof.tps)
        return OK, ttft + n_out / tps, ttft, tps, nan, False

    return answer


def rate_bucket(profile: Profile) -> list[float] | None:
    """Rate-limit state ``[requests, tokens, last_t, req_rate, tok_rate, req_cap, tok_cap]`` (None: unlimited).

    The refill rates are per second (a minute's allowance over 60 s); both buckets start full.
    """
    rpm, tpm = profile.requests_per_minute, profile.tokens_per_minute
    if rpm is None and tpm is None:
        return None
    req_cap = float(rpm) if rpm is not None else math.inf
    tok_cap = float(tpm) if tpm is not None else math.inf
    return [req_cap, tok_cap, 0.0, req_cap / 60.0, tok_cap / 60.0, req_cap, tok_cap]


def bucket_take(bucket: list[float], t: float, tokens: int) -> float:
    """Debit one request and ``tokens`` at time ``t``; 0.0 on success, else the Retry-After
    (time until both buckets hold enough, rounded up to the millisecond) and nothing taken."""
    elapsed = t - bucket[2]
    bucket[2] = t
    level_r = bucket[0] + elapsed * bucket[3]
    level_t = bucket[1] + elapsed * bucket[4]
    level_r = bucket[0] = level_r if level_r < bucket[5] else bucket[5]
    level_t = bucket[1] = level_t if level_t < bucket[6] else bucket[6]
    if level_r >= 1.0 and level_t >= tokens:
        bucket[0] = level_r - 1.0
        bucket[1] = level_t - tokens
        return 0.0
    wait = 0.0
    if level_r < 1.0:
        wait = (1.0 - level_r) / bucket[3]
    if level_t < tokens:
        wait_t = (tokens - level_t) / bucket[4]
        if wait_t > wait:
            wait = wait_t
    return max(math.ceil(wait * 1000.0) / 1000.0, 0.001)


def request_sizes(scenario: Scenario, requests: int, gen: np.random.Generator) -> tuple[list[int], list[int]]:
    """Each request's prompt and answer tokens (the scenario's ``request`` sizes, rounded, at
    least 1): all input sizes are drawn first, then all output sizes."""

    def tokens(dist: Dist) -> list[int]:
        return np.maximum(1, np.rint(dist.sample(gen, requests))).astype(np.int64).tolist()

    return tokens(scenario.input_tokens), tokens(scenario.output_tokens)


def poisson_arrivals(rate_per_s: float, requests: int, gen: np.random.Generator) -> list[float]:
    """Arrival times (seconds from the start) of ``requests`` open-loop requests at ``rate_per_s``."""
    return np.cumsum(gen.exponential(1.0 / rate_per_s, requests)).tolist()
