"""``combined-models catalog``: write the models table (one row per provider model)."""

from __future__ import annotations

import argparse
import sys

from toolkit.cli._common import add_config, add_source

HELP = "load a model catalog and write the models table (CSV, JSON or Parquet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    add_config(parser)
    parser.add_argument("--timeout", type=float, default=3.0, help="network timeout in seconds (default 3)")
    parser.add_argument("--out", metavar="FILE", help="write the table here (.csv, .json or .parquet)")


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import CatalogUnavailable, load_catalog, write_table

    try:
        models = load_catalog(args.source, config=args.config, timeout=args.timeout)
    except CatalogUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"source: {models.attrs['source']}")
    print(f"{len(models)} models from {models['provider'].nunique()} providers")
    if args.out:
        print(f"wrote {write_table(models, args.out)}")
    return 0
