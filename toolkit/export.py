"""Write a :class:`~toolkit.choice.Choice` into the user's ``opencode.json[c]``, safely.

Four layouts (:data:`LAYOUTS`, one registry entry each: a planner, a writer and a
description; the Python API and the CLI offer the same set). The first and the last change
what OpenCode does:

``gateway``
    ``provider.combined``: a provider pointing OpenCode at the local failover gateway
    (``combined-models gateway``), one model per combined model, and the whole policy in
    its options (:mod:`toolkit.gateway_config`). OpenCode then sends ``combined/<id>``
    requests to the gateway, which fails over between the real providers. Loads on every
    OpenCode release. The plugin's entry and a ``combined_models`` section are removed
    (the plugin would define ``combined/*`` models of its own).
``openrouter``
    OpenRouter provider routing (:func:`toolkit.router_targets.openrouter_routing`) on the
    user's OpenRouter model of the choice's combined model,
    ``provider.openrouter.models.<id>.options.provider``, and ``model`` set to that model:
    OpenCode sends the routing in each request's body and OpenRouter fails over. What
    OpenRouter cannot express of the policy comes back as the plan's ``notes``.

The other two carry the seed plugin's options. OpenCode loads them, but nothing in it acts
on them: the plugin is deprecated upstream because a plugin cannot intercept provider
errors, and OpenCode has no provider fallback of its own.

``combined_models`` (default)
    the seed README's top-level section ``"combined_models": {...}`` next to a bare plugin
    entry. OpenCode 1.18.16 and later ignore unknown top-level keys; releases up to 1.18.15
    refuse the whole file (``Unrecognized key: combined_models``), so exporting it warns.
``plugin``
    the options inside the plugin's own entry, ``["<plugin>", {options}]``: the documented
    way to configure a plugin, accepted by every OpenCode release. A ``combined_models``
    section left from an earlier export is removed (it would break those older releases).

With these two the plugin appears in ``plugin`` exactly once, whatever form (bare name,
pinned version, ``file://`` path, with options) it was in before, and a gateway section
left from an earlier export is removed. Only the keys a layout names (``plugin``,
``combined_models``, ``provider.combined``, the OpenRouter model's ``options.provider``)
and ``model`` are touched, spliced in by offset (:mod:`toolkit.config_edit`): every other
key, comment and blank stays as written. A comment inside a replaced value cannot be kept;
the export then refuses unless ``drop_comments`` is given, so the user hears of it before
anything is written.

Writes go through a temporary file and ``os.replace`` (keeping mode, owner and group where
the process may: :mod:`toolkit.atomic`), after keeping the previous file as a timestamped
backup, under the folder's lock (:mod:`toolkit.filelock`) so racing exports follow one
another; new lines use the file's own line ending. An export that changes nothing writes
nothing (no new backup), so running it twice leaves the file byte-identical. Only provider ids, numbers, the plugin
spec, model descriptions and a model name are written: API keys, and the gateway token,
stay in the environment (``{env:VAR}``).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from toolkit import jsonc
from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.config_edit import ConfigFile, ExportPlan
from toolkit.errors import UserError, check_known
from toolkit.filelock import folder_lock
from toolkit.gateway_config import DEFAULT_URL, POLICY_KEY, PROVIDER_ID, GatewaySettings, gateway_section
from toolkit.router_targets import OPENROUTER, losses, openrouter_routing

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
DEFAULT_PLUGIN = "opencode-combined-models"
SECTION = "combined_models"
COMBINED_PROVIDER = PROVIDER_ID
# What OpenCode up to 1.18.15 prints for the seed layout (checked against the real CLI in tests).
STRICT_REJECTION = f"Unrecognized key: {SECTION}"
LAYOUT_WARNING = (
    f"OpenCode 1.18.15 and earlier refuse a config with a top-level {SECTION!r} section "
    f'("Configuration is invalid ... {STRICT_REJECTION}"); 1.18.16 and later accept it. '
    "The plugin layout (--layout plugin) loads on every release."
)


class ExportWarning(UserWarning):
    """Something the user should know about an export that is still written."""


def plugin_name(spec: str) -> str:
    """The package a plugin spec names: ``x@1.2`` -> ``x``, ``file:///a/x/index.ts`` -> ``x``.

    Used to find the plugin's entry in whatever form the user wrote it.
    """
    path = re.sub(r"^file://", "", spec).rstrip("/")
    if spec.startswith(("file:", "/", ".", "~")):
        parts = Path(path).parts
        stem = Path(parts[-1]).stem if parts else path
        return parts[-2] if stem == "index" and len(parts) > 1 else stem
    scoped = path.startswith("@")
    name = path[1:].split("@", 1)[0] if scoped else path.split("@", 1)[0]
    return "@" + name if scoped else name


def _entry_spec(entry: object, source: str) -> str:
    """The spec of a ``plugin`` entry (``"spec"`` or ``["spec", {options}]``)."""
    name = entry[0] if isinstance(entry, list) and entry else entry
    if not isinstance(name, str):
        raise UserError(
            f'{source}: every \'plugin\' entry must be "name" or ["name", {{options}}], not {_json_kind(entry)}'
        )
    if jsonc.LONE_SURROGATE.search(name):
        raise UserError(
            f"{source}: the plugin entry {ascii(name)} holds a lone surrogate escape (\\ud800-\\udfff alone "
            "is not text); fix or remove that entry"
        )
    return name


def _json_kind(value: object) -> str:
    """What kind of JSON value ``value`` is, in words: never its content (an object may hold a key)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number", float: "a number"}
    if isinstance(value, list) and value:
        return f"a list starting with {kinds.get(type(value[0]), 'null')}"
    return "an empty list" if value == [] else kinds.get(type(value), "null")


