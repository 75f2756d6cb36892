"""Azure OpenAI and Claude on Vertex AI over real loopback HTTP: URLs, auth (Google OAuth with a
throwaway service account), streams, tool calls, usage, every error class, and secrets kept out."""

from __future__ import annotations

import json
import logging
import sys

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.combined_model import CombinedModel
from toolkit.credentials import GoogleToken
from toolkit.endpoints import Endpoint, local_endpoints, mock_base_url
from toolkit.gateway import Gateway
from toolkit.live import read_log, run_live
from toolkit.mock_providers import Reply
from toolkit.policy import FailoverPolicy
from toolkit.redaction import SECRETS
from toolkit.scenario import Scenario

KEY = "azure-planted-key-5e1d0c9b8a7f6e"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"
SCENARIO = Scenario.from_dict(
    {
        "name": "t",
        "arrivals": {"kind": "poisson", "rate_per_s": 50.0},
        "providers": {},
        "request": {"input_tokens": 20, "output_tokens": 6},
    }
)
ONE = FailoverPolicy(min_providers=1, max_providers=1, max_attempts=1)


def _pem(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    """Two throwaway RSA key pairs: the service account's, and a stranger's."""
    return {name: _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)) for name in ("ours", "other")}


def _service_account(token_uri: str, private_pem: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "mock-project",
        "private_key_id": "k1",
        "private_key": private_pem,
        "client_email": "ci@mock-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def _root(mock, provider: str) -> str:
    return mock.endpoints[provider].removesuffix("/v1")


def _vertex(mock, provider: str, private_pem: str) -> Endpoint:
    token = GoogleToken(_service_account(_root(mock, provider) + "/token", private_pem), "google-adc:test")
    return Endpoint(
        provider,
        mock_base_url(mock.endpoints[provider], "vertex-anthropic"),
        "anthropic",
        "google-adc:test",
        adapter="vertex-anthropic",
        token=token,
    )


def _azure(mock, provider: str, key: str = KEY) -> Endpoint:
    return Endpoint(
        provider, mock_base_url(mock.endpoints[provider], "azure"), "openai", "env:AZURE_API_KEY", key, adapter="azure"
    )


def _model(provider: str, model_id: str) -> CombinedModel:
    return CombinedModel.of([provider], model_id, cost_input=3.0, cost_output=15.0)


def test_claude_on_vertex_streams_with_a_token_from_a_service_account(mock_providers, keys):
    private, public = keys["ours"]
    mock = mock_providers(["v"], google_public_key=public, keep_bodies=True, models=[VERTEX_MODEL])
    log = run_live(_model("v", VERTEX_MODEL), ONE, SCENARIO, requests=3, endpoints={"v": _vertex(mock, "v", private)})
    assert log["outcome"].tolist() == ["ok"] * 3
    assert log["input_tokens"].tolist() == [r["input_tokens"] for r in mock.requests]
    assert log["output_tokens"].tolist() == [6, 6, 6] and (log["cost_usd"] > 0).all()
    assert len(mock.google_tokens) == 1  # one token, reused until it expires
    (issued,) = mock.google_tokens
    assert SECRETS.scrub(f"echoed {issued.upper()}") == "echoed [redacted]"  # remembered for redaction as issued
    assert all(r["authorized"] and r["model"] == VERTEX_MODEL and r["stream"] for r in mock.requests)
    body = mock.requests[0]["body"]
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"


def test_a_wrong_signature_gets_no_token_and_classifies_as_auth(mock_providers, keys):
    mock = mock_providers(["v"], google_public_key=keys["ours"][1])
    endpoint = _vertex(mock, "v", keys["other"][0])  # signed with a key Google does not know
    log = run_live(_model("v", VERTEX_MODEL), ONE, SCENARIO, requests=1, endpoints={"v": endpoint})
    assert log["outcome"].tolist() == ["auth"]
    assert "Google token refresh failed" in log["error"].iloc[0] and "invalid_grant" in log["error"].iloc[0]
    assert mock.requests == [] and mock.google_tokens == set()  # the model was never called


def test_an_injected_token_and_a_wrong_one(mock_providers):
    mock = mock_providers(["v"], api_key="ya29.injected-token")
    base = mock_base_url(mock.endpoints["v"], "vertex-anthropic")
    model = _model("v", VERTEX_MODEL)
    for token, outcome in (("ya29.injected-token", "ok"), ("ya29.stale", "auth")):
        endpoint = Endpoint("v", base, "anthropic", "injected", token, adapter="vertex-anthropic")
        log = run_live(model, ONE, SCENARIO, requests=1, endpoints={"v": endpoint})
        assert log["outcome"].tolist() == [outcome]
    assert "Request had invalid authentication credentials" in log["error"].iloc[0]


def test_azure_key_header_and_a_wrong_key(mock_providers):
    mock = mock_providers(["z"], api_key=KEY)
    model = _model("z", "gpt-5")
    assert (
        run_live(model, ONE, SCENARIO, requests=2, endpoints={"z": _azure(mock, "z")})["outcome"].tolist() == ["ok"] * 2
    )
    log = run_live(model, ONE, SCENARIO, requests=1, endpoints={"z": _azure(mock, "z", "wrong-key")})
    assert (
        log["outcome"].tolist() == ["auth"] and "Access denied due to invalid subscription key" in log["error"].iloc[0]
    )
    assert [r["authorized"] for r in mock.requests] == [True, True, False]


# status and body each cloud sends for a fault, and the class it must get
CLOUD_FAULTS = [
    (Reply("rate_limit", retry_after_s=2.0), "rate_limit"),
    (Reply("quota"), "rate_limit"),
    (Reply("overload"), "overload"),
    (Reply("unavailable"), "overload"),
    (Reply("server_error"), "server_error"),
    (Reply("context_length"), "context_length"),
    (Reply("client_error"), "client_error"),
    (Reply("auth"), "auth"),
    (Reply("reset", reset_after_tokens=3), "connection"),
    (Reply("stream_error", reset_after_tokens=2), "overload"),
    (Reply("hang"), "timeout"),
]


# adapter -> (Retry-After the rate limit gives, -1 for none; a text of the cloud's own rate-limit body)
RATE_LIMITS = {
    "azure": (2.0, "have exceeded token rate limit"),  # a retry-after header
    "vertex-anthropic": (-1, "Quota exceeded for aiplatform"),  # Vertex's quota answer says nothing
    "gemini": (2.0, '"retryDelay":"2s"'),  # Google's RetryInfo detail in the body
    "vertex-gemini": (-1, "Quota exceeded for aiplatform"),
    "bedrock": (-1, "Too many requests, please wait"),  # ThrottlingException: no Retry-After either
}


@pytest.mark.parametrize("adapter", list(RATE_LIMITS))
@pytest.mark.parametrize(("reply", "outcome"), CLOUD_FAULTS, ids=[r.kind for r, _ in CLOUD_FAULTS])
def test_every_fault_in_the_cloud_s_own_shape_is_classified(mock_providers, adapter, reply, outcome):
    mock = mock_providers(["c"], script={"c": [reply]})
    endpoints = local_endpoints(mock.endpoints, {"c": adapter})
    policy = FailoverPolicy(min_providers=1, max_providers=1, max_attempts=1, attempt_timeout_s=0.5)
    log = run_live(_model("c", VERTEX_MODEL), policy, SCENARIO, requests=1, endpoints=endpoints)
    assert log["outcome"].tolist() == [outcome]
    if reply.kind == "rate_limit":
        retry_after, shape = RATE_LIMITS[adapter]
        assert log["retry_after_s"].fillna(-1).tolist() == [retry_after]
        assert shape in log["error"].iloc[0]


def test_azure_without_api_version_is_not_found(mock_providers):
    import httpx

    mock = mock_providers(["z"])
    url = mock_base_url(mock.endpoints["z"], "azure") + "/chat/completions"
    answer = httpx.post(url, json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
    assert (answer.status_code, answer.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})


def test_tool_calls_through_vertex_reach_a_gateway_client(mock_providers, keys):
    """A client of the gateway (OpenAI protocol) gets the tool call Claude on Vertex streamed."""
    import httpx

    private, public = keys["ours"]
    mock = mock_providers(
        ["v"],
        google_public_key=public,
        script={"v": [Reply(text="Let me look.", tool_call=("read", {"path": "a.py"}))]},
    )
    model = _model("v", VERTEX_MODEL)
    gateway = Gateway([(model, {"v": _vertex(mock, "v", private)})], ONE)
    body = {
        "model": f"combined/{VERTEX_MODEL}",
        "messages": [{"role": "user", "content": "read a.py"}],
        "max_tokens": 50,
    }
    with gateway.running() as url:
        answer = httpx.post(url + "/chat/completions", json=body, timeout=30).json()
    message = answer["choices"][0]["message"]
    assert message["content"] == "Let me look."
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["read"]
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"path": "a.py"}
    assert answer["choices"][0]["finish_reason"] == "tool_calls" and answer["usage"]["completion_tokens"] > 0


