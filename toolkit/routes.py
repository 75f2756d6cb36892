"""How each AI-SDK package is reached: which upstream adapter, which base URL, which credentials.

OpenCode picks a provider's client by its npm package (the catalog's ``provider_npm``, or
``provider.<id>.npm`` in opencode.json); so does :mod:`toolkit.endpoints`, through the
:data:`ROUTES` table here. A :class:`Route` names the adapter of :data:`toolkit.upstream.ADAPTERS`,
the default base URL (a template whose ``${VAR}`` parts are :data:`SETTINGS`, as models.dev
writes them) and how the request is authorized:

- ``key``: a static key from ``options.apiKey`` or the first set key variable of the catalog;
- ``google``: an access token from Google's Application Default Credentials (extra ``[gcp]``);
- ``aws``: a Bedrock API key as bearer, else SigV4 signing with the AWS credential chain (extra ``[aws]``).

Packages that only reach their provider through a token exchange or a vendor SDK are in
:data:`UNSUPPORTED` with the reason, and are never sent a request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A value besides the key that a URL needs: from ``provider.<id>.options[option]``, else the
    first set variable of ``env``, else ``default`` (None: the user must give it)."""

    option: str
    env: tuple[str, ...]
    default: str | None = None


#: Template variable -> where its value comes from (the variables OpenCode and the SDKs read).
SETTINGS: dict[str, Setting] = {
    "AZURE_RESOURCE_NAME": Setting("resourceName", ("AZURE_RESOURCE_NAME",)),
    "AZURE_COGNITIVE_SERVICES_RESOURCE_NAME": Setting("resourceName", ("AZURE_COGNITIVE_SERVICES_RESOURCE_NAME",)),
    "GOOGLE_VERTEX_PROJECT": Setting("project", ("GOOGLE_VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")),
    "GOOGLE_VERTEX_LOCATION": Setting("location", ("GOOGLE_VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION"), "us-east5"),
    # the API host follows the location (the global location has no regional prefix)
    "GOOGLE_VERTEX_ENDPOINT": Setting("endpoint", ("GOOGLE_VERTEX_ENDPOINT",)),
    "AWS_REGION": Setting("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), "us-east-1"),
    "CLOUDFLARE_ACCOUNT_ID": Setting("accountId", ("CLOUDFLARE_ACCOUNT_ID",)),
    "CLOUDFLARE_GATEWAY_ID": Setting("gateway", ("CLOUDFLARE_GATEWAY_ID",)),
}

NOT_KEYS = frozenset({"GOOGLE_APPLICATION_CREDENTIALS", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})
"""Catalog env variables that are neither a key nor a :data:`SETTINGS` value."""

_VERTEX = "https://${GOOGLE_VERTEX_ENDPOINT}/v1/projects/${GOOGLE_VERTEX_PROJECT}/locations/${GOOGLE_VERTEX_LOCATION}"


@dataclass(frozen=True)
class Route:
    """How one SDK package is called: adapter, default base URL template, auth kind."""

    adapter: str
    base_url: str | None = None
    auth: str = "key"  # "key", "google" or "aws"


_OPENAI, _ANTHROPIC = Route("openai"), Route("anthropic")

#: npm package -> route. Packages of OpenAI-compatible vendors are called at their documented
#: OpenAI-compatible endpoint (Vercel's AI Gateway, Venice, AIHubMix, Perplexity, Cohere's
#: compatibility API, v0, Cloudflare AI Gateway's unified ``/compat`` endpoint).
ROUTES: dict[str, Route] = {
    "@ai-sdk/openai-compatible": _OPENAI,
    "@ai-sdk/openai": Route("openai", "https://api.openai.com/v1"),
    "@openrouter/ai-sdk-provider": Route("openai", "https://openrouter.ai/api/v1"),
    "@ai-sdk/groq": Route("openai", "https://api.groq.com/openai/v1"),
    "@ai-sdk/xai": Route("openai", "https://api.x.ai/v1"),
    "@ai-sdk/mistral": Route("openai", "https://api.mistral.ai/v1"),
    "@ai-sdk/deepseek": Route("openai", "https://api.deepseek.com/v1"),
    "@ai-sdk/togetherai": Route("openai", "https://api.together.xyz/v1"),
    "@ai-sdk/cerebras": Route("openai", "https://api.cerebras.ai/v1"),
    "@ai-sdk/deepinfra": Route("openai", "https://api.deepinfra.com/v1/openai"),
    "@ai-sdk/fireworks": Route("openai", "https://api.fireworks.ai/inference/v1"),
    "@ai-sdk/perplexity": Route("openai", "https://api.perplexity.ai"),
    "@ai-sdk/cohere": Route("openai", "https://api.cohere.ai/compatibility/v1"),
    "@ai-sdk/vercel": Route("openai", "https://api.v0.dev/v1"),
    "@ai-sdk/gateway": Route("openai", "https://ai-gateway.vercel.sh/v1"),
    "venice-ai-sdk-provider": Route("openai", "https://api.venice.ai/api/v1"),
    "@aihubmix/ai-sdk-provider": Route("openai", "https://aihubmix.com/v1"),
    "ai-gateway-provider": Route(
        "cloudflare", "https://gateway.ai.cloudflare.com/v1/${CLOUDFLARE_ACCOUNT_ID}/${CLOUDFLARE_GATEWAY_ID}/compat"
    ),
    "@ai-sdk/anthropic": Route("anthropic", "https://api.anthropic.com/v1"),
    "@ai-sdk/azure": Route("azure", "https://${AZURE_RESOURCE_NAME}.openai.azure.com/openai/v1"),
    "@ai-sdk/google-vertex/anthropic": Route("vertex-anthropic", _VERTEX + "/publishers/anthropic/models", "google"),
    "@ai-sdk/google": Route("gemini", "https://generativelanguage.googleapis.com/v1beta/models"),
    "@ai-sdk/google-vertex": Route("vertex-gemini", _VERTEX + "/publishers/google/models", "google"),
    "@ai-sdk/amazon-bedrock": Route("bedrock", "https://bedrock-runtime.${AWS_REGION}.amazonaws.com", "aws"),
}

#: Provider id -> a base URL template that differs from its package's (OpenCode's own loaders).
PROVIDER_BASE_URLS: dict[str, str] = {
    "azure-cognitive-services": "https://${AZURE_COGNITIVE_SERVICES_RESOURCE_NAME}.cognitiveservices.azure.com/openai/v1",
}

#: Provider ids whose catalog URL template takes a Google access token (Vertex's OpenAI-compatible endpoint).
GOOGLE_AUTH_PROVIDERS = frozenset({"google-vertex", "google-vertex-anthropic"})

#: npm package or provider id -> why no adapter reaches it (checked before :data:`ROUTES`).
UNSUPPORTED: dict[str, str] = {
    "github-copilot": "GitHub Copilot needs its own token exchange (a GitHub OAuth token traded for a "
    "short-lived Copilot token); a plain key cannot reach it",
    "@jerome-benoit/sap-ai-provider-v2": "SAP AI Core needs an OAuth client-credentials exchange from its "
    "service key (the vendor SDK's job)",
}


def route_for(provider: str, npm: str | None) -> Route | str:
    """The route of a provider's package, or the reason it cannot be reached (a string)."""
    for name in (provider, npm):
        if name in UNSUPPORTED:
            return UNSUPPORTED[name]
    if npm is None:
        return _OPENAI  # a custom provider without npm is OpenAI-compatible for OpenCode too
    route = ROUTES.get(npm)
    if route is None:
        return f"no adapter speaks {npm}; point provider.{provider}.options.baseURL at an OpenAI-compatible gateway"
    base = PROVIDER_BASE_URLS.get(provider, route.base_url)
    auth = "google" if provider in GOOGLE_AUTH_PROVIDERS else route.auth
    return Route(route.adapter, base, auth)