# An npm package (scoped or not) with an optional @version, range or tag; or a file:// URL.
_NPM_SPEC = re.compile(r"(?:@[a-z0-9][\w.~-]*/)?[a-z0-9][\w.~-]{0,213}(?:@[\w.^~<>=*+-]+)?", re.I | re.ASCII)
_URL_CHAR = r"[^\s{}\[\]\"\\]"
_FILE_URL = re.compile(rf"file://{_URL_CHAR}*(?!/){_URL_CHAR}{_URL_CHAR}*", re.ASCII)


def check_plugin_spec(spec: str) -> str:
    """``spec`` if it is a plugin spec OpenCode can load, else a one-line :class:`UserError`.

    OpenCode takes an npm package name (``name``, ``@scope/name``) with an optional
    ``@version``, or a ``file://`` URL to the plugin. Anything else (a bare ``@``, an empty
    ``file://``, text with spaces, newlines or braces) would be written into the config as a
    plugin OpenCode cannot install.
    """
    if not spec.strip():
        raise UserError("--plugin must name the plugin (an npm package or a file:// URL)")
    if not (_NPM_SPEC.fullmatch(spec) or _FILE_URL.fullmatch(spec)):
        raise UserError(
            f"--plugin takes an npm package name with an optional @version (opencode-combined-models, "
            f"@scope/name@1.2.0) or a file:// URL to the plugin, not {ascii(spec)}"
        )
    return spec


def _plugin_entries(config: dict, source: str) -> list:
    """The config's ``plugin`` list (empty when missing), refusing any other type."""
    entries = config.get("plugin", [])
    if not isinstance(entries, list):
        raise UserError(f"{source}: 'plugin' must be a list of plugin entries, not {type(entries).__name__}")
    return entries


def _entry_name(entry: object, source: str) -> str:
    """The package a ``plugin`` entry names."""
    return plugin_name(_entry_spec(entry, source))


def merge_plugin(entries: Sequence[object], spec: str | None, options: dict | None, source: str) -> list:
    """``entries`` with the plugin exactly once, at the place of its first old entry (else last).

    ``spec`` None keeps the spec the user already wrote (else :data:`DEFAULT_PLUGIN`);
    ``options`` None writes the bare spec, otherwise ``[spec, options]``.
    """
    wanted = plugin_name(spec or DEFAULT_PLUGIN)
    kept: list = []
    position, old_spec = None, None
    for entry in entries:
        name = _entry_spec(entry, source)
        if plugin_name(name) == wanted:
            if position is None:
                position, old_spec = len(kept), name
            continue
        kept.append(entry)
    spec = spec or old_spec or DEFAULT_PLUGIN
    kept.insert(len(kept) if position is None else position, spec if options is None else [spec, options])
    return kept


