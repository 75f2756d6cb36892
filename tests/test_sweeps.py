"""Sweeps, Pareto marking and recommendations."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.metrics import summarize
from toolkit.scenario import Scenario
from toolkit.simulator import simulate
from toolkit.sweeps import SweepPoint, _SerialExecutor, grid, pareto, priority_orders, recommend, sweep, t_quantile

MODEL = CombinedModel.of(["alpha", "beta", "gamma"], cost_input=3.0, cost_output=15.0, context_limit=200000)


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return [Scenario.load("busy-team-rate-limit"), Scenario.load("provider-outage")]


# --- grid ------------------------------------------------------------------------------------


def test_all_orders_up_to_five_providers_then_sampled():
    assert len(priority_orders(["a", "b", "c"])) == 6
    assert len(priority_orders(list("abcde"))) == 120
    sampled = priority_orders(list("abcdefg"), limit=10)
    assert len(sampled) == len(set(sampled)) == 10
    assert sampled[0] == tuple("abcdefg")  # the given order is always in the grid
    assert all(sorted(order) == list("abcdefg") for order in sampled)


def test_grid_size_and_overrides(scenarios):
    points = grid(
        MODEL,
        scenarios,
        presets=["seed-on-error", "litellm-like"],
        strategies=["on_error", "on_rate_limit"],
        max_attempts=[1, 3],
        seeds=2,
    )
    assert len(points) == 2 * 2 * 2 * 6 * 2 * 2
    assert len({p.key for p in points}) == len(points)
    policy = SweepPoint("litellm-like", "on_rate_limit", ("gamma", "alpha", "beta"), 1, "x", 0).policy()
    assert (policy.strategy, policy.max_attempts, tuple(policy.provider_priority)) == (
        "on_rate_limit",
        1,
        ("gamma", "alpha", "beta"),
    )


def test_grid_rejects_bad_input(scenarios):
    with pytest.raises(UserError, match="unknown preset 'resilent'.*resilient"):
        grid(MODEL, scenarios, presets=["resilent"])
    with pytest.raises(UserError, match="does not offer"):
        grid(MODEL, scenarios, priorities=[("alpha", "delta")])
    with pytest.raises(UserError, match="seeds must be at least 1"):
        grid(MODEL, scenarios, seeds=0)


# --- running ---------------------------------------------------------------------------------


def _by_hand(point: SweepPoint, scenarios: list[Scenario], requests: int) -> pd.Series:
    scenario = {s.name: s for s in scenarios}[point.scenario]
    log = simulate(MODEL, point.policy(), scenario, requests=requests, seed=point.seed)
    return summarize(log).iloc[0]


def test_sweep_matches_running_each_configuration_by_hand(scenarios):
    results = sweep(
        MODEL,
        scenarios,
        presets=["seed-on-error", "resilient"],
        max_attempts=[1, 2],
        priorities=[("alpha", "beta", "gamma"), ("beta", "alpha", "gamma")],
        seeds=2,
        requests=300,
        executor="serial",
        progress=False,
    )
    assert len(results) == 2 * 2 * 2 * 2 * 2
    for row in results.sample(6, random_state=1).itertuples():
        point = SweepPoint(
            row.preset, row.strategy, tuple(row.priority.split(">")), row.max_attempts, row.scenario, row.seed
        )
        expected = _by_hand(point, scenarios, 300)
        for metric in ("success_rate", "latency_p95_s", "attempts_mean", "cost_per_success_usd"):
            assert getattr(row, metric) == pytest.approx(expected[metric], nan_ok=True), metric


def test_process_pool_matches_serial(scenarios):
    kwargs = dict(presets=["seed-on-rate-limit"], max_attempts=[2], seeds=2, requests=200, progress=False)
    serial = sweep(MODEL, scenarios, executor="serial", **kwargs)
    pooled = sweep(MODEL, scenarios, executor="processes", workers=2, **kwargs)
    pd.testing.assert_frame_equal(serial, pooled)


def test_resume_after_interruption_gives_the_same_table(tmp_path, scenarios):
    kwargs = dict(presets=["seed-on-error"], max_attempts=[1, 2], seeds=2, requests=200, progress=False)
    full = sweep(MODEL, scenarios, executor="serial", **kwargs)
    out = tmp_path / "sweep.csv"
    sweep(MODEL, scenarios, executor="serial", out=out, **kwargs)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # as if killed half-way
    kept = len(lines) // 2 - 1

    ran = []

    class Counting(_SerialExecutor):
        """Runs in this process and remembers which points it was asked to run."""

        def submit(self, fn, model, scen, points, requests):
            ran.extend(points)
            return super().submit(fn, model, scen, points, requests)

    resumed = sweep(MODEL, scenarios, executor=Counting(), out=out, **kwargs)
    assert len(ran) == len(full) - kept
    pd.testing.assert_frame_equal(resumed.reset_index(drop=True), full, check_dtype=False)


def test_dask_local_cluster_matches_local(scenarios):
    distributed = pytest.importorskip("distributed")
    kwargs = dict(presets=["resilient"], max_attempts=[2], seeds=1, requests=200, progress=False)
    local = sweep(MODEL, scenarios, executor="serial", **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = sweep(MODEL, scenarios, executor=client, **kwargs)
        address = cluster.scheduler_address.removeprefix("tcp://")
        by_address = sweep(MODEL, scenarios, executor=f"dask://{address}", **kwargs)
    pd.testing.assert_frame_equal(local, remote)
    pd.testing.assert_frame_equal(local, by_address)


# --- choosing --------------------------------------------------------------------------------


def _results(rows: list[tuple]) -> pd.DataFrame:
    """Hand-made sweep results: (preset, priority, seed, success, p95, cost)."""
    return pd.DataFrame(
        [
            {
                "combined_id": "m",
                "preset": p,
                "strategy": "on_error",
                "priority": prio,
                "max_attempts": 2,
                "scenario": "s",
                "seed": seed,
                "success_rate": ok,
                "latency_p95_s": p95,
                "cost_per_success_usd": cost,
            }
            for p, prio, seed, ok, p95, cost in rows
        ]
    )


def test_pareto_marks_the_non_dominated():
    table = pd.DataFrame(
        {
            "success_rate": [0.99, 0.98, 0.99, 0.97, 1.00],
            "latency_p95_s": [2.0, 1.0, 3.0, 1.0, 5.0],
            "cost_per_success_usd": [0.01, 0.01, 0.01, 0.02, 0.01],
        }
    )
    # 0: front; 1: front (fastest); 2: dominated by 0; 3: dominated by 1; 4: front (most successful)
    assert pareto(table)["pareto"].tolist() == [True, True, False, False, True]


def test_pareto_averages_seeds_first():
    results = _results(
        [
            ("a", "x>y", 0, 1.0, 1.0, 0.1),
            ("a", "x>y", 1, 0.9, 3.0, 0.1),
            ("b", "y>x", 0, 0.97, 2.0, 0.1),
            ("b", "y>x", 1, 0.97, 2.0, 0.1),
        ]
    )
    front = pareto(results)
    assert front["seeds"].tolist() == [2, 2]
    assert front["latency_p95_s"].tolist() == [2.0, 2.0]
    assert front["pareto"].tolist() == [False, True]  # same p95 and cost, b more successful on average


def test_t_quantile():
    assert t_quantile(1) == 12.706
    assert t_quantile(2) == 4.303
    assert t_quantile(1000) == 1.96


def test_recommend_picks_the_clear_winner_and_returns_a_choice():
    results = _results(
        [("fast", "x>y", s, 1.0, 1.0 + 0.01 * s, 0.1) for s in range(3)]
        + [("slow", "y>x", s, 1.0, 2.0 + 0.01 * s, 0.1) for s in range(3)]
        + [("failing", "x>y", s, 0.90, 0.5, 0.1) for s in range(3)]
    )
    rec = recommend(results, min_success=0.99)
    assert not rec.tie
    assert rec.choice == Choice(
        provider_priority=("x", "y"),
        strategy="on_error",
        max_attempts=2,
        min_providers=2,
        combined_id="m",
        preset="fast",
    )
    assert rec.leaders["preset"].tolist() == ["fast"]
    assert rec.ranked["preset"].tolist() == ["fast", "slow"]  # "failing" misses the constraint


def test_recommend_reports_a_tie_when_intervals_overlap_and_decides_by_the_stated_chain():
    results = _results(
        [("a", "x>y", s, 1.0, p95, 0.1) for s, p95 in enumerate([1.0, 2.0, 3.0])]
        + [("b", "y>x", s, 1.0, p95, 0.1) for s, p95 in enumerate([1.1, 2.1, 3.1])]
    )
    rec = recommend(results, min_success=0.99)
    assert rec.tie
    # same providers, attempts and cost: the first-party rule decides (x>y is the model's own order)
    assert rec.leaders["preset"].tolist() == ["a", "b"]
    assert rec.choice.provider_priority == ("x", "y")
    assert rec.reason.startswith(
        "Run a (on_error, 2 attempts per provider, x > y): 100.00% success, p95 latency 2.00 s"
    )
    assert "1 other configuration(s) are as good within the 95 % intervals" in rec.reason
    assert "this one wins because it tries the first-party provider first" in rec.reason
    assert (
        "Runners-up: b (on_error, 2 attempts per provider, y > x): success +0.00%, p95 +0.10 s, cost +0%." in rec.reason
    )
    assert recommend(results, min_success=0.99, preferred=["y", "x"]).choice.preset == "b"


def test_tie_break_chain_fewer_providers_then_attempts_then_cost():
    rows = [  # all tie on p95 (wide intervals); the chain orders them
        ("three", "x>y>z", 2, 0.05),
        ("cheap", "x>y", 3, 0.01),
        ("fewer-attempts", "x>y", 1, 0.09),
        ("dear", "x>y", 3, 0.02),
    ]
    results = pd.concat(
        [
            _results([(name, prio, s, 1.0, p95, cost) for s, p95 in enumerate([1.0, 5.0])]).assign(
                max_attempts=attempts
            )
            for name, prio, attempts, cost in rows
        ]
    )
    rec = recommend(results, min_success=0.99, objectives=["latency_p95_s"])
    assert rec.leaders["preset"].tolist() == ["fewer-attempts", "cheap", "dear", "three"]
    assert "wins because it has a smaller attempt budget" in rec.reason
    assert rec.reason.count("; ") >= 1 and "cheap (on_error, 3 attempts per provider, x > y)" in rec.reason


def test_recommend_breaks_a_latency_tie_on_cost():
    results = _results(
        [("a", "x>y", s, 1.0, p95, 0.20 + 0.001 * s) for s, p95 in enumerate([1.0, 2.0, 3.0])]
        + [("b", "y>x", s, 1.0, p95, 0.10 + 0.001 * s) for s, p95 in enumerate([1.1, 2.1, 3.1])]
    )
    rec = recommend(results, min_success=0.99)
    assert not rec.tie
    assert rec.choice.preset == "b"


def test_recommend_with_nothing_feasible():
    rec = recommend(_results([("a", "x>y", 0, 0.9, 1.0, 0.1)]), min_success=0.99)
    assert rec.choice is None
    assert "no configuration reaches 99.00% success (best: 90.00%)" in rec.reason


def test_recommend_rejects_bad_arguments():
    results = _results([("a", "x>y", 0, 0.9, 1.0, 0.1)])
    with pytest.raises(UserError, match="between 0 and 1"):
        recommend(results, min_success=99.5)
    with pytest.raises(UserError, match="unknown objective 'speed'"):
        recommend(results, objectives=["speed"])


def test_recommendation_is_exportable(tmp_path):
    import json

    from toolkit.export import export_opencode_config

    results = _results([("fast", "y>x", s, 1.0, 1.0, 0.1) for s in range(2)])
    choice = recommend(results, min_success=0.99).choice
    saved = choice.save(tmp_path / "choice.json")
    assert Choice.load(saved) == choice
    config = tmp_path / "opencode.json"
    export_opencode_config(config, Choice.load(saved), layout="plugin", plugin="opencode-combined-models")
    written = json.loads(config.read_text())
    assert written["plugin"] == [
        [
            "opencode-combined-models",
            {"provider_priority": ["y", "x"], "min_providers": 2, "strategy": "on_error", "max_attempts": 2},
        ]
    ]


# --- command line ----------------------------------------------------------------------------


def test_sweep_and_recommend_commands(cli, tmp_path):
    out = tmp_path / "sweep.csv"
    result = cli(
        "sweep",
        "--combined",
        "claude-sonnet-4",
        "--source",
        "bundled",
        "--providers",
        "anthropic,openrouter,github-copilot",
        "--scenario",
        "busy-team-rate-limit",
        "--presets",
        "seed-on-error,resilient",
        "--max-attempts",
        "1,2",
        "--seeds",
        "2",
        "--requests",
        "200",
        "--executor",
        "serial",
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    results = pd.read_csv(out)
    assert len(results) == 2 * 2 * 6 * 2
    assert set(results["combined_id"]) == {"claude-sonnet-4"}
    assert f"{len(results)} runs of 24 configurations written to {out}" in result.out

    choice_file = tmp_path / "choice.json"
    result = cli("recommend", "--results", str(out), "--min-success", "0.5", "--save", str(choice_file))
    assert result.code == 0, result.err
    choice = Choice.load(choice_file)
    assert choice.combined_id == "claude-sonnet-4"
    assert sorted(choice.provider_priority) == ["anthropic", "github-copilot", "openrouter"]
    assert choice.preset in ("seed-on-error", "resilient")
    assert "exported to gateway: the whole policy" in result.out.splitlines()
    assert any(line.startswith("exported to litellm: loses ") for line in result.out.splitlines())


def test_recommend_exit_code_when_nothing_qualifies(cli, tmp_path):
    out = tmp_path / "r.csv"
    _results([("a", "x>y", 0, 0.5, 1.0, 0.1)]).to_csv(out, index=False)
    result = cli("recommend", "--results", str(out))
    assert result.code == 1
    assert result.out.startswith("no configuration reaches 99.50% success")


def test_sweep_command_user_errors(cli, tmp_path):
    base = [
        "sweep",
        "--combined",
        "claude-sonnet-4",
        "--source",
        "bundled",
        "--scenario",
        "calm-day",
        "--out",
        str(tmp_path / "x.csv"),
        "--executor",
        "serial",
    ]
    result = cli(*base, "--presets", "nope")
    assert (result.code, result.err.splitlines()[-1][:24]) == (2, "error: unknown preset 'n")
    result = cli(*base, "--executor", "threads")
    assert (
        result.code == 2 and "--executor: expected processes, serial or dask://HOST:PORT, not 'threads'" in result.err
    )
    result = cli("recommend", "--results", str(tmp_path / "missing.csv"))
    assert result.code == 2 and result.err.endswith("missing.csv does not exist\n")
    assert not (tmp_path / "x.csv").exists()


def test_priority_orders_differ_because_the_world_stays_put(scenarios):
    """rank:0 is the model's first member whatever order is tried, so moving the
    rate-limited provider back in the order is visible in the results."""
    results = sweep(
        MODEL, scenarios[:1], presets=["seed-on-error"], seeds=1, requests=1000, executor="serial", progress=False
    )
    attempts = results.set_index("priority")["attempts_mean"]
    assert attempts["beta>gamma>alpha"] < attempts["alpha>beta>gamma"]
    assert results.set_index("priority").loc["alpha>beta>gamma", "share_alpha"] > 0
    assert results.set_index("priority").loc["beta>gamma>alpha", "share_beta"] > 0.9


def test_tie_between_orders_with_the_same_first_provider_is_decided_by_the_rest_of_the_order():
    results = _results(
        [("a", "x>z>y", s, 1.0, p95, 0.1) for s, p95 in enumerate([1.0, 2.0, 3.0])]
        + [("a", "x>y>z", s, 1.0, p95, 0.1) for s, p95 in enumerate([1.1, 2.1, 3.1])]
    )
    rec = recommend(results, min_success=0.99, preferred=["x", "y", "z"])
    assert rec.choice.provider_priority == ("x", "y", "z")
    assert (
        "wins because its order follows the stated one (first-party vendor, then the clouds) more closely" in rec.reason
    )
