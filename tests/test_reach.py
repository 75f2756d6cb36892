"""Which members can be called and how: routes per SDK package, settings, credentials, the report."""

from __future__ import annotations

import json
import sys

import pytest

from toolkit.catalog import load_catalog
from toolkit.combine import combined_table
from toolkit.combined_model import Member
from toolkit.endpoints import REACH_COLUMNS, reach_table, resolve_endpoint
from toolkit.errors import UserError

KEY = "azure-planted-key-0c4f9b1e77d2a3"

AZURE = Member(
    "azure", "azure/gpt-5", provider_npm="@ai-sdk/azure", provider_env=("AZURE_RESOURCE_NAME", "AZURE_API_KEY")
)
AZURE_CLAUDE = Member(
    "azure",
    "azure/claude-opus-4-5",
    provider_npm="@ai-sdk/anthropic",
    provider_api="https://${AZURE_RESOURCE_NAME}.services.ai.azure.com/anthropic/v1",
    provider_env=("AZURE_RESOURCE_NAME", "AZURE_API_KEY"),
)
COGNITIVE = Member(
    "azure-cognitive-services",
    "azure-cognitive-services/gpt-5",
    provider_npm="@ai-sdk/azure",
    provider_env=("AZURE_COGNITIVE_SERVICES_RESOURCE_NAME", "AZURE_COGNITIVE_SERVICES_API_KEY"),
)
VERTEX_ENV = ("GOOGLE_VERTEX_PROJECT", "GOOGLE_VERTEX_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS")
VERTEX_CLAUDE = Member(
    "google-vertex-anthropic",
    "google-vertex-anthropic/claude-sonnet-4-5@20250929",
    provider_npm="@ai-sdk/google-vertex/anthropic",
    provider_env=VERTEX_ENV,
)
VERTEX_OPENAPI = Member(
    "google-vertex",
    "google-vertex/zai-org/glm-4.7-maas",
    provider_npm="@ai-sdk/openai-compatible",
    provider_api="https://${GOOGLE_VERTEX_ENDPOINT}/v1/projects/${GOOGLE_VERTEX_PROJECT}/locations/"
    "${GOOGLE_VERTEX_LOCATION}/endpoints/openapi",
    provider_env=VERTEX_ENV,
)


def test_azure_calls_the_v1_deployment_url_with_an_api_key_header(monkeypatch):
    monkeypatch.setenv("AZURE_RESOURCE_NAME", "acme-eu")
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    endpoint = resolve_endpoint(AZURE)
    assert endpoint.url("gpt-5") == "https://acme-eu.openai.azure.com/openai/v1/chat/completions?api-version=v1"
    assert (endpoint.adapter, endpoint.protocol, endpoint.key_source) == ("azure", "openai", "env:AZURE_API_KEY")
    assert endpoint.headers() == {"content-type": "application/json", "api-key": KEY}
    assert KEY not in repr(endpoint)


def test_azure_resource_name_from_the_config_wins_and_is_never_taken_for_the_key(monkeypatch):
    monkeypatch.setenv("AZURE_RESOURCE_NAME", "from-env")
    config = {"provider": {"azure": {"options": {"resourceName": "from-config", "apiKey": "{env:MY_AZURE}"}}}}
    monkeypatch.setenv("MY_AZURE", KEY)
    assert resolve_endpoint(AZURE, config).base_url == "https://from-config.openai.azure.com/openai/v1"
    monkeypatch.delenv("MY_AZURE")
    with pytest.raises(UserError, match="no API key for provider 'azure': set MY_AZURE"):
        resolve_endpoint(AZURE, config)
    with pytest.raises(UserError, match="no API key for provider 'azure': set AZURE_API_KEY"):
        resolve_endpoint(AZURE)  # AZURE_RESOURCE_NAME is set, but it is a setting, not a key


def test_azure_needs_a_resource_name():
    with pytest.raises(UserError, match="'azure': set AZURE_RESOURCE_NAME or provider.azure.options.resourceName"):
        resolve_endpoint(AZURE)


def test_claude_on_azure_and_cognitive_services_urls(monkeypatch):
    monkeypatch.setenv("AZURE_RESOURCE_NAME", "acme")
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    claude = resolve_endpoint(AZURE_CLAUDE)
    assert (claude.url("claude-opus-4-5"), claude.adapter) == (
        "https://acme.services.ai.azure.com/anthropic/v1/messages",
        "anthropic",
    )
    monkeypatch.setenv("AZURE_COGNITIVE_SERVICES_RESOURCE_NAME", "cog")
    monkeypatch.setenv("AZURE_COGNITIVE_SERVICES_API_KEY", KEY)
    assert resolve_endpoint(COGNITIVE).url("gpt-5") == (
        "https://cog.cognitiveservices.azure.com/openai/v1/chat/completions?api-version=v1"
    )


