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
