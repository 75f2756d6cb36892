"""Charts of the toolkit's tables, all in one style.

Every function takes a table (or matrix), draws on ``ax=`` (a new figure when omitted)
and returns the axes, so charts compose into a notebook's own layouts. Shared choices
live here once: the colour maps, one colour per attempt outcome, the tick-label size,
and ``_axes`` / ``_chart`` for the figure.

Two families of input: the catalog charts take an overlap or availability matrix
(:mod:`toolkit.overlap`); the failover charts take an attempt log (one row per attempt,
several runs told apart by ``run_id``) or a metrics table (one row per configuration,
from :func:`toolkit.sweeps.aggregate` or :func:`toolkit.metrics.summarize`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.ticker import PercentFormatter, StrMethodFormatter

SEQUENTIAL = "viridis"  # counts and magnitudes
BINARY = ("#f2f2f2", "#2c7fb8")  # absent / present
VARIANT = "#fdae61"  # present only as a deployment variant (quantized, TEE, speed tier)
TICK_SIZE = 7  # provider and model ids are long; small labels keep large matrices readable
MAX_LABELS = 60  # beyond this many rows or columns, labels overlap: the caller should pass ``top``
CHART_SIZE = (7.0, 4.0)  # inches; the failover charts share one size so a report's images line up
SAVE_DPI = 200  # saved PNGs at twice the screen resolution: sharp on high-density displays and when zoomed
HIGHLIGHT = "#d62728"  # the recommended configuration
# one colour per run / configuration, in order: tab10 without its red, which is kept for the recommendation
SERIES = tuple(c for c in matplotlib.color_sequences["tab10"] if to_hex(c) != HIGHLIGHT)
LINESTYLES = ("-", "--", "-.", ":")  # with colours, so lines that run close stay apart
# Fixed colour per outcome class, so "red = rate limit" means the same thing on every chart.
OUTCOME_COLORS: dict[str, str] = {
    "ok": "#4daf4a",
    "rate_limit": "#ff7f00",
    "overload": "#e41a1c",
    "server_error": "#984ea3",
    "timeout": "#a65628",
    "connection": "#000000",
    "client_error": "#999999",
    "auth": "#f781bf",
    "context_length": "#377eb8",
    "protocol_error": "#ffff33",  # an answer the client could not read (garbage, over max_tokens)
    "cancelled": "#dddddd",  # a hedged attempt abandoned because another answered first
}


def figure_png(fig, dpi: int = SAVE_DPI) -> bytes:
    """A figure as PNG bytes (at :data:`SAVE_DPI` by default); the figure is closed, since callers draw many."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


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
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=TICK_SIZE,
                color="black" if value > peak / 2 else "white",
            )
    _label_matrix(ax, matrix, "Combined models shared by each pair of providers")
    return ax


