"""Whose case a command studies: the user's OpenCode model and providers, else a documented default.

``report``, ``simulate``, ``sweep`` and the notebooks start from what the user runs. When an
OpenCode config is found (``--config``, else ``OPENCODE_CONFIG``, else ``opencode.json[c]``
in this folder or a parent up to the repository root, else the global
``~/.config/opencode/opencode.json[c]``), its ``model`` picks the combined model and the
*connected* providers (a key in OpenCode's ``auth.json``, every catalog env variable set, or
defined in the config) are the members tried. Without a config: :data:`DEFAULT_MODEL` on
:data:`DEFAULT_PROVIDERS`, the README's story.

Without a priority, members are tried in a stated order (:func:`rule_order`): the model's
first-party vendor, then the major clouds, then the rest by how many models each offers in
the catalog; only the first :data:`MAX_PROVIDERS` are tried by default. Every command prints
the order it used (:meth:`UserCase.describe`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.variants import DEFAULT_SETTING

DEFAULT_MODEL = "claude-sonnet-4-5"
"""The combined model studied when no OpenCode config names one (the README's example)."""
DEFAULT_PROVIDERS = ("anthropic", "amazon-bedrock", "google-vertex-anthropic", "openrouter")
"""Its providers when the user has not connected two that offer it: vendor, two clouds, a router."""
MAJOR_CLOUDS = ("amazon-bedrock", "google-vertex-anthropic", "google-vertex", "azure")
"""Cloud platforms tried right after the model's own vendor, in this order."""
MAX_PROVIDERS = 4
"""How many providers are tried by default (each extra one multiplies a sweep's priority orders)."""
RULE = "first-party vendor, then major clouds, then the providers offering the most models"
"""The default try order in words (printed with the order used)."""
CONFIG_NAMES = ("opencode.jsonc", "opencode.json")


def find_config(start: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The OpenCode config that applies here, or None (search order in the module docs)."""
    environ = os.environ if environ is None else environ
    if environ.get("OPENCODE_CONFIG"):
        path = Path(environ["OPENCODE_CONFIG"]).expanduser()
        if path.is_file():
            return path
    folder = Path(start or Path.cwd()).resolve()
    for here in (folder, *folder.parents):
        for name in CONFIG_NAMES:
            if (here / name).is_file():
                return here / name
        if (here / ".git").exists():
            break  # OpenCode stops at the project root
    config_home = Path(environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME", "~")).expanduser() / ".config")
    for name in CONFIG_NAMES:
        if (config_home / "opencode" / name).is_file():
            return config_home / "opencode" / name
    return None


def vendor_of(table: pd.DataFrame, combined_id: str) -> str | None:
    """The model's maker as the catalog spells it: the commonest ``vendor/`` or ``vendor.`` prefix of its ids.

    Routers write ``anthropic/claude-sonnet-4.5`` and Bedrock ``anthropic.claude-...``, so the
    catalog itself names the first-party provider; None when no id carries a prefix.
    """
    refs = table.loc[table["combined_id"] == combined_id, "model_ref"].astype(str)
    prefixes: Counter[str] = Counter()
    for ref in refs:
        model_id = ref.split("/", 1)[1] if "/" in ref else ref
        for sep in ("/", "."):
            head, found, _ = model_id.partition(sep)
            if found and head.isalpha():
                prefixes[head.lower()] += 1
                break
    return prefixes.most_common(1)[0][0] if prefixes else None


def rule_order(table: pd.DataFrame, combined_id: str, providers: Sequence[str] | None = None) -> list[str]:
    """The providers of ``combined_id`` (or only ``providers``) in the default try order (:data:`RULE`)."""
    offering = table.loc[table["combined_id"] == combined_id, "provider"].astype(str).unique().tolist()
    if providers is not None:
        offering = [p for p in offering if p in set(providers)]
    vendor = vendor_of(table, combined_id)
    breadth = table.groupby("provider", observed=True)["combined_id"].nunique()

    def key(provider: str) -> tuple:
        if provider == vendor:
            return (0, 0, 0, provider)
        if provider in MAJOR_CLOUDS:
            return (1, MAJOR_CLOUDS.index(provider), 0, provider)
        return (2, 0, -int(breadth.get(provider, 0)), provider)

    return sorted(offering, key=key)


def combined_id_of(model: str, table: pd.DataFrame) -> str | None:
    """The combined model behind an OpenCode ``model`` string (``provider/model`` or ``combined/ID``)."""
    if model.startswith("combined/"):
        return model.split("/", 1)[1]
    hit = table.loc[table["model_ref"].astype(str) == model, "combined_id"]
    if len(hit):
        return str(hit.iloc[0])
    from toolkit.normalize import parse_id

    provider, _, model_id = model.partition("/")
    known = set(table["combined_id"].astype(str))
    parsed = parse_id(model_id or provider)
    for candidate in (parsed.canonical_id, parsed.base):
        if candidate in known:
            return candidate
    return None


@dataclass(frozen=True)
class UserCase:
    """The combined model to study, the providers to try (in order) and where both came from."""

    combined_id: str
    providers: tuple[str, ...]
    config: Path | None
    origin: str  # one line: which config and providers, or that the default is used
    order_rule: str  # how the try order was decided

    def describe(self) -> str:
        """What a command prints before it starts: model, try order, why."""
        return f"{self.combined_id} via {' > '.join(self.providers)} ({self.origin}; order: {self.order_rule})"


def _with_an_adapter(rows: pd.DataFrame, providers: list[str]) -> tuple[list[str], list[str]]:
    """(the providers an upstream adapter reaches, the others) for one combined model's rows: a
    recommended order never names a member that live runs and the gateway would skip
    (:func:`toolkit.routes.route_for`: GitHub Copilot, SAP AI Core)."""
    from toolkit.routes import route_for

    npm = {row.provider: None if pd.isna(row.provider_npm) else row.provider_npm for row in rows.itertuples()}
    unreachable = [p for p in providers if isinstance(route_for(p, npm.get(p)), str)]
    return [p for p in providers if p not in unreachable], unreachable


def user_case(
    models: pd.DataFrame,
    *,
    config: str | Path | None = None,
    combined_id: str | None = None,
    providers: Sequence[str] | None = None,
    priority: Sequence[str] = (),
    max_providers: int | None = MAX_PROVIDERS,
    search: bool = True,
    auth_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    variants: str = DEFAULT_SETTING,
) -> UserCase:
    """Decide the model and the try order (module docs): explicit options first, then the config, then defaults.

    ``models`` is a catalog (:func:`toolkit.catalog.load_catalog`); ``config`` an explicit
    path (else :func:`find_config` when ``search``); ``providers`` restricts the members,
    ``priority`` puts its providers first, ``max_providers`` caps how many are tried (None: all).
    Only providers serving a deployment variant that ``variants`` allows count as offering the
    model (:meth:`toolkit.combined_model.CombinedModel.from_table`), so the order printed is
    the order run.
    """
    from toolkit.combine import combined_table
    from toolkit.opencode_config import connected_providers, read_config

    path = Path(config).expanduser() if config is not None else (find_config(environ=environ) if search else None)
    settings = read_config(path) if path is not None and path.is_file() else {}
    table = combined_table(models, min_providers=1)
    origin = []
    model = combined_id
    if model is None and isinstance(settings.get("model"), str):
        model = combined_id_of(settings["model"], table)
        if model is not None:
            origin.append(f"model {settings['model']} from {path}")
    if model is None:
        model = DEFAULT_MODEL
        origin.append("default model" + (f" ({path} names none this catalog knows)" if path else ""))
    if model not in set(table["combined_id"]):
        from toolkit.errors import closest

        raise UserError(f"no combined model {model!r} in the catalog{closest(model, table['combined_id'].unique())}")
    offering = set(CombinedModel.from_table(table, model, variants).providers)
    if providers:
        unknown = [p for p in providers if p not in offering]
        if unknown:
            raise UserError(
                f"provider {unknown[0]!r} does not offer {model} (variants: {variants}); "
                f"it is offered by {', '.join(sorted(offering))}"
            )
        chosen = list(providers)
        origin.append("providers you named")
    else:
        connected = [
            p
            for p in connected_providers(models, config=settings, environ=environ, auth_file=auth_file)
            if p in offering
        ]
        if len(connected) >= 2:
            chosen = connected
            origin.append(f"your connected providers ({', '.join(connected)})")
        else:
            chosen = [p for p in DEFAULT_PROVIDERS if p in offering] if model == DEFAULT_MODEL else list(offering)
            mine = f"you have {len(connected)} connected provider(s) offering it; " if path or connected else ""
            origin.append(mine + ("default providers" if model == DEFAULT_MODEL else "every provider offering it"))
        chosen, skipped = _with_an_adapter(table[table["combined_id"] == model], chosen)
        if skipped:
            origin.append(f"left out, no adapter reaches them: {', '.join(skipped)}")
    unknown = [p for p in priority if p not in chosen]
    if unknown:
        raise UserError(
            f"--priority names {unknown[0]!r}, which is not among the providers tried ({', '.join(chosen)})"
        )
    ordered = list(priority) + [p for p in rule_order(table, model, chosen) if p not in priority]
    rule = ("your --priority, then " if priority else "") + RULE
    if max_providers is not None and len(ordered) > max_providers:
        rule += f"; first {max_providers} of {len(ordered)}"
        ordered = ordered[:max_providers]
    found = path if path is not None and path.is_file() else None
    return UserCase(model, tuple(ordered), found, "; ".join(origin), rule)
