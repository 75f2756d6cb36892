"""Overlap matrices and their plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from toolkit.catalog import load_catalog
from toolkit.combine import combined_table
from toolkit.overlap import availability_matrix, overlap_matrix, variant_only_matrix
from toolkit.plotting import plot_availability, plot_overlap

TABLE = pd.DataFrame(
    {
        "combined_id": ["a", "a", "a", "b", "b", "c"],
        "provider": ["p", "q", "r", "p", "q", "r"],
    }
)


def test_availability_matrix_orders_most_shared_first():
    matrix = availability_matrix(TABLE)
    assert matrix.index.tolist() == ["a", "b", "c"]
    assert matrix.columns.tolist() == ["p", "q", "r"]
    assert matrix.to_numpy().tolist() == [[True, True, True], [True, True, False], [False, False, True]]
    assert availability_matrix(TABLE, top=1).index.tolist() == ["a"]


def test_overlap_matrix_counts_shared_models():
    matrix = overlap_matrix(TABLE)
    assert matrix.to_numpy().tolist() == [[2, 2, 1], [2, 2, 1], [1, 1, 2]]
    assert overlap_matrix(TABLE, providers=["r", "p", "z"]).to_numpy().tolist() == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]


def test_overlap_on_the_bundled_catalog_is_symmetric_with_counts_on_the_diagonal():
    table = combined_table(load_catalog("bundled"), providers=["anthropic", "amazon-bedrock", "openrouter"])
    matrix = overlap_matrix(table)
    assert (matrix == matrix.T).all().all()
    for provider in matrix.index:
        assert matrix.loc[provider, provider] == table.loc[table["provider"] == provider, "combined_id"].nunique()


@pytest.mark.parametrize(("plot", "make"), [(plot_overlap, overlap_matrix), (plot_availability, availability_matrix)])
def test_plots_draw_on_the_given_axes(plot, make):
    fig, ax = plt.subplots()
    assert plot(make(TABLE), ax=ax) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p", "q", "r"]
    assert ax.get_title()
    plt.close(fig)
    own = plot(make(TABLE))
    assert own.figure is not fig
    plt.close(own.figure)


def test_variant_only_cells_are_told_apart_and_drawn_in_their_own_colour():
    table = pd.DataFrame(
        {
            "combined_id": ["a", "a", "a", "b", "b", "c"],
            "provider": ["p", "q", "q", "p", "q", "r"],
            "variant": ["", "fp8", "", "", "tee", "fp8"],  # q serves a plain and as FP8; nobody serves c plain
        }
    )
    matrix = availability_matrix(table)
    variant_only = variant_only_matrix(table, like=matrix)
    assert variant_only.to_numpy().tolist() == [[False, False, False], [False, True, False], [False, False, False]]
    fig, ax = plt.subplots()
    plot_availability(matrix, variant_only=variant_only, ax=ax)
    assert ax.images[0].get_array().tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["offered", "a variant only", "not offered"]
    plt.close(fig)
