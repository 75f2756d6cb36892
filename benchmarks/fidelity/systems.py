"""The real systems, pinned, installed into cached environments, and driven against mock providers.

- OpenCode CLI (npm ``opencode-ai``), installed by ``tests/opencode_cli.py`` exactly as the
  export tests install it, run offline (``opencode run``) with one provider pointed at a mock.
  Each request uses its own model id (``r<i>``), so the mock's log ties calls to requests;
  titles go to a second, healthy mock provider (``small_model``) and are not counted.
- LiteLLM Router (PyPI ``litellm``) in its own virtual environment under the cache folder,
  never the project's; ``litellm_worker.py`` runs in it and tags each request with
  ``x-request-id``.
- The LiteLLM proxy (``litellm --config``, in an environment of its own with the proxy's
  requirements) serving the file ``combined-models export --target litellm`` writes for a
  combined model whose members are the mocks; requests carry their id as the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.fidelity.faults import scenario
from benchmarks.fidelity.metrics import calls_from_mock
from toolkit.combined_model import CombinedModel, Member
from toolkit.mock_providers import MockProviders
from toolkit.policy import PRESETS
from toolkit.router_targets import litellm_config_text, litellm_proxy_config

OPENCODE_VERSION = "1.18.33"
LITELLM_VERSION = "1.110.2"
CACHE = Path(os.environ.get("COMBINED_MODELS_CACHE") or Path.home() / ".cache" / "combined-models")
LITELLM_CONCURRENCY = 4
_WORKER = Path(__file__).with_name("litellm_worker.py")
_TESTS = Path(__file__).resolve().parents[2] / "tests"  # opencode_cli.py: the export tests' installer


def litellm_config(preset: str, endpoints: dict[str, str]) -> dict:
    """The LiteLLM configuration ``preset`` reproduces, over ``endpoints`` (provider -> base URL):
    ``model_list`` and ``router_settings`` as a proxy config spells them, and the group to call."""
    params = {"model": "openai/model", "api_key": "mock-key-not-a-secret"}
    if preset == "litellm-1.110-fallbacks":
        model_list = [{"model_name": p, "litellm_params": {**params, "api_base": url}} for p, url in endpoints.items()]
        first, *rest = endpoints
        chain = [{first: rest}]
        settings = {"num_retries": 2, "fallbacks": chain, "context_window_fallbacks": chain}
        return {"model_list": model_list, "router_settings": settings, "model": first}
    ordered = preset == "litellm-1.110-order"
    model_list = [
        {
            "model_name": "combined",
            "litellm_params": {**params, "api_base": url, **({"order": k + 1} if ordered else {})},
        }
        for k, url in enumerate(endpoints.values())
    ]
    return {
        "model_list": model_list,
        "router_settings": {"num_retries": 2, "routing_strategy": "simple-shuffle"},
        "model": "combined",
    }


EXPORTED_MODEL = "combined"  # the combined model the exported proxy config serves


def exported_config(preset: str, endpoints: dict[str, str]) -> dict:
    """What ``combined-models export --target litellm --preset PRESET`` writes for a combined model
    whose members are ``endpoints`` (provider -> base URL, in try order), keys from ``MOCK_KEY``."""
    members = tuple(
        Member(p, f"{p}/model", provider_api=url, provider_env=("MOCK_KEY",)) for p, url in endpoints.items()
    )
    return litellm_proxy_config(CombinedModel(EXPORTED_MODEL, members), PRESETS[preset])


# -- installs ------------------------------------------------------------------------------------


def litellm_python(proxy: bool = False) -> Path:
    """The Python of the pinned LiteLLM environment, creating it on first use (one install per machine).

    ``proxy`` gives an environment of its own with what ``litellm --config`` needs: the
    requirements LiteLLM declares for its ``proxy`` extra, except its companion packages
    (``litellm-proxy``, ``litellm-proxy-extras``, ``litellm-enterprise``), whose pinned versions
    the package index does not carry; the proxy's code is in ``litellm`` itself and starts
    without them (they hold database migrations and enterprise features).
    """
    name = f"litellm{'-proxy' if proxy else ''}-{LITELLM_VERSION}"
    folder = CACHE / name
    python = folder / "bin" / "python"
    if python.is_file():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.is_file():
            return python
        staging = Path(tempfile.mkdtemp(dir=CACHE, prefix=".litellm-"))
        pip = [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        try:
            subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True)
            subprocess.run([*pip, f"litellm=={LITELLM_VERSION}"], check=True)
            if proxy:
                subprocess.run([*pip, *_proxy_requirements(staging / "bin" / "python")], check=True)
        except subprocess.CalledProcessError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        os.replace(staging, folder)  # only a complete install appears; it is run as ``python -m``, so it may move
    return python


def _proxy_requirements(python: Path) -> list[str]:
    """The requirements of LiteLLM's ``proxy`` extra for ``python``'s platform, but its ``litellm-*`` companions."""
    script = (
        "import json, importlib.metadata as m\n"
        "from packaging.requirements import Requirement\n"
        "reqs = [Requirement(r) for r in m.requires('litellm')]\n"
        "print(json.dumps([str(r).split(';')[0] for r in reqs if r.marker and r.marker.evaluate({'extra': 'proxy'})"
        " and not r.marker.evaluate({'extra': ''}) and not r.name.startswith('litellm-')]))\n"
    )
    return json.loads(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout)


def opencode() -> Path:
    """The pinned OpenCode binary (installed by the export tests' installer)."""
    sys.path.insert(0, str(_TESTS))
    from opencode_cli import opencode_binary

    return opencode_binary(OPENCODE_VERSION)


# -- runs ----------------------------------------------------------------------------------------


def run_litellm(preset: str, fault: str, requests: int) -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    """``requests`` requests through a real LiteLLM Router configured as ``preset`` says, with
    ``fault`` on the first provider: the calls and requests tables, and the client's own time per
    call (see :func:`client_time`), already added to each call's end, and the time between one
    request and the next of a client (0: each client sends its next request at once)."""
    python = litellm_python()
    with MockProviders.from_scenario(scenario(fault, LITELLM_CONCURRENCY), ["a", "b", "c"]) as mock:
        config = litellm_config(preset, mock.endpoints)
        job = {
            "config": {k: config[k] for k in ("model_list", "router_settings")},
            "model": config["model"],
            "requests": requests,
            "concurrency": LITELLM_CONCURRENCY,
        }
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
        out = subprocess.run(
            [str(python), str(_WORKER)],
            input=json.dumps(job),
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        records = list(mock.requests)
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return _litellm_tables(records, results, "request_id")


def run_litellm_proxy(preset: str, fault: str, requests: int) -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    """As :func:`run_litellm`, through the real LiteLLM proxy serving the config the toolkit exports
    for ``preset`` (:func:`exported_config`); ``LITELLM_CONCURRENCY`` clients send the requests."""
    python = litellm_python(proxy=True)
    with (
        MockProviders.from_scenario(scenario(fault, LITELLM_CONCURRENCY), ["a", "b", "c"], keep_bodies=True) as mock,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "litellm.config.yaml"
        path.write_text(litellm_config_text(exported_config(preset, mock.endpoints), f"preset {preset}"))
        with litellm_proxy(python, path) as (url, key):
            with ThreadPoolExecutor(LITELLM_CONCURRENCY) as pool:
                results = list(pool.map(lambda i: proxy_request(url, key, f"r{i}"), range(requests)))
        records = [{**r, "request_id": r["body"]["messages"][0]["content"]} for r in mock.requests]
    return _litellm_tables(records, results, "request_id")


@contextmanager
def litellm_proxy(python: Path, config: Path) -> Iterator[tuple[str, str]]:
    """The LiteLLM proxy of ``python``'s environment serving ``config`` on a free local port, until the
    block ends: its base URL and the master key it was started with (``LITELLM_MASTER_KEY``).
    Deployment keys come from ``MOCK_KEY``, as the exported config says (``os.environ/MOCK_KEY``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = "sk-fidelity-" + os.urandom(8).hex()
    env = {
        **os.environ,
        "MOCK_KEY": "mock-key-not-a-secret",
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    command = [str(python), "-m", "litellm.proxy.proxy_cli", "--config", str(config)]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/health/liveliness", proc, log)
            yield f"http://127.0.0.1:{port}/v1", key
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _wait_until_up(url: str, proc: subprocess.Popen, log, limit_s: float = 300.0) -> None:
    """Poll ``url`` until the proxy answers (its start-up takes tens of seconds on a busy machine)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the LiteLLM proxy exited with status {proc.returncode}: {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"the LiteLLM proxy did not answer {url} within {limit_s:.0f} s")


def proxy_request(url: str, key: str, request: str) -> dict:
    """One chat completion through the proxy whose message is the request's id (the mocks log it):
    ``{"request", "ok", "t0", "t1"}`` (monotonic seconds)."""
    body = {"model": EXPORTED_MODEL, "messages": [{"role": "user", "content": request}], "max_tokens": 4}
    call = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(call, timeout=600) as answer:
            ok = answer.status == 200 and bool(json.load(answer).get("choices"))
    except (urllib.error.URLError, OSError):
        ok = False  # an HTTP error status (the proxy gave up) or a broken connection
    return {"request": request, "ok": ok, "t0": t0, "t1": time.monotonic()}


def _litellm_tables(
    records: list[dict], results: list[dict], key: str
) -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    """The calls and requests tables of a LiteLLM run, the client's own time per call (added to each
    call's end) and the time between a client's requests (0: back to back)."""
    reqs = pd.DataFrame(
        {
            "request": [r["request"] for r in results],
            "ok": [r["ok"] for r in results],
            "latency": [r["t1"] - r["t0"] for r in results],
        }
    )
    calls = calls_from_mock(records, key)
    overhead = client_time(calls, reqs)
    calls["t_end"] += overhead
    return calls, reqs, overhead, 0.0


def client_time(calls: pd.DataFrame, reqs: pd.DataFrame) -> float:
    """The client's own time per call: the median, over requests answered by their only call, of
    the latency the client saw minus the server's answer time. The simulated world answers this
    much slower, so both run at the real client's pace."""
    single = calls.groupby("request").filter(lambda g: len(g) == 1 and g["outcome"].iloc[0] == "ok")
    served = (single["t_end"] - single["t_start"]).to_numpy()
    seen = reqs.set_index("request").loc[single["request"], "latency"].to_numpy()
    return float(np.median(seen - served)) if len(served) else 0.0


def run_opencode(fault: str, requests: int) -> tuple[pd.DataFrame, pd.DataFrame, float, float]:
    """``requests`` runs of ``opencode run``, one after the other, against a mock with ``fault``:
    the calls and requests tables, the client's time per call, and the time between runs.

    The client's time per call is taken as 0: a run's time is mostly OpenCode starting up, so
    it cannot be told apart (its retries come out that much later than the policy says). The
    time between runs (last call of one to the first of the next: mostly start-up) is measured.
    """
    sys.path.insert(0, str(_TESTS))
    from opencode_cli import run_prompt

    binary = opencode()
    results = []
    with MockProviders.from_scenario(scenario(fault, 1), ["a", "title"]) as mock, tempfile.TemporaryDirectory() as tmp:
        home, project = Path(tmp) / "home", Path(tmp) / "project"
        home.mkdir()
        project.mkdir()
        providers = mock.opencode_providers()
        providers["a"]["models"] = {f"r{i}": {"name": f"r{i}"} for i in range(requests)}
        providers["title"]["models"] = {"title": {"name": "title"}}
        config = {"$schema": "https://opencode.ai/config.json", "provider": providers, "small_model": "title/title"}
        (project / "opencode.json").write_text(json.dumps(config))
        for i in range(requests):
            result = run_prompt(binary, project, home, "hi", f"a/r{i}", timeout_s=600)
            results.append((f"r{i}", result.code == 0))
        records = [r for r in mock.requests if r["provider"] == "a"]
    calls = calls_from_mock(records, "model")
    spans = calls.groupby("request").agg(t0=("t_start", "min"), t1=("t_end", "max")).sort_values("t0")
    gaps = (spans["t0"].shift(-1) - spans["t1"]).dropna()
    return calls, pd.DataFrame(results, columns=["request", "ok"]), 0.0, float(gaps.median()) if len(gaps) else 0.0
