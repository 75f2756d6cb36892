"""History import speed: ``load_opencode_history`` against a plain sqlite3 scan of the same table.

Writes a simulated OpenCode history (``toolkit.history_sample``: OpenCode's own retry policy in
the overload storm, so a third of the messages have retried failures in the log) of N assistant
messages (2N message rows with the users', N log lines and more), then times the import and
``SELECT * FROM message`` fetched whole, in the same run. Prints medians, the ratio, and the
import time per 1,000 messages.

    python benchmarks/bench_history.py [--messages N] [--repeat K]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from toolkit.combined_model import CombinedModel
from toolkit.history import load_opencode_history
from toolkit.history_sample import write_opencode_history
from toolkit.policy import preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate


def median_seconds(job: Callable[[], object], repeat: int, label: str) -> float:
    """Median wall time of ``job`` over ``repeat`` runs."""
    times = []
    for _ in tqdm(range(repeat), desc=label, leave=False):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="assistant messages (default 100,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args()
    model = CombinedModel.of(["anthropic"], cost_input=3.0, cost_output=15.0, context_limit=200_000)
    log = simulate(model, preset("opencode-native"), Scenario.load("overload-storm"), args.messages, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        write_opencode_history(log, folder)
        database = Path(folder) / "opencode.db"

        def scan() -> list:
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                return connection.execute("SELECT * FROM message").fetchall()
            finally:
                connection.close()

        rows = len(scan())
        history = load_opencode_history(folder)
        baseline = median_seconds(scan, args.repeat, "sqlite3 scan")
        imported = median_seconds(lambda: load_opencode_history(folder), args.repeat, "import")
    print(
        f"{args.messages:,} assistant messages ({rows:,} message rows), {len(history):,} calls "
        f"({history.attrs['log_calls']:,} from the log), median of {args.repeat}"
    )
    print(f"plain sqlite3 scan of message: {baseline:.3f} s")
    print(
        f"load_opencode_history:         {imported:.3f} s  ({imported / baseline:.1f}x the scan, "
        f"{imported / args.messages * 1000 * 1000:.1f} ms per 1,000 messages)"
    )


if __name__ == "__main__":
    main()
