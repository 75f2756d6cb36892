"""What a run did, from its calls, computed the same way for a real system and the simulator.

A *calls* table has one row per call a provider received: ``request`` (id), ``provider``,
``t_start``, ``t_end`` (seconds), ``outcome`` (class), ``retry_after`` (seconds, NaN when
none); a *requests* table has ``request`` and ``ok`` (the client got an answer).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from toolkit.mock_providers import KINDS

# the mock's reply kind -> the outcome class the simulator logs for it
_CLASS_OF_KIND = {
    "ok": "ok",
    "rate_limit": "rate_limit",
    "overload": "overload",
    "reset": "connection",
    "server_error": "server_error",
    "hang": "timeout",
}
assert set(_CLASS_OF_KIND) <= set(KINDS)

METRICS = (
    "success",
    "calls_per_request",
    "wait_p50_s",
    "wait_mean_s",
    "calls_in_retry_after",
    "latency_p50_s",
    "latency_p95_s",
)
"""Metric columns (then one ``share_<provider>`` per provider):

- ``success``: share of requests answered;
- ``calls_per_request``: calls providers received per request;
- ``wait_p50_s``, ``wait_mean_s``: time between a call's end and the same request's next call;
- ``calls_in_retry_after``: share of calls that started while an earlier 429's Retry-After
  window on that provider was still open (from the 429's end);
- ``latency_p50_s``, ``latency_p95_s``: from a request's first call to the end of its last one.
"""


def calls_from_mock(records: list[dict], key: str) -> pd.DataFrame:
    """The calls table of a mock-providers log; ``key`` names the field that identifies the request
    (``request_id`` from an ``x-request-id`` header, or ``model`` when each request used its own)."""
    rows = [
        (
            r[key],
            r["provider"],
            r["t_s"],
            r["t_s"] + r["answer_after_s"],
            _CLASS_OF_KIND[r["kind"]],
            r["retry_after_s"] if r["retry_after_s"] is not None else math.nan,
        )
        for r in records
    ]
    return pd.DataFrame(rows, columns=["request", "provider", "t_start", "t_end", "outcome", "retry_after"])


def calls_from_log(log: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calls and requests tables of a simulated attempt log."""
    made = log[log["attempt"] > 0]
    calls = pd.DataFrame(
        {
            "request": made["request_id"].to_numpy(),
            "provider": made["provider"].astype(str).to_numpy(),
            "t_start": made["t_start_s"].to_numpy(),
            "t_end": made["t_end_s"].to_numpy(),
            "outcome": made["outcome"].astype(str).to_numpy(),
            "retry_after": made["retry_after_s"].to_numpy(),
        }
    )
    ok = (log["outcome"].astype(str) == "ok").groupby(log["request_id"]).any()
    requests = pd.DataFrame({"request": ok.index.to_numpy(), "ok": ok.to_numpy()})
    return calls, requests


def _in_retry_after(calls: pd.DataFrame) -> float:
    """Share of calls started inside an open Retry-After window of their provider."""
    inside = 0
    for _, group in calls.sort_values("t_start").groupby("provider", sort=False):
        ends = group.loc[group["outcome"].eq("rate_limit") & group["retry_after"].gt(0)]
        windows = sorted(zip(ends["t_end"], ends["t_end"] + ends["retry_after"]))
        for t in group["t_start"]:
            inside += any(a <= t < b for a, b in windows)
    return inside / len(calls) if len(calls) else math.nan


def measure(calls: pd.DataFrame, requests: pd.DataFrame, providers: list[str]) -> dict[str, float]:
    """Every metric of :data:`METRICS` plus ``share_<provider>`` for one run (or pooled runs)."""
    ordered = calls.sort_values(["request", "t_start"])
    same = ordered["request"].eq(ordered["request"].shift())
    waits = (ordered["t_start"] - ordered["t_end"].shift())[same]
    span = ordered.groupby("request").agg(t0=("t_start", "min"), t1=("t_end", "max"))
    latency = span["t1"] - span["t0"]
    out = {
        "success": float(requests["ok"].mean()),
        "calls_per_request": len(calls) / len(requests),
        "wait_p50_s": float(waits.median()) if len(waits) else math.nan,
        "wait_mean_s": float(waits.mean()) if len(waits) else math.nan,
        "calls_in_retry_after": _in_retry_after(calls),
        "latency_p50_s": float(np.percentile(latency, 50)) if len(latency) else math.nan,
        "latency_p95_s": float(np.percentile(latency, 95)) if len(latency) else math.nan,
    }
    counts = calls["provider"].value_counts()
    for p in providers:
        out[f"share_{p}"] = float(counts.get(p, 0) / len(calls)) if len(calls) else math.nan
    return out


def within(metric: str, real: float, simulated: float) -> bool:
    """The goal: shares and the Retry-After share within 0.05, waits within 0.5 s, the rest within 10 %."""
    if math.isnan(real) and math.isnan(simulated):
        return True
    if math.isnan(real) or math.isnan(simulated):
        return False
    if metric.startswith("share_") or metric == "calls_in_retry_after":
        return abs(real - simulated) <= 0.05
    if metric.startswith("wait_"):
        return abs(real - simulated) <= 0.5
    return abs(real - simulated) <= 0.10 * max(abs(real), abs(simulated)) or abs(real - simulated) < 1e-9
