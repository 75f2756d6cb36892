"""``combined-models endpoints``: which combined-model members can be called, how, and why not."""

from __future__ import annotations

import argparse

from toolkit.cli.catalog import add_catalog_arguments, load_models

HELP = "say for every combined-model member whether it can be called: adapter, protocol, auth source, reason"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_catalog_arguments(parser)
    parser.add_argument(
        "--connected",
        action="store_true",
        help="only providers you can call: a key in OpenCode's auth.json, all their env variables "
        "set, or defined in --config",
    )
    parser.add_argument("--combined", metavar="ID", help="only the members of this combined model (all rows printed)")


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import write_table
    from toolkit.combine import combined_table
    from toolkit.endpoints import reach_table
    from toolkit.errors import UserError, closest
    from toolkit.opencode_config import connected_providers, read_config

    models = load_models(args)
    if models is None:
        return 1
    config = read_config(args.config) if args.config else None
    providers = connected_providers(models, config=config) if args.connected else None
    table = combined_table(models, providers=providers, min_providers=1 if args.combined else 2)
    if args.combined:
        if args.combined not in set(table["combined_id"]):
            raise UserError(
                f"unknown combined model {args.combined!r}{closest(args.combined, set(table['combined_id']))}"
            )
        table = table[table["combined_id"] == args.combined]
    reach = reach_table(table, config)
    n = len(reach)
    if n == 0:
        print("no combined-model members")
        return 0
    print(
        f"{n} members of {reach['combined_id'].nunique()} combined models: "
        f"{int(reach['supported'].sum())} have an adapter ({reach['supported'].mean():.1%}), "
        f"{int(reach['reachable'].sum())} can be called now ({reach['reachable'].mean():.1%})"
    )
    if args.combined:
        shown = reach[["provider", "model_id", "adapter", "reachable", "auth_source", "reason"]]
        print(shown.to_string(index=False, na_rep="-"))
    else:
        unsupported = reach[~reach["supported"]].groupby(["provider", "reason"]).size()
        for (provider, reason), count in unsupported.sort_values(ascending=False).items():
            print(f"no adapter: {provider} ({count} members): {reason.split(': ', 1)[-1]}")
    if args.out:
        print(f"wrote {write_table(reach, args.out)}")
    return 0
