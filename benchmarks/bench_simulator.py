"""Simulator speed against a straightforward SimPy model of the same scenario, in one run.

Scenario: ``busy-team-rate-limit`` with three providers (the primary rate-limited by a
shared bucket, 429 with Retry-After; injected errors everywhere), policy
``seed-on-error`` (3 attempts per provider, Retry-After honoured, full-jitter backoff).
Both sides produce an attempt-log DataFrame. The baseline is written the way SimPy is
usually used: one process per request, ``env.timeout`` for every wait and attempt,
the same world (:func:`toolkit.world.answerer`: buckets, error draws, latencies) and the
same decisions in plain code, rows appended to a list. Prints medians of repeated runs and the ratio, plus
the memory of a 1,000,000-request attempt log.

    python benchmarks/bench_simulator.py [--requests 100000] [--repeat 5] [--log-requests 1000000]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

import numpy as np
import pandas as pd
import simpy

from toolkit.attempt_log import COLUMNS
from toolkit.combined_model import CombinedModel
from toolkit.policy import PRESETS
from toolkit.scenario import Scenario
from toolkit.simulator import simulate
from toolkit.vocabulary import OUTCOMES
from toolkit.world import STATUS, answerer, request_sizes

MODEL = CombinedModel.of(["a", "b", "c"], cost_input=3.0, cost_output=15.0, context_limit=200_000)
POLICY = PRESETS["seed-on-error"]
SCENARIO = Scenario.load("busy-team-rate-limit")


def simpy_baseline(requests: int, seed: int) -> pd.DataFrame:
    """The same scenario and policy as a plain SimPy model (one process per request), producing
    the same attempt-log columns and dtypes."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    worlds = SCENARIO.resolve(MODEL.providers)
    answers = [answerer(w, m.context_limit, gen) for w, m in zip(worlds, MODEL.members)]
    blocked = [0.0] * len(worlds)
    rows: list[tuple] = []
    env = simpy.Environment()
    arrivals = SCENARIO.arrivals
    sizes_in, sizes_out = request_sizes(SCENARIO, requests, gen)
    run_id = f"simpy|{SCENARIO.name}|{seed}"

    def attempt(p: int, now: float, n_in: int, n_out: int) -> tuple[str, float, float, float]:
        """Outcome, duration, TTFT and Retry-After of one attempt: the world's answer."""
        code, duration, ttft, _, ra, _ = answers[p](now, n_in, n_out, POLICY.attempt_timeout_s)
        return OUTCOMES[code], duration, ttft, ra

    def request(i: int):
        n_in, n_out = sizes_in[i], sizes_out[i]
        number = 0
        # like the engine: start on the first provider not blocked by a Retry-After (else the
        # one free soonest), retry there, then move on to the providers after it
        free = [p for p in range(len(worlds)) if blocked[p] <= env.now]
        first = free[0] if free else min(range(len(worlds)), key=lambda p: blocked[p])
        for p in range(first, len(worlds)):
            member = MODEL.members[p]
            for k in range(1, POLICY.max_attempts + 1):
                if blocked[p] > env.now:
                    yield env.timeout(blocked[p] - env.now)
                start = env.now
                outcome, duration, ttft, ra = attempt(p, start, n_in, n_out)
                yield env.timeout(duration)
                number += 1
                if ra == ra:
                    blocked[p] = max(blocked[p], env.now + ra)
                wait = 0.0
                if outcome == "ok":
                    decision = "done"
                elif k < POLICY.max_attempts:
                    decision = "retry_same"
                    delay = rng.random() * min(POLICY.backoff_cap_s, POLICY.backoff_base_s * 2 ** (k - 1))
                    wait = max(delay, ra if ra == ra else 0.0, blocked[p] - env.now)
                else:
                    decision = "next_provider" if p + 1 < len(worlds) else "give_up"
                ok = outcome == "ok"
                rows.append(
                    (
                        run_id,
                        i,
                        number,
                        MODEL.combined_id,
                        member.provider,
                        member.model_ref,
                        start,
                        env.now,
                        env.now - start,
                        ttft,
                        outcome,
                        STATUS[OUTCOMES.index(outcome)] or None,
                        ra,
                        decision,
                        wait,
                        n_in,
                        n_out if ok else 0,
                        member.cost_usd(n_in, n_out) if ok else 0.0,
                        "" if ok else f"simulated {outcome}",
                    )
                )
                if ok:
                    return
                if wait:
                    yield env.timeout(wait)

    def source():
        for i in range(requests):
            yield env.timeout(rng.expovariate(arrivals["rate_per_s"]))
            env.process(request(i))

    env.process(source())
    env.run()
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)


def timed(fn, *args, **kwargs) -> tuple[float, float, object]:
    """Wall-clock seconds, CPU seconds of this process (what one core did, whatever else the
    shared machine runs) and the result."""
    gc.collect()  # start each run without the previous run's garbage
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--log-requests", type=int, default=1_000_000, help="0 skips the memory check")
    args = parser.parse_args()
    n = args.requests
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    for seed in range(args.repeat):  # interleaved, so background load hits both alike
        wall, cpu, log = timed(simulate, MODEL, POLICY, SCENARIO, n, seed=seed, progress=False)
        ours.append(n / wall)
        ours_cpu.append(n / cpu)
        wall, cpu, base = timed(simpy_baseline, n, seed)
        theirs.append(n / wall)
        theirs_cpu.append(n / cpu)
    ok_ours = log.groupby("request_id")["outcome"].apply(lambda s: (s == "ok").any()).mean()
    ok_base = base.groupby("request_id")["outcome"].apply(lambda s: (s == "ok").any()).mean()
    med = statistics.median
    print(f"scenario {SCENARIO.name}, 3 providers, policy {POLICY.name}, {n:,} requests x {args.repeat} runs")
    print("  requests/s, median of runs            wall clock   CPU time (one core)")
    print(
        f"  simulate (attempt log included)  {med(ours):>14,.0f} {med(ours_cpu):>14,.0f}   "
        f"({len(log) / n:.2f} attempts/request, success {ok_ours:.4f})"
    )
    print(
        f"  SimPy baseline (same world)      {med(theirs):>14,.0f} {med(theirs_cpu):>14,.0f}   "
        f"({len(base) / n:.2f} attempts/request, success {ok_base:.4f})"
    )
    ratio = med(o / t for o, t in zip(ours, theirs))
    ratio_cpu = med(o / t for o, t in zip(ours_cpu, theirs_cpu))
    print(f"  ratio simulate / SimPy (median of paired runs): {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU (target >= 2x)")
    print(f"  target 300,000 requests/s on one core: {'met' if med(ours_cpu) >= 300_000 else 'missed'}")
    if args.log_requests > 0:  # 0 skips the memory check (a quicker speed-only run)
        dt, _, big = timed(simulate, MODEL, POLICY, SCENARIO, args.log_requests, seed=0, progress=False)
        mb = big.memory_usage(deep=True).sum() / 1e6
        print(
            f"  {args.log_requests:,}-request attempt log: {len(big):,} rows, {mb:.0f} MB "
            f"({mb * 1e6 / len(big):.0f} bytes/row; target < 300 MB), built in {dt:.1f} s "
            f"({args.log_requests / dt:,.0f} requests/s)"
        )
        del big
    print(
        f"  python {'.'.join(map(str, __import__('sys').version_info[:3]))}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, simpy {simpy.__version__}"
    )


if __name__ == "__main__":
    main()
