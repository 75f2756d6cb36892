"""Fit a scenario to an attempt log (simulated, live, gateway or an imported OpenCode history).

:func:`fit_scenario` (also :meth:`toolkit.scenario.Scenario.fit`) recovers, per provider:

- **incidents**: windows where the provider's failure rate (rate limits aside) jumps, found by
  binary segmentation of its calls' failure sequence (a Bernoulli likelihood-ratio split,
  accepted above a BIC-style penalty); a window whose failure rate is several times the
  provider's baseline becomes an incident (``outage`` when its failures are connection
  errors, else ``errors`` with the window's class shares);
- **rate limits**: 429s that come with load rather than at random. For every call, the load is
  the number of calls the provider admitted in the 60 s before it; when 429s happen at high
  load and (almost) never at low load, they are a requests-per-minute bucket, whose size is
  the median load at a 429 (a saturated bucket admits its per-minute rate), and the 429s at
  low load stay as a random ``rate_limit`` share;
- **the baseline**: outside incidents and without the bucket's 429s, the share of each error
  class among admitted calls, lognormal TTFT, tokens per second and error latency, and the
  Retry-After the provider sends with random 429s and overloads;
- **arrivals**: with a ``session_id`` column (an imported history), closed-loop sessions: the
  think time is the gap between the end of a session's request and the start of its next one,
  and the number of sessions is the median number alive when a request starts;
  otherwise Poisson arrivals at the observed rate.

:func:`change_points` and :func:`rate_limit_fit` are the two estimators, usable on their own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from toolkit.errors import UserError
from toolkit.scenario import MAX_SIGMA, Scenario
from toolkit.vocabulary import INJECTABLE_CLASSES

WINDOW_S = 60.0  # a requests-per-minute bucket refills over a minute
INCIDENT_FACTOR = 3.0  # an incident's failure rate is at least this many times the baseline ...
INCIDENT_EXCESS = 0.2  # ... and at least this much above it
MIN_SEGMENT = 8  # calls on each side of a change point
MIN_BUCKET_429 = 10  # fewer 429s than this cannot show a load pattern


def change_points(failed: np.ndarray, min_size: int = MIN_SEGMENT, penalty: float | None = None) -> list[int]:
    """Indices where the failure rate of a 0/1 sequence changes (binary segmentation).

    A segment is split at the index that maximises the Bernoulli log-likelihood gain of two
    rates over one; the split is kept when the gain exceeds ``penalty`` (default
    ``1.5 * log(n)``, a BIC-style price for the extra parameters) and both sides have at least
    ``min_size`` items. Returns sorted split indices (segment starts, 0 excluded).
    """
    x = np.asarray(failed, dtype=float)
    n = len(x)
    penalty = 1.5 * math.log(max(n, 2)) if penalty is None else penalty
    cumulative = np.concatenate([[0.0], np.cumsum(x)])

    def loglik(k: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Bernoulli log-likelihood at the MLE of ``k`` failures in ``m`` trials (0 log 0 = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            p = k / m
            terms = np.where(k > 0, k * np.log(np.where(p > 0, p, 1)), 0.0)
            terms += np.where(m - k > 0, (m - k) * np.log(np.where(p < 1, 1 - p, 1)), 0.0)
        return terms

    found: list[int] = []
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        if b - a < 2 * min_size:
            continue
        splits = np.arange(a + min_size, b - min_size + 1)
        k_left = cumulative[splits] - cumulative[a]
        k_right = cumulative[b] - cumulative[splits]
        whole = loglik(np.array([cumulative[b] - cumulative[a]]), np.array([float(b - a)]))[0]
        gain = loglik(k_left, (splits - a).astype(float)) + loglik(k_right, (b - splits).astype(float)) - whole
        best = int(np.argmax(gain))
        if gain[best] > penalty:
            split = int(splits[best])
            found.append(split)
            stack += [(a, split), (split, b)]
    return sorted(found)


def _incidents(rows: pd.DataFrame, provider: str) -> tuple[list[dict], np.ndarray]:
    """Incident windows of one provider's calls (sorted by start) and a mask of the calls inside them."""
    outcome = rows["outcome"].astype(str).to_numpy()
    failed = (outcome != "ok") & (outcome != "rate_limit")
    starts = rows["t_start_s"].to_numpy(dtype=float)
    bounds = [0, *change_points(failed), len(rows)]
    segments = [(a, b, failed[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    baseline = min(rate for _, _, rate in segments) if segments else 0.0  # the calmest stretch
    inside = np.zeros(len(rows), dtype=bool)
    incidents = []
    for a, b, rate in segments:
        if rate < max(INCIDENT_FACTOR * baseline, baseline + INCIDENT_EXCESS):
            continue
        inside[a:b] = True
        # the change happened between the last call before and the first call inside (midpoints)
        start = (starts[a - 1] + starts[a]) / 2 if a > 0 else starts[a]
        end = (starts[b - 1] + starts[b]) / 2 if b < len(rows) else float(rows["t_end_s"].iloc[b - 1])
        classes = pd.Series(outcome[a:b]).value_counts() / (b - a)
        errors = {c: round(float(classes.get(c, 0.0)), 4) for c in INJECTABLE_CLASSES if classes.get(c, 0.0) > 0}
        end = max(end, start + 1e-3)
        incident = {"provider": provider, "start_s": round(float(start), 3), "end_s": round(float(end), 3)}
        if errors.get("connection", 0.0) >= 0.95:
            incidents.append({**incident, "kind": "outage"})
        else:
            incidents.append({**incident, "kind": "errors", "errors": errors})
    return incidents, inside


def _poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean)."""
    term = total = math.exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return total


def _capped(t: np.ndarray, limited: np.ndarray, window_s: float) -> bool:
    """Whether the calls admitted per window are held near a ceiling in the windows with 429s.

    Without calm stretches to compare with (the provider was always busy), a bucket still shows:
    it admits about the same number every minute, while 429s drawn at random thin the
    arrivals and leave their Poisson spread (variance about the mean). Needs five such windows.
    """
    window = np.floor((t - t[0]) / window_s).astype(int)
    complete = window < window.max()  # the last window is cut short by the end of the log
    admitted = np.bincount(window[complete & ~limited], minlength=window.max())
    refused = np.bincount(window[complete & limited], minlength=window.max())
    counts = admitted[refused > 0].astype(float)
    return len(counts) >= 5 and counts.var(ddof=1) < 0.5 * counts.mean()


def rate_limit_fit(rows: pd.DataFrame, window_s: float = WINDOW_S) -> tuple[float | None, np.ndarray]:
    """The requests-per-minute of a bucket behind one provider's 429s, or None when they look
    random; and a mask of the 429s the bucket explains. ``rows``: that provider's calls, by start.

    A call's load is the number of calls admitted (not 429) in the ``window_s`` before it. Just
    before a bucket refuses, it has admitted at least its refill of one window, ``rpm - 1`` (an
    initially full bucket admits up to ``2 * rpm``), so the estimate is the 5th percentile of the
    load at the load-driven 429s, plus one. The 429s are a bucket's when far fewer happen at low
    load (below half the median load at a 429) than their overall share predicts (a one-sided
    Poisson test at 1 %), or when the minutes with 429s admit a near-constant number (:func:`_capped`).
    """
    outcome = rows["outcome"].astype(str).to_numpy()
    limited = outcome == "rate_limit"
    explained = np.zeros(len(rows), dtype=bool)
    if limited.sum() < MIN_BUCKET_429:
        return None, explained
    t = rows["t_start_s"].to_numpy(dtype=float)
    admitted_t = t[~limited]
    load = np.searchsorted(admitted_t, t, side="left") - np.searchsorted(admitted_t, t - window_s, side="left")
    typical = float(np.median(load[limited]))
    low = load < 0.5 * typical
    expected_low = limited.mean() * low.sum()
    load_driven = expected_low >= 3 and _poisson_cdf(int(limited[low].sum()), expected_low) <= 0.01
    if not (load_driven or _capped(t, limited, window_s)):
        return None, explained  # 429s at low load as often as anywhere, admissions not capped: random
    explained = limited & ~low
    rpm = float(np.quantile(load[explained], 0.05)) + 1.0
    return rpm, explained


def _lognormal(values) -> dict | float | None:
    """Lognormal fit (median and log-sd) of the positive values; a constant when they do not vary."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if len(x) == 0:
        return None
    logs = np.log(x)
    sigma = float(logs.std(ddof=1)) if len(x) > 1 else 0.0
    if sigma < 1e-9:
        return round(float(x[0]), 6)
    sigma = min(sigma, MAX_SIGMA)  # a scenario refuses wider tails; a spread this wide is noise anyway
    return {"dist": "lognormal", "median": round(float(np.exp(logs.mean())), 6), "sigma": round(sigma, 6)}


def _profile(rows: pd.DataFrame, bucket_429: np.ndarray, complete: bool) -> dict:
    """Profile fields from calls of one provider (or all): error shares among the calls a bucket
    admitted (``bucket_429`` marks the ones it refused), latency fits, Retry-After.

    ``complete`` lists every error class and the Retry-After even when absent (zero, null), so
    that a provider's own profile is not topped up from ``default`` when the scenario layers them.
    """
    outcome = rows["outcome"].astype(str)
    real = ~outcome.eq("cancelled").to_numpy() & ~bucket_429
    counts = outcome[real].value_counts()
    n = int(real.sum())
    profile: dict = {
        "errors": {
            c: round(int(counts.get(c, 0)) / n, 6) if n else 0.0
            for c in INJECTABLE_CLASSES
            if complete or (n and counts.get(c, 0))
        }
    }
    ok = rows[outcome.eq("ok").to_numpy()]
    stream_s = (ok["latency_s"] - ok["ttft_s"]).to_numpy(dtype=float)
    failed = rows[real & ~outcome.isin(["ok", "timeout", "cancelled"]).to_numpy()]
    fitted = {
        "ttft_s": _lognormal(ok["ttft_s"]),
        "tokens_per_s": _lognormal(
            ok["output_tokens"].to_numpy(dtype=float) / np.where(stream_s > 0, stream_s, np.nan)
        ),
        "error_latency_s": _lognormal(failed["latency_s"]),
    }
    profile.update({k: v for k, v in fitted.items() if v is not None})
    random_429 = rows.loc[real & outcome.isin(["rate_limit", "overload"]).to_numpy(), "retry_after_s"].dropna()
    if len(random_429) or complete:
        profile["retry_after_s"] = _lognormal(random_429)
    return profile


def _arrivals(log: pd.DataFrame) -> dict:
    """Sessions with think times when the log names sessions (and some have several requests), else Poisson."""
    calls = log[log["attempt"] > 0]
    requests = calls.groupby("request_id", observed=True).agg(t0=("t_start_s", "min"), t1=("t_end_s", "max"))
    span = float(requests["t0"].max() - requests["t0"].min()) if len(requests) > 1 else 0.0
    rate = (len(requests) - 1) / span if span > 0 else 1.0
    if "session_id" in log:
        session = calls.groupby("request_id", observed=True)["session_id"].first().astype(str)
        requests = requests.assign(session=session).sort_values(["session", "t0"])
        same = requests["session"].to_numpy()[1:] == requests["session"].to_numpy()[:-1]
        gaps = (requests["t0"].to_numpy()[1:] - requests["t1"].to_numpy()[:-1])[same]
        think = _lognormal(gaps)
        if think is not None and len(gaps) >= 2:
            # sessions alive (first request started, last one not yet ended) when a request starts:
            # the median is the closed loop's size, whatever the ramp-up and ramp-down at the edges
            born = np.sort(requests.groupby("session")["t0"].min().to_numpy())
            gone = np.sort(requests.groupby("session")["t1"].max().to_numpy())
            t0 = requests["t0"].to_numpy()
            alive = np.searchsorted(born, t0, side="right") - np.searchsorted(gone, t0, side="left")
            return {"kind": "sessions", "sessions": max(1, round(float(np.median(alive)))), "think_time_s": think}
    return {"kind": "poisson", "rate_per_s": round(rate, 6)}


def fit_scenario(log: pd.DataFrame, name: str = "fitted") -> Scenario:
    """A scenario that reproduces ``log`` (see the module docstring for what is recovered).

    Every provider in the log is named by id, with every error class listed (zeros too) so its
    profile stands alone; ``default`` is the pooled behaviour of all of them outside their
    incidents and buckets, for providers the log does not name.
    """
    if len(log) == 0:
        raise UserError("cannot fit a scenario to an empty attempt log")
    calls = log[log["attempt"] > 0].sort_values("t_start_s", kind="stable")
    first = log.sort_values(["request_id", "attempt"]).groupby("request_id", observed=True).first()
    ok = log[log["outcome"] == "ok"]
    providers: dict = {}
    incidents: list[dict] = []
    calm_rows, calm_429 = [], []
    for provider, rows in calls.groupby("provider", observed=True, sort=True):
        rows = rows.reset_index(drop=True)
        found, inside = _incidents(rows, str(provider))
        incidents += found
        calm = rows[~inside].reset_index(drop=True)
        rpm, explained = rate_limit_fit(calm)
        profile = _profile(calm, explained, complete=True)
        if rpm is not None:
            profile["rate_limit"] = {"requests_per_minute": round(rpm, 3)}
        providers[str(provider)] = profile
        calm_rows.append(calm)
        calm_429.append(explained)
    # default: the providers pooled outside their incidents and buckets (for providers not in the log)
    providers = {"default": _profile(pd.concat(calm_rows), np.concatenate(calm_429), complete=False), **providers}
    data = {
        "name": name,
        "description": f"fitted to an attempt log of {len(first)} requests",
        "arrivals": _arrivals(log),
        "request": {
            key: value
            for key, value in (
                ("input_tokens", _lognormal(first["input_tokens"])),
                ("output_tokens", _lognormal(ok["output_tokens"])),
            )
            if value is not None
        },
        "providers": providers,
    }
    if incidents:
        data["incidents"] = incidents
    return Scenario.from_dict(data, source=f"fit:{name}")
