"""Live runs, the gateway and catalog downloads against the hostile provider (tests/hostile_provider.py).

Each hostile answer must end as one failed attempt with the right class, logged, while the
run goes on to the next provider; every download must stay within its time and size bounds.
Every test runs under a time limit that a client which never cuts a hostile answer off
would exceed (the hostile answers here never end by themselves).
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from hostile_provider import GARBAGE, KEY_ECHO_PREFIX, HostileProvider, hostile_provider, time_limit

from toolkit.catalog import CatalogUnavailable, load_catalog
from toolkit.classifier import MAX_RETRY_AFTER_S
from toolkit.combined_model import CombinedModel
from toolkit.endpoints import Endpoint
from toolkit.errors import UserError
from toolkit.gateway import Gateway
from toolkit.live import read_log, run_live
from toolkit.mock_providers import Reply
from toolkit.policy import FailoverPolicy
from toolkit.scenario import Scenario
from toolkit.upstream import Timeouts

TIME_LIMIT_S = 120.0  # far above what a bounded run needs on a busy machine; a hang never ends
KEY = "sk-hostile-planted-key-5e0c1d9a7b"
SCENARIO = Scenario.from_dict(
    {
        "name": "hostile",
        "arrivals": {"kind": "poisson", "rate_per_s": 50.0},
        "providers": {},
        "request": {"input_tokens": 5, "output_tokens": 3},
    }
)
POLICY = FailoverPolicy(min_providers=1, max_attempts=1)  # one try each: hostile first, then the good one


@pytest.fixture(scope="module")
def hostile():
    with hostile_provider() as server:
        yield server


@pytest.fixture(autouse=True)
def limited():
    with time_limit(TIME_LIMIT_S):
        yield


def _endpoints(hostile: HostileProvider, behaviour: str) -> dict[str, Endpoint]:
    return {
        "bad": Endpoint("bad", hostile.base_url(behaviour), "openai", "env:K", KEY),
        "good": Endpoint("good", hostile.base_url("ok"), "openai", "none"),
    }


PROTOCOL_ERRORS = [
    *((name, "unreadable event in 200 stream") for name in GARBAGE if name not in ("bad-utf8", "long-line")),
    ("bad-utf8", "undecodable 200 stream: the stream is not UTF-8"),
    ("long-line", "undecodable 200 stream: an event of the stream is longer than 4194304 characters"),
    ("gzip-bomb", "undecodable 200 stream: an event of the stream is longer than 4194304 characters"),
    ("no-choices", "200 stream carried no openai answer"),
    ("html", "200 answer is not an event stream (text/html)"),
    ("json", "200 answer is not an event stream (application/json)"),
    ("endless", "the stream ran past max_tokens: more than 22 events (the client stopped reading)"),
]


@pytest.mark.parametrize(
    ("behaviour", "outcome", "error"),
    [
        *((name, "protocol_error", error) for name, error in PROTOCOL_ERRORS),
        ("drip", "timeout", "timeout: no answer in time"),
        ("absurd-header", "connection", "RemoteProtocolError"),
        ("many-headers", "connection", "RemoteProtocolError"),
        ("error-bomb", "server_error", "500 "),  # only the first 64 KiB of an error body are read
        ("endless-error", "rate_limit", "429 [0,0,0,"),
        ("retry-forever", "rate_limit", "429"),
        ("retry-date", "rate_limit", "429"),
        ("echo", "auth", f'401 {{"error": {{"message": "{KEY_ECHO_PREFIX}'),  # the key itself: redacted
    ],
)
def test_a_hostile_answer_is_one_failed_attempt_logged_and_the_run_goes_on(
    hostile, tmp_path, behaviour, outcome, error
):
    path = tmp_path / "attempts.jsonl"
    log = run_live(
        CombinedModel.of(["bad", "good"]),
        POLICY,
        SCENARIO,
        requests=2,
        concurrency=1,
        endpoints=_endpoints(hostile, behaviour),
        timeouts=Timeouts(total_s=1.0) if behaviour == "drip" else Timeouts(),  # the rest end on their own
        log_path=path,
        progress=False,
    )
    rows = sorted(zip(log["request_id"], log["provider"].astype(str), log["outcome"].astype(str), strict=True))
    expected = [(0, "bad", outcome), (0, "good", "ok"), (1, "bad", outcome), (1, "good", "ok")]
    if behaviour.startswith("retry-"):  # the absurd wait is read as the cap and blocks "bad" for request 1
        expected.remove((1, "bad", outcome))
        assert set(log.loc[log["provider"] == "bad", "retry_after_s"]) == {MAX_RETRY_AFTER_S}
    assert rows == expected
    errors = set(log.loc[log["provider"] == "bad", "error"].astype(str))
    assert len(errors) == 1 and errors.pop().startswith(error)
    assert KEY not in path.read_text(encoding="utf-8")
    written = read_log(path)  # every line is a complete JSON row
    assert len(written) == len(expected) and set(written["outcome"].astype(str)) == {outcome, "ok"}


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        *((name, "protocol_error") for name in GARBAGE),
        ("html", "protocol_error"),
        ("no-choices", "protocol_error"),
        ("gzip-bomb", "protocol_error"),
        ("retry-forever", "rate_limit"),
        ("absurd-header", "connection"),
    ],
)
def test_the_gateway_fails_over_from_a_hostile_upstream_without_a_traceback(
    hostile, tmp_path, capfd, behaviour, outcome
):
    model = CombinedModel.of(["bad", "good"], combined_id="m")
    log = tmp_path / "gateway.jsonl"
    gateway = Gateway([(model, _endpoints(hostile, behaviour))], POLICY, log_path=log)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}
    with gateway.running() as url:
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=60)
    assert answer.status_code == 200 and "w0 " in answer.text
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(r["provider"], r["outcome"]) for r in rows] == [("bad", outcome), ("good", "ok")]
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_the_gateway_ends_a_stream_that_runs_past_max_tokens_after_its_answer_began(hostile, tmp_path):
    model = CombinedModel.of(["bad", "good"], combined_id="m")
    log = tmp_path / "gateway.jsonl"
    gateway = Gateway([(model, _endpoints(hostile, "endless"))], POLICY, log_path=log)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}
    with gateway.running() as url:
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=60)
    # content went out before the limit was passed: no second answer, the stream ends with an error event
    assert (
        answer.status_code == 200 and "bad failed after the answer began (the stream ran past max_tokens" in answer.text
    )
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(r["provider"], r["outcome"], r["decision"]) for r in rows] == [("bad", "protocol_error", "give_up")]


# --------------------------------------------------------------------------------------------
# Catalog downloads


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("drip", "the download did not finish within 1 s"),
        ("gzip-bomb", "the server sent more than 64 MiB (decoded or on the wire)"),
        ("endless-body", "the server sent more than 64 MiB (decoded or on the wire)"),
        ("big-length", f"the server announces {1024**4} bytes, over the 64 MiB limit"),
        ("html", "invalid JSON"),
        ("empty-catalog", "the catalog lists no model"),
        ("retry-forever", "HTTP 429"),
        ("gzip-cut", "the compressed body ends before its end"),
        ("brotli", "the server sent content-encoding 'br', which was not asked for"),
    ],
)
def test_a_hostile_catalog_download_is_bounded_and_keeps_the_good_cache(hostile, tmp_path, capsys, behaviour, reason):
    cache = tmp_path / "cache"
    url = hostile.catalog_url(behaviour)
    timeout = 1.0 if behaviour == "drip" else 60.0  # the size bounds must act long before any time bound
    with pytest.raises(CatalogUnavailable) as refused:
        load_catalog(url, timeout=timeout, cache_dir=cache)
    message = str(refused.value)
    assert message.startswith(f"cannot fetch {url} (") and reason in message and "\n" not in message
    assert not cache.exists() or not list(cache.glob("api-*.json"))  # nothing half-written into the cache

    # a good copy in the cache stays as it was, and stands in (one warning line)
    good = load_catalog(hostile.catalog_url("ok"), cache_dir=cache)
    name = hashlib.sha1(url.encode()).hexdigest()[:12]
    good_file = cache / f"api-{hashlib.sha1(hostile.catalog_url('ok').encode()).hexdigest()[:12]}.json"
    (cache / f"api-{name}.json").write_bytes(good_file.read_bytes())
    (cache / f"api-{name}.meta.json").write_text(json.dumps({"url": url}), encoding="utf-8")
    capsys.readouterr()
    kept = load_catalog(url, timeout=timeout, cache_dir=cache)
    assert kept["model_ref"].tolist() == good["model_ref"].tolist() == ["acme/m1"]
    assert (cache / f"api-{name}.json").read_bytes() == good_file.read_bytes()
    err = capsys.readouterr().err
    assert err.startswith(f"warning: cannot fetch {url} (") and err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# Servers that stop with requests in flight (clients that went away, or still waiting)


def _send_raw(base_url: str, path: str, body: dict) -> socket.socket:
    """A POST written on a raw socket, left open: the caller decides when the client goes away."""
    url = urlsplit(base_url)
    data = json.dumps(body).encode()
    head = f"POST {url.path}{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(head.encode() + data)
    return sock


def test_mock_providers_stopping_under_clients_that_left_print_no_traceback(mock_providers, capfd):
    mock = mock_providers(["a"], script={"a": [Reply(ttft_s=30.0)] * 4})  # each answer is 30 s away
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    for stream in (False, True):
        _send_raw(mock.endpoints["a"], "/chat/completions", {**body, "stream": stream}).close()  # the client leaves
    while len(mock.requests) < 2:
        time.sleep(0.01)
    mock.stop()
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception in ASGI application" not in captured.err


def test_a_gateway_stopping_with_a_request_in_flight_answers_503_without_a_traceback(mock_providers, capfd):
    mock = mock_providers(["a"], script={"a": [Reply("hang")]})
    model = CombinedModel.of(["a"], combined_id="m")
    gateway = Gateway([(model, {"a": Endpoint("a", mock.endpoints["a"], "openai", "none")})], POLICY)
    with gateway.running() as url:
        client = _send_raw(url, "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        while len(mock.requests) < 1:
            time.sleep(0.01)
    # the block's end stopped the gateway: its grace period (5 s) ran out with the request in flight
    client.settimeout(30)
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    client.close()
    assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(
        b"the server is stopping; retry elsewhere or later\n"
    )
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception in ASGI application" not in captured.err


def test_a_gzip_encoded_catalog_is_inflated_in_bounded_steps(hostile, tmp_path):
    models = load_catalog(hostile.catalog_url("gzip-ok"), timeout=60.0, cache_dir=tmp_path)
    assert models["model_ref"].tolist() == ["acme/m1"] and models.attrs["source"] == hostile.catalog_url("gzip-ok")


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_a_timeout_that_is_not_a_positive_number_is_refused_by_the_api(value):
    # the commands refuse these values when they parse their arguments; the functions refuse them too
    with pytest.raises(UserError, match=r"^timeout must be a positive number of seconds, got "):
        load_catalog("https://models.dev/api.json", timeout=value)
    for field in ("connect_s", "first_token_s", "total_s"):
        with pytest.raises(UserError, match=rf"^timeout {field} must be a positive number of seconds, got "):
            Timeouts(**{field: value})
