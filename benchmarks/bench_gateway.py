"""Latency and time to first token the gateway adds over calling the provider directly, in one run.

Three targets serve the same streamed request (16 tokens from an instant, healthy mock
provider, ``combined-models mock-providers`` in its own process):

- **direct**: the mock itself, the baseline;
- **gateway**: ``toolkit.gateway.Gateway`` in its own process (one combined model, one
  member: the mock; same protocol, so the answer is forwarded with only ``model`` rewritten);
- **LiteLLM proxy**: ``litellm --config`` in front of the same mock, when the ``litellm``
  command of ``--litellm-venv`` exists (``benchmarks/requirements-litellm-proxy.txt``;
  litellm is never a dependency of the project).

The client (this process, one ``httpx.AsyncClient`` per target and round) measures each
request's time to the first content event (TTFT) and to the end of the stream, at 1 request
in flight (sequential) and at 100 in flight (100 workers back to back). For each target the
p50 and p95 of a round are taken, then the median over ``--repeat`` interleaved rounds; the
gateway's and LiteLLM's *added* time is the difference to direct from the same rounds. Each
server process's CPU time per request (``/proc/PID/stat``, its threads included) is measured
too: unlike latency it hardly depends on how busy the machine is.

    python benchmarks/bench_gateway.py [--requests 200] [--concurrent-requests 1000] [--repeat 5]
        [--litellm-venv /tmp/litellm-proxy-venv]

The top level imports only the standard library: the same file is the gateway worker
(``--gateway-worker``), run in its own process.
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
BODY = {
    "model": "m",
    "messages": [{"role": "user", "content": "Count upwards in words, please."}],
    "max_tokens": OUTPUT_TOKENS,
    "stream": True,
}
SCENARIO = {
    "name": "bench-instant",
    "arrivals": {"kind": "sessions", "sessions": 1, "think_time_s": 0},
    "request": {"input_tokens": 8, "output_tokens": OUTPUT_TOKENS},
    "providers": {"default": {"ttft_s": 0, "tokens_per_s": 0, "error_latency_s": 0, "errors": {}}},
}


# --- the client ---------------------------------------------------------------------------------


async def _call(client, url: str, headers: dict) -> tuple[float, float]:
    """(seconds to the first content event, seconds to the end of the stream) of one request."""
    start = time.perf_counter()
    ttft = None
    async with client.stream("POST", url, json=BODY, headers=headers) as response:
        async for line in response.aiter_lines():
            if ttft is None and '"content":"w' in line:
                ttft = time.perf_counter() - start
    if ttft is None or response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code} without content")
    return ttft, time.perf_counter() - start


async def measure(url: str, headers: dict, requests: int, concurrency: int) -> list[tuple[float, float]]:
    """Every request's (TTFT, latency): ``requests`` in all, ``concurrency`` workers back to back."""
    import httpx

    # keep-alive shorter than the servers' (uvicorn: 5 s), so no request goes out on a connection being closed
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
        await asyncio.gather(*(_call(client, url, headers) for _ in range(concurrency)))  # open the connections first
        per_worker = max(1, requests // concurrency)
        results: list[tuple[float, float]] = []

        async def worker() -> None:
            for _ in range(per_worker):
                results.append(await _call(client, url, headers))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def quantiles(results: list[tuple[float, float]]) -> dict[str, float]:
    """p50 and p95 of TTFT and latency, in milliseconds."""
    out = {}
    for i, name in enumerate(("ttft", "latency")):
        cuts = statistics.quantiles([r[i] for r in results], n=100)
        out[f"{name} p50"], out[f"{name} p95"] = cuts[49] * 1e3, cuts[94] * 1e3
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (and its threads) has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the servers ----------------------------------------------------------------------------------


def gateway_worker(mock_url: str) -> None:
    """Serve the gateway in front of the mock until terminated; print its port first."""
    from toolkit.combined_model import CombinedModel
    from toolkit.endpoints import Endpoint
    from toolkit.gateway import Gateway, bind
    from toolkit.policy import preset

    gateway = Gateway(
        [(CombinedModel.of(["a"], combined_id="m"), {"a": Endpoint("a", mock_url, "openai", "none")})],
        preset("seed-on-error", min_providers=1),
    )
    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    gateway.server(sock).run([sock])


def _wait_ready(url: str, proc: subprocess.Popen, what: str, limit_s: float = 120.0) -> None:
    """Poll ``url`` until it answers (a server starting on a busy machine may take a while)."""
    import httpx

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {limit_s:.0f} s")


def start_servers(folder: str, litellm_venv: str, procs: list[subprocess.Popen]) -> dict[str, tuple[str, dict, int]]:
    """Start the mock, the gateway and (when installed) the LiteLLM proxy, each in its own
    process (appended to ``procs``, which the caller stops); target name -> (URL, headers,
    the process id of the server the client talks to)."""
    path = Path(folder) / "bench-instant.json"
    path.write_text(json.dumps(SCENARIO))
    mock = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "mock-providers", "--scenario", str(path), "--providers", "a"],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(mock)
    mock_url = mock.stdout.readline().rstrip("\n").split("\t")[1]
    gateway = subprocess.Popen(
        [sys.executable, __file__, "--gateway-worker", mock_url], stdout=subprocess.PIPE, text=True
    )
    procs.append(gateway)
    gateway_url = f"http://127.0.0.1:{gateway.stdout.readline().strip()}/v1"
    _wait_ready(gateway_url.removesuffix("/v1") + "/health", gateway, "the gateway")
    targets = {
        "direct": (mock_url + "/chat/completions", {}, mock.pid),
        "gateway": (gateway_url + "/chat/completions", {}, gateway.pid),
    }
    command = Path(litellm_venv) / "bin" / "litellm"
    if not command.exists():
        print(f"LiteLLM proxy skipped: no {command} (see benchmarks/requirements-litellm-proxy.txt)", file=sys.stderr)
        return targets
    key = "sk-bench-" + os.urandom(8).hex()  # the proxy refuses to start without a master key
    config = Path(folder) / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/model\n"
        f"      api_base: {mock_url}\n      api_key: mock\n"
        "litellm_settings:\n  telemetry: false\n  drop_params: true\n"
        f"general_settings:\n  master_key: {key}\n"
    )
    port = _free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    log = open(Path(folder) / "litellm.log", "w")
    procs.append(
        subprocess.Popen(
            [str(command), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            env=env,
            stdout=log,
            stderr=log,
        )
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health/liveliness", procs[-1], "the LiteLLM proxy")
    except RuntimeError:
        print((Path(folder) / "litellm.log").read_text()[-2000:], file=sys.stderr)
        raise
    targets["LiteLLM proxy"] = (
        f"http://127.0.0.1:{port}/v1/chat/completions",
        {"authorization": f"Bearer {key}"},
        procs[-1].pid,
    )
    return targets


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests at 1 in flight per round (default 200)")
    parser.add_argument(
        "--concurrent-requests", type=int, default=1000, help="requests at 100 in flight per round (default 1000)"
    )
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--litellm-venv", default="/tmp/litellm-proxy-venv")
    parser.add_argument("--gateway-worker", metavar="MOCK_URL")
    args = parser.parse_args()
    if args.gateway_worker:
        gateway_worker(args.gateway_worker)
        return
    from tqdm.auto import tqdm

    loads = {1: args.requests, args.concurrency: args.concurrent_requests}
    with tempfile.TemporaryDirectory() as folder:
        procs: list[subprocess.Popen] = []
        try:
            targets = start_servers(folder, args.litellm_venv, procs)
            rounds: dict[tuple[str, int], list[dict[str, float]]] = {(t, c): [] for t in targets for c in loads}
            for _ in tqdm(range(args.repeat), desc="rounds"):  # interleaved: drift hits every target alike
                for concurrency, requests in loads.items():
                    for name, (url, headers, pid) in targets.items():
                        cpu = cpu_seconds(pid)
                        try:
                            results = asyncio.run(measure(url, headers, requests, concurrency))
                        except Exception as exc:
                            raise RuntimeError(f"{name} at {concurrency} in flight: {exc!r}") from exc
                        # CPU per request of the process the client talks to (the warm-up included)
                        cpu_ms = (cpu_seconds(pid) - cpu) * 1e3 / (len(results) + concurrency)
                        rounds[name, concurrency].append({**quantiles(results), "server cpu": cpu_ms})
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
    report(rounds, list(targets), list(loads))


def report(rounds: dict[tuple[str, int], list[dict[str, float]]], targets: list[str], loads: list[int]) -> None:
    """Medians over rounds; added ms and ratio against direct at the same load."""
    columns = ["ttft p50", "ttft p95", "latency p50", "latency p95", "server cpu"]
    print(
        f"{'target':<14}{'in flight':>10}"
        + "".join(f"{c + ' ms':>15}" for c in columns)
        + f"{'added p50 ms':>14}{'x direct p50':>14}"
    )
    for concurrency in loads:
        base = {c: statistics.median(r[c] for r in rounds["direct", concurrency]) for c in columns}
        for name in targets:
            medians = {c: statistics.median(r[c] for r in rounds[name, concurrency]) for c in columns}
            added = medians["latency p50"] - base["latency p50"]
            print(
                f"{name:<14}{concurrency:>10}"
                + "".join(f"{medians[c]:>15.3f}" for c in columns)
                + f"{added:>14.3f}{medians['latency p50'] / base['latency p50']:>14.2f}"
            )
        for name in targets[1:]:
            added = {
                c: statistics.median(
                    r[c] - d[c] for r, d in zip(rounds[name, concurrency], rounds["direct", concurrency], strict=True)
                )
                for c in columns
            }
            print(
                f"  {name} adds at {concurrency} in flight (median of per-round differences, ms): "
                + ", ".join(f"{c} {v:+.3f}" for c, v in added.items())
            )


if __name__ == "__main__":
    main()
