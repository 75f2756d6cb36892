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


def add_variants(parser: argparse.ArgumentParser, default: str | None = "exact") -> None:
    """``--variants``: which deployment variants (quantized, TEE, speed tiers) a failover order may use."""
    from toolkit.variants import SETTINGS

    parser.add_argument("--variants", choices=SETTINGS, default=default,
                        help="deployment variants a failover order may use: exact (the model as released), "
                        "same-weights (+TEE, coding plans), precision-reduced (+quantized), all (+speed tiers)"
                        + (f"; default {default}" if default else ""))  # fmt: skip


def add_model(parser: argparse.ArgumentParser) -> None:
    """``--combined ID`` and where it comes from: catalog source, config, providers, priority."""
    parser.add_argument("--combined", required=True, metavar="ID", help="combined model id, e.g. claude-sonnet-4-5")
    add_source(parser)
    add_config(parser)
    parser.add_argument(
        "--providers", type=csv_list, metavar="A,B", help="only these providers (default: every provider offering it)"
    )
    parser.add_argument("--priority", type=csv_list, default=[], metavar="A,B", help="providers tried first, in order")
    add_variants(parser)


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
    return CombinedModel.from_table(table, args.combined, args.variants)


def add_policy(parser: argparse.ArgumentParser) -> None:
    """``--preset`` and the flags that override its fields."""
    parser.add_argument("--preset", default="seed-on-error", metavar="NAME",
                        help="failover preset (default seed-on-error); the flags below override its fields")  # fmt: skip
    parser.add_argument("--strategy", choices=["on_error", "on_rate_limit", "on_overload"],
                        help="classes that move a request to the next provider")  # fmt: skip
    parser.add_argument("--max-attempts", type=int, metavar="N", help="attempts per provider, the first included")


def load_policy(args: argparse.Namespace):
    """The :class:`~toolkit.policy.FailoverPolicy` of :func:`add_policy`'s options (and ``--priority``)."""
    from toolkit.policy import preset

    overrides = {
        "strategy": args.strategy,
        "max_attempts": args.max_attempts,
        "provider_priority": tuple(getattr(args, "priority", ())) or None,
    }
    return preset(args.preset, **{name: value for name, value in overrides.items() if value is not None})


def print_metrics(metrics, headline: str, as_json: bool) -> None:
    """One run's metrics row: a two-column table under ``headline``, or a JSON object."""
    import json

    if as_json:
        print(json.dumps(json.loads(metrics.to_json(orient="records"))[0], indent=1))
        return
    print(headline)
    print(metrics.drop(columns="run_id").T.to_string(header=False, float_format=lambda v: f"{v:.4g}"))
