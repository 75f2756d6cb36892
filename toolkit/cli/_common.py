"""Argument helpers shared by several commands, so every command spells an option the same way."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any


def csv_list(value: str) -> list[str]:
    """Parse ``a,b,c`` into ``["a", "b", "c"]`` (blank items dropped).

    A list with no item (``""``, ``,,``) or with an item twice (``a,a``) is a usage error: each
    list option names providers, presets or models to use or to try in order, where an empty
    list would silently mean "the default" and a repeat would try the same one twice.
    """
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, not {value!r}")
    repeated = next((item for n, item in enumerate(items) if item in items[:n]), None)
    if repeated is not None:
        raise argparse.ArgumentTypeError(f"{repeated!r} is listed twice in {value!r}; name each once")
    return items


def _shown(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:g}"


def number(
    low: float, high: float, *, whole: bool = False, above: bool = False, or_inf: bool = False
) -> Callable[[str], Any]:
    """An argparse ``type``: a finite number from ``low`` (or above it, with ``above``) to ``high``
    (or ``inf`` as well, with ``or_inf``: "no limit").

    Every numeric option goes through one of these, so ``nan``, ``inf``, a negative count or an
    absurd size is a one-line usage error naming the option and the range, before any work.
    """
    span = f"a {'whole number' if whole else 'number'} {'above' if above else 'from'} {_shown(low)} to {_shown(high)}"
    span += " or inf" if or_inf else ""

    def parse(text: str) -> int | float:
        try:
            value: int | float = int(text) if whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {span}, not {text!r}") from None
        if or_inf and value == math.inf:
            return value
        if not math.isfinite(value) or not (low < value if above else low <= value) or value > high:
            raise argparse.ArgumentTypeError(f"expected {span}, not {text!r}")
        return value

    return parse


COUNT = number(1, 10**12, whole=True)
"""Requests, seeds and the like: at least 1 (how much is too much is checked against the machine)."""
SEED = number(0, 2**32 - 1, whole=True)
SECONDS = number(0, 86400, above=True)
SECONDS_OR_INF = number(0, 86400, above=True, or_inf=True)
ATTEMPTS = number(1, 100, whole=True)
PROVIDERS = number(0, 1000, whole=True)
FRACTION = number(0, 1)
TIME_SCALE = number(0, 10_000, above=True)
TOKENS = number(1, 10_000_000, whole=True)
PORT = number(0, 65535, whole=True)
CONCURRENCY = number(1, 10_000, whole=True)


def attempts_list(value: str) -> list[int]:
    """``1,2,3``: attempt budgets, each checked like ``--max-attempts``."""
    return [ATTEMPTS(item) for item in csv_list(value)]


def executor(value: str) -> str:
    """``--executor``: ``processes``, ``serial`` or ``dask://HOST:PORT``, checked as an argument so
    a mistake is a usage line before any work (not a failure after the catalog step)."""
    host, _, port = value.removeprefix("dask://").rpartition(":")
    if value in ("processes", "serial") or (value.startswith("dask://") and host and port.isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"expected processes, serial or dask://HOST:PORT, not {value!r}")


def add_source(parser: argparse.ArgumentParser) -> None:
    """``--source``: where the model catalog comes from."""
    parser.add_argument(
        "--source",
        default="auto",
        help="catalog source: auto (default), bundled, models.dev, opencode-cache, or a path/URL "
        "to a file in models.dev api.json shape",
    )


def scenario_help(what: str) -> str:
    """Help text for a scenario option: ``what`` it takes, then the bundled names (files work too)."""
    from toolkit.scenario import bundled

    return f"{what}: a JSON file or a bundled name ({', '.join(bundled())})"


def preset_help(what: str) -> str:
    """Help text for a preset option: ``what`` it takes, then every preset's name."""
    from toolkit.policy import PRESETS

    return f"{what} ({', '.join(PRESETS)})"


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config``: the user's opencode.json / opencode.jsonc."""
    parser.add_argument("--config", metavar="FILE", help="your opencode.json or opencode.jsonc")


