"""Live runner overhead and throughput against bare httpx and LiteLLM's Router, in one run.

All three clients talk to the same two local mock providers (``combined-models
mock-providers`` in a separate process, healthy and instant: 16 streamed tokens, no
latency), so what differs is the client:

- **bare httpx**: one ``httpx.AsyncClient`` streaming POST, lines read, nothing else;
- **live runner**: :func:`toolkit.live.run_live` with ``seed-on-error`` over both mocks
  (engine decisions, SSE parsing, attempt-log row per attempt);
- **LiteLLM Router**: the same two mocks as two deployments with a fallback from the first
  to the second, ``acompletion(stream=True)``; it runs in its own virtual environment
  (``benchmarks/requirements-litellm.txt``) because litellm is no dependency of the project.

Two figures each, medians over ``--repeat`` rounds: the median latency of one request
sent alone (the runner's and LiteLLM's *added* latency is the difference to bare httpx),
and requests per second with 100 requests in flight. Ratios are against bare httpx.

    python benchmarks/bench_live.py [--requests 400] [--throughput-requests 2000] [--repeat 3]
        [--litellm-python /tmp/litellm-venv/bin/python]

The top level imports only the standard library: the same file is the LiteLLM worker
(``--litellm-worker``), run by the LiteLLM environment's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTPUT_TOKENS = 16
MESSAGES = [{"role": "user", "content": "Count upwards in words, please, one two three four five."}]
BODY = {"model": "model", "messages": MESSAGES, "max_tokens": OUTPUT_TOKENS, "stream": True}


def scenario(sessions: int) -> dict:
    """Healthy, instant providers; a closed loop of ``sessions`` sessions without think time."""
    return {
        "name": "bench-instant",
        "arrivals": {"kind": "sessions", "sessions": sessions, "think_time_s": 0},
        "request": {"input_tokens": 12, "output_tokens": OUTPUT_TOKENS},
        "providers": {"default": {"ttft_s": 0, "tokens_per_s": 0, "error_latency_s": 0, "errors": {}}},
    }


def _median_gap(ends: list[float]) -> float:
    """Median time between consecutive request ends of a back-to-back sequence: one request's
    full cost, measured the same way for every client."""
    return statistics.median(b - a for a, b in zip(ends, ends[1:]))


# --- bare httpx -------------------------------------------------------------------------------


async def _bare_call(client, url: str) -> None:
    async with client.stream("POST", url, json=BODY) as response:
        async for _ in response.aiter_lines():
            pass


async def bare(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """(median seconds per request sent alone, requests/s with ``concurrency`` in flight).

    Each figure gets a fresh client, as each ``run_live`` call and each LiteLLM router below
    does: a pool that starts empty opens one connection per request in flight.
    """
    import httpx

    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
        await _bare_call(client, url)  # set up the connection, as the others' first request does
        ends = [time.perf_counter()]
        for _ in range(requests):
            await _bare_call(client, url)
            ends.append(time.perf_counter())
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
        return _median_gap(ends), await _rate(lambda: _bare_call(client, url), requests * 5, concurrency)


async def _rate(call, requests: int, concurrency: int) -> float:
    """Requests/s of ``requests`` calls made by ``concurrency`` workers back to back."""
    per_worker = max(1, requests // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_worker * concurrency / (time.perf_counter() - t)


# --- the live runner --------------------------------------------------------------------------


def runner(endpoints: dict[str, str], requests: int, concurrency: int) -> tuple[float, float]:
    """The same two figures for :func:`toolkit.live.run_live` (closed loop, no think time)."""
    from toolkit.combined_model import CombinedModel
    from toolkit.endpoints import local_endpoints
    from toolkit.live import run_live
    from toolkit.policy import preset
    from toolkit.scenario import Scenario

    model = CombinedModel.of(list(endpoints))
    policy = preset("seed-on-error")
    targets = local_endpoints(endpoints)
    # One session: each request starts when the previous one ended, so the gap between
    # consecutive ends is one request's full cost (engine, adapter, log row included).
    log = run_live(
        model, policy, Scenario.from_dict(scenario(1)), requests=requests + 1, concurrency=1, endpoints=targets
    )
    alone = _median_gap(sorted(log["t_end_s"])[1:])  # the first request also set up the connection
    many = requests * 5
    t = time.perf_counter()
    run_live(
        model,
        policy,
        Scenario.from_dict(scenario(concurrency)),
        requests=many,
        concurrency=concurrency,
        endpoints=targets,
    )
    return alone, many / (time.perf_counter() - t)


# --- LiteLLM Router (worker, in its own environment) -----------------------------------------------


async def litellm_worker(url_a: str, url_b: str, requests: int, concurrency: int) -> tuple[float, float]:
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True

    def caller():
        router = Router(
            model_list=[
                {
                    "model_name": "primary",
                    "litellm_params": {"model": "openai/model", "api_base": url_a, "api_key": "mock"},
                },
                {
                    "model_name": "secondary",
                    "litellm_params": {"model": "openai/model", "api_base": url_b, "api_key": "mock"},
                },
            ],
            fallbacks=[{"primary": ["secondary"]}],
            num_retries=2,
        )

        async def call() -> None:
            stream = await router.acompletion(model="primary", messages=MESSAGES, max_tokens=OUTPUT_TOKENS, stream=True)
            async for _ in stream:
                pass

        return call

    call = caller()
    await call()  # the first call sets up the router's client
    ends = [time.perf_counter()]
    for _ in range(requests):
        await call()
        ends.append(time.perf_counter())
    return _median_gap(ends), await _rate(caller(), requests * 5, concurrency)


def litellm(python: str, endpoints: dict[str, str], requests: int, concurrency: int) -> tuple[float, float] | None:
    """Run the LiteLLM worker in ``python`` (its own venv); None when that environment is missing."""
    if not Path(python).exists():
        print(f"LiteLLM baseline skipped: no {python} (see benchmarks/requirements-litellm.txt)", file=sys.stderr)
        return None
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    a, b = endpoints.values()
    out = subprocess.run(
        [python, __file__, "--litellm-worker", a, b, str(requests), str(concurrency)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


# --- the run ----------------------------------------------------------------------------------


def start_mock(folder: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """The mock providers in their own process, so the clients under test have a core each."""
    path = Path(folder) / "bench-instant.json"
    path.write_text(json.dumps(scenario(1)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "mock-providers", "--scenario", str(path), "--providers", "a,b"],
        stdout=subprocess.PIPE,
        text=True,
    )
    endpoints = {}
    while len(endpoints) < 2:
        name, url = proc.stdout.readline().rstrip("\n").split("\t")
        endpoints[name] = url
    return proc, endpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests sent alone per round (default 400)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--litellm-python", default="/tmp/litellm-venv/bin/python")
    parser.add_argument("--litellm-worker", nargs=4, metavar=("URL_A", "URL_B", "REQUESTS", "CONCURRENCY"))
    args = parser.parse_args()
    if args.litellm_worker:
        a, b, n, c = args.litellm_worker
        print(json.dumps(asyncio.run(litellm_worker(a, b, int(n), int(c)))))
        return
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory() as folder:
        proc, endpoints = start_mock(folder)
        try:
            url = endpoints["a"] + "/chat/completions"
            rounds: dict[str, list[tuple[float, float]]] = {"bare httpx": [], "live runner": [], "LiteLLM Router": []}
            for _ in tqdm(range(args.repeat), desc="rounds"):  # interleaved: drift hits all alike
                rounds["bare httpx"].append(asyncio.run(bare(url, args.requests, args.concurrency)))
                rounds["live runner"].append(runner(endpoints, args.requests, args.concurrency))
                result = litellm(args.litellm_python, endpoints, args.requests, args.concurrency)
                if result is not None:
                    rounds["LiteLLM Router"].append(result)
        finally:
            proc.terminate()
            proc.wait()
    base_alone = statistics.median(r[0] for r in rounds["bare httpx"])
    base_rate = statistics.median(r[1] for r in rounds["bare httpx"])
    print(
        f"{'client':<16}{'alone ms':>10}{'added ms':>10}{'x bare':>8}{'req/s @' + str(args.concurrency):>12}{'x bare':>8}"
    )
    for name, results in rounds.items():
        if not results:
            continue
        alone = statistics.median(r[0] for r in results)
        rate = statistics.median(r[1] for r in results)
        print(
            f"{name:<16}{alone * 1e3:>10.3f}{(alone - base_alone) * 1e3:>10.3f}{alone / base_alone:>8.2f}"
            f"{rate:>12.0f}{rate / base_rate:>8.2f}"
        )


if __name__ == "__main__":
    main()
