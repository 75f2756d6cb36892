"""``combined-models history``: import your own OpenCode history as an attempt log."""

from __future__ import annotations

import argparse
import sys

HELP = "import the provider calls your OpenCode made (its opencode.db and logs, read-only) as an attempt log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="OpenCode's data folder (default $XDG_DATA_HOME/opencode, else ~/.local/share/opencode)",
    )
    parser.add_argument("--since", metavar="SPAN", help="only calls after this: 7d, 12h, 30m, 2w, or a date (UTC)")
    parser.add_argument("--out", metavar="FILE", help="write the attempt log here (.csv, .json or .parquet)")


def run(args: argparse.Namespace) -> int:
    from toolkit.catalog import check_table_path, write_table
    from toolkit.history import load_opencode_history
    from toolkit.history_overview import provider_overview

    if args.out:
        check_table_path(args.out)  # before the history is read
    log = load_opencode_history(args.data_dir, since=args.since)
    if args.out:
        write_table(log, args.out)
    skipped = log.attrs["skipped"]
    note = f"; skipped {skipped} messages of an unknown shape or unfinished" if skipped else ""
    print(
        f"{log.attrs['messages']} messages, {len(log)} provider calls ({log.attrs['log_calls']} retried failures "
        f"from the logs){note}",
        file=sys.stderr,
    )
    if len(log):
        table = provider_overview(log)
        quiet = [c for c in table if c.endswith("_share") and c != "error_share" and not table[c].any()]
        table = table.drop(columns=quiet)  # only the error classes that happened
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        print(f"wrote {len(log)} calls to {args.out}", file=sys.stderr)
    return 0
