"""Argument helpers shared by several commands, so every command spells an option the same way."""

from __future__ import annotations

import argparse


def csv_list(value: str) -> list[str]:
    """Parse ``a,b,c`` into ``["a", "b", "c"]`` (blank items dropped)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def add_source(parser: argparse.ArgumentParser) -> None:
    """``--source``: where the model catalog comes from."""
    parser.add_argument(
        "--source",
        default="auto",
        help="catalog source: auto (default), bundled, models.dev, opencode-cache, or a path/URL "
        "to a file in models.dev api.json shape",
    )


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config``: the user's opencode.json / opencode.jsonc."""
    parser.add_argument("--config", metavar="FILE", help="your opencode.json or opencode.jsonc")


def add_model(parser: argparse.ArgumentParser) -> None:
    """``--combined ID`` and where it comes from: catalog source, config, providers, priority."""
    parser.add_argument("--combined", required=True, metavar="ID", help="combined model id, e.g. claude-sonnet-4-5")
    add_source(parser)
    add_config(parser)
    parser.add_argument(
        "--providers", type=csv_list, metavar="A,B", help="only these providers (default: every provider offering it)"
    )
    parser.add_argument("--priority", type=csv_list, default=[], metavar="A,B", help="providers tried first, in order")


def load_model(args: argparse.Namespace):
    """The :class:`~toolkit.combined_model.CombinedModel` named by :func:`add_model`'s options."""
    import sys

    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table
    from toolkit.combined_model import CombinedModel

    models = load_catalog(args.source, config=args.config)
    for warning in models.attrs.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    table = combined_table(models, providers=args.providers, priority=args.priority, min_providers=1)
    return CombinedModel.from_table(table, args.combined)
