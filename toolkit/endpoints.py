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

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkit.combined_model import CombinedModel, Member
from toolkit.credentials import (
    AWS_EXTRA,
    GCP_EXTRA,
    AwsSigner,
    CredentialError,
    GoogleToken,
    botocore_installed,
    google_auth_installed,
)
from toolkit.errors import UserError
from toolkit.redaction import remember
from toolkit.routes import NOT_KEYS, ROUTES, SETTINGS, Route, route_for
from toolkit.upstream import ADAPTERS

#: AI-SDK package -> wire protocol of the adapter that calls it.
PROTOCOLS = {package: ADAPTERS[route.adapter].protocol for package, route in ROUTES.items()}

_REFERENCE = re.compile(r"^\{(env|file):([^}]+)\}$")
_TEMPLATE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class Endpoint:
    """One provider's base URL, adapter and credentials (a key or token never shows in a repr).

    ``protocol`` is the wire protocol of bodies and events (``"openai"`` / ``"anthropic"``);
    ``adapter`` the :data:`toolkit.upstream.ADAPTERS` entry that calls it (default: the protocol's
    own); ``token`` a source of access tokens (Google credentials) used instead of ``api_key``;
    ``signer`` signs each request instead (AWS SigV4).
    """

    provider: str
    base_url: str
    protocol: str  # "openai" or "anthropic"
    key_source: str  # where the key comes from, e.g. "env:ANTHROPIC_API_KEY", "none"
    api_key: str | None = field(default=None, repr=False, compare=False)
    adapter: str = ""  # "" : the adapter named like the protocol
    token: GoogleToken | None = field(default=None, repr=False, compare=False)
    signer: AwsSigner | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.adapter:
            object.__setattr__(self, "adapter", self.protocol)

    @property
    def is_local(self) -> bool:
        """True when the endpoint is on this machine (a mock): no money is spent there."""
        return urlsplit(self.base_url).hostname in ("127.0.0.1", "localhost", "::1")

    def url(self, model: str) -> str:
        """The streaming request URL for ``model``."""
        return ADAPTERS[self.adapter].url(self.base_url, model)

    def headers(self) -> dict[str, str]:
        """Request headers with the static key (send them; never print them)."""
        return ADAPTERS[self.adapter].headers(self.api_key)

    async def request_headers(self, url: str = "", content: bytes = b"") -> dict[str, str]:
        """Request headers with the key, a fresh access token, or the signature of a POST of
        ``content`` to ``url`` (:class:`~toolkit.credentials.CredentialError` when there is none)."""
        if self.signer is not None:
            return await self.signer.sign(url, content, ADAPTERS[self.adapter].headers(None))
        secret = await self.token.token() if self.token is not None else self.api_key
        return ADAPTERS[self.adapter].headers(secret)

    def secrets(self) -> set[str]:
        """Every secret value this endpoint sends now (key, current token, AWS secret key and
        session token), for redaction; never printed."""
        out = {self.api_key} if self.api_key else set()
        if self.token is not None and self.token.current:
            out.add(self.token.current)
        if self.signer is not None:
            out |= self.signer.secrets()
        return out


def _key(provider: str, options: Mapping[str, Any], env_names: tuple[str, ...]) -> tuple[str, str | None]:
    """(where the key comes from, the key) from ``options.apiKey`` or the catalog's env names.

    The key is remembered for redaction (:func:`toolkit.redaction.remember`) as it is read.
    """
    source, key = _read_key(provider, options, env_names)
    remember(key)
    return source, key


def _read_key(provider: str, options: Mapping[str, Any], env_names: tuple[str, ...]) -> tuple[str, str | None]:
    """:func:`_key` before the key is remembered."""
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
            raise UserError(f"provider {provider!r}: cannot read the key file {name} ({exc.strerror})") from None
    for name in env_names:
        if os.environ.get(name):
            return f"env:{name}", os.environ[name]
    return ("env:" + env_names[0], None) if env_names else ("none", None)


def _setting(provider: str, name: str, options: Mapping[str, Any], values: dict[str, str]) -> str:
    """The value of one URL template variable (see :data:`toolkit.routes.SETTINGS`)."""
    setting = SETTINGS.get(name)
    if setting is None:  # a variable the catalog names that we do not know: only the environment has it
        value = os.environ.get(name)
        if value:
            return value
        raise UserError(f"provider {provider!r}: set {name} (its base URL needs it)")
    option = options.get(setting.option)
    if isinstance(option, str) and option:
        return option
    for env in setting.env:
        if os.environ.get(env):
            return os.environ[env]
    if name == "GOOGLE_VERTEX_ENDPOINT":
        location = values.get("GOOGLE_VERTEX_LOCATION") or _setting(provider, "GOOGLE_VERTEX_LOCATION", options, values)
        return "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    if setting.default is not None:
        return setting.default
    raise UserError(
        f"provider {provider!r}: set {' or '.join(setting.env)} or provider.{provider}.options.{setting.option}"
    )


