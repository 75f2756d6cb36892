"""The fidelity harness's measurements (benchmarks/fidelity), on hand-made call tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.fidelity.faults import FAULTS, scenario
from benchmarks.fidelity.metrics import calls_from_log, calls_from_mock, measure, within
from benchmarks.fidelity.systems import exported_config, litellm_config
from toolkit.combined_model import CombinedModel
from toolkit.policy import preset
from toolkit.simulator import simulate

NAN = math.nan


def test_measure_exact():
    calls = pd.DataFrame(
        [
            ("r0", "a", 0.0, 1.0, "rate_limit", 2.0),  # Retry-After window on a: [1, 3)
            ("r0", "b", 1.5, 2.0, "ok", NAN),
            ("r1", "a", 2.0, 2.5, "rate_limit", NAN),  # inside the window
            ("r1", "a", 3.5, 4.0, "ok", NAN),  # after it
            ("r2", "b", 0.0, 3.0, "ok", NAN),
        ],
        columns=["request", "provider", "t_start", "t_end", "outcome", "retry_after"],
    )
    requests = pd.DataFrame({"request": ["r0", "r1", "r2", "r3"], "ok": [True, True, True, False]})
    got = measure(calls, requests, ["a", "b", "c"])
    assert got == pytest.approx(
        {
            "success": 0.75,
            "calls_per_request": 5 / 4,
            "wait_p50_s": 0.75,
            "wait_mean_s": 0.75,
            "calls_in_retry_after": 1 / 5,
            "latency_p50_s": 2.0,
            "latency_p95_s": 2.9,
            "share_a": 0.6,
            "share_b": 0.4,
            "share_c": 0.0,
        }
    )


def test_tolerances():
    assert within("share_a", 0.50, 0.54) and not within("share_a", 0.50, 0.56)
    assert within("wait_p50_s", 3.0, 3.5) and not within("wait_p50_s", 3.0, 3.6)
    assert within("success", 0.9, 1.0) and not within("success", 0.89, 1.0)
    assert within("calls_in_retry_after", NAN, NAN) and not within("latency_p95_s", 1.0, NAN)


def test_a_simulated_log_and_a_mock_log_give_the_same_tables():
    log = simulate(
        CombinedModel.of(["a", "b", "c"]),
        preset("litellm-1.110-fallbacks"),
        scenario("hard-down", 2),
        6,
        progress=False,
    )
    calls, requests = calls_from_log(log)
    assert len(requests) == 6 and requests["ok"].all()
    assert calls.groupby("request")["provider"].agg(list).tolist() == [["a", "a", "a", "b"]] * 6
    assert set(calls["outcome"]) == {"connection", "ok"}
    mock = [
        {
            "request_id": "r0",
            "provider": "a",
            "t_s": 1.0,
            "answer_after_s": 0.02,
            "kind": "reset",
            "retry_after_s": None,
        }
    ]
    assert calls_from_mock(mock, "request_id").iloc[0].tolist()[:5] == ["r0", "a", 1.0, 1.02, "connection"]


def test_every_fault_is_a_valid_scenario_and_the_litellm_configs_say_what_the_presets_model():
    for fault in FAULTS:
        assert scenario(fault, 4).name == fault
    urls = {"a": "http://127.0.0.1:1/v1", "b": "http://127.0.0.1:2/v1"}
    order = litellm_config("litellm-1.110-order", urls)
    assert [d["litellm_params"]["order"] for d in order["model_list"]] == [1, 2]
    assert order["router_settings"] == {"num_retries": 2, "routing_strategy": "simple-shuffle"}
    shuffle = litellm_config("litellm-1.110-shuffle", urls)
    assert all("order" not in d["litellm_params"] for d in shuffle["model_list"])
    fallbacks = litellm_config("litellm-1.110-fallbacks", urls)
    assert fallbacks["model"] == "a" and fallbacks["router_settings"]["fallbacks"] == [{"a": ["b"]}]


def test_the_proxy_runs_serve_what_export_writes_for_each_preset():
    urls = {"a": "http://127.0.0.1:1/v1", "b": "http://127.0.0.1:2/v1"}
    fallbacks = exported_config("litellm-1.110-fallbacks", urls)
    assert fallbacks["model_list"] == [
        {
            "model_name": "combined",
            "litellm_params": {"api_base": urls["a"], "model": "openai/model", "api_key": "os.environ/MOCK_KEY"},
        },
        {
            "model_name": "combined@b",
            "litellm_params": {"api_base": urls["b"], "model": "openai/model", "api_key": "os.environ/MOCK_KEY"},
        },
    ]
    assert fallbacks["router_settings"]["fallbacks"] == [{"combined": ["combined@b"]}]
    order = exported_config("litellm-1.110-order", urls)
    assert [d["litellm_params"]["order"] for d in order["model_list"]] == [1, 2]
    assert order["router_settings"]["num_retries"] == 2
