"""What a log of provider calls says about each provider: tables per provider and model, and per period.

Works on any attempt log (history, live, simulated). :func:`provider_overview` answers "how did each
provider serve me": calls, the share of each error class, how often a Retry-After came and
how long it asked for, latency and time-to-first-token percentiles, streaming speed and cost.
:func:`period_overview` cuts the same numbers by day or hour (wall clock when the log has
``started_at``, as history does; else the log's own seconds). Columns are documented in the
README ("Tables").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.vocabulary import OUTCOMES

FAILURES: tuple[str, ...] = tuple(o for o in OUTCOMES if o != "ok")
"""Outcome classes that are not a success, in the attempt log's order (one ``<class>_share`` column each)."""


def tokens_per_s(log: pd.DataFrame) -> pd.Series:
    """Streaming speed of each successful call: output tokens over the time after the first token
    (NaN where unknown: a failed call, no TTFT, or no time after it)."""
    stream_s = (log["latency_s"] - log["ttft_s"]).to_numpy(dtype=float)
    ok = (log["outcome"] == "ok").to_numpy() & (stream_s > 0)
    speed = np.where(ok, log["output_tokens"].to_numpy(dtype=float) / np.where(ok, stream_s, 1.0), np.nan)
    return pd.Series(speed, index=log.index, name="tokens_per_s")


def _stats(rows: pd.DataFrame) -> dict:
    outcome = rows["outcome"].astype(str)
    ok = rows[outcome == "ok"]
    n = len(rows)
    retry_after = rows["retry_after_s"].dropna()

    def q(values: pd.Series, p: float) -> float:
        values = values.dropna()
        return float(values.quantile(p)) if len(values) else np.nan

    speed = tokens_per_s(ok)
    return {
        "calls": n,
        "requests": rows["request_id"].nunique(),
        "error_share": float((outcome != "ok").mean()) if n else np.nan,
        **{f"{name}_share": float((outcome == name).mean()) if n else np.nan for name in FAILURES},
        "retry_after_seen": len(retry_after),
        "retry_after_p50_s": float(retry_after.median()) if len(retry_after) else np.nan,
        "latency_p50_s": q(ok["latency_s"], 0.5),
        "latency_p95_s": q(ok["latency_s"], 0.95),
        "ttft_p50_s": q(ok["ttft_s"], 0.5),
        "ttft_p95_s": q(ok["ttft_s"], 0.95),
        "tokens_per_s_p50": q(speed, 0.5),
        "cost_usd": float(rows["cost_usd"].sum()),
    }


def provider_overview(log: pd.DataFrame) -> pd.DataFrame:
    """One row per provider and model (``model_ref``): calls, error shares, Retry-After, latency,
    TTFT, tokens/s and cost; latency, TTFT and speed over successful calls only."""
    groups = log.groupby(["provider", "model_ref"], observed=True, sort=True)
    rows = [{"provider": str(p), "model_ref": str(model), **_stats(group)} for (p, model), group in groups]
    return pd.DataFrame(rows, columns=["provider", "model_ref", *_stats(log.iloc[:0]).keys()])


def period_overview(log: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """The :func:`provider_overview` numbers per period and provider: ``freq`` ``"D"`` (day) or ``"h"``
    (hour); ``period`` is the period's start (UTC), or its start in log seconds without ``started_at``."""
    if freq not in ("D", "h"):
        raise ValueError(f"freq must be 'D' or 'h', got {freq!r}")
    if "started_at" in log:
        period = log["started_at"].dt.floor(freq)
    else:
        width = 86_400.0 if freq == "D" else 3_600.0
        period = (log["t_start_s"] // width) * width
    rows = [
        {"period": key, "provider": str(provider), **_stats(group)}
        for (key, provider), group in log.groupby([period.rename("period"), "provider"], observed=True, sort=True)
    ]
    return pd.DataFrame(rows, columns=["period", "provider", *_stats(log.iloc[:0]).keys()])
