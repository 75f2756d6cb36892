"""The gateway's section of ``opencode.json``: what OpenCode needs to reach it, and the policy it runs.

``combined-models export --layout gateway`` writes one provider, ``provider.combined``, so
that OpenCode sends every ``combined/<id>`` request to the local gateway
(``combined-models gateway``), which fails over between the real providers:

.. code-block:: json

    "combined": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "Combined models (local gateway)",
      "options": {
        "baseURL": "http://127.0.0.1:4141/v1",
        "apiKey": "{env:GATEWAY_TOKEN}",
        "failover": {"preset": "resilient", "provider_priority": ["anthropic", "openrouter"],
                     "min_providers": 2, "strategy": "on_error", "max_attempts": 2}
      },
      "models": {"claude-sonnet-4": {"name": "Claude Sonnet 4", "limit": {"context": 200000, "output": 32000},
                                     "tool_call": true, "reasoning": true, "cost": {"input": 3, "output": 15}}}
    }

The policy lives in ``options.failover``: the preset's name, the seed plugin's four options,
every other :class:`~toolkit.policy.FailoverPolicy` field that differs from the preset, and
the ``variants`` setting when it is not ``exact``.
OpenCode validates ``options`` loosely (any extra key is allowed, on every release) and
hands it to the SDK package's factory, which reads only the settings it knows; the real
CLI (1.18.15 and 1.18.33) loads such a file and sends no trace of ``failover`` upstream
(``tests/test_gateway_opencode.py``). A new top-level key would break 1.18.15, and
model-level ``options`` are sent in every request body, so neither is used.

:func:`gateway_section` builds the section, :func:`read_gateway_settings` reads it back
into the same policy, so ``combined-models gateway --config opencode.json`` serves exactly
what was exported. Only a ``{env:VAR}`` reference is ever written for the gateway token;
without a token ``apiKey`` is the empty string: ``@ai-sdk/anthropic`` refuses to start with no
key at all, and with an empty one neither package sends a key of the user's own (such as
``ANTHROPIC_API_KEY`` from the environment) to the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from toolkit.choice import SEED_FIELDS, base_policy, build_policy
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError, check_known
from toolkit.policy import FailoverPolicy
from toolkit.variants import DEFAULT_SETTING, check_setting

if TYPE_CHECKING:
    import pandas as pd

PROVIDER_ID = "combined"
"""The provider id OpenCode knows the gateway by: models are ``combined/<combined_id>``."""
POLICY_KEY = "failover"
"""The key of ``provider.combined.options`` that holds the policy."""
PACKAGES = {"openai": "@ai-sdk/openai-compatible", "anthropic": "@ai-sdk/anthropic"}
"""Wire protocol OpenCode speaks to the gateway -> the AI SDK package it loads for it."""
DEFAULT_URL = "http://127.0.0.1:4141/v1"
DEFAULT_NAME = "Combined models (local gateway)"
_ENV_REFERENCE = re.compile(r"^\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class GatewaySettings:
    """What the gateway serves and how OpenCode reaches it, as stored in ``provider.combined``."""

    policy: FailoverPolicy
    preset: str | None
    combined_ids: tuple[str, ...]
    base_url: str = DEFAULT_URL
    token_env: str | None = None  # the variable holding the gateway token; None: no token
    protocol: str = "openai"  # what OpenCode speaks to the gateway: "openai" or "anthropic"
    variants: str = DEFAULT_SETTING  # the deployment variants a failover order may use (toolkit.variants)

    def __post_init__(self) -> None:
        object.__setattr__(self, "combined_ids", tuple(dict.fromkeys(self.combined_ids)))
        if not self.combined_ids:
            raise UserError("the gateway layout needs at least one combined model (--combined ID)")
        check_known("gateway protocol", [self.protocol], PACKAGES)
        check_base_url(self.base_url)
        if self.token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.token_env):
            raise UserError(f"--token-env takes the name of an environment variable, not {self.token_env!r}")
        base_policy(self.preset)  # an unknown preset is one clear line here, not at read-back
        check_setting(self.variants)

    @property
    def host(self) -> str:
        """The host the gateway should listen on (from ``base_url``)."""
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        """The port the gateway should listen on (from ``base_url``; 80/443 when it names none)."""
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def npm(self) -> str:
        """The AI SDK package OpenCode loads to talk to the gateway."""
        return PACKAGES[self.protocol]


def check_base_url(url: str) -> None:
    """Refuse a gateway URL OpenCode's SDK packages would call the wrong paths on.

    Both packages append their route to ``baseURL`` (``/chat/completions``, ``/messages``)
    and the gateway serves them under ``/v1``, so the URL must end in ``/v1``.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"the gateway URL must be http://HOST:PORT/v1, not {url!r}")
    try:
        parts.port  # noqa: B018 (validates the port)
    except ValueError:
        raise UserError(f"the gateway URL {url!r} has an invalid port") from None
    if parts.path.rstrip("/") != "/v1" or parts.query or parts.fragment:
        raise UserError(
            f"the gateway URL must end in /v1 (the SDK appends /chat/completions or /messages), not {url!r}"
        )


def policy_options(policy: FailoverPolicy, preset: str | None) -> dict[str, Any]:
    """The policy as ``options.failover`` stores it: preset, seed options, then fields that differ."""
    values = policy.to_dict()
    base = base_policy(preset).to_dict()
    out: dict[str, Any] = {"preset": preset} if preset else {}
    out.update({k: values[k] for k in SEED_FIELDS})
    out.update({k: v for k, v in values.items() if k not in SEED_FIELDS and k != "name" and v != base[k]})
    return out


