"""``combined-models export``: write the chosen failover settings into opencode.json[c].

``--layout`` picks one of :data:`toolkit.export.LAYOUTS` (the same set the Python API has):
``gateway`` points OpenCode at ``combined-models gateway``, ``openrouter`` puts OpenRouter
provider routing on the user's OpenRouter model, ``combined_models`` and ``plugin`` write the
seed plugin's options. ``--target litellm`` instead writes a LiteLLM proxy config doing the
closest failover LiteLLM can, and points OpenCode at that proxy (:mod:`toolkit.router_targets`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

from toolkit.atomic import NotKept
from toolkit.cli._common import add_config, add_source, add_variants, csv_list, preset_help
from toolkit.errors import UserError
from toolkit.export import LAYOUTS
from toolkit.filelock import folder_lock
from toolkit.gateway_config import DEFAULT_URL, PACKAGES

HELP = "write the chosen failover policy into opencode.json (atomic, with a backup)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_source(parser)
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from", dest="from_file", metavar="FILE", help="a saved choice (JSON) to start from")
    start.add_argument("--preset", metavar="NAME", help=preset_help("start from a failover preset's plugin options"))
    parser.add_argument("--priority", type=csv_list, metavar="A,B,C", help="providers in try order")
    parser.add_argument("--strategy", help="on_error, on_rate_limit or on_overload")
    parser.add_argument("--max-attempts", metavar="N", help="tries on one provider per request (>= 1)")
    parser.add_argument("--min-providers", metavar="N", help="providers a model needs to be combined (>= 1)")
    add_variants(parser, default=None)
    parser.add_argument(
        "--layout",
        default="combined_models",
        help="; ".join(f"{name}: {layout.description}" for name, layout in LAYOUTS.items()),
    )
    gateway = parser.add_argument_group("gateway layout")
    gateway.add_argument(
        "--combined",
        nargs="+",
        metavar="ID",
        help="combined models OpenCode gets as combined/<ID> (default: the choice's model)",
    )
    gateway.add_argument("--gateway-url", metavar="URL", help=f"where the gateway listens (default {DEFAULT_URL})")
    gateway.add_argument(
        "--gateway-protocol",
        choices=sorted(PACKAGES),
        help="what OpenCode speaks to the gateway: openai (@ai-sdk/openai-compatible, the default) "
        "or anthropic (@ai-sdk/anthropic)",
    )
    gateway.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the gateway token, written as {env:VAR} "
        "(default: no token; the gateway then serves 127.0.0.1 only)",
    )
    litellm = parser.add_argument_group("LiteLLM target")
    litellm.add_argument(
        "--target",
        choices=("opencode", "litellm"),
        default="opencode",
        help="opencode (the layouts above, the default) or litellm: a LiteLLM proxy config for "
        "the choice (--combined ID picks the model) plus an opencode.json provider pointing at it",
    )
    litellm.add_argument(
        "--proxy-config",
        metavar="FILE",
        help="the LiteLLM config to write (default litellm.config.yaml beside --config)",
    )
    litellm.add_argument(
        "--proxy-url", metavar="URL", help="where the proxy listens (default http://127.0.0.1:4000/v1)"
    )
    parser.add_argument(
        "--plugin", metavar="SPEC", help="plugin npm name or file:// URL (default: the one in the file)"
    )
    parser.add_argument("--set-model", metavar="combined/ID", help="also make this combined model the default model")
    parser.add_argument("--diff", action="store_true", help="print the change as a unified diff; write nothing")
    parser.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write even if comments inside replaced values are lost, or if the saved choice was "
        "tuned for another model than the config's",
    )


def _whole_number(flag: str, value: str | None) -> int | None:
    """Parse a count given on the command line (None when the flag was not given)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{flag} takes a whole number, not {value!r}") from None


def run(args: argparse.Namespace) -> int:
    from toolkit.choice import Choice
    from toolkit.export import plan_export
    from toolkit.opencode_config import read_config

    if not args.config:
        raise UserError("export needs --config FILE: the opencode.json or opencode.jsonc to write")
    if args.from_file:
        base = Choice.load(args.from_file)
    elif args.preset:
        from toolkit.policy import preset

        base = Choice.from_policy(preset(args.preset), preset=args.preset)
    else:
        base = Choice()
    choice = base.with_overrides(
        provider_priority=args.priority,
        strategy=args.strategy,
        max_attempts=_whole_number("--max-attempts", args.max_attempts),
        min_providers=_whole_number("--min-providers", args.min_providers),
        variants=args.variants,
    )
    path = Path(args.config).expanduser()
    if path.exists() or path.is_symlink():
        # a broken config fails here, before a catalog download that would only delay the message
        read_config(path)
    combined = _combined_table(args.source, path)
    if args.from_file and not args.force:
        _check_model(path, base, args.from_file, combined)
    if args.layout == "openrouter" and args.combined:  # the layout routes the choice's one model
        if len(args.combined) != 1:
            raise UserError("--layout openrouter routes one combined model: pass one --combined ID")
        choice = choice.with_overrides(combined_id=args.combined[0])
    written = [path, _proxy_path(args, path)] if args.target == "litellm" else [path]
    # Reading, planning and writing under the folder's lock: racing exports follow one another.
    with contextlib.nullcontext() if args.diff or args.dry_run else folder_lock(written):
        if args.target == "litellm":
            return _export_litellm(args, choice, combined, path)
        plan = plan_export(
            path,
            choice,
            layout=args.layout,
            plugin=args.plugin,
            set_model=args.set_model,
            combined=combined,
            gateway=_gateway_options(args),
        )
        return _apply(plan, args)