def _live_real(cli, tmp_path, config: dict, provider: str):
    """``live --real`` of claude-sonnet-4-5 on ``provider`` and GitHub Copilot (which must be skipped):
    (CLI result, attempt log, [stdout, stderr, attempt-log text, mock request-log text])."""
    path = tmp_path / "opencode.json"
    path.write_text(json.dumps(config))
    log_path = tmp_path / "attempts.jsonl"
    result = cli(
        "live",
        "--real",
        "--yes",
        "--config",
        str(path),
        "--source",
        "bundled",
        "--combined",
        "claude-sonnet-4-5",
        "--providers",
        f"{provider},github-copilot",
        "--requests",
        "2",
        "--log",
        str(log_path),
        "--input-tokens",
        "5",
        "--output-tokens",
        "3",
    )
    assert result.code == 0, result.err
    return (
        result,
        read_log(log_path),
        [result.out, result.err, log_path.read_text(), (tmp_path / "mock.jsonl").read_text()],
    )


def test_tokens_and_private_keys_never_reach_any_output(tmp_path, cli, mock_providers, keys, monkeypatch, caplog):
    """``live --real`` with Claude on Vertex from GOOGLE_APPLICATION_CREDENTIALS; the mock echoes the
    bearer token it issued in an error body: neither it nor the private key shows anywhere."""
    private, public = keys["ours"]
    holder: dict = {}

    def echo(incoming):  # the first request's answer quotes the token; the rest succeed
        if holder.setdefault("echoed", False):
            return Reply()
        holder["echoed"] = True
        return Reply("server_error", message=f"rejected: {' '.join(sorted(holder['mock'].google_tokens))}")

    mock = mock_providers(
        ["google-vertex-anthropic"], google_public_key=public, decider=echo, log_path=tmp_path / "mock.jsonl"
    )
    holder["mock"] = mock
    credentials = tmp_path / "sa.json"
    credentials.write_text(json.dumps(_service_account(_root(mock, "google-vertex-anthropic") + "/token", private)))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    base = mock_base_url(mock.endpoints["google-vertex-anthropic"], "vertex-anthropic")
    caplog.set_level(logging.DEBUG)
    config = {"provider": {"google-vertex-anthropic": {"options": {"baseURL": base}}}}
    result, attempts, outputs = _live_real(cli, tmp_path, config, "google-vertex-anthropic")
    assert attempts["outcome"].iloc[0] == "server_error" and "rejected: [redacted]" in attempts["error"].iloc[0]
    assert "ok" in set(attempts["outcome"])
    assert set(attempts["provider"]) == {"google-vertex-anthropic"}  # Copilot is skipped, with its reason
    assert "skipped: provider 'github-copilot' cannot be reached: GitHub Copilot needs its own token" in caplog.text
    token = next(iter(mock.google_tokens))
    secrets = [token, private.splitlines()[1], "BEGIN PRIVATE KEY"]
    assert not [s for s in secrets for text in [*outputs, caplog.text] if s in text]


