"""``combined-models combine``: build the combined-model table and print a short summary."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from toolkit.cli._common import PROVIDERS, csv_list
from toolkit.cli.catalog import add_catalog_arguments, load_models

if TYPE_CHECKING:  # pandas loads only when a command runs
    import pandas as pd

HELP = "group the same model across providers and write the combined table (CSV, JSON or Parquet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_catalog_arguments(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--providers", type=csv_list, metavar="A,B,C", help="only these providers (default: all)")
    which.add_argument(
        "--connected",
        action="store_true",
        help="only providers you can call: a key in OpenCode's auth.json, all their env variables set, "
        "or defined in --config",
    )
    parser.add_argument("--priority", type=csv_list, default=[], metavar="A,B,C", help="try these providers first")
    parser.add_argument(
        "--min-providers",
        type=PROVIDERS,
        default=2,
        metavar="N",
        help="distinct providers a combined model needs (default 2; 1 keeps every model)",
    )
    parser.add_argument(
        "--overrides", metavar="FILE", help='JSON(C) file {"aliases": {model_ref: id}, "exclude": [...]}'
    )


def summary(table: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """A few lines describing the combined table: sizes, most-shared models, flagged groups."""
    groups = table.drop_duplicates("combined_id")
    if groups.empty:
        return ["no combined models: no model is offered by that many of the chosen providers"]
    flagged = groups[groups["flags"] != ""]
    top = groups.sort_values(["n_providers", "combined_id"], ascending=[False, True]).head(5)
    return [
        f"{len(groups)} combined models, {len(table)} members, from {len(models)} models of "
        f"{models['provider'].nunique()} providers",
        "most shared: " + ", ".join(f"{r.combined_id} ({r.n_providers})" for r in top.itertuples()),
        f"{len(flagged)} groups flagged for a look (column 'flags')",
    ]


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import write_table
    from toolkit.combine import combined_table
    from toolkit.normalize import load_overrides
    from toolkit.opencode_config import connected_providers, read_config

    overrides = load_overrides(args.overrides) if args.overrides else None
    models = load_models(args)
    if models is None:
        return 1
    providers = args.providers
    if args.connected:
        providers = connected_providers(models, config=read_config(args.config) if args.config else None)
        print(f"connected providers: {', '.join(providers) or 'none found (no auth.json keys, env keys or config)'}")
    table = combined_table(
        models, providers=providers, priority=args.priority, min_providers=args.min_providers, overrides=overrides
    )
    for line in summary(table, models):
        print(line)
    if args.out:
        print(f"wrote {write_table(table, args.out)}")
    else:
        print(f"not written: add --out FILE (.csv, .json or .parquet) to keep the {len(table)} rows")
    return 0
