"""``combined-models simulate``: run one failover policy on one combined model in a scenario."""

from __future__ import annotations

import argparse

from toolkit.cli._common import add_model, load_model

HELP = "simulate failover of a combined model in a scenario (virtual time); print metrics, write the attempt log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", required=True, metavar="FILE", help="scenario file or bundled scenario name (docs/failover.md)"
    )
    add_model(parser)
    parser.add_argument("--preset", default="seed-on-error", metavar="NAME",
                        help="failover preset (default seed-on-error); the flags below override its fields")  # fmt: skip
    parser.add_argument("--strategy", choices=["on_error", "on_rate_limit", "on_overload"],
                        help="classes that move a request to the next provider")  # fmt: skip
    parser.add_argument("--max-attempts", type=int, metavar="N", help="attempts per provider, the first included")
    parser.add_argument("--requests", type=int, default=1000, metavar="N", help="simulated requests (default 1000)")
    parser.add_argument("--seed", type=int, default=0, metavar="K", help="random seed (default 0)")
    parser.add_argument("--log", metavar="FILE", help="write the attempt log here (.csv, .json or .parquet)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from toolkit.catalog import write_table
    from toolkit.errors import UserError
    from toolkit.metrics import summarize
    from toolkit.policy import preset
    from toolkit.scenario import Scenario
    from toolkit.simulator import simulate

    if args.requests < 1:
        raise UserError(f"--requests must be at least 1, got {args.requests}")
    scenario = Scenario.load(args.scenario)  # before the catalog: the cheaper mistake first
    overrides = {
        name: value
        for name, value in (
            ("strategy", args.strategy),
            ("max_attempts", args.max_attempts),
            ("provider_priority", tuple(args.priority) or None),
        )
        if value is not None
    }
    policy = preset(args.preset, **overrides)
    model = load_model(args)
    log = simulate(model, policy, scenario, requests=args.requests, seed=args.seed, progress=not args.json)
    metrics = summarize(log)
    if args.log:
        write_table(log, args.log)
    if args.json:
        print(json.dumps(json.loads(metrics.to_json(orient="records"))[0], indent=1))
    else:
        print(f"{model.combined_id} via {', '.join(m.provider for m in policy.members(model))}; "
              f"policy {policy.name}; scenario {scenario.name}; {args.requests} requests, seed {args.seed}")  # fmt: skip
        print(metrics.drop(columns="run_id").T.to_string(header=False, float_format=lambda v: f"{v:.4g}"))
    if args.log:
        print(f"wrote {len(log)} attempts to {args.log}")
    return 0