@pytest.mark.slow
def test_live_through_bedrock_and_vertex_agrees_with_the_simulator():
    """overload-storm with Claude on Bedrock first, then Vertex, then Azure: a live run through the
    cloud adapters (mock providers serving the clouds' URLs) against 20 simulated runs, as in
    tests/test_agreement.py (same metrics and tolerances)."""
    from scaled_runs import keeping_up
    from test_agreement import METRICS, _disagreements

    from toolkit.combined_model import Member
    from toolkit.metrics import summarize
    from toolkit.policy import preset
    from toolkit.simulator import simulate

    packages = {
        "bedrock": "@ai-sdk/amazon-bedrock",
        "vertex": "@ai-sdk/google-vertex/anthropic",
        "azure": "@ai-sdk/azure",
    }
    model = CombinedModel(
        "claude-sonnet-4-5",
        tuple(
            Member(
                p, f"{p}/claude-sonnet-4-5", context_limit=200_000.0, cost_input=3.0, cost_output=15.0, provider_npm=npm
            )
            for p, npm in packages.items()
        ),
    )
    policy, requests, scenario = preset("seed-on-error"), 240, Scenario.load("overload-storm")
    simulated = pd.concat([summarize(simulate(model, policy, scenario, requests=requests, seed=s)) for s in range(20)])

    def run(time_scale: float) -> pd.DataFrame:
        return run_live(model, policy, scenario, requests=requests, concurrency=256, time_scale=time_scale, seed=1)

    log = keeping_up(run, 10)
    assert {"bedrock", "vertex"} <= set(log["provider"])  # both served (failover to the second)
    assert set(METRICS) <= set(simulated.columns)
    assert _disagreements(summarize(log).iloc[0], simulated) == {}


