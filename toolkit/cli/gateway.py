"""``combined-models gateway``: serve your combined models on 127.0.0.1 with failover, for OpenCode."""

from __future__ import annotations

import argparse
import os
from typing import Any

from toolkit.cli._common import PORT, add_config, add_policy, add_source, check_log_file, csv_list, number

HELP = "serve combined models locally (OpenAI and Anthropic APIs) with failover between their providers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_source(parser)
    parser.add_argument("--from", dest="from_file", metavar="FILE", help="a saved choice (JSON): its policy and model")
    add_policy(parser)
    parser.set_defaults(preset=None)  # None: the choice's or the config's policy, else seed-on-error
    parser.add_argument("--priority", type=csv_list, metavar="A,B", help="providers tried first, in order")
    parser.add_argument("--providers", type=csv_list, metavar="A,B", help="only these providers (default: all)")
    parser.add_argument(
        "--combined",
        action="append",
        metavar="ID",
        help="serve this combined model (repeatable; default: the config's, else all)",
    )
    parser.add_argument("--host", help="address to listen on (default: the config's gateway URL, else 127.0.0.1)")
    parser.add_argument("--port", type=PORT, help="port to listen on (default: the config's gateway URL, else 4141)")
    parser.add_argument("--log", metavar="FILE", help="append every attempt to this JSON-lines attempt log")
    parser.add_argument(
        "--token-env", metavar="VAR", help="require the token in this environment variable (Bearer or x-api-key)"
    )
    parser.add_argument(
        "--grace",
        type=number(0, 3600),
        default=30.0,
        metavar="S",
        help="on SIGINT/SIGTERM, seconds in-flight requests get to finish (default 30)",
    )
    parser.add_argument(
        "--max-body-mb",
        type=number(0, 1 << 20, above=True),
        default=32.0,
        metavar="MB",
        help="largest request body accepted, in MiB (default 32; larger: 413)",
    )
    parser.add_argument("--check", action="store_true", help="print which members are reachable and why; serve nothing")