def plot_availability(
    matrix: pd.DataFrame, *, variant_only: pd.DataFrame | None = None, ax: Axes | None = None
) -> Axes:
    """Which provider offers which combined model (:func:`toolkit.overlap.availability_matrix`).

    ``variant_only`` (:func:`toolkit.overlap.variant_only_matrix`) draws the providers that
    offer a model only as a deployment variant (quantized, TEE, speed tier) in their own colour.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax = _axes(ax, *matrix.shape)
    cells = matrix.to_numpy(dtype=float)
    if variant_only is not None:
        cells = cells + (
            matrix.to_numpy(dtype=bool) & variant_only.reindex_like(matrix).fillna(False).to_numpy(dtype=bool)
        )
    ax.imshow(cells, cmap=ListedColormap([*BINARY, VARIANT]), vmin=0, vmax=2, aspect="auto", interpolation="nearest")
    _label_matrix(ax, matrix, "Combined models by provider")
    handles = [
        Patch(facecolor=BINARY[1], label="offered"),
        Patch(facecolor=BINARY[0], edgecolor="#999999", label="not offered"),
    ]
    if variant_only is not None:
        handles.insert(1, Patch(facecolor=VARIANT, label="a variant only"))
    ax.legend(handles=handles, fontsize=TICK_SIZE + 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# --- failover charts --------------------------------------------------------------------------


def _chart(ax: Axes | None) -> Axes:
    """``ax``, or a new one of the shared chart size."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=CHART_SIZE, layout="constrained")
    return ax


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, legend: bool = True) -> Axes:
    """The shared finish: title, axis names, a light grid behind the data, a legend if asked."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_axisbelow(True)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=TICK_SIZE + 1, frameon=False)
    return ax


def _requests(log: pd.DataFrame) -> pd.DataFrame:
    """:func:`toolkit.metrics.per_request` with ``run_id`` as a plain text column."""
    from toolkit.metrics import per_request

    requests = per_request(log).reset_index()
    requests["run_id"] = requests["run_id"].astype(str)
    return requests


def _runs(log: pd.DataFrame) -> list[str]:
    """Run ids in the order they first appear (the caller's order, not alphabetical)."""
    return [str(r) for r in pd.unique(log["run_id"].astype(str))]


def plot_latency_cdf(log: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Share of all requests answered within a given end-to-end latency: one line per run (``run_id``).

    Failed requests are never answered, so each line levels off at its run's success rate:
    one chart shows speed and reliability together. Log-scaled x: latency tails span
    orders of magnitude. Runs with exactly the same latencies would hide one another, so
    they share one line whose label names them all (``a = b``); lines differ in colour and dash.
    """
    ax = _chart(ax)
    requests = _requests(log)
    curves: dict[bytes, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    for run in _runs(log):
        mine = requests[requests["run_id"].eq(run)]
        latency = np.sort(mine.loc[mine["ok"], "latency_s"].to_numpy())
        share = np.arange(1, len(latency) + 1) / max(len(mine), 1)
        key = latency.tobytes() + share.tobytes()
        curves.setdefault(key, (latency, share, []))[2].append(run)
    for i, (latency, share, runs) in enumerate(curves.values()):
        ax.step(
            latency,
            share,
            where="post",
            color=SERIES[i % len(SERIES)],
            linestyle=LINESTYLES[i % len(LINESTYLES)],
            label=" = ".join(runs),
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    return _finish(
        ax, "Requests answered within a given time", "end-to-end latency (s, log scale)", "share of requests answered"
    )


def plot_attempts_histogram(log: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """How many attempts requests needed: one group of bars per run (``run_id``), one bar per count."""
    ax = _chart(ax)
    requests = _requests(log)
    runs = _runs(log)
    counts = requests.groupby(["run_id", "calls"]).size().unstack(fill_value=0).reindex(runs).fillna(0)
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        x = counts.columns.to_numpy() + (i - (len(runs) - 1) / 2) * width
        ax.bar(x, counts.loc[run].to_numpy(), width=width, color=SERIES[i % len(SERIES)], label=run)
    ax.set_xticks(counts.columns.to_numpy())
    return _finish(ax, "Attempts per request", "attempts", "requests")


def plot_timeline(
    log: pd.DataFrame,
    *,
    ax: Axes | None = None,
    incidents: Sequence[Mapping] = (),
    seed: int = 0,
    providers: Sequence[str] | None = None,
    ranks: Sequence[str] | None = None,
) -> Axes:
    """Every attempt as a dot at its start time, one row per provider, coloured by outcome.

    Shows an incident and how traffic moved around it: the primary's row turns red or black
    and the next provider's row fills up. ``incidents`` (dicts with ``start_s``, ``end_s``
    and optionally ``kind`` and ``provider``, as in a scenario file) are shaded and named in
    the legend. ``providers`` (the try order) fixes the rows, so panels of several runs line
    up and a provider nobody called still has its row; without it, rows are the log's
    providers in the order first tried. ``ranks`` (the combined model's members in rank
    order, what a scenario's ``rank:0`` means) names an incident's provider. Dots get a small
    vertical jitter (``seed`` fixes it) so dense stretches show their density.
    """
    ax = _chart(ax)
    tried = [str(p) for p in pd.unique(log.sort_values(["request_id", "attempt"])["provider"].astype(str))]
    rows = list(providers) if providers is not None else tried
    rows += [p for p in tried if p not in rows]
    row = {p: i for i, p in enumerate(rows)}
    y = log["provider"].astype(str).map(row).to_numpy(dtype=float)
    y = y + np.random.default_rng(seed).uniform(-0.3, 0.3, len(y))
    outcomes = log["outcome"].astype(str)
    for outcome, color in OUTCOME_COLORS.items():
        mask = (outcomes == outcome).to_numpy()
        if mask.any():
            ax.scatter(
                log["t_start_s"].to_numpy()[mask],
                y[mask],
                s=4,
                color=color,
                alpha=0.6,
                linewidths=0,
                label=f"{outcome} ({mask.sum()})",
            )
    for incident in incidents:
        ax.axvspan(
            incident["start_s"], incident["end_s"], color="#cccccc", alpha=0.35, label=incident_label(incident, ranks)
        )
    ax.set_yticks(range(len(rows)), rows, fontsize=TICK_SIZE + 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first provider tried on top
    _finish(ax, "Attempts over time by provider", "time (s)", "", legend=False)
    ax.legend(fontsize=TICK_SIZE + 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=3)
    return ax


def incident_label(incident: Mapping, ranks: Sequence[str] | None = None) -> str:
    """``outage of anthropic (rank:0), 120-720 s``: an incident in words, its provider named when ``ranks`` is known."""
    who = str(incident.get("provider", "all"))
    if who.startswith("rank:") and ranks is not None and who[5:].isdigit() and int(who[5:]) < len(ranks):
        who = f"{ranks[int(who[5:])]} ({who})"
    kind = str(incident.get("kind", "incident"))
    return f"{kind} of {who}, {incident['start_s']:g}-{incident['end_s']:g} s"


NINES = (0.5, 0.9, 0.99, 0.999, 0.9999)  # success-rate ticks: each one a tenth of the failures above it
_FLOOR = 1e-5  # failure share shown for a perfect run (the scale cannot reach 0); the axis goes a little beyond


def _to_nines(success):
    return -np.log10(np.clip(1.0 - np.asarray(success, dtype=float), _FLOOR / 10, None))


def _capped(success):
    """Success rates as drawn: a perfect 100 % sits on the ``_FLOOR`` line, below the axis top."""
    return np.minimum(np.asarray(success, dtype=float), 1.0 - _FLOOR)


def _from_nines(nines):
    return 1.0 - 10.0 ** (-np.asarray(nines, dtype=float))


def plot_tradeoff(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    recommended: Mapping | pd.Series | None = None,
    label: str = "preset",
) -> Axes:
    """Success rate against p95 latency, one dot per configuration, with the Pareto frontier.

    ``table`` has one row per configuration with ``success_rate`` and ``latency_p95_s``
    (for example :func:`toolkit.sweeps.aggregate`); ``*_ci`` columns become error bars.
    The success axis counts nines (90 %, 99 %, 99.9 % equally spaced), so configurations
    between 99 % and 100 % do not collapse onto one line. The frontier (dashed) joins the
    configurations no other beats on both axes (:func:`toolkit.sweeps.pareto` on these two
    objectives); ``recommended`` (a row with the same two columns) is a large star in
    :data:`HIGHLIGHT`, a colour no preset uses. Dots are coloured by ``label`` (default: the preset).
    """
    from toolkit.sweeps import pareto

    ax = _chart(ax)
    groups = [str(g) for g in pd.unique(table[label].astype(str))] if label in table else ["configurations"]
    for i, group in enumerate(groups):
        rows = table[table[label].astype(str) == group] if label in table else table
        color = SERIES[i % len(SERIES)]
        if "latency_p95_s_ci" in rows or "success_rate_ci" in rows:
            ax.errorbar(
                rows["latency_p95_s"],
                _capped(rows["success_rate"]),
                xerr=rows.get("latency_p95_s_ci"),
                yerr=rows.get("success_rate_ci"),
                fmt="none",
                ecolor=color,
                alpha=0.35,
                linewidth=0.8,
            )
        ax.scatter(rows["latency_p95_s"], _capped(rows["success_rate"]), s=18, color=color, alpha=0.85, label=group)
    front = pareto(table, {"success_rate": "max", "latency_p95_s": "min"})
    front = front[front["pareto"]].sort_values(["latency_p95_s", "success_rate"])
    ax.step(
        front["latency_p95_s"],
        _capped(front["success_rate"]),
        where="post",
        color="black",
        linewidth=1.6,
        linestyle="--",
        zorder=4,
        label="Pareto frontier",
    )
    if recommended is not None:
        ax.scatter(
            [recommended["latency_p95_s"]],
            _capped([recommended["success_rate"]]),
            marker="*",
            s=420,
            color=HIGHLIGHT,
            edgecolors="black",
            linewidths=1.2,
            zorder=5,
            label="recommended",
        )
    ax.set_yscale("function", functions=(_to_nines, _from_nines))
    low = min(float(np.nanmin(table["success_rate"])) if len(table) else 0.9, 0.9)
    ax.set_ylim(float(_from_nines(_to_nines(low) - 0.15)), float(_from_nines(_to_nines(1.0 - _FLOOR) + 0.35)))
    ax.set_yticks([t for t in NINES if t >= low - 1e-9] + [1 - _FLOOR], minor=False)
    ax.yaxis.set_major_formatter(
        lambda v, _: "100%" if v > 1 - 2 * _FLOOR else f"{v:.{max(0, round(_to_nines(v)) - 2)}%}"
    )
    _finish(ax, "Success rate vs p95 latency", "p95 latency (s)", "success rate (nines scale)", legend=False)
    ax.legend(fontsize=TICK_SIZE + 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # off the dots
    return ax


def plot_cost_per_success(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    label: str | Sequence[str] = ("preset", "strategy", "max_attempts", "priority"),
    recommended: Mapping | pd.Series | None = None,
) -> Axes:
    """Cost per successful request, one horizontal bar per configuration (row of ``table``).

    Bar labels join the ``label`` columns; a ``cost_per_success_usd_ci`` column (from
    :func:`toolkit.sweeps.aggregate`) becomes error bars; the bar of ``recommended`` (a
    row with the same label columns) is drawn in the highlight colour.
    """
    ax = _chart(ax)
    columns = [label] if isinstance(label, str) else list(label)
    names = table[columns].astype(str).agg(" ".join, axis=1).tolist()
    chosen = " ".join(str(recommended[c]) for c in columns) if recommended is not None else None
    colors = [HIGHLIGHT if name == chosen else SERIES[0] for name in names]
    errors = table["cost_per_success_usd_ci"].to_numpy() if "cost_per_success_usd_ci" in table else None
    ax.barh(range(len(names)), table["cost_per_success_usd"].to_numpy(), xerr=errors, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=TICK_SIZE)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first row on top
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:.4f}"))
    return _finish(ax, "Cost per successful request", "USD per successful request", "", legend=False)


def plot_error_shares(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """How each provider and model answered: one horizontal bar per row of
    :func:`toolkit.history_overview.provider_overview`, split into the share of calls per outcome
    (the fixed outcome colours; ``ok`` first), with the number of calls at the bar's end."""
    from toolkit.history_overview import FAILURES

    ax = _chart(ax)
    labels = table["model_ref"].astype(str).tolist()
    shares = {
        "ok": 1 - table["error_share"].to_numpy(dtype=float),
        **{name: table[f"{name}_share"].to_numpy(dtype=float) for name in FAILURES},
    }
    left = np.zeros(len(table))
    for name, share in shares.items():
        if share.any():
            ax.barh(labels, share, left=left, color=OUTCOME_COLORS[name], label=name)
            left += share
    for i, calls in enumerate(table["calls"]):
        ax.text(1.01, i, f"{calls:,} calls", va="center", fontsize=TICK_SIZE + 1)
    ax.set_xlim(0, 1.18)
    ax.invert_yaxis()  # the table's first row on top
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    _finish(ax, "How each provider answered", "share of calls", "", legend=False)
    ax.legend(fontsize=TICK_SIZE + 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_calls_by_period(periods: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Calls per period from :func:`toolkit.history_overview.period_overview`, stacked by provider, with
    each period's failed calls drawn over them hatched: when the traffic and the trouble were."""
    ax = _chart(ax)
    calls = periods.pivot_table(index="period", columns="provider", values="calls", aggfunc="sum", fill_value=0)
    failed = (periods["calls"] * periods["error_share"]).groupby(periods["period"]).sum().reindex(calls.index)
    x = np.arange(len(calls))
    bottom = np.zeros(len(calls))
    for i, provider in enumerate(calls.columns):
        ax.bar(x, calls[provider].to_numpy(), bottom=bottom, color=SERIES[i % len(SERIES)], label=str(provider))
        bottom += calls[provider].to_numpy()
    ax.bar(x, failed.to_numpy(), fill=False, hatch="///", edgecolor=OUTCOME_COLORS["overload"], label="failed calls")
    step = max(1, len(x) // 12)
    names = [p.strftime("%m-%d %H:%M") if hasattr(p, "strftime") else f"{p:g} s" for p in calls.index]
    ax.set_xticks(x[::step], names[::step], rotation=45, ha="right", fontsize=TICK_SIZE + 1)
    return _finish(ax, "Calls per period by provider", "period start (UTC)", "calls")