def _service_account(tmp_path, monkeypatch) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "ci@p.iam.gserviceaccount.com"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def test_claude_on_vertex_project_and_location_from_env_or_config(tmp_path, monkeypatch):
    _service_account(tmp_path, monkeypatch)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    endpoint = resolve_endpoint(VERTEX_CLAUDE)
    assert endpoint.url("claude-sonnet-4-5@20250929") == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-east5/publishers/anthropic/"
        "models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert (endpoint.adapter, endpoint.protocol, endpoint.key_source) == (
        "vertex-anthropic",
        "anthropic",
        "google-adc:service_account file",
    )
    assert endpoint.api_key is None and endpoint.token is not None
    config = {"provider": {"google-vertex-anthropic": {"options": {"project": "proj-2", "location": "global"}}}}
    assert resolve_endpoint(VERTEX_CLAUDE, config).base_url == (
        "https://aiplatform.googleapis.com/v1/projects/proj-2/locations/global/publishers/anthropic/models"
    )


def test_vertex_openai_compatible_models_take_a_google_token(tmp_path, monkeypatch):
    _service_account(tmp_path, monkeypatch)
    monkeypatch.setenv("GOOGLE_VERTEX_PROJECT", "p")
    monkeypatch.setenv("GOOGLE_VERTEX_LOCATION", "europe-west4")
    endpoint = resolve_endpoint(VERTEX_OPENAPI)
    assert endpoint.url("zai-org/glm-4.7-maas") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/openapi"
        "/chat/completions"
    )
    assert (endpoint.adapter, endpoint.token is not None) == ("openai", True)


def test_gemini_api_and_gemini_on_vertex(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    gemini = resolve_endpoint(
        Member(
            "google",
            "google/gemini-2.5-flash",
            provider_npm="@ai-sdk/google",
            provider_env=("GOOGLE_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"),
        )
    )
    assert gemini.url("gemini-2.5-flash") == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert (gemini.adapter, gemini.protocol, gemini.key_source) == ("gemini", "openai", "env:GEMINI_API_KEY")
    assert gemini.headers() == {"content-type": "application/json", "x-goog-api-key": KEY}
    _service_account(tmp_path, monkeypatch)
    monkeypatch.setenv("GOOGLE_VERTEX_PROJECT", "p")
    monkeypatch.setenv("GOOGLE_VERTEX_LOCATION", "global")
    vertex = resolve_endpoint(
        Member(
            "google-vertex",
            "google-vertex/gemini-2.5-pro",
            provider_npm="@ai-sdk/google-vertex",
            provider_env=VERTEX_ENV,
        )
    )
    assert vertex.url("gemini-2.5-pro") == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
        "publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert (vertex.adapter, vertex.token is not None) == ("vertex-gemini", True)


def test_vertex_needs_a_project():
    with pytest.raises(
        UserError,
        match="set GOOGLE_VERTEX_PROJECT or GOOGLE_CLOUD_PROJECT or GCLOUD_PROJECT or "
        "provider.google-vertex-anthropic.options.project",
    ):
        resolve_endpoint(VERTEX_CLAUDE)


def test_without_the_gcp_extra_vertex_says_what_to_install(monkeypatch):
    monkeypatch.setenv("GOOGLE_VERTEX_PROJECT", "p")
    monkeypatch.setitem(sys.modules, "google.auth", None)  # as if google-auth were not installed
    with pytest.raises(UserError, match=r"install combined-models\[gcp\] \(google-auth\)"):
        resolve_endpoint(VERTEX_CLAUDE)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (
            Member(
                "github-copilot",
                "github-copilot/gpt-5",
                provider_api="https://api.githubcopilot.com",
                provider_npm="@ai-sdk/openai-compatible",
                provider_env=("GITHUB_TOKEN",),
            ),
            "GitHub Copilot needs its own token exchange",
        ),
        (
            Member("sap-ai-core", "sap-ai-core/x", provider_npm="@jerome-benoit/sap-ai-provider-v2"),
            "SAP AI Core needs an OAuth client-credentials exchange",
        ),
    ],
)
def test_token_exchange_providers_are_never_called(monkeypatch, member, reason):
    monkeypatch.setenv("GITHUB_TOKEN", KEY)
    with pytest.raises(UserError, match=f"provider '{member.provider}' cannot be reached: {reason}"):
        resolve_endpoint(member)


@pytest.fixture(scope="module")
def bundled_table():
    return combined_table(load_catalog("bundled"), min_providers=2)