def add_variants(parser: argparse.ArgumentParser, default: str | None = "exact") -> None:
    """``--variants``: which deployment variants (quantized, TEE, speed tiers) a failover order may use."""
    from toolkit.variants import SETTINGS

    parser.add_argument(
        "--variants",
        choices=SETTINGS,
        default=default,
        help="deployment variants a failover order may use: exact (the model as released), "
        "same-weights (+TEE, coding plans), precision-reduced (+quantized), all (+speed tiers)"
        + (f"; default {default}" if default else ""),
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    """``--combined ID`` and where it comes from: catalog source, config, providers, priority, rank, cap."""
    from toolkit.user_setup import DEFAULT_MODEL, MAX_PROVIDERS

    parser.add_argument(
        "--combined",
        metavar="ID",
        help=f"combined model id (default: your OpenCode config's model, else {DEFAULT_MODEL})",
    )
    add_source(parser)
    add_config(parser)
    parser.add_argument(
        "--providers",
        type=csv_list,
        metavar="A,B",
        help="only these providers (default: your connected providers, else a default set)",
    )
    parser.add_argument(
        "--priority",
        type=csv_list,
        default=[],
        metavar="A,B",
        help="providers tried first, in order (then: first-party vendor, major clouds, the rest)",
    )
    parser.add_argument(
        "--rank",
        type=csv_list,
        default=[],
        metavar="A,B",
        help="rank these providers first in the combined model: a scenario's rank:0 is the first "
        "(default: the try order); separate from --priority, e.g. --rank anthropic "
        "--priority openrouter tries openrouter first while rank:0 (anthropic) has the incident",
    )
    parser.add_argument(
        "--max-providers",
        type=PROVIDERS,
        default=MAX_PROVIDERS,
        metavar="N",
        help=f"try at most N providers (default {MAX_PROVIDERS}; 0: all)",
    )
    add_variants(parser)


def config_path(args: argparse.Namespace):
    """``--config``, else the OpenCode config found the way OpenCode finds it (None if there is none)."""
    from toolkit.user_setup import find_config

    return args.config if args.config else find_config()


def load_model(args: argparse.Namespace, scenarios: Sequence = (), check: Callable[[Any], object] | None = None):
    """The :class:`~toolkit.combined_model.CombinedModel` named by :func:`add_model`'s options.

    Prints (to stderr) which model and providers were chosen, and why, before any work starts.
    Before that, each of ``scenarios`` is checked to name only providers it can apply to, and
    ``check(model)`` runs (it raises a UserError for a run that cannot go ahead), so a mistake
    is the only line printed.
    """
    import sys

    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table
    from toolkit.combined_model import CombinedModel
    from toolkit.errors import UserError
    from toolkit.user_setup import user_case

    if args.max_providers < 0 or args.max_providers == 1:
        raise UserError(f"--max-providers must be 0 (all) or at least 2, not {args.max_providers}")
    config = config_path(args)
    models = load_catalog(args.source, config=config)  # a failed fetch is reported once, by the catalog
    case = user_case(
        models,
        config=config,
        search=False,
        combined_id=args.combined,
        providers=args.providers,
        priority=args.priority,
        max_providers=args.max_providers or None,
        variants=args.variants,
    )
    order = ranking(case.providers, args.rank)
    for scenario in scenarios:
        scenario.check_members(order, known=set(models["provider"]))
    table = combined_table(models, providers=case.providers, priority=order, min_providers=1)
    model = CombinedModel.from_table(table, case.combined_id, args.variants)
    if check is not None:
        check(model)
    print(f"model: {case.describe()}", file=sys.stderr)
    if args.rank:
        print(f"rank: {' > '.join(order)} (a scenario's rank:0 is {order[0]})", file=sys.stderr)
    return model


def ranking(providers: Sequence[str], rank: Sequence[str]) -> list[str]:
    """The combined model's member order: ``rank`` (``--rank``) first, then ``providers`` (the try order).

    The rank decides whom a scenario's ``rank:N`` selectors describe; the policy's
    ``provider_priority`` (``--priority``) decides the try order. Without ``--priority`` the
    members are tried in this order.
    """
    from toolkit.errors import UserError

    unknown = [p for p in rank if p not in providers]
    if unknown:
        raise UserError(f"--rank names {unknown[0]!r}, which is not among the providers tried ({', '.join(providers)})")
    return [*rank, *(p for p in providers if p not in rank)]


def check_output_file(path: str | None, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written: not a regular file (a folder,
    a FIFO that would block), in a missing folder, or new in a folder that takes no file (``/proc``)."""
    from pathlib import Path

    from toolkit.errors import UserError
    from toolkit.userfile import check_writable, file_stat

    if path is None:
        return
    parent = Path(path).parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{flag} {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: the folder {parent} does not exist; create it first")
    try:
        if file_stat(Path(path)) is None:  # a new file: its folder must take it (an existing log is appended to)
            check_writable(Path(path))
    except UserError as exc:
        raise UserError(f"{flag} {exc}") from None


def check_log_file(path: str | None, flag: str) -> None:
    """:func:`check_output_file` for a JSON-lines log that is appended to: an existing file must
    already be one (its first line a JSON object with a ``request_id``, as every attempt and
    mock request log row has), so a slip such as ``--log opencode.json`` or ``--log
    results.csv`` is refused instead of writing log lines into that file."""
    import json
    from pathlib import Path

    from toolkit.errors import UserError
    from toolkit.userfile import file_stat

    check_output_file(path, flag)
    if path is None or not (info := file_stat(Path(path))) or info.st_size == 0:
        return
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    try:
        row = json.loads(first)
        is_log = isinstance(row, dict) and "request_id" in row
    except ValueError:
        is_log = False
    if not is_log:
        raise UserError(f"{flag} {path} exists and is not a JSON-lines log; give a new file name")


def add_policy(parser: argparse.ArgumentParser) -> None:
    """``--preset`` and the flags that override its fields."""
    parser.add_argument(
        "--preset",
        default="seed-on-error",
        metavar="NAME",
        help=preset_help("failover preset, default seed-on-error; the flags below override its fields"),
    )
    parser.add_argument(
        "--strategy",
        choices=["on_error", "on_rate_limit", "on_overload"],
        help="classes that move a request to the next provider",
    )
    parser.add_argument("--max-attempts", type=ATTEMPTS, metavar="N", help="attempts per provider, the first included")


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
