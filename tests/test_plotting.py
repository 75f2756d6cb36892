"""Failover charts: what each one draws, checked on a small hand-made attempt log and metrics table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from toolkit import plotting
from toolkit.plotting import (
    HIGHLIGHT,
    OUTCOME_COLORS,
    plot_attempts_histogram,
    plot_cost_per_success,
    plot_latency_cdf,
    plot_timeline,
    plot_tradeoff,
)

# run a: request 0 ok at once; request 1 rate-limited on p then ok on q; request 2 fails (p, p, q).
# run b: two requests, both ok on q at the first attempt.
_ROWS = [
    # run, request, attempt, provider, t_start, t_end, outcome
    ("a", 0, 1, "p", 0.0, 1.0, "ok"),
    ("a", 1, 1, "p", 2.0, 2.1, "rate_limit"),
    ("a", 1, 2, "q", 2.1, 3.1, "ok"),
    ("a", 2, 1, "p", 5.0, 5.2, "overload"),
    ("a", 2, 2, "p", 5.5, 5.7, "overload"),
    ("a", 2, 3, "q", 5.7, 8.0, "timeout"),
    ("b", 0, 1, "q", 0.0, 2.0, "ok"),
    ("b", 1, 1, "q", 1.0, 1.5, "ok"),
]
LOG = pd.DataFrame(_ROWS, columns=["run_id", "request_id", "attempt", "provider", "t_start_s", "t_end_s", "outcome"])
LOG["ttft_s"] = 0.1
LOG["cost_usd"] = 0.0
LOG["run_id"] = LOG["run_id"].astype("category")
LOG["outcome"] = LOG["outcome"].astype("category")

# D, A, B are on the success/p95 frontier; C is beaten by B on both axes.
CONFIGS = pd.DataFrame(
    {
        "preset": ["A", "B", "C", "D"],
        "strategy": ["on_error"] * 4,
        "max_attempts": [2, 3, 3, 1],
        "priority": ["p>q", "q>p", "p>q", "q>p"],
        "latency_p95_s": [1.0, 2.0, 3.0, 0.5],
        "success_rate": [0.9, 0.99, 0.95, 0.8],
        "cost_per_success_usd": [0.010, 0.012, 0.020, 0.008],
        "cost_per_success_usd_ci": [0.001, 0.002, 0.001, 0.0],
    }
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_latency_cdf_one_line_per_run_levelling_off_at_the_success_rate():
    ax = plot_latency_cdf(LOG)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert lines[0].get_xdata().tolist() == pytest.approx([1.0, 1.1])  # the failed request is never answered
    assert lines[0].get_ydata().tolist() == pytest.approx([1 / 3, 2 / 3])
    assert lines[1].get_xdata().tolist() == [0.5, 2.0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_latency_cdf_runs_with_identical_latencies_share_one_labelled_line():
    twin = LOG[LOG["run_id"] == "a"].assign(run_id="c")
    ax = plot_latency_cdf(pd.concat([LOG.astype({"run_id": str}), twin]))
    assert [line.get_label() for line in ax.get_lines()] == ["a = c", "b"]  # c would hide exactly under a
    assert len({line.get_linestyle() for line in ax.get_lines()}) == 2


def test_availability_has_a_legend_for_its_two_colours():
    matrix = pd.DataFrame([[True, False], [True, True]], index=["m1", "m2"], columns=["p", "q"])
    ax = plotting.plot_availability(matrix)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["offered", "not offered"]


def test_attempts_histogram_one_bar_group_per_run():
    ax = plot_attempts_histogram(LOG)
    assert len(ax.containers) == 2
    assert [bar.get_height() for bar in ax.containers[0]] == [1, 1, 1]  # run a: 1, 2 and 3 attempts
    assert [bar.get_height() for bar in ax.containers[1]] == [2, 0, 0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert ax.get_xlabel() == "attempts"


def test_timeline_one_series_per_outcome_rows_per_provider_and_shaded_incident():
    ax = plot_timeline(LOG, incidents=[{"provider": "rank:0", "kind": "outage", "start_s": 4.0, "end_s": 6.0}])
    colors = [to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections]
    assert colors == [OUTCOME_COLORS[o] for o in ("ok", "rate_limit", "overload", "timeout")]
    assert [len(c.get_offsets()) for c in ax.collections] == [4, 1, 2, 1]
    ok_times = sorted(ax.collections[0].get_offsets()[:, 0].tolist())
    assert ok_times == [0.0, 0.0, 1.0, 2.1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p", "q"]  # first provider tried on top
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["ok (4)", "rate_limit (1)", "overload (2)", "timeout (1)", "outage of rank:0, 4-6 s"]
    assert len(ax.patches) == 1 and ax.patches[0].get_x() == 4.0


def test_timeline_with_the_model_providers_names_the_incident_and_keeps_every_row():
    incident = {"provider": "rank:1", "kind": "outage", "start_s": 4.0, "end_s": 6.0}
    ax = plot_timeline(
        LOG[LOG["run_id"] == "b"], incidents=[incident], providers=["r", "p", "q"], ranks=["p", "q", "r"]
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["r", "p", "q"]  # p and r have no attempt in run b
    assert ax.get_legend().get_texts()[-1].get_text() == "outage of q (rank:1), 4-6 s"


def test_timeline_rows_follow_jittered_provider_index():
    ax = plot_timeline(LOG, seed=3)
    p_rows = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    assert ((np.abs(p_rows - np.round(p_rows)) <= 0.3) & (np.round(p_rows) >= 0) & (np.round(p_rows) <= 1)).all()


def test_tradeoff_marks_frontier_and_recommended_point():
    ax = plot_tradeoff(CONFIGS, recommended=CONFIGS.iloc[1])
    frontier = [line for line in ax.get_lines() if line.get_label() == "Pareto frontier"]
    assert len(frontier) == 1
    assert frontier[0].get_xdata().tolist() == [0.5, 1.0, 2.0]  # D, A, B; C is dominated
    assert frontier[0].get_ydata().tolist() == [0.8, 0.9, 0.99]
    assert frontier[0].get_linestyle() == "--" and frontier[0].get_linewidth() >= 1.5  # visible over the dots
    dots = [c for c in ax.collections if c.get_label() in {"A", "B", "C", "D", "recommended"}]
    star = dots[-1]
    assert star.get_label() == "recommended"
    assert star.get_offsets().tolist() == [[2.0, 0.99]]
    assert [c.get_label() for c in dots[:-1]] == ["A", "B", "C", "D"]
    star_color = to_hex(star.get_facecolor()[0], keep_alpha=False)
    assert star_color == HIGHLIGHT
    assert star_color not in {to_hex(c.get_facecolor()[0], keep_alpha=False) for c in dots[:-1]}
    assert ax.get_xlabel() == "p95 latency (s)" and ax.get_ylabel() == "success rate (nines scale)"


def test_tradeoff_spreads_the_nines_and_draws_error_bars():
    table = CONFIGS.assign(success_rate=[0.9, 0.99, 0.999, 0.9999], success_rate_ci=0.0005, latency_p95_s_ci=0.2)
    ax = plot_tradeoff(table)
    to_screen = ax.transData.transform
    heights = [to_screen((1.0, rate))[1] for rate in (0.9, 0.99, 0.999, 0.9999)]
    steps = np.diff(heights)
    assert steps == pytest.approx([steps[0]] * 3, rel=1e-6)  # each nine gets the same height
    assert steps[0] > 0
    bars = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(bars) == 4  # one per preset, both directions
    assert all(bar.has_xerr and bar.has_yerr for bar in bars)
    assert [t.get_text() for t in ax.get_yticklabels()][-4:] == ["99%", "99.9%", "99.99%", "100%"]


def test_tradeoff_without_recommendation_has_no_star():
    ax = plot_tradeoff(CONFIGS)
    assert "recommended" not in [c.get_label() for c in ax.collections]


def test_cost_bars_label_each_configuration_and_highlight_the_choice():
    ax = plot_cost_per_success(CONFIGS, recommended=CONFIGS.iloc[0])
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [bar.get_width() for bar in bars] == [0.010, 0.012, 0.020, 0.008]
    assert [to_hex(bar.get_facecolor(), keep_alpha=False) for bar in bars][0] == HIGHLIGHT
    assert {to_hex(bar.get_facecolor(), keep_alpha=False) for bar in list(bars)[1:]} == {to_hex(plotting.SERIES[0])}
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["A on_error 2 p>q", "B on_error 3 q>p"]
    assert bars.errorbar is not None  # the _ci column became error bars


@pytest.mark.parametrize(
    ("plot", "data"),
    [
        (plot_latency_cdf, LOG),
        (plot_attempts_histogram, LOG),
        (plot_timeline, LOG),
        (plot_tradeoff, CONFIGS),
        (plot_cost_per_success, CONFIGS),
    ],
)
def test_every_chart_draws_on_the_given_axes_in_the_shared_style(plot, data):
    fig, ax = plt.subplots()
    assert plot(data, ax=ax) is ax
    assert ax.get_title()
    own = plot(data)
    assert own.figure is not fig
    assert tuple(own.figure.get_size_inches()) == plotting.CHART_SIZE
    assert own.xaxis.get_gridlines()[0].get_visible()  # the shared light grid
