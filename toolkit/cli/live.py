"""``combined-models live``: run failover over real HTTP, against mock providers or your own endpoints."""

from __future__ import annotations

import argparse
import signal
import sys

from toolkit.cli._common import (
    CONCURRENCY,
    SECONDS,
    SECONDS_OR_INF,
    SEED,
    TIME_SCALE,
    TOKENS,
    add_model,
    add_policy,
    check_log_file,
    config_path,
    load_model,
    load_policy,
    number,
    print_metrics,
    scenario_help,
)

HELP = "run failover of a combined model over real HTTP (mock providers by default); print metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model(parser)
    parser.add_argument(
        "--scenario",
        default="calm-day",
        metavar="FILE",
        help=scenario_help("scenario for the mock providers and the request sizes, default calm-day"),
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="send to the providers' real endpoints (catalog api + --config provider options) instead of mocks",
    )
    add_policy(parser)
    parser.add_argument(
        "--requests",
        type=number(1, 1_000_000, whole=True),
        default=20,
        metavar="N",
        help="requests to send (default 20)",
    )
    parser.add_argument(
        "--concurrency", type=CONCURRENCY, default=8, metavar="N", help="requests in flight (default 8)"
    )
    parser.add_argument(
        "--time-scale",
        type=TIME_SCALE,
        default=1.0,
        metavar="X",
        help="mock providers only: run the scenario X times faster than real time",
    )
    parser.add_argument(
        "--input-tokens", type=TOKENS, metavar="N", help="prompt size of each request (default: scenario)"
    )
    parser.add_argument(
        "--output-tokens", type=TOKENS, metavar="N", help="max_tokens of each request (default: scenario)"
    )
    parser.add_argument("--connect-timeout", type=SECONDS, default=10.0, metavar="S", help="seconds (default 10)")
    parser.add_argument(
        "--first-token-timeout",
        type=SECONDS,
        metavar="S",
        help="seconds to the first token (default: the policy's attempt_timeout_s)",
    )
    parser.add_argument(
        "--total-timeout",
        type=SECONDS_OR_INF,
        metavar="S",
        help="seconds per attempt, connect to last byte (default 1800; inf: none)",
    )
    parser.add_argument("--seed", type=SEED, default=0, metavar="K", help="random seed (default 0)")
    parser.add_argument("--log", metavar="FILE", help="append the attempt log here as JSON lines, one per attempt")
    parser.add_argument("--yes", action="store_true", help="do not ask before spending money on real providers")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")


def _confirm(cost: float, requests: int, providers: list[str], assume_yes: bool) -> None:
    """Show the estimated cost; ask unless ``--yes`` (a non-interactive run without it stops)."""
    from toolkit.errors import UserError

    print(f"about {requests} requests to {', '.join(providers)}: estimated cost up to ${cost:.4f}", file=sys.stderr)
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UserError("real providers cost money: add --yes to send without a prompt")
    if input("send them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise UserError("cancelled: nothing was sent")


def run(args: argparse.Namespace) -> int:
    import uuid

    from toolkit.errors import UserError
    from toolkit.live import Timeouts, estimate_cost, read_log, run_live
    from toolkit.opencode_config import read_config
    from toolkit.scenario import Scenario
    from toolkit.upstream import TOTAL_TIMEOUT_S

    if args.requests < 1 or args.concurrency < 1:
        raise UserError("--requests and --concurrency must be at least 1")
    total = TOTAL_TIMEOUT_S if args.total_timeout is None else args.total_timeout
    timeouts = Timeouts(args.connect_timeout, args.first_token_timeout, total)  # checked before anything runs
    check_log_file(args.log, "--log")
    if args.real and args.time_scale != 1.0:
        raise UserError("--time-scale applies to mock providers only; drop it with --real")
    scenario = Scenario.load(args.scenario)
    policy = load_policy(args)
    model = load_model(args, [scenario])
    config = None  # no config: mock providers
    if args.real:
        path = config_path(args)
        config = read_config(path) if path else {}
        members = list(policy.members(model))
        cost = estimate_cost(members, scenario, args.requests, args.input_tokens, args.output_tokens)
        _confirm(cost, args.requests, [m.provider for m in members], args.yes)
    run_id = f"live-{uuid.uuid4().hex[:8]}"
    terminated: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: _terminate(terminated))
    try:
        log = run_live(
            model,
            policy,
            scenario,
            requests=args.requests,
            concurrency=args.concurrency,
            seed=args.seed,
            time_scale=args.time_scale,
            timeouts=timeouts,
            input_tokens=args.input_tokens,
            output_tokens=args.output_tokens,
            log_path=args.log,
            run_id=run_id,
            progress=not args.json,
            config=config,
        )
    except KeyboardInterrupt:
        code = 143 if terminated else 130
        if not args.log:
            print("interrupted: no --log, so no attempt was kept", file=sys.stderr)
            return code
        log = read_log(args.log, run_id)  # every attempt was flushed before the log closed: summarize them
        print(f"interrupted: summary of the {len(log)} attempts in {args.log}", file=sys.stderr)
        _report(args, log, policy, model, scenario, interrupted=True)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _report(args, log, policy, model, scenario)


def _terminate(terminated: list[int]) -> None:
    """SIGTERM ends a run as Ctrl-C does (the event loop's SIGINT handling stops it cleanly)."""
    terminated.append(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)


def _report(args: argparse.Namespace, log, policy, model, scenario, interrupted: bool = False) -> int:
    """Print the run's metrics and outcomes (stderr gets only the run's one line when interrupted)."""
    from toolkit.metrics import summarize

    metrics = summarize(log)
    lag = log.attrs.get("clock_lag")
    if lag is not None and not args.real:  # how far the run fell behind the scenario clock (docs/live.md)
        metrics["clock_lag_p95_s"] = lag["p95_s"]
        metrics["clock_behind"] = lag["behind"]
    where = "real endpoints" if args.real else f"mock providers ({scenario.name}, x{args.time_scale:g})"
    providers = ", ".join(m.provider for m in policy.members(model))
    print_metrics(
        metrics, f"{model.combined_id} via {providers}; policy {policy.name}; {where}; {len(log)} attempts", args.json
    )
    if interrupted:  # stderr already has its one line; a JSON document stays alone on stdout
        if not args.json:
            print("\n".join(outcome_lines(log)))
        return 0
    for line in outcome_lines(log):  # beside a JSON document on stdout, the breakdown goes to stderr
        print(line, file=sys.stderr if args.json else sys.stdout)
    if args.log:
        print(f"appended {len(log)} attempts to {args.log}", file=sys.stderr)
    if len(log) == 0 or not (metrics["success_rate"] > 0).all():
        print("error: no request succeeded; the outcomes and errors above say why", file=sys.stderr)
        return 1
    return 0


TOP_ERRORS = 5
"""Distinct error texts listed after a run, most frequent first."""


def outcome_lines(log) -> list[str]:
    """Attempts by outcome, then the most frequent error texts (already redacted by the live runner)."""
    counts = log["outcome"].astype(str).value_counts()
    lines = ["attempts by outcome: " + (", ".join(f"{name} {n}" for name, n in counts.items()) or "none")]
    errors = log["error"].astype(str)
    top = errors[errors != ""].value_counts().head(TOP_ERRORS)
    if len(top):
        lines.append("most frequent errors:")
        lines += [f"  {n} x {text if len(text) <= 200 else text[:197] + '...'}" for text, n in top.items()]
    return lines