def _proxy_path(args: argparse.Namespace, config: Path) -> Path:
    """The LiteLLM config ``--target litellm`` writes (``--proxy-config``, else beside the config)."""
    return Path(args.proxy_config).expanduser() if args.proxy_config else config.parent / "litellm.config.yaml"


def _apply(plan, args: argparse.Namespace) -> int:
    """Print, diff or write one planned file as the flags say."""
    for message in plan.warnings:
        print(f"warning: {message}", file=sys.stderr)
    for message in plan.notes:
        print(f"note: {message}", file=sys.stderr)
    if args.diff or args.dry_run:
        if plan.lost_comments and not args.force:
            print(f"warning: writing would drop {len(plan.lost_comments)} comment(s); see --force", file=sys.stderr)
        if args.diff:
            print(plan.diff(), end="")
        if args.dry_run or not plan.changed:
            print(f"{plan.path}: {'would change' if plan.changed else 'already up to date'}; nothing written")
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotKept)
        backup = plan.write(drop_comments=args.force)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not plan.changed:
        print(f"{plan.path} is already up to date; nothing written")
    elif backup is None:
        print(f"created {plan.path}")
    else:
        print(f"wrote {plan.path} (previous version saved as {backup})")
    return 0


def _export_litellm(args: argparse.Namespace, choice, combined, path: Path) -> int:
    """``--target litellm``: the proxy config and the opencode.json provider pointing at it."""
    from toolkit.router_targets import DEFAULT_PROXY_URL, plan_litellm_export

    if args.layout != "combined_models" or args.set_model or args.plugin:
        raise UserError("--target litellm writes its own provider and model; drop --layout, --set-model and --plugin")
    policy = choice.policy()
    model = _one_model(args, choice, combined, "--target litellm")
    proxy_path = _proxy_path(args, path)
    source = f"preset {choice.preset}" if choice.preset else "the choice"
    plans = plan_litellm_export(
        path,
        proxy_path,
        model,
        policy,
        source=f"{source} for {model.combined_id}",
        base_url=args.proxy_url or DEFAULT_PROXY_URL,
    )
    return max(_apply(plan, args) for plan in plans)


def _one_model(args: argparse.Namespace, choice, combined, what: str):
    """The one combined model an export for ``what`` is about (``--combined ID`` or the choice's)."""
    from toolkit.combined_model import CombinedModel

    ids = args.combined or ([choice.combined_id] if choice.combined_id else [])
    if len(ids) != 1:
        raise UserError(f"{what} needs exactly one combined model: pass --combined ID")
    return CombinedModel.from_table(combined, ids[0])


def _gateway_options(args: argparse.Namespace):
    """The gateway layout's options from the flags (None when none was given)."""
    from toolkit.export import GatewayOptions

    given = {
        "combined_ids": tuple(args.combined) if args.combined and args.layout != "openrouter" else None,
        "base_url": args.gateway_url,
        "protocol": args.gateway_protocol,
        "token_env": args.token_env,
    }
    given = {name: value for name, value in given.items() if value is not None}
    return GatewayOptions(**given) if given or args.layout == "gateway" else None


def _check_model(config: Path, choice, choice_file: str, combined) -> None:
    """Stop when ``choice`` was tuned for another combined model than the config's ``model``.

    The plugin's ``provider_priority`` is global: a priority tuned for one model (say, on
    aggregators) applied to a config that runs another would quietly send its requests elsewhere.
    """
    from toolkit.opencode_config import read_config
    from toolkit.user_setup import combined_id_of

    if choice.combined_id is None or not config.is_file():
        return
    model = read_config(config).get("model")
    mine = combined_id_of(model, combined) if isinstance(model, str) else None
    if mine is not None and mine != choice.combined_id:
        raise UserError(
            f"{choice_file} was tuned for {choice.combined_id}, but {config} runs {model} ({mine}); "
            f"run 'combined-models report --combined {mine} --config {config}' for your model, "
            "or pass --force to export it anyway"
        )


def _combined_table(source: str, config: Path):
    """The combined table (every provider, ``min_providers=1``) the choice is checked against."""
    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table

    models = load_catalog(source, config=config if config.is_file() else None)
    return combined_table(models, min_providers=1)
