"""Sweep throughput and scaling.

1. The issue's size: about 1,000 configurations x 10,000 simulated requests on every core
   (7 presets x 6 priority orders x 3 attempt budgets x 2 scenarios x 4 seeds = 1,008 runs).
2. Scaling: the same smaller grid with 1 and with 2 worker processes, ratio of wall times
   (the baseline is the 1-worker run of this same command).

    python benchmarks/bench_sweep.py            # full size
    python benchmarks/bench_sweep.py --quick    # 10x fewer requests, for a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from toolkit.combined_model import CombinedModel
from toolkit.scenario import Scenario
from toolkit.sweeps import sweep

MODEL = CombinedModel.of(["anthropic", "amazon-bedrock", "openrouter"], cost_input=3.0, cost_output=15.0)


def timed(**kwargs) -> tuple[float, int]:
    start = time.perf_counter()
    results = sweep(MODEL, **kwargs)
    return time.perf_counter() - start, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 requests per run instead of 10,000")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the scaling measurement (median)")
    args = parser.parse_args()
    requests = 1_000 if args.quick else 10_000
    scenarios = [Scenario.load("busy-team-rate-limit"), Scenario.load("provider-outage")]
    grid = dict(scenarios=scenarios, max_attempts=[1, 2, 3], seeds=4, requests=requests, progress=False)

    cores = os.cpu_count() or 1
    seconds, runs = timed(workers=cores, **grid)
    print(
        f"full grid: {runs} runs x {requests:,} requests on {cores} workers: {seconds:.1f} s "
        f"({runs * requests / seconds:,.0f} simulated requests/s)"
    )

    small = dict(grid, presets=["seed-on-error", "resilient", "litellm-like"], seeds=2)
    one = [timed(workers=1, **small)[0] for _ in range(args.repeats)]
    two = [timed(workers=2, **small)[0] for _ in range(args.repeats)]
    print(
        f"scaling grid ({timed(workers=2, **small)[1]} runs): 1 worker median {statistics.median(one):.2f} s, "
        f"2 workers median {statistics.median(two):.2f} s, speed-up {statistics.median(one) / statistics.median(two):.2f}x"
    )


if __name__ == "__main__":
    main()