def _policy(args: argparse.Namespace, providers: list[str], settings: Any):
    """The policy in force and the model it names: a saved choice (``--from``), else a preset
    (``--preset``), else the policy exported into ``--config`` (``settings``), else
    seed-on-error; then ``--strategy``, ``--max-attempts`` and ``--priority`` on top. A
    provider the catalog does not know is refused."""
    from dataclasses import replace

    from toolkit.errors import UserError, check_known
    from toolkit.policy import preset

    named: tuple[str, ...] = ()
    source = "preset"
    if args.from_file:
        from toolkit.choice import Choice

        if args.preset:
            raise UserError("give --from or --preset, not both")
        choice = Choice.load(args.from_file)
        check_known(f"provider in {args.from_file}:", choice.provider_priority, providers)
        base, source = choice.policy(), args.from_file
        named = (choice.combined_id,) if choice.combined_id else ()
    elif args.preset is None and settings is not None:
        base, named, source = settings.policy, settings.combined_ids, args.config
    else:
        base = preset(args.preset or "seed-on-error")
    flags = {
        "strategy": args.strategy,
        "max_attempts": args.max_attempts,
        "provider_priority": tuple(args.priority) if args.priority else None,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    policy = base
    if flags:
        shown = " ".join(f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in flags.items())
        policy = replace(base, **flags, name=f"{base.name}+{shown}")
    check_known("provider", policy.provider_priority, providers)
    return policy, named, source


def _describe(policy) -> str:
    """The policy's name and every field that differs from the defaults, on one line."""
    from toolkit.policy import FailoverPolicy

    values, defaults = policy.to_dict(), FailoverPolicy().to_dict()
    changed = [f"{k}={v}" for k, v in values.items() if k != "name" and v != defaults[k]]
    return f"{policy.name}" + (f" ({', '.join(changed)})" if changed else " (defaults)")


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table
    from toolkit.combined_model import CombinedModel
    from toolkit.errors import UserError
    from toolkit.gateway import DEFAULT_HOST, DEFAULT_PORT, Gateway, bind, is_loopback, reachability
    from toolkit.gateway_config import read_gateway_settings
    from toolkit.opencode_config import read_config

    check_log_file(args.log, "--log")
    config = read_config(args.config) if args.config else {}
    settings = read_gateway_settings(config, args.config) if args.config else None
    host = args.host or (settings.host if settings else DEFAULT_HOST)
    port = args.port if args.port is not None else (settings.port if settings else DEFAULT_PORT)
    token_env = args.token_env or (settings.token_env if settings else None)
    token = os.environ.get(token_env) or None if token_env else None
    if token_env and token is None and not args.check:
        raise UserError(f"--token-env {token_env}: that variable is not set (put the gateway token in it)")
    if not args.check and not is_loopback(host) and token is None:
        raise UserError(f"--host {host} is reachable from the network: set a token with --token-env VAR")
    models = load_catalog(args.source, config=args.config)  # it prints its own warnings, once
    table = combined_table(models, providers=args.providers, min_providers=1)
    policy, from_policy, source = _policy(args, sorted(table["provider"].unique()), settings)
    named = args.combined or list(from_policy)
    ids = named or sorted(table["combined_id"].unique())
    plan = []
    for cid in ids:
        model = CombinedModel.from_table(table, cid)
        if not named and len(model.members) < policy.min_providers:
            continue
        reach = reachability(model, policy, config)
        if named or any(r.endpoint for r in reach):
            plan.append((model, reach))
    served = [(m, {r.provider: r.endpoint for r in reach if r.endpoint}) for m, reach in plan]
    if args.check:
        where = f"http://{host}:{port}/v1, " + (
            f"token from ${token_env}" + ("" if token else " (not set!)") if token_env else "no token"
        )
        return _check(plan, [f"policy in force ({source}): {_describe(policy)}", f"would serve on {where}"], len(ids))
    if not any(endpoints for _, endpoints in served):
        raise UserError("no combined model has a reachable member: nothing to serve (see --check)")
    gateway = Gateway(
        [(m, e) for m, e in served if e],
        policy,
        token=token,
        log_path=args.log,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
    )
    sock = bind(host, port)
    print(f"policy in force ({source}): {_describe(policy)}")
    if policy.hedge_after_s is not None:
        print("note: the gateway makes one attempt at a time; hedge_after_s is not used")
    for cid, entry in gateway.models.items():
        print(f"  {cid}: {', '.join(m.provider for m in entry.members)}")
    where = f"http://{host}:{sock.getsockname()[1]}/v1"
    auth = f"token from ${token_env}" if token else "no token"
    log = f"; attempt log {args.log}" if args.log else ""
    print(f"serving {len(gateway.models)} combined model(s) on {where} ({auth}{log}); Ctrl-C stops", flush=True)
    _serve(gateway, sock, args.grace)
    return 0


def _serve(gateway, sock, grace_s: float) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn stops accepting, lets requests finish up to ``grace_s``)."""
    try:
        gateway.server(sock, grace_s).run([sock])
    finally:
        gateway.close_log()
        sock.close()


def _check(plan: list, headlines: list[str], considered: int) -> int:
    """Print, per combined model, each member and whether it is reachable; 2 when none is."""
    from toolkit.errors import UserError

    print("\n".join(headlines))
    reachable = 0
    for model, reach in plan:
        ok = sum(1 for r in reach if r.endpoint)
        reachable += ok > 0
        print(f"{model.combined_id}: {ok} of {len(reach)} member(s) reachable")
        for r in reach:
            print(f"  {r.provider}: {'reachable' if r.endpoint else 'unreachable'} - {r.reason}")
    if considered > len(plan):
        print(f"({considered - len(plan)} other combined model(s) have no reachable member)")
    if not reachable:
        raise UserError("no combined model has a reachable member: nothing would be served")
    return 0
