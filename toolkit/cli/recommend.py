"""``combined-models recommend``: choose a configuration from sweep results, with evidence."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from toolkit.cli._common import FRACTION, PROVIDERS, add_variants, check_output_file, csv_list

HELP = "pick the configuration to run from sweep results (constraints, objectives, confidence intervals)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True, metavar="FILE", help="CSV written by combined-models sweep")
    parser.add_argument("--min-success", type=FRACTION, default=0.995, help="required success rate (default 0.995)")
    parser.add_argument(
        "--objective",
        type=csv_list,
        default=["latency_p95_s", "cost_per_success_usd"],
        metavar="A,B",
        help="what to minimize, in order (default latency_p95_s,cost_per_success_usd)",
    )
    parser.add_argument("--min-providers", type=PROVIDERS, default=2, help="min_providers written into the choice")
    add_variants(parser)
    parser.add_argument("--save", metavar="FILE", help="save the choice as JSON (input of export --from)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from toolkit.errors import UserError
    from toolkit.sweeps import recommend
    from toolkit.userfile import read_bytes

    _check_save(args.save)
    data = read_bytes(Path(args.results))  # a FIFO or folder is refused, never read
    try:
        results = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())  # pandas' messages can span lines
        raise UserError(f"cannot read sweep results {args.results}: {reason}") from None
    rec = recommend(
        results,
        min_success=args.min_success,
        objectives=args.objective,
        min_providers=args.min_providers,
        variants=args.variants,
    )
    print(rec.reason)
    if rec.choice is None:
        return 1
    from toolkit.router_targets import losses

    for target, lost in losses(rec.choice.policy()).items():  # what each export keeps of the recommendation
        print(f"exported to {target}: " + ("the whole policy" if not lost else "loses " + "; ".join(lost)))
    if args.save:
        rec.choice.save(args.save)
        print(f"choice saved to {args.save} (export it with: combined-models export --from {args.save} --config ...)")
    return 0


def _check_save(path: str | None) -> None:
    """Refuse, before any work, a ``--save`` file that is not a choice: not a .json name, in a
    missing folder, or an existing file that is not a saved choice (the results CSV, the user's
    opencode.json), which saving would replace."""
    from toolkit.choice import Choice
    from toolkit.errors import UserError
    from toolkit.userfile import file_stat

    if path is None:
        return
    if Path(path).suffix.lower() != ".json":
        raise UserError(f"--save {path}: a choice is saved as JSON; give a .json file name")
    check_output_file(path, "--save")
    if file_stat(Path(path)) is None:
        return
    try:
        Choice.load(path)
    except UserError:
        raise UserError(f"--save {path} exists and is not a saved choice; give a new file name") from None
