"""Write a :class:`~toolkit.choice.Choice` into the user's ``opencode.json[c]``, safely.

Three layouts. Only the first changes what OpenCode does:

``gateway``
    ``provider.combined``: a provider pointing OpenCode at the local failover gateway
    (``combined-models gateway``), one model per combined model, and the whole policy in
    its options (:mod:`toolkit.gateway_config`). OpenCode then sends ``combined/<id>``
    requests to the gateway, which fails over between the real providers. Loads on every
    OpenCode release. The plugin's entry and a ``combined_models`` section are removed
    (the plugin would define ``combined/*`` models of its own).

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
left from an earlier export is removed. Only the keys ``plugin``, ``combined_models``,
``provider.combined`` and (with ``set_model``) ``model`` are touched, spliced in by offset
(:func:`toolkit.jsonc.edit`): every other key, comment and blank stays as written.
A comment inside a replaced value cannot be kept; the export then refuses unless
``drop_comments`` is given, so the user hears of it before anything is written.

Writes go through a temporary file and ``os.replace``, after copying the previous file to a
timestamped backup. An export that changes nothing writes nothing (no new backup), so
running it twice leaves the file byte-identical. Only provider ids, numbers, the plugin
spec, model descriptions and a model name are written: API keys, and the gateway token,
stay in the environment (``{env:VAR}``).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import jsonc
from toolkit.atomic import write_atomic
from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError, check_known
from toolkit.gateway_config import DEFAULT_URL, POLICY_KEY, PROVIDER_ID, GatewaySettings, gateway_section

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_URL = "https://opencode.ai/config.json"
DEFAULT_PLUGIN = "opencode-combined-models"
SECTION = "combined_models"
LAYOUTS = ("gateway", "combined_models", "plugin")
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
        raise UserError(f'{source}: every \'plugin\' entry must be "name" or ["name", {{options}}], not {entry!r}')
    return name


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


# a literal secret in a config line: "apiKey": "sk-..." (not an {env:...} / {file:...} reference)
_SECRET_LINE = re.compile(r'("[^"]*(?:key|token|secret|password)[^"]*"\s*:\s*")(?!\{(?:env|file):)[^"]+(")', re.I)


@dataclass(frozen=True)
class ExportPlan:
    """An export worked out in memory: what the file holds now, what it would hold, and why."""

    path: Path
    old_text: str | None  # None: the file does not exist yet
    new_text: str
    warnings: tuple[str, ...]
    lost_comments: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether writing would change the file (a second identical export does not)."""
        return self.new_text != self.old_text

    def diff(self) -> str:
        """Unified diff of the change, with literal secrets in context lines masked."""
        lines = difflib.unified_diff(
            (self.old_text or "").splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            fromfile=str(self.path) if self.old_text is not None else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(_SECRET_LINE.sub(r"\1***\2", line) for line in lines)

    def write(self, drop_comments: bool = False) -> Path | None:
        """Write the new text atomically after backing up the old file; returns the backup path.

        Nothing is written when nothing changes. Refuses (before writing) if comments would
        be lost and ``drop_comments`` is false.
        """
        if self.lost_comments and not drop_comments:
            shown = "; ".join(c.strip().replace("\n", " ")[:60] for c in self.lost_comments)
            raise UserError(
                f"{self.path}: exporting would drop comments inside values it replaces ({shown}); "
                "move them outside those values, or pass --force (drop_comments=True)"
            )
        if not self.changed:
            return None
        if (read_existing(self.path) if self.path.exists() else None) != self.old_text:
            raise UserError(f"{self.path} changed since this export was planned; run the export again")
        backup = None
        if self.old_text is not None:
            backup = _backup_path(self.path)
            shutil.copy2(self.path, backup)
        write_atomic(self.path, self.new_text)
        return backup


def _backup_path(path: Path) -> Path:
    """A new ``<name>.<UTC time to the microsecond>.bak`` next to ``path``; names sort by age."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        candidate = path.with_name(f"{path.name}.{stamp}.bak")
        if not candidate.exists():
            return candidate


def read_existing(path: Path) -> str | None:
    """The current text of ``path`` (None if missing), refusing what cannot be safely replaced."""
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the opencode.json or opencode.jsonc file inside it")
    if not path.exists():
        if not path.parent.is_dir():
            raise UserError(f"{path.parent} does not exist; create the folder or choose another --config")
        return None
    # root may write anything, so the permission bits (not os.access) say what the user intends
    if not stat.S_IMODE(path.stat().st_mode) & 0o222 or not os.access(path, os.W_OK):
        raise UserError(f"{path} is read-only; make it writable (chmod u+w) or choose another --config")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


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
    """Work out the export of ``choice`` into ``path`` without writing anything.

    ``plugin`` is the plugin spec (default: the one already in the file, else
    ``opencode-combined-models``); ``set_model`` (``combined/ID``) also sets the default
    model; ``combined`` (a combined table) enables :func:`check_against_catalog`, and the
    ``gateway`` layout needs it to describe its models; ``gateway`` holds that layout's
    settings (:class:`GatewayOptions`).
    """
    check_known("layout", [layout], LAYOUTS)
    model_id = _set_model_id(set_model)
    if plugin is not None and not plugin.strip():
        raise UserError("--plugin must name the plugin (an npm package or a file:// URL)")
    settings = None
    if layout == "gateway":
        gateway = gateway or GatewayOptions()
        ids = (
            *gateway.combined_ids,
            *([choice.combined_id] if not gateway.combined_ids and choice.combined_id else []),
            *([model_id] if model_id else []),
        )
        if not ids:
            raise UserError("the gateway layout needs a combined model to serve: pass --combined ID (or --set-model)")
        if combined is None:
            raise UserError("the gateway layout describes each model from the catalog: pass the combined table")
        settings = GatewaySettings(
            choice.policy(), choice.preset, ids, gateway.base_url, gateway.token_env, gateway.protocol, choice.variants
        )
    elif gateway is not None and gateway != GatewayOptions():
        raise UserError(f"the gateway options (--combined, --gateway-url, ...) apply to --layout gateway, not {layout}")
    if combined is not None:
        check_against_catalog(choice, combined, settings.combined_ids if settings else model_id)

    path = Path(path).expanduser()
    target = path.resolve()  # write through a symlink, never replace the link itself
    old_text = read_existing(target)
    text = old_text if old_text is not None else f'{{\n  "$schema": "{SCHEMA_URL}"\n}}\n'
    config = jsonc.loads(text, str(path))
    if not isinstance(config, dict):
        raise UserError(f"{path}: an OpenCode config must be a JSON object at the top level")
    entries = config.get("plugin", [])
    if not isinstance(entries, list):
        raise UserError(f"{path}: 'plugin' must be a list of plugin entries, not {type(entries).__name__}")

    updates: dict[tuple[str, ...], object] = {}
    remove: list[tuple[str, ...]] = []
    if settings is not None:
        kept = [e for e in entries if _entry_name(e, str(path)) != plugin_name(plugin or DEFAULT_PLUGIN)]
        if kept != entries:
            updates[("plugin",)] = kept
        updates[("provider", COMBINED_PROVIDER)] = gateway_section(settings, combined)
        remove.append((SECTION,))
    else:
        options = choice.options()
        updates[("plugin",)] = merge_plugin(entries, plugin, options if layout == "plugin" else None, str(path))
        if layout == "combined_models":
            updates[(SECTION,)] = options
        else:
            remove.append((SECTION,))
        if _is_gateway_section(config):
            remove.append(("provider", COMBINED_PROVIDER))
    if set_model is not None:
        updates[("model",)] = set_model
    edit = jsonc.edit(text, updates, remove=remove, source=str(path))
    notes = (LAYOUT_WARNING,) if layout == "combined_models" else ()
    return ExportPlan(target, old_text, edit.text, notes, edit.lost_comments)


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
    :class:`ExportWarning` before anything is written; ``dry_run`` writes nothing.
    """
    plan = plan_export(
        path, choice, layout=layout, plugin=plugin, set_model=set_model, combined=combined, gateway=gateway
    )
    for message in plan.warnings:
        warnings.warn(message, ExportWarning, stacklevel=2)
    if not dry_run:
        plan.write(drop_comments)
    return plan
