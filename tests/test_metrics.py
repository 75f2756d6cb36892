"""summarize() on hand-built attempt logs (exact values), and the attempt-log helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from toolkit.attempt_log import AttemptCollector, concat_logs, empty
from toolkit.metrics import BASE_COLUMNS, summarize, wilson
from toolkit.vocabulary import DECISION_CODE as D
from toolkit.vocabulary import OUTCOME_CODE as O

NAN = math.nan


def hand_log(run_id: str = "r") -> pd.DataFrame:
    c = AttemptCollector(run_id, "m", ["a", "b"], ["a/m", "b/m"])
    # request 0: 429 on a (Retry-After 5), then ok on b
    c.add(0, 1, 0, 0.0, 0.5, NAN, O["rate_limit"], 429, 5.0, D["next_provider"], 0.0, 100, 0, 0.0, c.error_code("429"))
    c.add(0, 2, 1, 0.5, 3.5, 1.0, O["ok"], 200, NAN, D["done"], 0.0, 100, 10, 0.02)
    # request 1: ok on a at once
    c.add(1, 1, 0, 10.0, 12.0, 0.5, O["ok"], 200, NAN, D["done"], 0.0, 100, 10, 0.01)
    # request 2: 500 on a, then gives up
    c.add(2, 1, 0, 20.0, 20.2, NAN, O["server_error"], 500, NAN, D["give_up"], 0.0, 100, 0, 0.0, c.error_code("500"))
    # request 3: gave up before any call
    c.add(3, 0, 0, 30.0, 30.0, NAN, O["cancelled"], 0, NAN, D["give_up"], 0.0, 100, 0, 0.0)
    return c.frame()


def test_summarize_exact_values():
    m = summarize(hand_log()).iloc[0]
    assert list(summarize(hand_log()).columns) == ["run_id", *BASE_COLUMNS, "share_a", "share_b"]
    assert m["requests"] == 4
    assert m["success_rate"] == 0.5
    assert (m["success_ci_low"], m["success_ci_high"]) == pytest.approx(wilson(2, 4))
    assert m["latency_p50_s"] == pytest.approx(np.median([3.5, 2.0]))
    assert m["latency_p99_s"] == pytest.approx(np.quantile([3.5, 2.0], 0.99))
    assert m["ttft_p50_s"] == pytest.approx(np.median([0.5 + 1.0, 0.5]))
    assert m["attempts_mean"] == pytest.approx((2 + 1 + 1 + 0) / 4)
    assert m["attempts_ci"] == pytest.approx(1.959963984540054 * np.std([2, 1, 1, 0], ddof=1) / 2)
    assert m["wasted_attempts"] == 2
    assert m["wasted_per_request"] == 0.5
    assert m["cost_total_usd"] == pytest.approx(0.03)
    assert m["cost_per_success_usd"] == pytest.approx(0.015)
    assert m["failed_over_share"] == 0.5
    assert m["route_around_p50_s"] == 0.5
    assert (m["share_a"], m["share_b"]) == (0.5, 0.5)


def test_summarize_groups_by_run():
    log = concat_logs([hand_log("r1"), hand_log("r2")])
    table = summarize(log)
    assert table["run_id"].tolist() == ["r1", "r2"]
    assert table["requests"].tolist() == [4, 4]


def test_wilson_known_values():
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_concat_keeps_categoricals_with_different_providers():
    c = AttemptCollector("x", "m", ["c"], ["c/m"])
    c.add(0, 1, 0, 0.0, 1.0, 0.2, O["ok"], 200, NAN, D["done"], 0.0, 1, 1, 0.0)
    both = concat_logs([hand_log(), c.frame()])
    assert both["provider"].dtype == "category"
    assert list(both["provider"].cat.categories) == ["a", "b", "c"]
    assert list(both["outcome"].cat.categories)[:2] == ["ok", "rate_limit"]
    assert both["provider"].tolist()[-1] == "c"


def test_collector_round_trips_values_and_status_missing():
    log = hand_log()
    assert log["status"].tolist()[:4] == [429, 200, 200, 500]
    assert log["status"].isna().tolist() == [False, False, False, False, True]
    assert log["error"].tolist() == ["429", "", "", "500", ""]
    assert log["model_ref"].tolist() == ["a/m", "b/m", "a/m", "a/m", "a/m"]
    assert len(empty()) == 0 and list(empty().columns) == list(log.columns)


def test_collector_grows_past_its_first_buffer():
    c = AttemptCollector("r", "m", ["a"], ["a/m"])
    n = (1 << 16) + 5
    for i in range(n):
        c.add(i, 1, 0, float(i), i + 1.0, 0.1, O["ok"], 200, NAN, D["done"], 0.0, 10, 5, 0.0)
    assert len(c) == n
    frame = c.frame()
    assert frame["request_id"].tolist() == list(range(n))
