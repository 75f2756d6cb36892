"""One combined model as the failover code sees it: an id and its members in try order.

The combined table (a DataFrame, one row per member) is the analyst's view; the
simulator, the live runner, the sweep and the exporter want a small immutable value
instead. :meth:`CombinedModel.from_table` converts, :meth:`CombinedModel.of` builds one
from bare provider names (tests, scenarios, what-if questions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from toolkit.errors import UserError, closest
from toolkit.variants import DEFAULT_SETTING, allowed, check_setting, level, reference


def _num(value: object) -> float | None:
    """A float, or None for missing values (NaN, pd.NA, None)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _text(value: object) -> str | None:
    """A string, or None for missing values."""
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Member:
    """One provider's offer of the combined model (its preferred model id)."""

    provider: str
    model_ref: str
    context_limit: float | None = None
    output_limit: float | None = None
    cost_input: float | None = None  # USD per million tokens
    cost_output: float | None = None
    provider_api: str | None = None
    provider_npm: str | None = None
    provider_env: tuple[str, ...] = ()
    variant: str = ""  # deployment variant served (``fp8``, ``tee``, ``fast``), ``""`` for the plain model

    @property
    def model_id(self) -> str:
        """The model id as the provider spells it (``model_ref`` without ``provider/``)."""
        return self.model_ref.split("/", 1)[1]

    def cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """Price of one request at catalog prices (missing prices count as free)."""
        return (input_tokens * (self.cost_input or 0.0) + output_tokens * (self.cost_output or 0.0)) / 1e6


def priority_order(providers: Iterable[str], priority: Sequence[str] = ()) -> list[str]:
    """Providers in try order: those in ``priority`` first, in that order; the rest alphabetically.

    This is the seed plugin's rule for ``provider_priority``.
    """
    rank = {name: i for i, name in enumerate(priority)}
    return sorted(set(providers), key=lambda p: (rank.get(p, len(rank)), p))


@dataclass(frozen=True)
class CombinedModel:
    """A combined model: one name, several providers behind it, ``members[0]`` tried first."""

    combined_id: str
    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        providers = [m.provider for m in self.members]
        if len(set(providers)) != len(providers):
            raise ValueError(f"{self.combined_id}: a provider appears twice among the members")

    @property
    def providers(self) -> list[str]:
        """Provider ids in try order."""
        return [m.provider for m in self.members]

    def member(self, provider: str) -> Member:
        """The member served by ``provider``."""
        for m in self.members:
            if m.provider == provider:
                return m
        raise UserError(f"{self.combined_id} has no provider {provider!r}{closest(provider, self.providers)}")

    def ordered(self, priority: Sequence[str] = ()) -> CombinedModel:
        """The same model with the ``priority`` providers first, in that order; the rest keep their order.

        A model built from the combined table is already in the seed's order (priority, then
        alphabetical), so re-ranking by a new priority never reshuffles the providers it does not name.
        """
        by_provider = {m.provider: m for m in self.members}
        unknown = [p for p in priority if p not in by_provider]
        if unknown:
            raise UserError(
                f"provider {unknown[0]!r} does not offer {self.combined_id}"
                f"{closest(unknown[0], by_provider)}; it offers {', '.join(sorted(by_provider))}"
            )
        rank = {name: i for i, name in enumerate(priority)}
        members = sorted(self.members, key=lambda m: rank.get(m.provider, len(rank)))  # stable: rest keep order
        return replace(self, members=tuple(members))

    @classmethod
    def of(cls, providers: Sequence[str], combined_id: str = "model", **member_fields: object) -> CombinedModel:
        """A synthetic combined model served by ``providers`` in that order (same fields for each)."""
        members = tuple(
            Member(provider=p, model_ref=f"{p}/{combined_id}", **member_fields)  # type: ignore[arg-type]
            for p in providers
        )
        return cls(combined_id, members)

    @classmethod
    def from_table(cls, table, combined_id: str, variants: str = DEFAULT_SETTING) -> CombinedModel:
        """Build from the rows of a combined table (``toolkit.combine.combined_table``), in rank order.

        ``variants`` (``toolkit.variants.SETTINGS``) says which deployment variants may
        serve: each provider contributes its closest allowed variant (plain first), and a
        provider offering none is left out.
        """
        check_setting(variants)
        rows = table[table["combined_id"] == combined_id]
        if rows.empty:
            known = table["combined_id"].unique().tolist()
            raise UserError(f"no combined model {combined_id!r} in the table{closest(combined_id, known)}")
        if "variant" in rows:
            served = rows["variant"].tolist()
            ref = reference(served)
            rows = rows[[allowed(v, variants, ref) for v in served]]
            rows = rows.assign(_level=[level(v) for v in rows["variant"]])
            rows = rows.sort_values(["rank", "_level", "variant"], kind="stable").drop_duplicates("provider")
        members = []
        for row in rows.sort_values("rank", kind="stable").itertuples(index=False):
            members.append(
                Member(
                    provider=row.provider,
                    model_ref=row.model_ref,
                    context_limit=_num(row.context_limit),
                    output_limit=_num(row.output_limit),
                    cost_input=_num(row.cost_input),
                    cost_output=_num(row.cost_output),
                    provider_api=_text(row.provider_api),
                    provider_npm=_text(row.provider_npm),
                    provider_env=tuple(v for v in (_text(row.provider_env) or "").split(",") if v),
                    variant=getattr(row, "variant", ""),
                )
            )
        return cls(combined_id, tuple(members))