def check_against_catalog(choice: Choice, combined: pd.DataFrame, models: str | Sequence[str] | None = None) -> None:
    """Refuse a choice the catalog contradicts (one-line :class:`UserError` with close ids).

    ``combined`` is a combined table built with ``min_providers=1`` (so every provider of
    the catalog appears). Every provider in ``provider_priority`` must exist. The combined
    models named (``choice.combined_id`` and ``models``, such as the model to set) must
    exist and have at least ``min_providers`` providers serving a variant
    ``choice.variants`` allows; a listed provider must offer the
    one model named, or at least one of several (the priority list is global, as in the
    seed: names a model lacks are skipped). A choice for no particular model needs each
    listed provider to offer some model shared by ``min_providers`` providers.
    """
    providers = sorted(combined["provider"].unique())
    check_known("provider", choice.provider_priority, providers)
    extra = [models] if isinstance(models, str) else list(models or ())
    named = [cid for cid in dict.fromkeys((choice.combined_id, *extra)) if cid]
    offered: set[str] = set()
    for cid in named:
        offer = CombinedModel.from_table(combined, cid, choice.variants)
        if len(named) == 1:
            offer.ordered(choice.provider_priority)  # names the provider that lacks it, and who offers it
        if len(offer.members) < choice.min_providers:
            raise UserError(
                f"{cid} is offered by {len(offer.members)} provider(s), fewer than min_providers="
                f"{choice.min_providers}, so it would not be a combined model; lower --min-providers"
            )
        offered.update(offer.providers)
    for provider in choice.provider_priority:
        if named and provider not in offered:
            raise UserError(f"provider {provider!r} offers none of {', '.join(named)}; drop it from --priority")
    if not named:
        shared = set(combined.loc[combined["n_providers"] >= choice.min_providers, "provider"])
        for provider in choice.provider_priority:
            if provider not in shared:
                raise UserError(
                    f"provider {provider!r} offers no model shared by {choice.min_providers} or more providers;"
                    " drop it from --priority or lower --min-providers"
                )


@dataclass(frozen=True)
class GatewayOptions:
    """How the ``gateway`` layout reaches the gateway; ignored by the other layouts.

    ``combined_ids`` are the combined models to serve (default: the choice's, plus the
    model to set); ``protocol`` is what OpenCode speaks to the gateway (``openai`` or
    ``anthropic``); ``token_env`` names the variable holding the gateway token, written
    as ``{env:VAR}`` (None: no token, an empty key).
    """

    combined_ids: tuple[str, ...] = ()
    base_url: str = DEFAULT_URL
    protocol: str = "openai"
    token_env: str | None = None


def _set_model_id(set_model: str | None) -> str | None:
    """The combined id of ``--set-model combined/ID`` (None when not given)."""
    if set_model is None:
        return None
    provider, _, model_id = set_model.partition("/")
    if provider != COMBINED_PROVIDER or not model_id:
        raise UserError(f"--set-model takes {COMBINED_PROVIDER}/ID (a combined model), not {set_model!r}")
    return model_id


def _is_gateway_section(config: dict) -> bool:
    """Whether ``provider.combined`` is a gateway section an export wrote (it holds the policy)."""
    providers = config.get("provider")
    section = providers.get(COMBINED_PROVIDER) if isinstance(providers, dict) else None
    return isinstance(section, dict) and isinstance(section.get("options"), dict) and POLICY_KEY in section["options"]


# -- the layouts: one registry entry each --------------------------------------------------------


@dataclass(frozen=True)
class LayoutRequest:
    """What an export asks of a layout: the choice and the export's options, as given."""

    choice: Choice
    plugin: str | None
    set_model: str | None
    model_id: str | None  # the combined id of ``set_model``
    combined: pd.DataFrame | None
    gateway: GatewayOptions | None


