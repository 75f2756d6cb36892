"""Charts of the toolkit's tables, all in one style.

Every function takes a table (or matrix), draws on ``ax=`` (a new figure when omitted)
and returns the axes, so charts compose into a notebook's own layouts. Shared choices
live here once: the colour maps, the tick-label size, and ``_axes`` for the figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

SEQUENTIAL = "viridis"  # counts and magnitudes
BINARY = ("#f2f2f2", "#2c7fb8")  # absent / present
TICK_SIZE = 7  # provider and model ids are long; small labels keep large matrices readable
MAX_LABELS = 60  # beyond this many rows or columns, labels overlap: the caller should pass ``top``


def _axes(ax: Axes | None, rows: int, cols: int) -> Axes:
    """``ax``, or a new one sized for a ``rows`` x ``cols`` matrix."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=(min(2 + cols * 0.25, 20), min(1.5 + rows * 0.22, 20)), layout="constrained")
    return ax


def _label_matrix(ax: Axes, matrix: pd.DataFrame, title: str) -> None:
    """Tick labels from the matrix index/columns (when few enough to read), axis names and title."""
    if len(matrix.columns) <= MAX_LABELS:
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=90, fontsize=TICK_SIZE)
    if len(matrix.index) <= MAX_LABELS:
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=TICK_SIZE)
    ax.set_xlabel(matrix.columns.name or "")
    ax.set_ylabel(matrix.index.name or "")
    ax.set_title(title)


def plot_overlap(matrix: pd.DataFrame, *, ax: Axes | None = None, annotate: bool | None = None) -> Axes:
    """Heatmap of :func:`toolkit.overlap.overlap_matrix` (shared combined models per provider pair).

    ``annotate`` writes the counts in the cells (default: when the matrix is at most 20 wide).
    """
    ax = _axes(ax, *matrix.shape)
    image = ax.imshow(matrix.to_numpy(), cmap=SEQUENTIAL, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="shared combined models")
    if annotate if annotate is not None else len(matrix) <= 20:
        peak = max(int(matrix.to_numpy().max()), 1)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=TICK_SIZE,
                    color="black" if value > peak / 2 else "white")  # fmt: skip
    _label_matrix(ax, matrix, "Combined models shared by each pair of providers")
    return ax


def plot_availability(matrix: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Which provider offers which combined model (:func:`toolkit.overlap.availability_matrix`)."""
    from matplotlib.colors import ListedColormap

    ax = _axes(ax, *matrix.shape)
    ax.imshow(matrix.to_numpy(dtype=float), cmap=ListedColormap(BINARY), vmin=0, vmax=1, aspect="auto",
              interpolation="nearest")  # fmt: skip
    _label_matrix(ax, matrix, "Combined models by provider")
    return ax
