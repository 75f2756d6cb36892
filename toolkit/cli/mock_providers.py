"""``combined-models mock-providers``: serve fault-injecting mock providers on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import time

from toolkit.cli._common import PORT, SEED, TIME_SCALE, check_log_file, csv_list, number, scenario_help

HELP = "serve mock OpenAI-compatible and Anthropic providers on 127.0.0.1 that follow a scenario"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", required=True, metavar="FILE", help=scenario_help("the scenario the mock providers play")
    )
    parser.add_argument(
        "--time-scale",
        type=TIME_SCALE,
        default=1.0,
        metavar="X",
        help="run the scenario X times faster than real time (headers keep scenario seconds)",
    )
    parser.add_argument(
        "--providers",
        type=csv_list,
        default=["provider-a", "provider-b", "provider-c"],
        metavar="A,B",
        help="provider ids in try order (rank:0 first); one port each",
    )
    parser.add_argument(
        "--models", type=csv_list, default=["model"], metavar="M,N", help="model ids listed by /v1/models"
    )
    parser.add_argument(
        "--anthropic",
        type=csv_list,
        default=[],
        metavar="A,B",
        help="providers to present to OpenCode as @ai-sdk/anthropic (the rest as openai-compatible)",
    )
    parser.add_argument("--port", type=PORT, default=0, help="first port (the next providers take the next ports)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the fault draws")
    parser.add_argument("--log", metavar="FILE", help="append every request to this JSON-lines file")
    parser.add_argument(
        "--duration", type=number(0, 86400), metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )


def run(args: argparse.Namespace) -> int:
    from toolkit.errors import UserError
    from toolkit.mock_providers import MockProviders
    from toolkit.scenario import Scenario

    if args.time_scale <= 0:
        raise UserError("--time-scale must be a positive number")
    check_log_file(args.log, "--log")
    last = args.port + len(args.providers) - 1
    if args.port and last > 65535:  # each provider takes the next port
        raise UserError(
            f"--port {args.port} with {len(args.providers)} providers needs ports up to {last}; "
            f"use --port {65536 - len(args.providers)} or lower (or 0: any free ports)"
        )
    unknown = sorted(set(args.anthropic) - set(args.providers))
    if unknown:
        raise UserError(f"--anthropic names {unknown[0]!r}, which is not in --providers")
    scenario = Scenario.load(args.scenario)
    scenario.check_members(args.providers)  # the mock providers are the only providers here
    mock = MockProviders.from_scenario(
        scenario,
        args.providers,
        seed=args.seed,
        time_scale=args.time_scale,
        log_path=args.log,
        models=args.models,
        port=args.port,
    )
    try:
        mock.start()
    except OSError as exc:
        if exc.filename is not None:  # the --log file, opened as the servers start
            raise UserError(f"--log {exc.filename}: {exc.strerror}; choose another file") from None
        raise UserError(f"cannot listen on 127.0.0.1: {exc.strerror}; choose another --port") from None
    try:
        for provider, url in mock.endpoints.items():
            print(f"{provider}\t{url}")
        npm = {p: "@ai-sdk/anthropic" for p in args.anthropic}
        section = mock.opencode_providers(lambda p: npm.get(p, "@ai-sdk/openai-compatible"))
        print(json.dumps({"provider": section}, indent=2), flush=True)
        end = time.monotonic() + args.duration if args.duration is not None else float("inf")
        while time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
    finally:
        mock.stop()
    return 0
