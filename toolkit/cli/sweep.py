"""``combined-models sweep``: simulate a grid of failover configurations and save the metrics."""

from __future__ import annotations

import argparse

from toolkit.cli._common import (
    CONCURRENCY,
    COUNT,
    add_model,
    attempts_list,
    csv_list,
    executor,
    load_model,
    preset_help,
    scenario_help,
)

HELP = "simulate a grid of presets, strategies, priority orders and attempt budgets; write tidy metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model(parser)
    parser.add_argument(
        "--scenario",
        nargs="+",
        required=True,
        metavar="FILE",
        help=scenario_help("scenarios (see docs/failover.md)"),
    )
    parser.add_argument("--presets", type=csv_list, metavar="A,B", help=preset_help("failover presets, default all"))
    parser.add_argument("--strategies", type=csv_list, metavar="A,B", help="override each preset's strategy")
    parser.add_argument(
        "--max-attempts",
        type=attempts_list,
        metavar="1,2,3",
        help="override each preset's attempts per provider",
    )
    parser.add_argument("--seeds", type=COUNT, default=3, help="independent runs per configuration (default 3)")
    parser.add_argument("--requests", type=COUNT, default=2000, help="simulated requests per run (default 2000)")
    parser.add_argument(
        "--executor",
        type=executor,
        default="processes",
        help="processes (default, one per core), serial, or dask://HOST:PORT (needs the dask extra)",
    )
    parser.add_argument("--workers", type=CONCURRENCY, help="worker processes for --executor processes")
    parser.add_argument("--out", required=True, metavar="FILE", help="results CSV; an existing one is resumed")


def run(args: argparse.Namespace) -> int:
    from toolkit.scenario import Scenario
    from toolkit.sweeps import check_sweep, pareto, sweep

    scenarios = [Scenario.load(s) for s in args.scenario]  # before the catalog: the cheaper mistake first
    options = {
        "presets": args.presets,
        "strategies": args.strategies,
        "max_attempts": args.max_attempts,
        "seeds": args.seeds,
        "requests": args.requests,
        "executor": args.executor,
        "workers": args.workers,
        "out": args.out,
    }
    model = load_model(args, scenarios, check=lambda m: check_sweep(m, scenarios, **options))
    results = sweep(model, scenarios, **options)
    front = pareto(results)
    print(
        f"{len(results)} runs of {len(front)} configurations written to {args.out}; "
        f"{int(front['pareto'].sum())} on the Pareto front"
    )
    return 0