def test_gemini_api_key_header_usage_and_a_wrong_key(mock_providers):
    mock = mock_providers(["g"], api_key=KEY, keep_bodies=True)
    endpoint = Endpoint(
        "g", mock_base_url(mock.endpoints["g"], "gemini"), "openai", "env:GEMINI_API_KEY", KEY, adapter="gemini"
    )
    log = run_live(_model("g", "gemini-2.5-flash"), ONE, SCENARIO, requests=2, endpoints={"g": endpoint})
    assert log["outcome"].tolist() == ["ok", "ok"]
    assert log["input_tokens"].tolist() == [r["input_tokens"] for r in mock.requests] and (log["cost_usd"] > 0).all()
    assert log["output_tokens"].tolist() == [6, 6]
    body = mock.requests[0]["body"]
    assert body["contents"][0]["role"] == "user" and body["generationConfig"] == {"maxOutputTokens": 6}
    assert mock.requests[0]["model"] == "gemini-2.5-flash" and mock.requests[0]["stream"]
    wrong = Endpoint("g", endpoint.base_url, "openai", "env:GEMINI_API_KEY", "wrong", adapter="gemini")
    log = run_live(_model("g", "gemini-2.5-flash"), ONE, SCENARIO, requests=1, endpoints={"g": wrong})
    assert log["outcome"].tolist() == ["auth"] and "API key not valid" in log["error"].iloc[0]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_an_anthropic_client_gets_a_gemini_tool_call_through_the_gateway(mock_providers, stream):
    """Two translations in a row: Anthropic Messages -> OpenAI (the gateway) -> Gemini (the adapter) and back."""
    import httpx

    from toolkit.sse import SSEDecoder
    from toolkit.translate import StreamAssembler

    mock = mock_providers(
        ["g"], keep_bodies=True, script={"g": [Reply(text="Looking.", tool_call=("read", {"path": "a.py"}))]}
    )
    model = _model("g", "gemini-2.5-pro")
    gateway = Gateway([(model, local_endpoints(mock.endpoints, {"g": "gemini"}))], ONE)
    body = {
        "model": "combined/gemini-2.5-pro",
        "max_tokens": 50,
        "stream": stream,
        "system": "Be brief.",
        "tools": [{"name": "read", "description": "read a file", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "read a.py"}],
    }
    with gateway.running() as url:
        answer = httpx.post(url + "/messages", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    if stream:
        assembler = StreamAssembler("anthropic")
        decoder = SSEDecoder()
        for event in decoder.feed(answer.content) + decoder.close():
            assembler.feed(event)
        message = assembler.result()
    else:
        message = answer.json()
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert message["content"][0]["text"] == "Looking."
    assert (message["content"][1]["name"], message["content"][1]["input"]) == ("read", {"path": "a.py"})
    assert message["stop_reason"] == "tool_use" and message["usage"]["output_tokens"] > 0
    sent = mock.requests[0]["body"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "read"


# --- Amazon Bedrock ---------------------------------------------------------------------------

AWS = ("AKIAMOCKACCESSKEY01", "mock/secret+access-key-7Hq2vX9pL4", "mock-session-token-IQoJb3JpZ2luX2Vj")
BEDROCK_MODEL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"  # a cross-region inference profile id


def _bedrock_env(monkeypatch, tmp_path, mock, secret: str = AWS[1]) -> dict:
    """AWS credentials in the environment (botocore's chain) and a config pointing Bedrock at the mock."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS[2])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    base = mock_base_url(mock.endpoints["amazon-bedrock"], "bedrock")
    return {"provider": {"amazon-bedrock": {"options": {"baseURL": base}}}}


def _bedrock_member():
    from toolkit.combined_model import Member

    return Member(
        "amazon-bedrock",
        f"amazon-bedrock/{BEDROCK_MODEL}",
        cost_input=3.0,
        cost_output=15.0,
        provider_npm="@ai-sdk/amazon-bedrock",
        provider_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_BEARER_TOKEN_BEDROCK"),
    )


def test_bedrock_signs_with_sigv4_from_the_credential_chain(mock_providers, monkeypatch, tmp_path):
    from toolkit.endpoints import resolve_endpoint

    mock = mock_providers(["amazon-bedrock"], aws_credentials=AWS, keep_bodies=True)
    endpoint = resolve_endpoint(_bedrock_member(), _bedrock_env(monkeypatch, tmp_path, mock))
    assert (endpoint.adapter, endpoint.protocol, endpoint.key_source) == ("bedrock", "openai", "aws:env")
    assert endpoint.url(BEDROCK_MODEL).endswith(
        "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"
    )
    model = CombinedModel("m", (_bedrock_member(),))
    log = run_live(model, ONE, SCENARIO, requests=2, endpoints={"amazon-bedrock": endpoint})
    assert log["outcome"].tolist() == ["ok", "ok"] and log["output_tokens"].tolist() == [6, 6]
    assert log["input_tokens"].tolist() == [r["input_tokens"] for r in mock.requests] and (log["cost_usd"] > 0).all()
    assert all(r["authorized"] and r["model"] == BEDROCK_MODEL for r in mock.requests)
    body = mock.requests[0]["body"]
    assert body["inferenceConfig"] == {"maxTokens": 6} and body["messages"][0]["content"][0]["text"].startswith("Count")


def test_a_wrong_secret_key_gets_bedrock_s_signature_error_and_classifies_as_auth(
    mock_providers, monkeypatch, tmp_path
):
    from toolkit.endpoints import resolve_endpoint

    mock = mock_providers(["amazon-bedrock"], aws_credentials=AWS)
    endpoint = resolve_endpoint(_bedrock_member(), _bedrock_env(monkeypatch, tmp_path, mock, secret="not-the-secret"))
    log = run_live(
        CombinedModel("m", (_bedrock_member(),)), ONE, SCENARIO, requests=1, endpoints={"amazon-bedrock": endpoint}
    )
    assert log["outcome"].tolist() == ["auth"] and "signature we calculated does not match" in log["error"].iloc[0]
    assert [r["authorized"] for r in mock.requests] == [False]


def test_a_bedrock_api_key_is_a_bearer_token(mock_providers, monkeypatch):
    from toolkit.endpoints import resolve_endpoint

    mock = mock_providers(["amazon-bedrock"], api_key="bedrock-api-key-ABSKQmVk")
    base = mock_base_url(mock.endpoints["amazon-bedrock"], "bedrock")
    config = {"provider": {"amazon-bedrock": {"options": {"baseURL": base}}}}
    model = CombinedModel("m", (_bedrock_member(),))
    for key, outcome in (("bedrock-api-key-ABSKQmVk", "ok"), ("stale", "auth")):
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
        endpoint = resolve_endpoint(_bedrock_member(), config)
        assert (endpoint.key_source, endpoint.signer) == ("env:AWS_BEARER_TOKEN_BEDROCK", None)
        log = run_live(model, ONE, SCENARIO, requests=1, endpoints={"amazon-bedrock": endpoint})
        assert log["outcome"].tolist() == [outcome]
    assert "Authentication failed" in log["error"].iloc[0]


def test_without_the_aws_extra_bedrock_says_what_to_install(monkeypatch):
    from toolkit.endpoints import resolve_endpoint
    from toolkit.errors import UserError

    monkeypatch.setitem(sys.modules, "botocore", None)  # as if botocore were not installed
    with pytest.raises(
        UserError, match=r"set AWS_BEARER_TOKEN_BEDROCK, or install combined-models\[aws\] \(botocore\)"
    ):
        resolve_endpoint(_bedrock_member())


def test_no_aws_credentials_at_all_is_a_one_line_reason(monkeypatch, tmp_path):
    from toolkit.endpoints import resolve_endpoint
    from toolkit.errors import UserError

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UserError, match="no AWS credentials found"):
        resolve_endpoint(_bedrock_member())


def test_bedrock_secrets_never_reach_any_output(tmp_path, cli, mock_providers, monkeypatch, caplog):
    """``live --real`` signing with a session token; the mock echoes the secret key and the session
    token (as a signed header echoed back would) in an error: neither shows anywhere."""
    echo = Reply("server_error", message=f"bad x-amz-security-token {AWS[2]} for secret {AWS[1]}")
    mock = mock_providers(
        ["amazon-bedrock"], aws_credentials=AWS, script={"amazon-bedrock": [echo]}, log_path=tmp_path / "mock.jsonl"
    )
    caplog.set_level(logging.DEBUG)
    result, attempts, outputs = _live_real(cli, tmp_path, _bedrock_env(monkeypatch, tmp_path, mock), "amazon-bedrock")
    assert attempts["outcome"].tolist()[:2] == ["server_error", "ok"] and all(r["authorized"] for r in mock.requests)
    outputs.append(caplog.text)
    assert not [
        (s, i, text[max(0, text.find(s) - 300) : text.find(s) + 50])
        for s in AWS[1:]
        for i, text in enumerate(outputs)
        if s in text
    ]


def test_a_tool_call_through_bedrock_reaches_a_gateway_client(mock_providers):
    import httpx

    mock = mock_providers(["b"], script={"b": [Reply(text="Checking.", tool_call=("read", {"path": "a.py"}))]})
    gateway = Gateway([(_model("b", BEDROCK_MODEL), local_endpoints(mock.endpoints, {"b": "bedrock"}))], ONE)
    body = {
        "model": f"combined/{BEDROCK_MODEL}",
        "messages": [{"role": "user", "content": "read a.py"}],
        "max_tokens": 50,
        "tools": [{"type": "function", "function": {"name": "read", "parameters": {}}}],
    }
    with gateway.running() as url:
        answer = httpx.post(url + "/chat/completions", json=body, timeout=30).json()
    message = answer["choices"][0]["message"]
    assert message["content"] == "Checking." and answer["choices"][0]["finish_reason"] == "tool_calls"
    call = message["tool_calls"][0]
    assert (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "tooluse_mock-1",
        "read",
        {"path": "a.py"},
    )
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] > 0


def test_a_corrupt_or_non_utf8_event_stream_frame_is_unreadable(mock_providers):
    """The mock's frames carry valid CRCs (botocore checks them); a flipped byte is refused, and so
    is a payload that is not UTF-8 (the upstream layer makes either a ``protocol_error``)."""
    from toolkit.mock_clouds import event_frame
    from toolkit.sse import StreamError
    from toolkit.translate_bedrock import EventStreamDecoder

    headers = {":event-type": "messageStart", ":message-type": "event"}
    frame = event_frame(headers, b'{"role":"assistant"}')
    assert [(e.event, e.data) for e in EventStreamDecoder().feed(frame[:7]) + EventStreamDecoder().feed(frame)] == [
        ("messageStart", '{"role":"assistant"}')
    ]
    corrupt = frame[:-5] + bytes([frame[-5] ^ 1]) + frame[-4:]
    with pytest.raises(StreamError, match="^unreadable event-stream frame: ChecksumMismatch$"):
        EventStreamDecoder().feed(corrupt)
    with pytest.raises(StreamError, match=r"^an event-stream payload is not UTF-8 \(byte 9\)$"):
        EventStreamDecoder().feed(event_frame(headers, b'{"role":"\xff"}'))
