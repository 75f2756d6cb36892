"""The world module: one answer function for the simulator and the mock providers, and the
simulator's logs pinned to what they were before the world moved there."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
import pytest

from toolkit import PRESETS, CombinedModel, Scenario, bundled_scenarios, simulate
from toolkit.mock_providers import Incoming, ScenarioDecider
from toolkit.vocabulary import OUTCOMES, is_billed
from toolkit.world import (
    answerer,
    poisson_arrivals,
    provider_generator,
    request_sizes,
    sampler,
)


def _world(providers: dict, incidents: list | None = None, name: str = "w") -> Scenario:
    data = {"name": name, "arrivals": {"kind": "poisson", "rate_per_s": 1.0}, "providers": providers}
    if incidents:
        data["incidents"] = incidents
    return Scenario.from_dict(data)


def _answer(providers: dict, limit: float | None = None, incidents: list | None = None, seed: int = 0):
    (world,) = _world(providers, incidents).resolve(["a"])
    return answerer(world, limit, np.random.default_rng(seed))


# -- the simulator's logs are those of the code before the world module ----------------------------

# sha256 (first 16 hex digits) of ``log.drop(columns="cost_usd").to_csv(index=False)``, computed
# by running _golden_log with main's code at c616269 (the simulator with the world inlined).
# cost_usd is checked separately below: hedges cancelled before their first token used to be
# billed their prompt, which the shared billing rule (toolkit.vocabulary.is_billed) no longer does.
GOLDEN = {
    ("busy-team-rate-limit", "seed-on-error"): "4a10819f29148e5f",
    ("busy-team-rate-limit", "resilient"): "0903e7fb8ec8ef23",
    ("busy-team-rate-limit", "hedged"): "e430e0572dd3661c",
    ("calm-day", "seed-on-error"): "5b0bbfced8741e37",
    ("calm-day", "resilient"): "93bed12ed0487112",
    ("calm-day", "hedged"): "062052fc12f81574",
    ("long-tail-latency", "seed-on-error"): "74cd35f3ca26ac59",
    ("long-tail-latency", "resilient"): "4ba8d0a25e110bbe",
    ("long-tail-latency", "hedged"): "11147e5e3b9568bd",
    ("overload-storm", "seed-on-error"): "6609449ffe59890c",
    ("overload-storm", "resilient"): "fa17d27888f250d3",
    ("overload-storm", "hedged"): "2b5027d36469edc7",
    ("provider-outage", "seed-on-error"): "e9ecee9cca74cdd7",
    ("provider-outage", "resilient"): "f1c57ab54d9b96b2",
    ("provider-outage", "hedged"): "bd478c019ebeda1b",
}
_MODEL = CombinedModel.of(["a", "b", "c"], cost_input=3.0, cost_output=15.0, context_limit=200_000)
# the second member's small window makes context_length answers happen (8000-token prompts)
_MODEL = dataclasses.replace(
    _MODEL, members=(_MODEL.members[0], dataclasses.replace(_MODEL.members[1], context_limit=9000), _MODEL.members[2])
)
_POLICIES = {
    "seed-on-error": PRESETS["seed-on-error"],
    "resilient": PRESETS["resilient"],
    "hedged": dataclasses.replace(PRESETS["resilient"], hedge_after_s=1.0),
}


def _golden_log(scenario: str, policy: str):
    return simulate(_MODEL, _POLICIES[policy], Scenario.load(scenario), 2000, seed=7, progress=False)


def test_golden_cases_cover_every_bundled_scenario():
    assert {s for s, _ in GOLDEN} == set(bundled_scenarios())


@pytest.mark.parametrize(("scenario", "policy"), sorted(GOLDEN))
def test_simulator_log_is_unchanged_for_a_fixed_seed(scenario, policy):
    log = _golden_log(scenario, policy)
    digest = hashlib.sha256(log.drop(columns="cost_usd").to_csv(index=False).encode()).hexdigest()[:16]
    assert digest == GOLDEN[scenario, policy]
    # every cost follows the one billing rule: the prompt and the output of billed attempts
    members = {m.provider: m for m in _MODEL.members}
    expected = [
        members[row.provider].cost_usd(row.input_tokens, row.output_tokens)
        if is_billed(row.outcome, row.ttft_s == row.ttft_s)
        else 0.0
        for row in log.itertuples()
    ]
    assert log["cost_usd"].tolist() == pytest.approx(expected, rel=1e-12, abs=0)
    assert set(log["outcome"]) >= ({"ok", "context_length", "cancelled"} if policy == "hedged" else {"ok"})


# -- one answer, in the documented order --------------------------------------------------------


def test_context_check_comes_before_the_bucket_and_takes_nothing_from_it():
    answer = _answer({"default": {"rate_limit": {"requests_per_minute": 1}, "error_latency_s": 0.25}}, limit=1000)
    assert answer(0.0, 990, 20, 60.0)[:2] == (OUTCOMES.index("context_length"), 0.25)
    assert answer(0.0, 10, 20, 60.0)[0] == OUTCOMES.index("ok")  # the bucket still held its one request
    code, duration, ttft, tps, retry_after, from_bucket = answer(1.5, 10, 20, 60.0)
    assert (OUTCOMES[code], duration, retry_after, from_bucket) == ("rate_limit", 0.25, 58.5, True)
    assert math.isnan(ttft) and math.isnan(tps)


def test_injected_classes_follow_the_cumulative_table():
    answer = _answer({"default": {"errors": {"overload": 0.2, "rate_limit": 0.1}, "retry_after_s": 7}}, seed=3)
    codes = [answer(float(t), 10, 10, 60.0) for t in range(20_000)]
    shares = {name: sum(OUTCOMES[c[0]] == name for c in codes) / len(codes) for name in ("rate_limit", "overload")}
    assert shares == pytest.approx({"rate_limit": 0.1, "overload": 0.2}, abs=0.01)
    assert {c[4] for c in codes if OUTCOMES[c[0]] != "ok"} == {7.0}  # Retry-After on both classes
    assert all(math.isnan(c[4]) for c in codes if OUTCOMES[c[0]] == "ok")


def test_success_and_patience():
    answer = _answer({"default": {"ttft_s": 2.0, "tokens_per_s": 50}})
    code, duration, ttft, tps, retry_after, from_bucket = answer(0.0, 10, 100, 60.0)
    assert (OUTCOMES[code], duration, ttft, tps, from_bucket) == ("ok", 4.0, 2.0, 50.0, False)
    assert math.isnan(retry_after)
    code, duration, ttft, *_ = answer(0.0, 10, 100, 1.5)  # the first token comes after the caller gave up
    assert (OUTCOMES[code], duration, math.isnan(ttft)) == ("timeout", 1.5, True)
    hang = _answer({"default": {"errors": {"timeout": 1.0}}})
    assert hang(0.0, 10, 10, math.inf)[:2] == (OUTCOMES.index("timeout"), math.inf)


def test_incident_replaces_the_profile_in_its_window():
    answer = _answer({}, incidents=[{"provider": "all", "kind": "outage", "start_s": 10, "end_s": 20}])
    assert [OUTCOMES[answer(t, 10, 10, 60.0)[0]] for t in (9.9, 10.0, 19.9, 20.0)] == [
        "ok",
        "connection",
        "connection",
        "ok",
    ]


def test_same_generator_same_answers():
    first = _answer({"default": {"errors": {"server_error": 0.3}}}, seed=5)
    second = _answer({"default": {"errors": {"server_error": 0.3}}}, seed=5)
    assert [first(float(t), 10, 10, 60.0) for t in range(50)] == [second(float(t), 10, 10, 60.0) for t in range(50)]


def test_the_mock_decider_is_the_world_answer_on_its_own_stream():
    scenario = _world({"default": {"errors": {"server_error": 0.3, "connection": 0.1}, "ttft_s": 0.5}})
    decide = ScenarioDecider(scenario, ["a", "b"], seed=4)
    (world_a, _) = scenario.resolve(["a", "b"])
    answer = answerer(world_a, None, provider_generator(4, "a"))
    replies = [decide(Incoming("a", "openai", "m", True, 10, 20, float(t))) for t in range(200)]
    kinds = {"ok": "ok", "server_error": "server_error", "connection": "reset"}
    assert [r.kind for r in replies] == [kinds[OUTCOMES[answer(float(t), 10, 20, math.inf)[0]]] for t in range(200)]


# -- sizes, arrivals, samplers ----------------------------------------------------------------------


def test_request_sizes_are_rounded_at_least_one_and_seeded():
    scenario = _world({})
    inputs, outputs = request_sizes(scenario, 5000, np.random.default_rng(1))
    assert (len(inputs), len(outputs)) == (5000, 5000) and min(inputs) >= 1 and min(outputs) >= 1
    assert all(isinstance(n, int) for n in inputs[:10])
    assert np.median(inputs) == pytest.approx(8000, rel=0.05)  # the built-in lognormal's median
    assert request_sizes(scenario, 5000, np.random.default_rng(1)) == (inputs, outputs)


def test_poisson_arrivals_have_the_rate():
    times = poisson_arrivals(4.0, 20_000, np.random.default_rng(2))
    assert times == sorted(times) and times[-1] / len(times) == pytest.approx(0.25, rel=0.03)


def test_sampler_reads_the_vectorised_draws_in_order():
    from toolkit.scenario import Dist

    dist = Dist("lognormal", 2.0, 0.5)
    draws = sampler(dist, np.random.default_rng(9))
    assert [next(draws) for _ in range(5)] == dist.sample(np.random.default_rng(9), 1 << 15)[:5].tolist()
    assert next(sampler(Dist("constant", 3.0), np.random.default_rng(0))) == 3.0


def test_a_live_run_sends_the_simulators_requests_for_the_same_seed():
    from toolkit.live import _sizes

    scenario = Scenario.load("calm-day")
    log = simulate(_MODEL, PRESETS["seed-on-error"], scenario, 300, seed=5, progress=False)
    first = log[log["attempt"] == 1].set_index("request_id").sort_index()
    gen = np.random.default_rng(5)  # what run_live draws from, in this order: sizes, then arrivals
    sizes = _sizes(scenario, 300, gen, None, None)
    arrivals = poisson_arrivals(scenario.arrivals["rate_per_s"], 300, gen)
    assert first["input_tokens"].tolist() == [size for size, _ in sizes]
    assert first["t_start_s"].tolist() == arrivals  # calm-day: every first attempt starts on arrival
    assert _sizes(scenario, 300, np.random.default_rng(5), 7, None) == [(7, out) for _, out in sizes]  # a fixed size


def test_tables_keyed_by_outcome_cover_the_vocabulary():
    from toolkit.history_sample import MESSAGES
    from toolkit.plotting import OUTCOME_COLORS

    assert tuple(OUTCOME_COLORS) == OUTCOMES  # one colour per class, in the log's order
    assert set(MESSAGES) == set(OUTCOMES) - {"ok"}  # a failed row of any class can be written as history