def policy_from_options(options: object, source: str) -> tuple[FailoverPolicy, str | None]:
    """The policy and preset name stored by :func:`policy_options` (one-line errors name the file)."""
    where = f"{source}: provider.{PROVIDER_ID}.options.{POLICY_KEY}"
    if not isinstance(options, Mapping):
        raise UserError(f"{where} must be an object of policy fields, not {type(options).__name__}")
    preset = options.get("preset")
    if preset is not None and not (isinstance(preset, str) and preset):
        raise UserError(f"{where}.preset must be a preset name, not {preset!r}")
    try:
        return build_policy(preset, {k: v for k, v in options.items() if k != "preset"}), preset
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _all_true(values: pd.Series) -> bool | None:
    """True when every member the catalog describes says yes, False when one says no, None when none is described."""
    known = values.dropna()
    return bool(known.astype(bool).all()) if len(known) else None


def model_entry(
    combined: pd.DataFrame, combined_id: str, priority: Sequence[str] = (), variants: str = DEFAULT_SETTING
) -> dict[str, Any]:
    """One ``models`` entry: name, limits, tool_call, reasoning and cost of a combined model.

    ``combined`` is a combined table; the members are those ``variants`` admits. Limits
    are the minimum over the members (what every one of them accepts); ``tool_call`` and
    ``reasoning`` are true only when every member the catalog describes supports them (a
    request may be answered by any member); the name and cost are those of the first
    member in try order (``priority`` first), the one that answers while nothing fails.
    """
    model = CombinedModel.from_table(combined, combined_id, variants)
    members = model.ordered([p for p in priority if p in model.providers]).members
    rows = combined[combined["model_ref"].isin([m.model_ref for m in members])]
    top = rows[rows["model_ref"] == members[0].model_ref].iloc[0]
    entry: dict[str, Any] = {"name": str(top["name"]) if isinstance(top["name"], str) else combined_id}
    limit = {
        key: int(rows[column].min())
        for key, column in (("context", "context_limit"), ("output", "output_limit"))
        if rows[column].notna().any()
    }
    if limit:
        entry["limit"] = limit
    for flag in ("tool_call", "reasoning"):
        value = _all_true(rows[flag])
        if value is not None:
            entry[flag] = value
    cost = {
        key: _number(top[column])
        for key, column in (("input", "cost_input"), ("output", "cost_output"))
        if _present(top[column])
    }
    if cost:
        entry["cost"] = cost
    return entry


def _present(value: object) -> bool:
    """Whether a table cell holds a value (not NaN / NA / None)."""
    import pandas as pd

    return not pd.isna(value)


def _number(value: object) -> int | float:
    """A price as JSON writes it: ``3`` rather than ``3.0``."""
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number


def gateway_section(settings: GatewaySettings, combined: pd.DataFrame, name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The ``provider.combined`` block for ``settings``, its models described from the combined table."""
    options: dict[str, Any] = {"baseURL": settings.base_url}
    options["apiKey"] = f"{{env:{settings.token_env}}}" if settings.token_env else ""
    options[POLICY_KEY] = policy_options(settings.policy, settings.preset)
    if settings.variants != DEFAULT_SETTING:
        options[POLICY_KEY]["variants"] = settings.variants
    priority = settings.policy.provider_priority
    models = {cid: model_entry(combined, cid, priority, settings.variants) for cid in settings.combined_ids}
    return {"npm": settings.npm, "name": name, "options": options, "models": models}


def read_gateway_settings(config: Mapping[str, Any], source: str = "opencode.json") -> GatewaySettings | None:
    """The gateway settings stored in a parsed ``opencode.json`` (None when it has no ``provider.combined``).

    A ``provider.combined`` that is not a gateway section written by the export (no
    ``options.failover``, an unknown SDK package, a literal token, no models) is a
    :class:`UserError` naming ``source`` and the key to fix.
    """
    providers = config.get("provider")
    if providers is None:
        return None
    if not isinstance(providers, Mapping):
        raise UserError(f"{source}: 'provider' must be an object of provider id -> settings")
    section = providers.get(PROVIDER_ID)
    if section is None:
        return None
    where = f"{source}: provider.{PROVIDER_ID}"
    if not isinstance(section, Mapping) or not isinstance(section.get("options"), Mapping):
        raise UserError(f"{where} must be an object with 'options'; export it again with --layout gateway")
    options = section["options"]
    if POLICY_KEY not in options:
        raise UserError(f"{where}.options has no '{POLICY_KEY}' policy; export it again with --layout gateway")
    protocols = {package: protocol for protocol, package in PACKAGES.items()}
    npm = section.get("npm", PACKAGES["openai"])
    if npm not in protocols:
        raise UserError(f"{where}.npm must be one of {', '.join(protocols)}, not {npm!r}")
    token_env = None
    if options.get("apiKey"):  # absent or "": no token
        match = _ENV_REFERENCE.match(str(options["apiKey"]))
        if match is None:
            # never echo the value: it may be a literal token
            raise UserError(f"{where}.options.apiKey must be an {{env:VAR}} reference to the gateway token")
        token_env = match.group(1)
    models = section.get("models")
    if not isinstance(models, Mapping) or not models:
        raise UserError(f"{where}.models must name at least one combined model")
    stored = options[POLICY_KEY]
    variants = stored.get("variants", DEFAULT_SETTING) if isinstance(stored, Mapping) else DEFAULT_SETTING
    if isinstance(stored, Mapping):
        stored = {k: v for k, v in stored.items() if k != "variants"}
    policy, preset = policy_from_options(stored, source)
    try:
        return GatewaySettings(
            policy, preset, tuple(models), options.get("baseURL", DEFAULT_URL), token_env, protocols[npm], variants
        )
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