def test_reach_table_on_the_bundled_catalog(bundled_table):
    reach = reach_table(bundled_table)
    assert list(reach.columns) == REACH_COLUMNS and len(reach) == len(
        bundled_table.drop_duplicates(["combined_id", "provider", "model_id"])
    )
    unsupported = set(reach.loc[~reach["supported"], "provider"])
    assert unsupported == {"github-copilot", "sap-ai-core"}
    assert reach["supported"].mean() > 0.98
    # nothing is configured in the test environment: only keyless local providers can be called
    assert reach.loc[reach["reachable"], "base_url"].str.match(r"http://(127\.0\.0\.1|localhost)[:/]").all()
    vertex = reach[reach["provider"] == "google-vertex-anthropic"]
    assert (
        set(vertex["adapter"]) == {"vertex-anthropic"} and vertex["reason"].str.contains("GOOGLE_VERTEX_PROJECT").all()
    )
    claude_on_vertex = reach[(reach["provider"] == "google-vertex") & reach["model_id"].str.startswith("claude")]
    assert set(claude_on_vertex["adapter"]) == {"vertex-anthropic"}  # the model's own npm, as OpenCode reads it


def test_endpoints_command_lists_one_members_routes_without_keys(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_RESOURCE_NAME", "acme")
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    out = tmp_path / "reach.csv"
    result = cli("endpoints", "--source", "bundled", "--combined", "claude-opus-4-5", "--out", str(out))
    assert result.code == 0, result.err
    import pandas as pd

    reach = pd.read_csv(out, keep_default_na=False)
    azure = reach[reach["provider"] == "azure"].iloc[0]
    assert (azure["reachable"], azure["adapter"], azure["auth_source"], azure["base_url"]) == (
        True,
        "anthropic",
        "env:AZURE_API_KEY",
        "https://acme.services.ai.azure.com/anthropic/v1",
    )
    copilot = reach[reach["provider"] == "github-copilot"].iloc[0]
    assert not copilot["supported"] and "token exchange" in copilot["reason"]
    assert KEY not in result.out + result.err + out.read_text()
    assert "azure " in result.out and "env:AZURE_API_KEY" in result.out


def test_endpoints_command_summary_and_unknown_model(cli):
    result = cli("endpoints", "--source", "bundled")
    assert result.code == 0, result.err
    assert "have an adapter (98.7%)" in result.out
    assert "no adapter: github-copilot (27 members): GitHub Copilot needs its own token exchange" in result.out
    result = cli("endpoints", "--source", "bundled", "--combined", "claude-sonet-4-5")
    assert result.code == 2 and result.err.startswith("error: unknown combined model 'claude-sonet-4-5'")


def test_recommended_orders_leave_out_members_no_adapter_reaches():
    from toolkit.user_setup import user_case

    catalog = load_catalog("bundled")
    environ = {"GITHUB_TOKEN": "t", "OPENAI_API_KEY": "o", "OPENROUTER_API_KEY": "r"}
    case = user_case(catalog, combined_id="gpt-5", search=False, environ=environ, max_providers=None)
    assert set(case.providers) == {"openai", "openrouter"}
    assert "left out, no adapter reaches them: github-copilot" in case.origin
    everyone = user_case(catalog, combined_id="gpt-5", search=False, environ={}, max_providers=None)
    assert "github-copilot" not in everyone.providers and "azure" in everyone.providers
    named = user_case(catalog, combined_id="gpt-5", search=False, providers=["github-copilot", "openai"])
    assert set(named.providers) == {"github-copilot", "openai"}  # providers you name are kept (live skips them)


def test_cloudflare_ai_gateway_compat_endpoint_with_its_own_auth_header(monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct")
    monkeypatch.setenv("CLOUDFLARE_GATEWAY_ID", "gw")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", KEY)
    member = Member(
        "cloudflare-ai-gateway",
        "cloudflare-ai-gateway/anthropic/claude-sonnet-4-5",
        provider_npm="ai-gateway-provider",
        provider_env=("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_GATEWAY_ID"),
    )
    endpoint = resolve_endpoint(member)
    assert endpoint.url("anthropic/claude-sonnet-4-5") == (
        "https://gateway.ai.cloudflare.com/v1/acct/gw/compat/chat/completions"
    )
    assert (endpoint.adapter, endpoint.key_source) == ("cloudflare", "env:CLOUDFLARE_API_TOKEN")
    assert endpoint.headers() == {"content-type": "application/json", "cf-aig-authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("npm", "url"),
    [
        ("@ai-sdk/gateway", "https://ai-gateway.vercel.sh/v1/chat/completions"),
        ("venice-ai-sdk-provider", "https://api.venice.ai/api/v1/chat/completions"),
        ("@ai-sdk/cohere", "https://api.cohere.ai/compatibility/v1/chat/completions"),
        ("@ai-sdk/perplexity", "https://api.perplexity.ai/chat/completions"),
    ],
)
def test_openai_compatible_vendor_packages_use_their_documented_endpoints(monkeypatch, npm, url):
    monkeypatch.setenv("VENDOR_API_KEY", KEY)
    endpoint = resolve_endpoint(Member("vendor", "vendor/m", provider_npm=npm, provider_env=("VENDOR_API_KEY",)))
    assert (endpoint.url("m"), endpoint.adapter, endpoint.headers()["authorization"]) == (
        url,
        "openai",
        f"Bearer {KEY}",
    )
