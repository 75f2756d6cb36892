"""The parts of the user's ``opencode.json`` / ``opencode.jsonc`` that shape the catalog.

OpenCode lets a config add providers and models (``provider``), and narrow the catalog
(``enabled_providers`` allow-list, ``disabled_providers`` deny-list). The combined table
must see the same catalog the user's OpenCode sees, so these are applied to the
``api.json`` dict before it becomes a DataFrame.

Secrets never enter here: ``options.apiKey`` is not read, ``auth.json`` is read for its
provider ids only, and environment variables are checked for presence, not value.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path

from toolkit import jsonc
from toolkit.errors import UserError
from toolkit.gateway_config import PROVIDER_ID
from toolkit.redaction import remember


def read_config(path: str | Path) -> dict:
    """Parse an ``opencode.json[c]`` file (JSONC errors name line and column)."""
    config = jsonc.load(path)
    if not isinstance(config, dict):
        raise UserError(f"{path}: an OpenCode config must be a JSON object at the top level")
    for key in ("enabled_providers", "disabled_providers"):
        value = config.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise UserError(f"{path}: {key!r} must be a list of provider ids")
    if not isinstance(config.get("provider", {}), dict):
        raise UserError(f"{path}: 'provider' must be an object of provider id -> settings")
    return config


def _merge(base: dict, extra: Mapping) -> dict:
    """``base`` updated by ``extra``, one level deep for nested objects such as ``limit``/``cost``."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def apply_config(api: dict, config: Mapping) -> dict:
    """A copy of the ``api.json`` dict with the config's providers/models joined and filters applied.

    A config provider that the catalog knows extends or overrides its models; an unknown
    one becomes a new provider whose base URL is ``options.baseURL`` (kept verbatim, so a
    ``{env:VAR}`` reference stays a reference). The ``combined`` provider is skipped: it is
    the local gateway the export points OpenCode at (``combined/<id>`` models), never a
    member of a combined model, and counting it would make the gateway call itself.
    """
    api = dict(api)
    for provider_id, settings in (config.get("provider") or {}).items():
        if provider_id == PROVIDER_ID:
            continue
        if not isinstance(settings, Mapping):
            raise UserError(f"config provider {provider_id!r} must be an object")
        entry = copy.deepcopy(api.get(provider_id, {"id": provider_id, "env": [], "models": {}}))
        options = settings.get("options") or {}
        for key, value in (
            ("name", settings.get("name")),
            ("npm", settings.get("npm")),
            ("api", settings.get("api") or options.get("baseURL")),
            ("env", settings.get("env")),
        ):
            if value is not None:
                entry[key] = value
        entry.setdefault("name", provider_id)
        models = dict(entry.get("models") or {})
        for model_id, model in (settings.get("models") or {}).items():
            if not isinstance(model, Mapping):
                raise UserError(f"config model {provider_id}/{model_id} must be an object")
            models[model_id] = _merge(models.get(model_id, {"id": model_id}), model)
        entry["models"] = models
        api[provider_id] = entry
    enabled = config.get("enabled_providers")
    if enabled:
        api = {pid: p for pid, p in api.items() if pid in set(enabled)}
    disabled = set(config.get("disabled_providers") or ())
    return {pid: p for pid, p in api.items() if pid not in disabled}


def auth_path() -> Path:
    """Where OpenCode keeps credentials: ``$XDG_DATA_HOME/opencode/auth.json``."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "opencode" / "auth.json"


def auth_provider_ids(path: str | Path | None = None) -> list[str]:
    """Provider ids with a stored credential (the keys of ``auth.json``)."""
    return sorted(read_auth(path))


def read_auth(path: str | Path | None = None) -> dict:
    """The entries of ``auth.json`` ({} when there is none). Their values are not kept by the
    caller, only remembered for redaction (:func:`toolkit.redaction.remember`), so no output
    can show them."""
    path = Path(path) if path is not None else auth_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, or absurdly nested
        # Deliberately no detail: the text of a credentials file must never reach a message.
        raise UserError(f"cannot read provider ids from {path}; check that it is valid JSON") from None
    if not isinstance(data, dict):
        return {}
    # an entry is {"type": "api", "key": ...} or {"type": "oauth", "access": ..., "refresh": ...}
    remember(*(v for entry in data.values() if isinstance(entry, dict) for k, v in entry.items() if k != "type"))
    return data


def connected_providers(
    models,
    *,
    config: Mapping | None = None,
    environ: Mapping[str, str] | None = None,
    auth_file: str | Path | None = None,
) -> list[str]:
    """Providers the user can call: a key in ``auth.json``, every catalog ``env`` variable set, or defined in the config.

    ``models`` is a models table (``load_catalog``); only its ``provider`` and
    ``provider_env`` columns are used.
    """
    environ = os.environ if environ is None else environ
    found: set[str] = set(auth_provider_ids(auth_file))
    found.update((config or {}).get("provider") or {})
    pairs = models[["provider", "provider_env"]].drop_duplicates("provider").itertuples(index=False)
    for provider, env in pairs:
        names = [v for v in (env or "").split(",") if v]
        if names and all(environ.get(v) for v in names):
            found.add(provider)
    known = set(models["provider"])
    return sorted(p for p in found if p in known)
