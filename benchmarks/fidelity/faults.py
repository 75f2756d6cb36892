"""The faults every system meets, as scenarios the mock providers and the simulator share.

The first provider (``a``) is the faulty one; the others are healthy. Times are scaled down
from real incidents so a run takes minutes: a Retry-After shorter (2 s) and longer (8 s)
than LiteLLM's default 5 s cooldown, a hard-down provider (every connection reset), and a
provider overloaded on 30 % of requests (503 on the OpenAI-compatible wire).
"""

from __future__ import annotations

from toolkit.scenario import Scenario

FAULTS: dict[str, dict] = {
    "429-ra-2s": {"errors": {"rate_limit": 1.0}, "retry_after_s": 2.0},
    "429-ra-8s": {"errors": {"rate_limit": 1.0}, "retry_after_s": 8.0},
    "hard-down": {"errors": {"connection": 1.0}},
    "overload-30pct": {"errors": {"overload": 0.3}},
}
"""Fault name -> what provider ``a`` does (a scenario profile's ``errors`` and ``retry_after_s``)."""

TTFT_S = 0.05  # a healthy answer: first token after 50 ms, then all tokens at once
ERROR_LATENCY_S = 0.02


def scenario(fault: str, sessions: int, overhead_s: float = 0.0, think_s: float = 0.0) -> Scenario:
    """``fault`` on provider ``a``, healthy elsewhere; ``sessions`` clients sending back to back.

    ``overhead_s`` is added to every answer's latency: the real client's own time per call
    (measured by the harness, and added to the real calls' ends too), so simulated time runs at
    the real client's pace. ``think_s`` is the time between a client's requests.
    """
    healthy = {
        "ttft_s": TTFT_S + overhead_s,
        "tokens_per_s": 100_000,
        "error_latency_s": ERROR_LATENCY_S + overhead_s,
        "errors": {},
    }
    spec = FAULTS[fault]
    faulty = {**healthy, "errors": spec["errors"], "retry_after_s": spec.get("retry_after_s")}
    return Scenario.from_dict(
        {
            "name": fault,
            "arrivals": {"kind": "sessions", "sessions": sessions, "think_time_s": think_s},
            "request": {"input_tokens": 3, "output_tokens": 4},
            "providers": {"default": healthy, "a": faulty},
        }
    )
