"""``combined-models report``: the whole pipeline in one command, written to one folder."""

from __future__ import annotations

import argparse

from toolkit.cli._common import (
    COUNT,
    FRACTION,
    PROVIDERS,
    add_config,
    add_variants,
    config_path,
    csv_list,
    executor,
    preset_help,
    scenario_help,
)

HELP = "catalog -> combined table -> failover sweep -> recommendation -> self-contained HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="report", metavar="DIR", help="folder for the report (default: report)")
    parser.add_argument(
        "--source",
        default="bundled",
        help="catalog source (default bundled: reproducible and offline); also auto, models.dev, "
        "opencode-cache, or a path/URL to an api.json",
    )
    add_config(parser)
    parser.add_argument(
        "--combined",
        metavar="ID",
        help="combined model to study (default: your OpenCode config's model, else claude-sonnet-4-5)",
    )
    parser.add_argument(
        "--providers",
        type=csv_list,
        metavar="A,B",
        help="providers to fail over between (default: your connected providers, else a default set)",
    )
    parser.add_argument(
        "--priority",
        type=csv_list,
        default=[],
        metavar="A,B",
        help="providers tried first (then: first-party vendor, major clouds, the rest)",
    )
    parser.add_argument(
        "--max-providers",
        type=PROVIDERS,
        default=4,
        metavar="N",
        help="providers tried, first in try order (default 4; N! priority orders are swept)",
    )
    parser.add_argument(
        "--scenario", nargs="+", metavar="FILE", help=scenario_help("scenarios, default every bundled one")
    )
    parser.add_argument(
        "--history",
        nargs="?",
        const="",
        metavar="DIR",
        help="also sweep a scenario fitted to your OpenCode history (DIR: its data folder, "
        "default $XDG_DATA_HOME/opencode); saved in the report folder",
    )
    parser.add_argument("--presets", type=csv_list, metavar="A,B", help=preset_help("failover presets, default all"))
    parser.add_argument("--seeds", type=COUNT, default=5, help="runs per configuration (default 5)")
    parser.add_argument("--requests", type=COUNT, default=2000, help="simulated requests per run (default 2000)")
    parser.add_argument(
        "--min-success",
        type=FRACTION,
        default=0.995,
        metavar="X",
        help="success rate the recommendation must reach (default 0.995)",
    )
    parser.add_argument(
        "--layout",
        choices=["gateway", "combined_models", "plugin"],
        default="gateway",
        help="layout of the exported opencode.json (see 'combined-models export --help')",
    )
    add_variants(parser)
    parser.add_argument(
        "--executor", type=executor, default="processes", help="processes (default), serial, or dask://HOST:PORT"
    )


def _history_scenario(data_dir: str, folder: str):
    """Fit a scenario to the OpenCode history in ``data_dir`` ("" for the default folder) and save
    it as ``your-traffic.json`` in ``folder``; returns its path."""
    from pathlib import Path

    from toolkit.errors import UserError
    from toolkit.history import load_opencode_history
    from toolkit.scenario import Scenario

    log = load_opencode_history(data_dir or None)
    if len(log) == 0:
        raise UserError("--history: the OpenCode history has no provider calls to fit a scenario to")
    path = Path(folder) / "your-traffic.json"
    Scenario.fit(log, name="your-traffic").save(path)
    print(f"fitted a scenario to {log.attrs['messages']} messages ({len(log)} calls) of your OpenCode history")
    return path


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from toolkit.atomic import write_atomic
    from toolkit.report import build_report
    from toolkit.scenario import bundled

    with tempfile.TemporaryDirectory(prefix="combined-models-history-") as scratch:
        scenarios, fitted = args.scenario, None
        if args.history is not None:  # the fitted scenario beside the bundled (or the chosen) ones
            fitted = _history_scenario(args.history, scratch)
            scenarios = [*(scenarios or bundled()), str(fitted)]
        report = build_report(
            args.out,
            source=args.source,
            config=config_path(args),
            combined=args.combined,
            providers=args.providers,
            priority=args.priority,
            max_providers=args.max_providers,
            scenarios=scenarios,
            presets=args.presets,
            seeds=args.seeds,
            requests=args.requests,
            min_success=args.min_success,
            layout=args.layout,
            variants=args.variants,
            executor=args.executor,
        )
        if fitted is not None:  # kept with the report it was swept in
            write_atomic(Path(report.out_dir) / fitted.name, fitted.read_bytes())
    for note in report.notes:
        if not note.startswith("catalog: "):  # the catalog printed its own warnings already
            print(f"note: {note}")
    print(f"studied {report.case.describe()}")
    if report.recommendation is not None:
        print(report.recommendation.reason)
    for command in report.next_steps:
        print(f"next: {command}")
    print(f"took {report.seconds:.0f} s")
    print(f"wrote {report.html} (open it in a browser) and {len(report.files) - 1} more files in {report.out_dir}")
    return 0 if report.recommendation is not None and report.recommendation.choice is not None else 1
