"""``combined-models simulate``: run one failover policy on one combined model in a scenario."""

from __future__ import annotations

import argparse

from toolkit.cli._common import (
    COUNT,
    SEED,
    add_model,
    add_policy,
    load_model,
    load_policy,
    print_metrics,
    scenario_help,
)

HELP = "simulate failover of a combined model in a scenario (virtual time); print metrics, write the attempt log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", required=True, metavar="FILE", help=scenario_help("the world to simulate (docs/failover.md)")
    )
    add_model(parser)
    add_policy(parser)
    parser.add_argument("--requests", type=COUNT, default=1000, metavar="N", help="simulated requests (default 1000)")
    parser.add_argument("--seed", type=SEED, default=0, metavar="K", help="random seed (default 0)")
    parser.add_argument("--log", metavar="FILE", help="write the attempt log here (.csv, .json or .parquet)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from toolkit import run_size
    from toolkit.catalog import check_table_path, write_table
    from toolkit.errors import UserError
    from toolkit.metrics import summarize
    from toolkit.scenario import Scenario
    from toolkit.simulator import simulate

    if args.requests < 1:
        raise UserError(f"--requests must be at least 1, got {args.requests}")
    run_size.check(1, args.requests)
    if args.log:
        check_table_path(args.log)
    scenario = Scenario.load(args.scenario)  # before the catalog: the cheaper mistake first
    policy = load_policy(args)
    model = load_model(args, [scenario])
    log = simulate(model, policy, scenario, requests=args.requests, seed=args.seed, progress=not args.json)
    metrics = summarize(log)
    if args.log:
        write_table(log, args.log)
    providers = ", ".join(m.provider for m in policy.members(model))
    print_metrics(
        metrics,
        f"{model.combined_id} via {providers}; policy {policy.name}; scenario {scenario.name}; "
        f"{args.requests} requests, seed {args.seed}",
        args.json,
    )
    if args.log:
        print(f"wrote {len(log)} attempts to {args.log}")
    return 0