def _expand(provider: str, template: str, options: Mapping[str, Any]) -> str:
    """``template`` with every ``${VAR}`` replaced by its setting (options, then environment)."""
    values: dict[str, str] = {}
    for name in _TEMPLATE.findall(template):
        values[name] = _setting(provider, name, options, values)
    return _TEMPLATE.sub(lambda m: values[m.group(1)], template)


def _google_token(provider: str) -> tuple[str, GoogleToken]:
    """Where Google credentials come from, and a token source for them."""
    if not google_auth_installed():
        raise UserError(f"provider {provider!r}: {GCP_EXTRA}")
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return "google-adc", GoogleToken()
    try:
        info = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except RecursionError:
        raise UserError(f"provider {provider!r}: GOOGLE_APPLICATION_CREDENTIALS {path} is nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"provider {provider!r}: cannot read GOOGLE_APPLICATION_CREDENTIALS {path} ({exc})") from None
    if not isinstance(info, dict):
        raise UserError(f"provider {provider!r}: GOOGLE_APPLICATION_CREDENTIALS {path} is not a credentials JSON")
    where = f"google-adc:{info.get('type', 'credentials')} file"
    return where, GoogleToken(info, where)


def _section(member: Member, config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The member's provider section of ``opencode.json`` (empty when there is none)."""
    return ((config or {}).get("provider") or {}).get(member.provider) or {}


def resolve_endpoint(member: Member, config: Mapping[str, Any] | None = None) -> Endpoint:
    """The endpoint of one member: ``opencode.json`` settings first, then the catalog row.

    Raises :class:`UserError` with the reason when it cannot be called (no adapter for its
    package, a missing setting, key or credentials, an optional extra not installed).
    """
    section = _section(member, config)
    options = section.get("options") or {}
    route = route_for(member.provider, section.get("npm") or member.provider_npm)
    if isinstance(route, str):
        raise UserError(f"provider {member.provider!r} cannot be reached: {route}")
    template = options.get("baseURL") or member.provider_api or route.base_url
    if not template:
        raise UserError(
            f"no base URL for provider {member.provider!r}: the catalog has none; "
            f"set provider.{member.provider}.options.baseURL in opencode.json"
        )
    base_url = _expand(member.provider, template, options).rstrip("/")
    protocol = ADAPTERS[route.adapter].protocol
    if route.auth == "google":
        key_source, token = _google_token(member.provider)
        return Endpoint(member.provider, base_url, protocol, key_source, adapter=route.adapter, token=token)
    if route.auth == "aws":
        return _aws_endpoint(member, base_url, protocol, route.adapter, options)
    key_vars = tuple(v for v in member.provider_env if v not in SETTINGS and v not in NOT_KEYS)
    key_source, api_key = _key(member.provider, options, key_vars)
    endpoint = Endpoint(member.provider, base_url, protocol, key_source, api_key, route.adapter)
    if api_key is None and not endpoint.is_local:
        where = key_source.removeprefix("env:") if key_source.startswith("env:") else None
        hint = f"set {where}" if where else f"set provider.{member.provider}.options.apiKey to {{env:VAR}}"
        raise UserError(f"no API key for provider {member.provider!r}: {hint}")
    return endpoint


def _aws_endpoint(member: Member, base_url: str, protocol: str, adapter: str, options: Mapping[str, Any]) -> Endpoint:
    """A Bedrock endpoint as OpenCode authorizes it: a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``
    or ``options.apiKey``) as a bearer token, else SigV4 with the standard AWS credential chain."""
    key_source, api_key = _key(member.provider, options, ("AWS_BEARER_TOKEN_BEDROCK",))
    if api_key is not None:
        return Endpoint(member.provider, base_url, protocol, key_source, api_key, adapter)
    if not botocore_installed():
        raise UserError(f"provider {member.provider!r}: set AWS_BEARER_TOKEN_BEDROCK, or {AWS_EXTRA}")
    region = _setting(member.provider, "AWS_REGION", options, {})
    try:
        signer = AwsSigner(region, options.get("profile") or None)
    except CredentialError as exc:
        raise UserError(
            f"provider {member.provider!r}: {exc}; set AWS_BEARER_TOKEN_BEDROCK, AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or a profile (AWS_PROFILE)"
        ) from None
    return Endpoint(member.provider, base_url, protocol, signer.where, adapter=adapter, signer=signer)


def resolve_endpoints(model: CombinedModel, config: Mapping[str, Any] | None = None) -> dict[str, Endpoint]:
    """Endpoints of every member of ``model``, keyed by provider, in try order."""
    return {m.provider: resolve_endpoint(m, config) for m in model.members}


def reachable_endpoints(
    members: Iterable[Member],
    config: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Endpoint], dict[str, str]]:
    """(endpoints of the members that can be called, reason of each one that cannot), by provider."""
    endpoints, unreachable = {}, {}
    for member in members:
        try:
            endpoints[member.provider] = resolve_endpoint(member, config)
        except UserError as exc:
            unreachable[member.provider] = str(exc)
    return endpoints, unreachable


def adapter_of(member: Member) -> str:
    """The adapter that calls ``member`` (the OpenAI one for a package no adapter speaks)."""
    route = route_for(member.provider, member.provider_npm)
    return route.adapter if isinstance(route, Route) else "openai"


def local_endpoints(urls: Mapping[str, str], adapters: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    """Endpoints for mock providers (``MockProviders.endpoints``): no key needed.

    ``adapters`` maps a provider to the adapter to call it with (default ``"openai"``); the
    mock serves each adapter's URLs below its ``/v1`` root (:func:`mock_base_url`).
    """
    adapters = adapters or {}
    out = {}
    for provider, url in urls.items():
        adapter = adapters.get(provider, "openai")
        out[provider] = Endpoint(
            provider, mock_base_url(url, adapter), ADAPTERS[adapter].protocol, "none", adapter=adapter
        )
    return out


MOCK_VERTEX_PROJECT, MOCK_VERTEX_LOCATION = "mock-project", "us-east5"


def mock_base_url(root: str, adapter: str) -> str:
    """The base URL an adapter uses at a mock provider whose OpenAI / Anthropic root is ``root``
    (``http://127.0.0.1:PORT/v1``): the same paths as the real API below the mock's host."""
    if adapter == "azure":
        return root.removesuffix("/v1") + "/openai/v1"
    if adapter == "bedrock":
        return root.removesuffix("/v1")
    if adapter == "gemini":
        return root.removesuffix("/v1") + "/v1beta/models"
    if adapter in ("vertex-anthropic", "vertex-gemini"):
        publisher = "anthropic" if adapter == "vertex-anthropic" else "google"
        return f"{root}/projects/{MOCK_VERTEX_PROJECT}/locations/{MOCK_VERTEX_LOCATION}/publishers/{publisher}/models"
    return root


REACH_COLUMNS = [
    "combined_id",
    "provider",
    "model_id",
    "model_ref",
    "provider_npm",
    "adapter",
    "protocol",
    "supported",
    "reachable",
    "base_url",
    "auth_source",
    "reason",
]
"""Columns of :func:`reach_table` (documented in the README's "endpoints table")."""


def reach_table(table: Any, config: Mapping[str, Any] | None = None) -> Any:
    """One row per member of a combined table (:func:`toolkit.combine.combined_table`): which
    adapter calls it, whether an adapter exists at all (``supported``), whether it can be called
    now with this environment and ``config`` (``reachable``: settings, key or credentials found),
    where the key or token comes from (never its value), and the reason when it cannot be called.
    """
    import pandas as pd

    rows, seen = [], {}
    for row in table.drop_duplicates(["combined_id", "provider", "model_id"]).itertuples(index=False):
        member = Member(
            row.provider,
            row.model_ref,
            provider_api=None if pd.isna(row.provider_api) else row.provider_api,
            provider_npm=None if pd.isna(row.provider_npm) else row.provider_npm,
            provider_env=tuple(v for v in (row.provider_env or "").split(",") if v),
        )
        cache_key = (member.provider, member.provider_api, member.provider_npm, member.provider_env)
        if cache_key not in seen:  # one resolution per distinct provider setup
            route = route_for(member.provider, _section(member, config).get("npm") or member.provider_npm)
            try:
                endpoint: Endpoint | None = resolve_endpoint(member, config)
                reason = ""
            except UserError as exc:
                endpoint, reason = None, str(exc)
            seen[cache_key] = (route, endpoint, reason)
        route, endpoint, reason = seen[cache_key]
        supported = isinstance(route, Route)
        adapter = route.adapter if isinstance(route, Route) else None
        rows.append(
            {
                "combined_id": row.combined_id,
                "provider": row.provider,
                "model_id": row.model_id,
                "model_ref": row.model_ref,
                "provider_npm": member.provider_npm,
                "adapter": adapter,
                "protocol": ADAPTERS[adapter].protocol if adapter else None,
                "supported": supported,
                "reachable": endpoint is not None,
                "base_url": endpoint.base_url if endpoint else None,
                "auth_source": endpoint.key_source if endpoint else None,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=REACH_COLUMNS).astype({"supported": bool, "reachable": bool})
