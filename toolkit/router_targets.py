"""A failover choice for the routers users already run (LiteLLM, OpenRouter), and what each cannot express.

:func:`litellm_proxy_config` turns a combined model and a :class:`~toolkit.policy.FailoverPolicy`
(``Choice.policy()``) into a LiteLLM proxy config (``model_list``, ``router_settings``) that
does the closest thing LiteLLM 1.110 can, and :func:`opencode_provider_block` the
``opencode.json`` provider that points OpenCode at that proxy (:func:`plan_litellm_export`
writes both); :func:`openrouter_routing` the OpenRouter ``provider`` routing object for the
user's OpenRouter model (the ``openrouter`` layout of :mod:`toolkit.export` writes it into
``opencode.json``). :data:`TARGETS` lists, per target, the policy features it loses
(:func:`losses`), which ``recommend`` shows next to the recommendation.

How a policy maps onto LiteLLM (its behaviour measured in ``docs/fidelity.md``):

- ``reroute`` policies (LiteLLM's own group semantics) become **one model group** with a
  deployment per member: ``order`` 1, 2, ... for ``priority`` routing, ``weight`` for
  ``weighted``, nothing for ``shuffle``, ``routing_strategy: least-busy`` for ``least_busy``; ``num_retries`` = calls per request - 1; the
  cooldown becomes ``cooldown_time`` / ``allowed_fails``.
- every other policy becomes **a model group per member** chained by ``fallbacks`` in try
  order: ``num_retries = max_attempts - 1`` tries each, then the next group (what the
  ``litellm-1.110-fallbacks`` preset reproduces); ``context_failover`` adds the same chain as
  ``context_window_fallbacks``.

Keys are never written: each deployment's ``api_key`` is ``os.environ/VAR`` (LiteLLM's own
spelling) with the variable the catalog names for that provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from toolkit.combined_model import CombinedModel, Member
from toolkit.config_edit import ConfigFile, ExportPlan, read_existing
from toolkit.errors import UserError
from toolkit.policy import FailoverPolicy
from toolkit.userfile import real_path

LITELLM_VERSION = "1.110.2"  # the release the mapping was checked against (docs/fidelity.md)
PROXY_PROVIDER = "litellm"  # the opencode.json provider id of the proxy
DEFAULT_PROXY_URL = "http://127.0.0.1:4000/v1"
PROXY_KEY_ENV = "LITELLM_MASTER_KEY"

# catalog (models.dev) provider id -> LiteLLM's model prefix; anything else that has an
# OpenAI-compatible base URL in the catalog goes through ``openai/`` with ``api_base``
LITELLM_PREFIX = {
    "anthropic": "anthropic",
    "openai": "openai",
    "amazon-bedrock": "bedrock",
    "google": "gemini",
    "google-vertex": "vertex_ai",
    "google-vertex-anthropic": "vertex_ai",
    "openrouter": "openrouter",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "togetherai": "together_ai",
    "fireworks-ai": "fireworks_ai",
    "xai": "xai",
    "cerebras": "cerebras",
    "deepinfra": "deepinfra",
    "perplexity": "perplexity",
}
# providers whose credentials are several settings, by LiteLLM parameter -> catalog variable
_CREDENTIALS = {
    "amazon-bedrock": {
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "aws_region_name": "AWS_REGION",
    },
    "google-vertex": {
        "vertex_project": "GOOGLE_VERTEX_PROJECT",
        "vertex_location": "GOOGLE_VERTEX_LOCATION",
        "vertex_credentials": "GOOGLE_APPLICATION_CREDENTIALS",
    },
}
_CREDENTIALS["google-vertex-anthropic"] = _CREDENTIALS["google-vertex"]
_OPENAI_COMPATIBLE = "@ai-sdk/openai-compatible"


def reachable(member: Member) -> bool:
    """Whether LiteLLM can call ``member``: a provider it knows, or a base URL from the catalog."""
    return member.provider in LITELLM_PREFIX or bool(member.provider_api and "${" not in member.provider_api)


def _deployment(member: Member) -> dict:
    """One LiteLLM deployment (``litellm_params``) for a reachable member; its key stays in the environment."""
    prefix = LITELLM_PREFIX.get(member.provider)
    params: dict = {}
    if prefix is None:
        prefix = "openai"
        params["api_base"] = member.provider_api
    params["model"] = f"{prefix}/{member.model_id}"
    if member.provider in _CREDENTIALS:
        params.update({k: f"os.environ/{var}" for k, var in _CREDENTIALS[member.provider].items()})
    elif member.provider_env:
        params["api_key"] = f"os.environ/{member.provider_env[0]}"
    return params


def litellm_proxy_config(model: CombinedModel, policy: FailoverPolicy) -> dict:
    """The LiteLLM proxy config running ``policy`` over ``model``'s members (see the module docs).

    The group OpenCode calls is named ``model.combined_id``. Members LiteLLM cannot reach
    (:func:`reachable`) are left out; none left is a :class:`UserError`.
    """
    members = [m for m in policy.members(model) if reachable(m)]
    if not members:
        raise UserError(f"LiteLLM can reach none of {model.combined_id}'s providers (no LiteLLM provider, no base URL)")
    name = model.combined_id
    settings: dict = {"num_retries": policy.max_attempts - 1, "timeout": policy.attempt_timeout_s}
    if policy.reroute:
        weights = dict(policy.weights)
        model_list = []
        for k, member in enumerate(members):
            params = _deployment(member)
            if policy.routing == "priority":
                params["order"] = k + 1
            elif policy.routing == "weighted":
                params["weight"] = weights.get(member.provider, 1.0)
            model_list.append({"model_name": name, "litellm_params": params})
        calls = policy.max_total_attempts or policy.max_attempts * len(members)
        strategy = "least-busy" if policy.routing == "least_busy" else "simple-shuffle"
        settings.update(num_retries=calls - 1, routing_strategy=strategy)
        if policy.cooldown_s > 0:
            settings["cooldown_time"] = policy.cooldown_s
        if policy.cooldown_failures is not None:
            settings["allowed_fails"] = policy.cooldown_failures - 1
        return {"model_list": model_list, "router_settings": settings}
    groups = [name] + [f"{name}@{m.provider}" for m in members[1:]]
    model_list = [{"model_name": g, "litellm_params": _deployment(m)} for g, m in zip(groups, members)]
    if len(groups) > 1 and policy.failover_classes:
        settings["fallbacks"] = [{groups[0]: groups[1:]}]
        if policy.context_failover:
            settings["context_window_fallbacks"] = [{groups[0]: groups[1:]}]
    return {"model_list": model_list, "router_settings": settings}


def litellm_config_text(config: dict, source: str) -> str:
    """The proxy config file: JSON (which YAML loaders read as YAML) under a comment saying what it is."""
    head = (
        f"# LiteLLM proxy config (checked against litellm {LITELLM_VERSION}), written by combined-models from "
        f"{source}.\n# Keys come from the environment (os.environ/VAR). Run: litellm --config <this file>\n"
    )
    return head + json.dumps(config, indent=2) + "\n"


def opencode_provider_block(
    model: CombinedModel, base_url: str = DEFAULT_PROXY_URL, key_env: str = PROXY_KEY_ENV
) -> dict:
    """The ``provider.litellm`` section pointing OpenCode at the proxy (``litellm/<combined id>``)."""
    first = model.members[0]
    limit = {k: int(v) for k, v in (("context", first.context_limit), ("output", first.output_limit)) if v}
    entry: dict = {"name": f"{model.combined_id} (LiteLLM proxy)"}
    if limit:
        entry["limit"] = limit
    return {
        "npm": _OPENAI_COMPATIBLE,
        "name": "LiteLLM proxy",
        "options": {"baseURL": base_url, "apiKey": f"{{env:{key_env}}}"},
        "models": {model.combined_id: entry},
    }


# -- what each target loses ---------------------------------------------------------------------


def _litellm_losses(p: FailoverPolicy) -> list[str]:
    lost = []
    if p.strategy != "on_error" and not p.reroute:
        lost.append(f"strategy {p.strategy}: LiteLLM falls back after any error once the retries are spent")
    if p.switch_first:
        lost.append("switch_first: a fallback group is tried only after the retries on the current one")
    if not p.reroute and p.cooldown_s > 0:
        lost.append("cooldown: LiteLLM never cools down a group's only deployment")
    if p.breaker_failures is not None:
        lost.append("circuit breaker: no half-open probes (a passive cooldown at most)")
    if p.retry_budget is not None:
        lost.append("retry budget")
    if p.hedge_after_s is not None:
        lost.append("hedging")
    if p.deadline_s is not None:
        lost.append("request deadline (only a per-call timeout)")
    if p.max_retry_after_s is not None:
        lost.append("max_retry_after_s: a long Retry-After is waited out (capped at 8 s), not routed around")
    if (p.backoff_base_s, p.backoff_multiplier, p.backoff_cap_s, p.jitter) != (0.5, 2.0, 8.0, "additive"):
        lost.append("backoff shape: LiteLLM waits min(max(0.5 * 2^n, Retry-After), 8) + U(0, 0.75) s")
    if p.retry_after_mode not in ("base", "ignore"):
        lost.append(f"retry_after_mode {p.retry_after_mode}: LiteLLM uses a Retry-After as the backoff's base")
    return lost


# -- the export --------------------------------------------------------------------------------


def plan_litellm_export(
    config_path: str | Path,
    proxy_config_path: str | Path,
    model: CombinedModel,
    policy: FailoverPolicy,
    *,
    source: str,
    base_url: str = DEFAULT_PROXY_URL,
    key_env: str = PROXY_KEY_ENV,
) -> tuple[ExportPlan, ExportPlan]:
    """Plans (nothing written yet) for the LiteLLM proxy config file and for ``opencode.json``:
    ``provider.litellm`` pointing at the proxy and ``model`` set to ``litellm/<combined id>``; the
    latter's ``notes`` say what LiteLLM cannot express of ``policy``.
    Both write atomically with a backup, like every export (:class:`~toolkit.config_edit.ExportPlan`)."""
    if not (base_url.startswith(("http://", "https://")) and base_url.strip() == base_url):
        raise UserError(f"--proxy-url must be an http(s) URL such as {DEFAULT_PROXY_URL}, not {base_url!r}")
    proxy_path = real_path(proxy_config_path)
    old_proxy = read_existing(proxy_path)
    proxy = ExportPlan(proxy_path, old_proxy, litellm_config_text(litellm_proxy_config(model, policy), source), (), ())
    updates = {
        ("provider", PROXY_PROVIDER): opencode_provider_block(model, base_url, key_env),
        ("model",): f"{PROXY_PROVIDER}/{model.combined_id}",
    }
    left_out = [m.provider for m in policy.members(model) if not reachable(m)]
    warned = (f"left out of the LiteLLM config (LiteLLM cannot reach them): {', '.join(left_out)}",) if left_out else ()
    lost = tuple(f"LiteLLM cannot express {what}" for what in _litellm_losses(policy))
    return proxy, ConfigFile.read(config_path).plan(updates, warnings=warned, notes=lost)


# -- OpenRouter provider routing ---------------------------------------------------------------

OPENROUTER = "openrouter"
# catalog provider id -> OpenRouter's provider slug (provider.order / only take slugs)
OPENROUTER_SLUG = {
    "anthropic": "anthropic",
    "openai": "openai",
    "amazon-bedrock": "amazon-bedrock",
    "google-vertex": "google-vertex",
    "google-vertex-anthropic": "google-vertex",
    "google": "google-ai-studio",
    "azure": "azure",
    "togetherai": "together",
    "fireworks-ai": "fireworks",
    "deepinfra": "deepinfra",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "cerebras": "cerebras",
    "novita-ai": "novita",
    "baseten": "baseten",
    "nebius": "nebius",
    "moonshotai": "moonshotai",
}


def openrouter_routing(model: CombinedModel, policy: FailoverPolicy) -> tuple[str, dict, list[str]]:
    """OpenRouter's model id for ``model``, the ``provider`` routing object expressing ``policy``
    over the other members, and the members OpenRouter has no slug for (left out).

    ``priority`` routing: ``order`` (the try order) with ``allow_fallbacks`` (false when
    ``max_providers`` limits the members, so OpenRouter stays within them); ``shuffle`` /
    ``weighted``: ``only`` those providers, spread by OpenRouter.
    """
    offer = next((m for m in model.members if m.provider == OPENROUTER), None)
    if offer is None:
        raise UserError(
            f"{model.combined_id} is not offered by openrouter in the catalog: no OpenRouter model to route"
        )
    slugs: list[str] = []
    left_out = []
    for member in policy.members(model):
        slug = OPENROUTER_SLUG.get(member.provider)
        if member.provider == OPENROUTER:
            continue
        if slug is None:
            left_out.append(member.provider)
        elif slug not in slugs:
            slugs.append(slug)
    if not slugs:
        raise UserError(f"OpenRouter has no provider slug for any of {model.combined_id}'s other providers")
    if policy.routing == "priority":
        return offer.model_id, {"order": slugs, "allow_fallbacks": policy.max_providers is None}, left_out
    return offer.model_id, {"only": slugs}, left_out


def _openrouter_losses(p: FailoverPolicy) -> list[str]:
    lost = ["retries, backoff and Retry-After handling: OpenRouter's own, not configurable"]
    if p.cooldown_s > 0 or p.breaker_failures is not None:
        lost.append("cooldown and circuit breaker: OpenRouter's own outage tracking instead")
    if p.strategy != "on_error":
        lost.append(f"strategy {p.strategy}: OpenRouter moves on after any provider error")
    if p.routing == "weighted":
        lost.append("weights: OpenRouter balances by its own measure among `only`")
    if p.routing == "least_busy":
        lost.append("least_busy: OpenRouter balances by its own measure among `only`")
    lost += [
        name
        for name, on in (
            ("retry budget", p.retry_budget),
            ("hedging", p.hedge_after_s),
            ("request deadline", p.deadline_s),
        )
        if on is not None
    ]
    return lost


TARGETS: dict[str, Callable[[FailoverPolicy], list[str]]] = {
    "gateway": lambda p: [],  # runs the toolkit's own engine: the policy as it is
    "litellm": _litellm_losses,
    "openrouter": _openrouter_losses,
}
"""Export target -> the policy features it cannot express (empty: everything)."""


def losses(policy: FailoverPolicy) -> dict[str, list[str]]:
    """Per export target, what of ``policy`` it cannot express."""
    return {target: lost(policy) for target, lost in TARGETS.items()}
