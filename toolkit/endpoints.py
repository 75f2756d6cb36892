"""Where each member of a combined model is served, in which protocol, with which key.

An OpenCode user already keeps this information in two places, and the live runner
reads it from there rather than from a file of its own:

- the catalog row of the member: ``provider_api`` (base URL, when the catalog knows it),
  ``provider_npm`` (the AI-SDK package, which fixes the wire protocol) and
  ``provider_env`` (names of the variables that hold the key);
- the ``provider`` section of their ``opencode.json``: ``npm``, ``options.baseURL`` and
  ``options.apiKey`` (a literal, ``{env:VAR}`` or ``{file:path}``), which win over the catalog.

An :class:`Endpoint` keeps the key out of its ``repr`` and out of every message: what is
shown is only where the key comes from (``env:ANTHROPIC_API_KEY``), never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkit.combined_model import CombinedModel, Member
from toolkit.errors import UserError
from toolkit.upstream import ADAPTERS

#: AI-SDK package -> wire protocol, from the upstream adapters (:data:`toolkit.upstream.ADAPTERS`).
PROTOCOLS = {package: adapter.protocol for adapter in ADAPTERS.values() for package in adapter.packages}

#: Base URLs the SDK packages use when the catalog gives none.
SDK_BASE_URLS = {
    "@ai-sdk/anthropic": "https://api.anthropic.com/v1",
    "@ai-sdk/openai": "https://api.openai.com/v1",
    "@openrouter/ai-sdk-provider": "https://openrouter.ai/api/v1",
    "@ai-sdk/groq": "https://api.groq.com/openai/v1",
    "@ai-sdk/xai": "https://api.x.ai/v1",
    "@ai-sdk/mistral": "https://api.mistral.ai/v1",
    "@ai-sdk/deepseek": "https://api.deepseek.com/v1",
    "@ai-sdk/togetherai": "https://api.together.xyz/v1",
    "@ai-sdk/cerebras": "https://api.cerebras.ai/v1",
    "@ai-sdk/deepinfra": "https://api.deepinfra.com/v1/openai",
    "@ai-sdk/fireworks": "https://api.fireworks.ai/inference/v1",
}

_REFERENCE = re.compile(r"^\{(env|file):([^}]+)\}$")


@dataclass(frozen=True)
class Endpoint:
    """One provider's base URL, protocol and API key (the key never shows in a repr)."""

    provider: str
    base_url: str
    protocol: str  # a key of toolkit.upstream.ADAPTERS: "openai", "anthropic"
    key_source: str  # where the key comes from, e.g. "env:ANTHROPIC_API_KEY", "none"
    api_key: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_local(self) -> bool:
        """True when the endpoint is on this machine (a mock): no money is spent there."""
        return urlsplit(self.base_url).hostname in ("127.0.0.1", "localhost", "::1")

    @property
    def path(self) -> str:
        """The request path below the base URL for this protocol."""
        return ADAPTERS[self.protocol].path

    def headers(self) -> dict[str, str]:
        """Request headers, key included (send them; never print them)."""
        return ADAPTERS[self.protocol].headers(self.api_key)


def _protocol(provider: str, npm: str | None) -> str:
    if npm is None:
        return "openai"  # a custom provider without npm is OpenAI-compatible for OpenCode too
    if npm not in PROTOCOLS:
        raise UserError(
            f"provider {provider!r} uses {npm}, which the live runner cannot speak; "
            f"supported: {', '.join(sorted(PROTOCOLS))} (or point it at an OpenAI-compatible "
            f"gateway with provider.{provider}.options.baseURL and npm @ai-sdk/openai-compatible)"
        )
    return PROTOCOLS[npm]


def _key(provider: str, options: Mapping[str, Any], env_names: tuple[str, ...]) -> tuple[str, str | None]:
    """(where the key comes from, the key) from ``options.apiKey`` or the catalog's env names."""
    raw = options.get("apiKey")
    if isinstance(raw, str) and raw:
        ref = _REFERENCE.match(raw)
        if ref is None:
            return "opencode.json options.apiKey", raw
        kind, name = ref.groups()
        if kind == "env":
            return f"env:{name}", os.environ.get(name) or None
        path = Path(name).expanduser()
        try:
            return f"file:{name}", path.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UserError(
                f"provider {provider!r}: cannot read the key file {name} ({exc.strerror})"
            ) from None
    for name in env_names:
        if os.environ.get(name):
            return f"env:{name}", os.environ[name]
    return ("env:" + env_names[0], None) if env_names else ("none", None)


def resolve_endpoint(member: Member, config: Mapping[str, Any] | None = None) -> Endpoint:
    """The endpoint of one member: ``opencode.json`` settings first, then the catalog row."""
    section = ((config or {}).get("provider") or {}).get(member.provider) or {}
    options = section.get("options") or {}
    npm = section.get("npm") or member.provider_npm
    protocol = _protocol(member.provider, npm)
    base_url = options.get("baseURL") or member.provider_api or SDK_BASE_URLS.get(npm or "")
    if not base_url:
        raise UserError(
            f"no base URL for provider {member.provider!r}: the catalog has none; "
            f"set provider.{member.provider}.options.baseURL in opencode.json"
        )
    key_source, api_key = _key(member.provider, options, member.provider_env)
    endpoint = Endpoint(member.provider, base_url.rstrip("/"), protocol, key_source, api_key)
    if api_key is None and not endpoint.is_local:
        where = key_source.removeprefix("env:") if key_source.startswith("env:") else None
        hint = f"set {where}" if where else f"set provider.{member.provider}.options.apiKey to {{env:VAR}}"
        raise UserError(f"no API key for provider {member.provider!r}: {hint}")
    return endpoint


def resolve_endpoints(model: CombinedModel, config: Mapping[str, Any] | None = None) -> dict[str, Endpoint]:
    """Endpoints of every member of ``model``, keyed by provider, in try order."""
    return {m.provider: resolve_endpoint(m, config) for m in model.members}


def local_endpoints(urls: Mapping[str, str], protocols: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    """Endpoints for mock providers (``MockProviders.endpoints``): no key needed."""
    protocols = protocols or {}
    return {p: Endpoint(p, url, protocols.get(p, "openai"), "none") for p, url in urls.items()}
