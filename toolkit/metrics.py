"""The metrics table: one row per run (or per any grouping of the attempt log).

Every column is documented in the README ("metrics"). A request succeeds when one of its
attempts is ``ok``; latencies are end to end, from the request's first attempt to its
answer, over successful requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

Z95 = 1.959963984540054  # two-sided 95 % normal quantile

BASE_COLUMNS = (
    "requests",
    "success_rate",
    "success_ci_low",
    "success_ci_high",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "attempts_mean",
    "attempts_ci",
    "wasted_attempts",
    "wasted_per_request",
    "cost_total_usd",
    "cost_per_success_usd",
    "failed_over_share",
    "route_around_p50_s",
)
"""Metric columns after the group keys; ``share_<provider>`` columns follow."""


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaNs when ``n`` is 0)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def per_request(log: pd.DataFrame, by: str | Sequence[str] = "run_id") -> pd.DataFrame:
    """One row per request: ``calls``, ``ok``, ``t0``, ``latency_s``, ``ttft_s``, ``cost_usd``,
    ``first_provider``, ``served_by`` and ``route_s`` (first attempt to the start of the
    answering attempt), indexed by the group keys and ``request_id``."""
    keys = [by] if isinstance(by, str) else list(by)
    ids = keys + ["request_id"]
    calls = log["attempt"].to_numpy() > 0
    grouped = log.groupby(ids, observed=True, sort=True)
    out = pd.DataFrame(
        {
            "calls": pd.Series(calls, index=log.index).groupby([log[k] for k in ids], observed=True, sort=True).sum(),
            "t0": grouped["t_start_s"].min(),
            "cost_usd": grouped["cost_usd"].sum(),
        }
    )
    first = log.loc[calls, ids + ["attempt", "provider"]].sort_values("attempt", kind="stable")
    first = first.drop_duplicates(ids).set_index(ids)["provider"]
    ok = log.loc[log["outcome"] == "ok", ids + ["t_start_s", "t_end_s", "ttft_s", "provider"]]
    ok = ok.drop_duplicates(ids).set_index(ids)
    out["ok"] = out.index.isin(ok.index)
    out["first_provider"] = first.reindex(out.index)
    out["served_by"] = ok["provider"].reindex(out.index)
    t_start = ok["t_start_s"].reindex(out.index)
    out["latency_s"] = ok["t_end_s"].reindex(out.index) - out["t0"]
    out["ttft_s"] = t_start + ok["ttft_s"].reindex(out.index) - out["t0"]
    out["route_s"] = t_start - out["t0"]
    return out


def summarize(log: pd.DataFrame, by: str | Sequence[str] = "run_id") -> pd.DataFrame:
    """The metrics table of an attempt log, one row per value of ``by`` (see the README)."""
    keys = [by] if isinstance(by, str) else list(by)
    requests = per_request(log, keys)
    providers = [
        str(p)
        for p in (
            log["provider"].cat.categories if hasattr(log["provider"], "cat") else sorted(log["provider"].unique())
        )
    ]
    rows = []
    for key, r in requests.groupby(level=list(range(len(keys))), observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), **_metrics(r, providers)})
    columns = keys + list(BASE_COLUMNS) + [f"share_{p}" for p in providers]
    return pd.DataFrame(rows, columns=columns)


def _metrics(r: pd.DataFrame, providers: list[str]) -> dict:
    n = len(r)
    ok = r["ok"].to_numpy()
    successes = int(ok.sum())
    low, high = wilson(successes, n)
    calls = r["calls"].to_numpy(dtype=float)
    latency = r.loc[ok, "latency_s"].to_numpy(dtype=float)
    ttft = r.loc[ok, "ttft_s"].to_numpy(dtype=float)
    ttft = ttft[np.isfinite(ttft)]
    served = r.loc[ok, "served_by"].astype(str)
    moved = ok & (r["served_by"].astype(str).to_numpy() != r["first_provider"].astype(str).to_numpy())
    cost = float(r["cost_usd"].sum())
    counts = served.value_counts()
    return {
        "requests": n,
        "success_rate": successes / n,
        "success_ci_low": low,
        "success_ci_high": high,
        **_quantiles("latency", latency),
        **_quantiles("ttft", ttft),
        "attempts_mean": calls.mean(),
        "attempts_ci": Z95 * calls.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan,
        "wasted_attempts": int(calls.sum()) - successes,
        "wasted_per_request": (calls.sum() - successes) / n,
        "cost_total_usd": cost,
        "cost_per_success_usd": cost / successes if successes else math.nan,
        "failed_over_share": moved.sum() / successes if successes else math.nan,
        "route_around_p50_s": float(np.median(r.loc[moved, "route_s"])) if moved.any() else math.nan,
        **{f"share_{p}": (counts.get(p, 0) / successes if successes else math.nan) for p in providers},
    }


def _quantiles(name: str, values: np.ndarray) -> dict:
    if len(values) == 0:
        return {f"{name}_p{q}_s": math.nan for q in (50, 95, 99)}
    p50, p95, p99 = np.quantile(values, [0.5, 0.95, 0.99])
    return {f"{name}_p50_s": p50, f"{name}_p95_s": p95, f"{name}_p99_s": p99}
