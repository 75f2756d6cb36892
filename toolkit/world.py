"""The world a scenario describes, in the parts the simulator and the mock providers share.

Both answer an attempt by the same checks, in this order (``docs/failover.md``, "Scenario
files"): the context window (``context_length``), the rate-limit buckets (``rate_limit``
with the exact Retry-After), one uniform draw against the profile's cumulative error table
(:meth:`toolkit.scenario.Profile.pick_error`), else a success after ``ttft_s`` plus the output
at ``tokens_per_s``. The distributions and error tables are :mod:`toolkit.scenario`'s; the
stateful part, the token buckets, is here, so a rate limit answers 429 at the same moments in
virtual time and on a real socket. (The simulator inlines the order of checks in its event
loop, where a function call per attempt would cost more than the 3 % its benchmark allows.)
"""

from __future__ import annotations

import math

from toolkit.scenario import Profile


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
