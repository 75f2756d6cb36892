"""The logic behind the notebook's failover controls, usable (and tested) without a browser.

:class:`Explorer` holds a combined model and a few scenarios. Its plain methods do the
work: :meth:`Explorer.run` simulates one configuration (priority order, strategy, attempts
per provider, scenario, preset) and :meth:`Explorer.draw` charts it. :meth:`Explorer.widget`
only wires ipywidgets controls to those two methods, so everything a control can do is
also a function call, and :meth:`Explorer.choice` hands the current setting to the exporter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.policy import PRESETS, FailoverPolicy, preset
from toolkit.scenario import Scenario
from toolkit.vocabulary import STRATEGIES

ORDER_SEPARATOR = " > "
MAX_ATTEMPTS_RANGE = (1, 6)  # the slider's bounds: beyond 6 tries per provider nothing changes but the wait


@dataclass(frozen=True)
class ExplorerRun:
    """One simulated configuration: the policy, its attempt log and its metrics row."""

    policy: FailoverPolicy
    scenario: str
    log: pd.DataFrame
    metrics: pd.DataFrame
    choice: Choice


class Explorer:
    """Re-simulate and redraw one combined model under settings a user picks.

    ``requests`` and ``seed`` fix the size and the random draws of every run, so two runs
    differ only by the settings (the same scenario events hit both).
    """

    def __init__(
        self, model: CombinedModel, scenarios: Sequence[Scenario], *, requests: int = 500, seed: int = 0
    ) -> None:
        if len(model.members) < 2:
            raise UserError(f"{model.combined_id} has one provider; failover needs a model with two or more")
        if not scenarios:
            raise UserError("give the explorer at least one scenario")
        self.model = model
        self.scenarios = {s.name: s for s in scenarios}
        self.requests = requests
        self.seed = seed
        self.last: ExplorerRun | None = None

    def priority_options(self) -> list[str]:
        """Every try order of the model's providers, as ``a > b > c`` labels (sampled beyond 5 providers)."""
        from toolkit.sweeps import priority_orders

        return [ORDER_SEPARATOR.join(order) for order in priority_orders(self.model.providers)]

    def run(
        self,
        priority: str | Sequence[str],
        strategy: str,
        max_attempts: int,
        scenario: str,
        preset_name: str = "seed-on-error",
    ) -> ExplorerRun:
        """Simulate one configuration (the preset with the seed's three options replaced); kept as :attr:`last`."""
        from toolkit.metrics import summarize
        from toolkit.simulator import simulate

        order = tuple(p.strip() for p in (priority.split(">") if isinstance(priority, str) else priority))
        if scenario not in self.scenarios:
            raise UserError(f"unknown scenario {scenario!r}; the explorer has {', '.join(self.scenarios)}")
        policy = preset(preset_name, provider_priority=order, strategy=strategy, max_attempts=int(max_attempts))
        run_id = f"{preset_name} {strategy} x{max_attempts} {ORDER_SEPARATOR.join(order)}"
        self.model.ordered(order)  # a clear error for a provider the model does not have
        log = simulate(
            self.model, policy, self.scenarios[scenario], requests=self.requests, seed=self.seed, run_id=run_id
        )
        choice = Choice.from_policy(policy, combined_id=self.model.combined_id, preset=preset_name)
        self.last = ExplorerRun(policy, scenario, log, summarize(log), choice)
        return self.last

    def draw(self, run: ExplorerRun | None = None, fig=None):
        """Timeline on top, latency and attempts below, for ``run`` (default: the last one); returns the figure."""
        import matplotlib.pyplot as plt

        from toolkit import plotting

        run = run or self.last
        if run is None:
            raise UserError("nothing to draw yet: call run(...) first")
        fig = fig or plt.figure(figsize=(10, 7), layout="constrained")
        fig.clear()
        grid = fig.add_gridspec(2, 2)
        incidents = self.scenarios[run.scenario].data.get("incidents", [])
        tried = [m.provider for m in run.policy.members(self.model)]
        plotting.plot_timeline(
            run.log, ax=fig.add_subplot(grid[0, :]), incidents=incidents, providers=tried, ranks=self.model.providers
        )
        plotting.plot_latency_cdf(run.log, ax=fig.add_subplot(grid[1, 0]))
        plotting.plot_attempts_histogram(run.log, ax=fig.add_subplot(grid[1, 1]))
        return fig

    def choice(self) -> Choice:
        """The configuration last run, as the exporter takes it."""
        if self.last is None:
            raise UserError("no configuration chosen yet: run one (or move a control) first")
        return self.last.choice

    def controls(self, preset_name: str = "seed-on-error") -> dict:
        """The ipywidgets controls, by the :meth:`run` argument each one sets.

        Initial values: the model's own order, and ``preset_name`` with its own strategy and
        attempts, so what the controls show is what runs.
        """
        import ipywidgets as w

        base = PRESETS[preset_name]
        return {
            "priority": w.Dropdown(options=self.priority_options(), description="priority"),
            "strategy": w.ToggleButtons(options=list(STRATEGIES), value=base.strategy, description="strategy"),
            "max_attempts": w.IntSlider(
                value=base.max_attempts, min=MAX_ATTEMPTS_RANGE[0], max=MAX_ATTEMPTS_RANGE[1], description="attempts"
            ),
            "scenario": w.Dropdown(options=list(self.scenarios), description="scenario"),
            "preset_name": w.Dropdown(options=list(PRESETS), value=preset_name, description="preset"),
        }

    def widget(self, preset_name: str = "seed-on-error"):
        """Controls, a metrics table and the chart; every change re-simulates and redraws (one run at start).

        Choosing a preset moves the strategy and attempts controls to that preset's values (one
        run, not three), so the preset is honoured and the controls show what ran; moving them
        afterwards overrides the preset's values. Results go into an HTML and an Image widget
        (plain widget values, no captured output), so a headless kernel never waits on a display.
        """
        import ipywidgets as w

        from toolkit.plotting import figure_png

        controls = self.controls(preset_name)
        table, image = w.HTML(), w.Image(format="png")
        following = False  # set while the preset moves the other controls

        def update(change=None) -> None:
            nonlocal following
            if following:
                return
            if change is not None and change["owner"] is controls["preset_name"]:
                base = PRESETS[change["new"]]
                following = True
                try:
                    controls["strategy"].value = base.strategy
                    controls["max_attempts"].value = min(base.max_attempts, MAX_ATTEMPTS_RANGE[1])
                finally:
                    following = False
            run = self.run(**{name: control.value for name, control in controls.items()})
            columns = ["success_rate", "latency_p95_s", "attempts_mean", "cost_per_success_usd"]
            table.value = run.metrics[columns].to_html(index=False, float_format=lambda v: f"{v:.4g}")
            image.value = figure_png(self.draw(run), dpi=100)  # redrawn often: screen resolution is enough

        for control in controls.values():
            control.observe(update, names="value")
        update()
        return w.VBox([*controls.values(), table, image])
