"""The functions behind the notebook's controls, called directly (no browser, no kernel)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.metrics import summarize
from toolkit.policy import preset
from toolkit.scenario import Scenario
from toolkit.simulator import simulate
from toolkit.widgets import Explorer

MODEL = CombinedModel.of(["alpha", "beta", "gamma"], combined_id="m", cost_input=3.0, cost_output=15.0)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return Explorer(MODEL, [Scenario.load("calm-day"), Scenario.load("provider-outage")], requests=200, seed=1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_priority_options_are_every_order():
    labels = Explorer(MODEL, [Scenario.load("calm-day")]).priority_options()
    assert len(labels) == 6
    assert labels[0] == "alpha > beta > gamma"
    assert sorted(labels)[-1] == "gamma > beta > alpha"


def test_run_matches_simulating_the_same_policy_by_hand(explorer):
    run = explorer.run("beta > alpha > gamma", "on_rate_limit", 3, "provider-outage", "resilient")
    policy = preset("resilient", provider_priority=("beta", "alpha", "gamma"), strategy="on_rate_limit", max_attempts=3)
    by_hand = summarize(simulate(MODEL, policy, Scenario.load("provider-outage"), requests=200, seed=1, run_id="x"))
    pd.testing.assert_frame_equal(run.metrics.drop(columns="run_id"), by_hand.drop(columns="run_id"))
    assert run.policy == policy
    assert explorer.last is run
    assert run.log["provider"].astype(str).iloc[run.log["t_start_s"].argmin()] == "beta"  # first tried


def test_order_as_label_or_sequence_is_the_same_run(explorer):
    a = explorer.run("gamma > alpha > beta", "on_error", 2, "calm-day")
    b = explorer.run(["gamma", "alpha", "beta"], "on_error", 2, "calm-day")
    pd.testing.assert_frame_equal(a.metrics, b.metrics)


def test_choice_is_what_was_last_run(explorer):
    explorer.run("gamma > beta > alpha", "on_overload", 4, "calm-day", "litellm-like")
    assert explorer.choice() == Choice(
        provider_priority=("gamma", "beta", "alpha"),
        strategy="on_overload",
        max_attempts=4,
        min_providers=2,
        combined_id="m",
        preset="litellm-like",
    )


def test_draw_puts_timeline_latency_and_attempts_on_one_figure(explorer):
    run = explorer.run("beta > gamma > alpha", "on_error", 2, "provider-outage")
    fig = explorer.draw(run)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Attempts over time by provider", "Requests answered within a given time", "Attempts per request"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "beta"
    assert len(fig.axes[0].patches) == 1  # the scenario's outage is shaded
    assert explorer.draw(run, fig=fig) is fig and len(fig.axes) == 3  # redraw reuses the figure


def test_mistakes_are_user_errors(explorer):
    with pytest.raises(UserError, match="unknown scenario 'calm'.*calm-day"):
        explorer.run("alpha > beta > gamma", "on_error", 2, "calm")
    with pytest.raises(UserError, match="does not offer"):
        explorer.run("alpha > delta", "on_error", 2, "calm-day")
    with pytest.raises(UserError, match="two or more"):
        Explorer(CombinedModel.of(["solo"]), [Scenario.load("calm-day")])
    fresh = Explorer(MODEL, [Scenario.load("calm-day")])
    with pytest.raises(UserError, match="run one"):
        fresh.choice()
    with pytest.raises(UserError, match="call run"):
        fresh.draw()


def test_widget_runs_once_and_reruns_on_every_control_change(explorer):
    box = explorer.widget()
    priority, strategy, attempts, scenario, preset_control, table, image = box.children
    assert explorer.choice() == Choice(
        provider_priority=("alpha", "beta", "gamma"),
        strategy="on_error",
        max_attempts=3,
        combined_id="m",
        preset="seed-on-error",
    )
    assert (strategy.value, attempts.value) == ("on_error", 3)  # the controls show what ran
    assert list(strategy.options) == ["on_error", "on_rate_limit", "on_overload"]
    assert list(scenario.options) == ["calm-day", "provider-outage"]
    assert "success_rate" in table.value and bytes(image.value).startswith(b"\x89PNG")
    priority.value = "gamma > alpha > beta"
    strategy.value = "on_rate_limit"
    attempts.value = 5
    scenario.value = "provider-outage"
    assert explorer.choice() == Choice(
        provider_priority=("gamma", "alpha", "beta"),
        strategy="on_rate_limit",
        max_attempts=5,
        combined_id="m",
        preset="seed-on-error",
    )
    assert explorer.last.scenario == "provider-outage"


def test_choosing_a_preset_is_honoured_and_the_overriding_controls_follow_it(explorer, monkeypatch):
    box = explorer.widget()
    _, strategy, attempts, _, preset_control, _, _ = box.children
    runs = []
    original = explorer.run
    monkeypatch.setattr(explorer, "run", lambda *a, **k: runs.append(k) or original(*a, **k))
    preset_control.value = "seed-on-rate-limit"
    assert (strategy.value, attempts.value) == ("on_rate_limit", 3)  # moved to the preset's own values
    assert len(runs) == 1  # one run for the preset change, not one per control it moved
    assert explorer.choice().strategy == "on_rate_limit" and explorer.choice().preset == "seed-on-rate-limit"
    preset_control.value = "resilient"
    assert (strategy.value, attempts.value) == ("on_error", 2)
    assert explorer.last.policy == preset("resilient", provider_priority=("alpha", "beta", "gamma"))
    attempts.value = 4  # a control moved afterwards overrides the preset's value
    assert explorer.last.policy.max_attempts == 4 and explorer.last.policy.name.startswith("resilient")
