"""Who shares what: provider x provider and model x provider views of a combined table."""

from __future__ import annotations

import pandas as pd


def availability_matrix(table: pd.DataFrame, *, top: int | None = None) -> pd.DataFrame:
    """Combined id x provider, True where the provider offers the combined model.

    Rows are ordered by the number of providers (most shared first, then by id); columns
    by how many combined models each provider offers. ``top`` keeps the first rows.
    """
    matrix = pd.crosstab(table["combined_id"], table["provider"]).astype(bool)
    matrix = matrix.loc[sorted(matrix.index, key=lambda cid: (-matrix.loc[cid].sum(), cid))]
    matrix = matrix[sorted(matrix.columns, key=lambda p: (-matrix[p].sum(), p))]
    matrix.index.name, matrix.columns.name = "combined_id", "provider"
    return matrix if top is None else matrix.head(top)


def variant_only_matrix(table: pd.DataFrame, like: pd.DataFrame | None = None) -> pd.DataFrame:
    """Combined id x provider, True where the provider offers the model only as a deployment
    variant (``-fp8``, ``-tee``, ``-fast``...), not as the group's reference (plain) model.

    ``like`` (an :func:`availability_matrix`) gives the rows and columns to align to, so the
    two can be drawn together (``plot_availability(matrix, variant_only=...)``).
    """
    from toolkit.combine import reference_rows

    serves_reference = (
        table.assign(_reference=reference_rows(table)).groupby(["combined_id", "provider"])["_reference"].any()
    )
    matrix = (~serves_reference).unstack(fill_value=False).astype(bool)
    if like is not None:
        matrix = matrix.reindex(index=like.index, columns=like.columns, fill_value=False)
    matrix.index.name, matrix.columns.name = "combined_id", "provider"
    return matrix


def overlap_matrix(table: pd.DataFrame, *, providers: list[str] | None = None) -> pd.DataFrame:
    """Provider x provider: how many combined models both offer (the diagonal: how many each offers).

    ``providers`` picks and orders the rows/columns (default: every provider in the table,
    busiest first).
    """
    incidence = availability_matrix(table).astype("int64")
    if providers is not None:
        incidence = incidence.reindex(columns=providers, fill_value=0)
    shared = incidence.T @ incidence
    shared.index.name, shared.columns.name = "provider", "provider"
    return shared