@dataclass(frozen=True)
class Edits:
    """What a layout writes: key paths set and removed, and what to tell the user."""

    updates: dict[tuple[str, ...], object]
    remove: tuple[tuple[str, ...], ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout(Generic[T]):
    """One way to write a choice into ``opencode.json``.

    ``planner`` checks the request before the file is read (a one-line :class:`UserError` for
    options the layout does not take or a choice the catalog contradicts) and returns what the
    ``writer`` needs; the ``writer`` turns that and the parsed config into :class:`Edits`.
    ``description`` is the one line ``export --help`` shows.
    """

    description: str
    planner: Callable[[LayoutRequest], T]
    writer: Callable[[T, dict, LayoutRequest, str], Edits]


def _no_gateway_options(request: LayoutRequest, layout: str) -> None:
    if request.gateway is not None and request.gateway != GatewayOptions():
        raise UserError(f"the gateway options (--combined, --gateway-url, ...) apply to --layout gateway, not {layout}")


def _plan_gateway(request: LayoutRequest) -> GatewaySettings:
    gateway = request.gateway or GatewayOptions()
    choice, model_id = request.choice, request.model_id
    ids = (
        *gateway.combined_ids,
        *([choice.combined_id] if not gateway.combined_ids and choice.combined_id else []),
        *([model_id] if model_id else []),
    )
    if not ids:
        raise UserError("the gateway layout needs a combined model to serve: pass --combined ID (or --set-model)")
    if request.combined is None:
        raise UserError("the gateway layout describes each model from the catalog: pass the combined table")
    settings = GatewaySettings(
        choice.policy(), choice.preset, ids, gateway.base_url, gateway.token_env, gateway.protocol, choice.variants
    )
    check_against_catalog(choice, request.combined, settings.combined_ids)
    return settings


def _write_gateway(settings: GatewaySettings, config: dict, request: LayoutRequest, source: str) -> Edits:
    """``provider.combined`` for the gateway; the plugin's entry and section go (see the module docs)."""
    entries = _plugin_entries(config, source)
    kept = [e for e in entries if _entry_name(e, source) != plugin_name(request.plugin or DEFAULT_PLUGIN)]
    updates: dict[tuple[str, ...], object] = {("plugin",): kept} if kept != entries else {}
    updates[("provider", COMBINED_PROVIDER)] = gateway_section(settings, request.combined)
    return Edits(updates, remove=((SECTION,),))


def _plan_plugin(layout: str) -> Callable[[LayoutRequest], None]:
    """The planner of a seed-plugin layout: no gateway options; the catalog check when given one."""

    def plan(request: LayoutRequest) -> None:
        _no_gateway_options(request, layout)
        if request.combined is not None:
            check_against_catalog(request.choice, request.combined, request.model_id)

    return plan


def _write_plugin(in_entry: bool) -> Callable[[None, dict, LayoutRequest, str], Edits]:
    """The writer of a seed-plugin layout: the options in the plugin's entry or in a top-level section."""

    def write(_: None, config: dict, request: LayoutRequest, source: str) -> Edits:
        options = request.choice.options()
        entries = merge_plugin(_plugin_entries(config, source), request.plugin, options if in_entry else None, source)
        updates: dict[tuple[str, ...], object] = {("plugin",): entries}
        remove: list[tuple[str, ...]] = []
        if in_entry:  # a section left from an earlier export would break OpenCode up to 1.18.15
            remove.append((SECTION,))
        else:
            updates[(SECTION,)] = options
        if _is_gateway_section(config):
            remove.append(("provider", COMBINED_PROVIDER))
        return Edits(updates, tuple(remove), warnings=() if in_entry else (LAYOUT_WARNING,))

    return write


@dataclass(frozen=True)
class _Routing:
    """The OpenRouter layout's plan: the model to route, how, and what to tell the user."""

    model_id: str
    routing: dict
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def _plan_openrouter(request: LayoutRequest) -> _Routing:
    """Provider routing for the choice's combined model on its OpenRouter model (:mod:`toolkit.router_targets`)."""
    choice = request.choice
    _no_gateway_options(request, OPENROUTER)
    if request.set_model is not None or request.plugin is not None:
        raise UserError(
            "the openrouter layout sets the model to the OpenRouter one itself; drop --set-model and --plugin"
        )
    if choice.combined_id is None:
        raise UserError(
            "the openrouter layout routes one combined model: pass --combined ID (the choice's combined_id)"
        )
    if request.combined is None:
        raise UserError("the openrouter layout finds the model's providers in the catalog: pass the combined table")
    check_against_catalog(choice, request.combined, choice.combined_id)
    policy = choice.policy()
    model = CombinedModel.from_table(request.combined, choice.combined_id, choice.variants)
    model_id, routing, left_out = openrouter_routing(model, policy)
    left = (f"left out of provider.order (no OpenRouter slug known): {', '.join(left_out)}",) if left_out else ()
    lost = tuple(f"OpenRouter cannot express {what}" for what in losses(policy)[OPENROUTER])
    return _Routing(model_id, routing, left, lost)


def _write_openrouter(plan: _Routing, config: dict, request: LayoutRequest, source: str) -> Edits:
    """The routing in the model's options (OpenCode sends them in the body) and ``model`` set to it."""
    updates: dict[tuple[str, ...], object] = {
        ("provider", OPENROUTER, "models", plan.model_id, "options", "provider"): plan.routing,
        ("model",): f"{OPENROUTER}/{plan.model_id}",
    }
    return Edits(updates, warnings=plan.warnings, notes=plan.notes)


LAYOUTS: dict[str, Layout[Any]] = {
    "gateway": Layout(
        "OpenCode sends combined/<id> to `combined-models gateway`, which fails over with the whole policy "
        "(the layout that changes what OpenCode does)",
        _plan_gateway,
        _write_gateway,
    ),
    "combined_models": Layout(
        "the seed plugin's top-level section (the default); OpenCode loads it but does not act on it",
        _plan_plugin("combined_models"),
        _write_plugin(in_entry=False),
    ),
    "plugin": Layout(
        "the seed plugin's options in its plugin entry; OpenCode loads it but does not act on it",
        _plan_plugin("plugin"),
        _write_plugin(in_entry=True),
    ),
    OPENROUTER: Layout(
        "OpenRouter provider routing (provider.order, allow_fallbacks or only) on the OpenRouter model of the "
        "choice's combined model (--combined ID), which OpenCode sends with each request",
        _plan_openrouter,
        _write_openrouter,
    ),
}
"""Layout name -> how it is planned and written. ``plan_export``, the CLI and its help all read this."""


def plan_export(
    path: str | Path,
    choice: Choice,
    *,
    layout: str = "combined_models",
    plugin: str | None = None,
    set_model: str | None = None,
    combined: pd.DataFrame | None = None,
    gateway: GatewayOptions | None = None,
) -> ExportPlan:
    """Work out the export of ``choice`` into ``path`` in ``layout`` (:data:`LAYOUTS`) without writing anything.

    ``plugin`` is the plugin spec (default: the one already in the file, else
    ``opencode-combined-models``); ``set_model`` (``combined/ID``) also sets the default
    model; ``combined`` (a combined table) enables :func:`check_against_catalog`, and the
    ``gateway`` and ``openrouter`` layouts need it to describe or route their model;
    ``gateway`` holds the gateway layout's settings (:class:`GatewayOptions`). The
    ``openrouter`` layout routes ``choice.combined_id``.
    """
    check_known("layout", [layout], LAYOUTS)
    if plugin is not None:
        check_plugin_spec(plugin)
    request = LayoutRequest(choice, plugin, set_model, _set_model_id(set_model), combined, gateway)
    entry = LAYOUTS[layout]
    planned = entry.planner(request)
    file = ConfigFile.read(path)
    edits = entry.writer(planned, file.config, request, file.source)
    updates = dict(edits.updates)
    if set_model is not None:
        updates[("model",)] = set_model
    return file.plan(updates, edits.remove, edits.warnings, edits.notes)


def export_opencode_config(
    path: str | Path,
    choice: Choice,
    *,
    layout: str = "combined_models",
    plugin: str | None = None,
    set_model: str | None = None,
    combined: pd.DataFrame | None = None,
    gateway: GatewayOptions | None = None,
    drop_comments: bool = False,
    dry_run: bool = False,
) -> ExportPlan:
    """Export ``choice`` into ``path`` (see the module docs); returns the plan that was applied.

    ``layout``, ``plugin``, ``set_model``, ``combined`` and ``gateway`` are :func:`plan_export`'s. Warnings (such as
    the layout's OpenCode-version caveat) are issued as
    :class:`ExportWarning` before anything is written; ``dry_run`` writes nothing. The plan's
    ``notes`` say what the layout cannot express of the policy. Reading, planning and writing
    hold the folder's lock (:func:`toolkit.filelock.folder_lock`), so concurrent exports to
    one file follow one another and none is lost.
    """
    with contextlib.nullcontext() if dry_run else folder_lock([path]):
        plan = plan_export(
            path, choice, layout=layout, plugin=plugin, set_model=set_model, combined=combined, gateway=gateway
        )
        for message in plan.warnings:
            warnings.warn(message, ExportWarning, stacklevel=2)
        if not dry_run:
            plan.write(drop_comments)
    return plan
