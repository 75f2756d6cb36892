"""The combined table: one row per provider per variant of a combined model, in failover order.

A provider often lists one model several times (Bedrock region profiles, ``:free`` tiers,
undated aliases). It is still one member: the **preferred id** is the one with the fewest
variant rules (no region profile, tier, routing suffix or undated alias; see
``toolkit.normalize.VARIANT_RULES``), then the shortest id, then the alphabetically first;
the others go to ``alternates``. For Bedrock this picks the plain ``anthropic....`` id,
which OpenCode itself prefixes with the user's region. A deployment variant the provider
also serves (``-fp8``, ``-tee``, ``-fast``: ``toolkit.variants``) is a row of its own with
its ``variant`` named, so every way to reach the model is visible; which rows a failover
order may use is the variants setting's business (``CombinedModel.from_table``).

Each group also carries its spread (max/min of context, output and input price over the
members serving its reference variant, so a cheaper quantization is not a data problem)
and ``flags`` for groups worth a look: ``context_spread`` / ``output_spread`` (limits
differ by more than 2x), ``price_spread`` (input price by more than 3x, free members
ignored), ``names_disagree`` (the first version number in the display names differs),
``undated_alias`` (an undated id kept apart because several snapshots exist),
``variants`` (some member serves a deployment variant).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from toolkit.combined_model import priority_order
from toolkit.errors import UserError, check_known
from toolkit.evidence import name_version
from toolkit.normalize import Overrides, normalize_models
from toolkit.variants import level, reference

LIMIT_SPREAD = 2.0  # flag a group whose context or output limits differ by more than this factor
PRICE_SPREAD = 3.0  # flag a group whose input prices differ by more than this factor

GROUP_COLUMNS = [
    "combined_id",
    "variant",
    "rank",
    "n_providers",
    "alternates",
    "match_rules",
    "combined_context_limit",
    "combined_output_limit",
    "context_spread",
    "output_spread",
    "price_spread",
    "flags",
]


def _ratio(values: pd.Series, keys: pd.Series) -> pd.Series:
    """max/min of ``values`` per group (NaN when a group has no positive value)."""
    positive = values.where(values > 0)
    grouped = positive.groupby(keys)
    return (grouped.max() / grouped.min()).astype("float64")


def _pick_members(normalized: pd.DataFrame) -> pd.DataFrame:
    """One row per (combined_id, provider, variant): the preferred id, the others in ``alternates``."""
    ordered = normalized.assign(_len=normalized["model_id"].str.len()).sort_values(
        ["combined_id", "provider", "variant", "variant_rules", "_len", "model_id"], kind="stable"
    )
    key = ["combined_id", "provider", "variant"]
    first = ~ordered.duplicated(key)
    others = ordered[~first].groupby(key, sort=False)["model_ref"].agg(",".join)
    members = ordered[first].drop(columns="_len").set_index(key)
    members["alternates"] = others.reindex(members.index).fillna("")
    return members.reset_index()


def reference_rows(members: pd.DataFrame) -> pd.Series:
    """True for the members serving their group's reference variant (``toolkit.variants.reference``)."""
    keys = members["combined_id"]
    has_plain = (members["variant"] == "").groupby(keys).transform("any")
    rest = members[~has_plain]
    wanted = pd.Series("", index=members.index, dtype=object)
    wanted[~has_plain] = rest["combined_id"].map(rest.groupby("combined_id")["variant"].agg(reference))
    return members["variant"] == wanted


def _group_checks(members: pd.DataFrame) -> pd.DataFrame:
    """Per combined id: minimum limits, spreads (over the reference variant's members) and flags."""
    every_key = members["combined_id"]
    variants = (members["variant"] != "").groupby(every_key).any()
    members = members[reference_rows(members)]
    keys = members["combined_id"]
    checks = pd.DataFrame(
        {
            "combined_context_limit": members["context_limit"].groupby(keys).min(),
            "combined_output_limit": members["output_limit"].groupby(keys).min(),
            "context_spread": _ratio(members["context_limit"].astype("float64"), keys),
            "output_spread": _ratio(members["output_limit"].astype("float64"), keys),
            "price_spread": _ratio(members["cost_input"], keys),
        }
    )
    versions = members["name"].map(name_version)
    names_disagree = versions.where(versions != "").groupby(keys).nunique() > 1
    alias = members["match_rules"].str.contains("undated alias of several", regex=False).groupby(keys).any()
    flag_columns = {
        "context_spread": checks["context_spread"] > LIMIT_SPREAD,
        "output_spread": checks["output_spread"] > LIMIT_SPREAD,
        "price_spread": checks["price_spread"] > PRICE_SPREAD,
        "names_disagree": names_disagree.reindex(checks.index, fill_value=False),
        "undated_alias": alias.reindex(checks.index, fill_value=False),
        "variants": variants.reindex(checks.index, fill_value=False),
    }
    flags = pd.DataFrame(flag_columns).to_numpy()
    names = np.array(list(flag_columns))
    checks["flags"] = [",".join(names[row]) for row in flags]
    return checks


def combined_table(
    models: pd.DataFrame,
    *,
    providers: Sequence[str] | None = None,
    priority: Sequence[str] = (),
    min_providers: int = 2,
    overrides: Overrides | None = None,
) -> pd.DataFrame:
    """Group ``models`` (from ``load_catalog``) into combined models; one row per member.

    ``providers`` keeps only those providers (the ones the user has); ``priority`` orders
    members (listed providers first, the rest alphabetically; ``rank`` 0 is tried first);
    ``min_providers`` keeps groups offered by at least that many distinct providers (1
    keeps every model). Normalization sees the whole catalog, so a group's id does not
    change with the providers chosen.
    """
    if min_providers < 1:
        raise UserError(f"min_providers must be at least 1 (got {min_providers})")
    known = sorted(models["provider"].unique())
    check_known("provider", providers or (), known)
    check_known("provider in the priority", priority, known)
    normalized = normalize_models(models, overrides)
    if providers is not None:
        normalized = normalized[normalized["provider"].isin(set(providers))]
    members = _pick_members(normalized)
    n_providers = members.groupby("combined_id")["provider"].transform("nunique")
    members = members[n_providers >= min_providers].assign(n_providers=n_providers[n_providers >= min_providers])
    checks = _group_checks(members)
    table = members.join(checks, on="combined_id")
    order = {p: i for i, p in enumerate(priority_order(known, priority))}
    # one rank per provider: its variant rows share it and follow its plain row
    ranks = table["provider"].map(order).groupby(table["combined_id"]).rank(method="dense").astype("int64") - 1
    table = table.assign(rank=ranks, _level=table["variant"].map(level))
    table = table.sort_values(["combined_id", "rank", "_level", "variant"], kind="stable").reset_index(drop=True)
    columns = [c for c in models.columns] + GROUP_COLUMNS
    return table[columns]
