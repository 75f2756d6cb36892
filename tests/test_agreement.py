"""Live runs (real HTTP against time-scaled mock providers) agree with the simulator.

For every bundled scenario, one live run and 20 simulated runs (seeds 0-19) of the same
policy, combined model and request count are summarized by :func:`toolkit.metrics.summarize`.
The simulated runs give each metric's mean and its run-to-run standard deviation ``sd``;
the live value must lie within

    tolerance = margin + 5 * sd

of the simulated mean. ``5 * sd`` covers the chance difference of two independent runs
(the difference has standard deviation ``sqrt(2) * sd``, so this is 3.5 of them: about one
false alarm in 2,000 checks); ``margin`` covers what time scaling adds on purpose: the
client's own time per attempt (a few real milliseconds, multiplied by the time scale) and
the mock's 5 ms write batching. Margins: success rate 0.02, mean attempts 0.05 absolute;
latency p50 and p95 10 % of the simulated value.

A negative control shows the check has teeth: the same live run does *not* agree with the
simulation of a different policy.

On a busy machine a live run can fall behind the scenario clock, which changes the
experiment (thinner arrivals, longer latencies); :func:`scaled_runs.keeping_up` measures
that lag and reruns at half the time scale until the run keeps up, or fails saying so.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scaled_runs import keeping_up

from toolkit.combined_model import CombinedModel
from toolkit.live import run_live
from toolkit.metrics import summarize
from toolkit.policy import preset
from toolkit.scenario import Scenario, bundled
from toolkit.simulator import simulate

pytestmark = pytest.mark.slow

MODEL = CombinedModel.of(["a", "b", "c"], context_limit=200_000.0, cost_input=3.0, cost_output=15.0)
METRICS = {
    "success_rate": (0.02, 0.0),
    "attempts_mean": (0.05, 0.0),
    "latency_p50_s": (0.0, 0.10),
    "latency_p95_s": (0.0, 0.10),
}  # metric -> (absolute margin, relative margin)
# requests and time scale per scenario: enough requests to reach each scenario's trouble
# (the outage starts at 120 s), as fast as two idle cores keep the mock on time (a busy
# machine gets slower reruns, see keeping_up).
RUNS = {
    "calm-day": (200, 20),
    "busy-team-rate-limit": (200, 20),
    "overload-storm": (240, 20),
    "long-tail-latency": (200, 30),
    "provider-outage": (320, 25),
}
SEEDS = range(20)


def _disagreements(live: pd.Series, simulated: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """metric -> (live, simulated mean, tolerance) for every metric outside its tolerance."""
    out = {}
    for metric, (absolute, relative) in METRICS.items():
        mean, sd = simulated[metric].mean(), simulated[metric].std(ddof=1)
        tolerance = absolute + relative * abs(mean) + 5 * sd
        if not abs(live[metric] - mean) <= tolerance:
            out[metric] = (round(live[metric], 3), round(mean, 3), round(tolerance, 3))
    return out


def _simulated(policy, scenario: Scenario, requests: int) -> pd.DataFrame:
    return pd.concat([summarize(simulate(MODEL, policy, scenario, requests=requests, seed=s)) for s in SEEDS])


@pytest.fixture(scope="module")
def live_runs() -> dict[str, pd.Series]:
    """One live run per bundled scenario under seed-on-error (shared by the tests below)."""
    policy = preset("seed-on-error")
    out = {}
    for name in bundled():
        requests, scale = RUNS[name]

        def run(time_scale: float, name: str = name, requests: int = requests) -> pd.DataFrame:
            return run_live(MODEL, policy, name, requests=requests, concurrency=256, time_scale=time_scale, seed=1)

        out[name] = summarize(keeping_up(run, scale)).iloc[0]
    return out


def test_every_bundled_scenario_has_a_run_setting():
    assert sorted(RUNS) == sorted(bundled())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_live_agrees_with_the_simulator(live_runs, name):
    requests, _ = RUNS[name]
    simulated = _simulated(preset("seed-on-error"), Scenario.load(name), requests)
    assert _disagreements(live_runs[name], simulated) == {}


def test_the_check_tells_different_policies_apart(live_runs):
    # In the overload storm, on_rate_limit retries 529s in place instead of failing over, so
    # fewer requests succeed than in the live run of seed-on-error.
    requests, _ = RUNS["overload-storm"]
    simulated = _simulated(preset("seed-on-rate-limit"), Scenario.load("overload-storm"), requests)
    assert "success_rate" in _disagreements(live_runs["overload-storm"], simulated)
