"""Run the fidelity harness: ``python -m benchmarks.fidelity --help``."""

from __future__ import annotations

import argparse
import datetime as dt
import platform
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from benchmarks.fidelity import systems
from benchmarks.fidelity.faults import FAULTS, scenario
from benchmarks.fidelity.metrics import calls_from_log, measure, within
from toolkit.atomic import write_atomic
from toolkit.combined_model import CombinedModel
from toolkit.policy import PRESETS
from toolkit.simulator import simulate

LITELLM_PRESETS = ("litellm-1.110-order", "litellm-1.110-shuffle", "litellm-1.110-fallbacks")
# Requests per real run. OpenCode's retries are real waits (about 70 s a request when a provider
# is down): few requests. LiteLLM with fallbacks takes 7-26 s a request under the 429 and
# hard-down faults, where every request does the same: few there too; 200 elsewhere, so call
# shares are not mostly sampling noise.
OPENCODE_REQUESTS = {"429-ra-2s": 3, "429-ra-8s": 2, "hard-down": 2, "overload-30pct": 8}
LITELLM_REQUESTS = {"429-ra-2s": 200, "429-ra-8s": 200, "hard-down": 200, "overload-30pct": 200}
FALLBACKS_REQUESTS = {"429-ra-2s": 24, "429-ra-8s": 12, "hard-down": 24, "overload-30pct": 200}
# The exported LiteLLM config, served by the real proxy: a provider down and a 429 with Retry-After.
PROXY_FAULTS = ("hard-down", "429-ra-2s")


def simulated(
    preset: str,
    providers: list[str],
    fault: str,
    sessions: int,
    requests: int,
    seeds: int,
    overhead_s: float,
    think_s: float,
) -> dict:
    """The preset's prediction for one run: each metric's median over ``seeds`` simulated runs of the
    same size (a typical run: some outcomes, such as whether a failure-rate cooldown fires at all,
    split runs in two), in a world whose answers take the real client's own time per call longer."""
    model = CombinedModel.of(providers)
    world = scenario(fault, sessions, overhead_s, think_s)
    runs = [
        measure(*calls_from_log(simulate(model, PRESETS[preset], world, requests, seed=s, progress=False)), providers)
        for s in range(seeds)
    ]
    return pd.DataFrame(runs).median().to_dict()


def job(system: str, preset: str, fault: str, requests: int, seeds: int) -> list[dict]:
    """One real run and its simulation: a row per metric."""
    label = f"`{preset}`"
    if system == "opencode":
        providers, sessions = ["a"], 1
        calls, reqs, overhead, think = systems.run_opencode(fault, requests)
    else:
        providers, sessions = ["a", "b", "c"], systems.LITELLM_CONCURRENCY
        run = systems.run_litellm_proxy if system == "litellm-proxy" else systems.run_litellm
        calls, reqs, overhead, think = run(preset, fault, requests)
        if system == "litellm-proxy":
            label += ": the exported config through the LiteLLM proxy"
    real = measure(calls, reqs, providers)
    sim = simulated(preset, providers, fault, sessions, requests, seeds, overhead, think)
    return [
        {
            "preset": label,
            "fault": fault,
            "requests": requests,
            "client_time_s": overhead,
            "metric": m,
            "real": real[m],
            "simulated": sim[m],
            "within": within(m, real[m], sim[m]),
        }
        for m in real
    ]


def tables(results: pd.DataFrame) -> str:
    """One Markdown table per preset: a row per metric, ``real / simulated`` per fault (a ✗ marks a miss)."""
    out = []
    for preset, rows in results.groupby("preset", sort=False):
        faults = list(dict.fromkeys(rows["fault"]))
        runs = rows.drop_duplicates("fault").set_index("fault")
        out.append(f"#### {preset}\n")
        heads = [f"{f} ({runs.loc[f, 'requests']} req., +{runs.loc[f, 'client_time_s']:.2f} s)" for f in faults]
        out.append("| metric | " + " | ".join(heads) + " |")
        out.append("|---" * (len(faults) + 1) + "|")
        for metric, group in rows.groupby("metric", sort=False):
            cells = []
            for f in faults:
                r = group[group["fault"] == f].iloc[0]
                cells.append(f"{r['real']:.3g} / {r['simulated']:.3g}" + ("" if r["within"] else " ✗"))
            out.append(f"| {metric} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__)
    parser.add_argument(
        "--systems",
        default="opencode,litellm,litellm-proxy",
        help="comma-separated: opencode, litellm (the Router as each preset models it), litellm-proxy "
        "(the proxy serving the config `export --target litellm` writes for each preset)",
    )
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, of: " + ", ".join(FAULTS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run's request count (e.g. 0.25)")
    parser.add_argument("--seeds", type=int, default=20, help="simulated runs pooled per prediction")
    parser.add_argument("--parallel", type=int, default=2, help="real runs at once (each has its own mocks)")
    parser.add_argument("--csv", type=Path, help="also write every row (preset, fault, metric, real, simulated)")
    parser.add_argument("--markdown", type=Path, help="also write the tables, dated, to this file")
    args = parser.parse_args()
    chosen = set(args.systems.split(","))
    faults = args.faults.split(",")
    jobs = []
    if "opencode" in chosen:
        systems.opencode()  # install before the clock starts
        jobs += [("opencode", "opencode-1.18", f, OPENCODE_REQUESTS[f]) for f in faults]  # never scaled: few already
    if "litellm" in chosen:
        systems.litellm_python()
        for p in LITELLM_PRESETS:
            sizes = FALLBACKS_REQUESTS if p == "litellm-1.110-fallbacks" else LITELLM_REQUESTS
            jobs += [("litellm", p, f, max(4, round(sizes[f] * args.scale))) for f in faults]
    if "litellm-proxy" in chosen:
        systems.litellm_python(proxy=True)
        for p in LITELLM_PRESETS:
            sizes = FALLBACKS_REQUESTS if p == "litellm-1.110-fallbacks" else LITELLM_REQUESTS
            jobs += [("litellm-proxy", p, f, max(4, round(sizes[f] * args.scale))) for f in faults if f in PROXY_FAULTS]
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = [pool.submit(job, *j, args.seeds) for j in jobs]
        rows = [row for fut in tqdm(futures, desc="real runs") for row in fut.result()]
    results = pd.DataFrame(rows)
    met = results["within"].mean()
    stamp = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; OpenCode {systems.OPENCODE_VERSION}, LiteLLM "
        f"{systems.LITELLM_VERSION}, Python {platform.python_version()}; {met:.0%} of metrics within the goal"
    )
    text = f"{stamp}\n\n{tables(results)}"
    print(text)
    if args.csv:
        write_atomic(args.csv, results.to_csv(index=False))
    if args.markdown:
        write_atomic(args.markdown, text)


if __name__ == "__main__":
    main()
