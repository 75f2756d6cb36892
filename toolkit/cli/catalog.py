"""``combined-models catalog``: write the models table (one row per provider model).

Also the catalog options and loading step that ``combine`` shares, so both commands
spell them and report the source the same way.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from toolkit.cli._common import SECONDS, add_config, add_source

if TYPE_CHECKING:  # pandas loads only when a command runs
    import pandas as pd

HELP = "load a model catalog and write the models table (CSV, JSON or Parquet)"


def add_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """``--source``, ``--config``, ``--timeout`` and ``--out``."""
    add_source(parser)
    add_config(parser)
    parser.add_argument("--timeout", type=SECONDS, default=3.0, help="seconds for the whole download (default 3)")
    parser.add_argument("--out", metavar="FILE", help="write the table here (.csv, .json or .parquet)")


def load_models(args: argparse.Namespace) -> pd.DataFrame | None:
    """The catalog the options name, its source printed; None (after a one-line error) if it cannot be fetched."""
    from toolkit.catalog import CatalogUnavailable, check_table_path, load_catalog

    if args.out:
        check_table_path(args.out)  # before the catalog: the cheaper mistake first
    try:
        models = load_catalog(args.source, config=args.config, timeout=args.timeout)
    except CatalogUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    print(f"source: {models.attrs['source']}")
    return models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_catalog_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import write_table

    models = load_models(args)
    if models is None:
        return 1
    print(f"{len(models)} models from {models['provider'].nunique()} providers")
    if args.out:
        print(f"wrote {write_table(models, args.out)}")
    return 0
