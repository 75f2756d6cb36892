"""combined-models: group the same LLM across providers, benchmark failover, export opencode.json.

Everything a user needs is importable from ``toolkit`` itself (``from toolkit import simulate``).
The names load lazily: importing ``toolkit`` stays fast, and pandas and matplotlib load only
when something that needs them is used.

The ``TYPE_CHECKING`` block below is the single list of public names. Type checkers and editors
read it as ordinary imports; at run time :func:`_exports` reads the same block from this file,
and ``__getattr__`` imports a name's module on first use. Adding a public name is one line here
(``from toolkit.module import name as name``; the ``as`` marks it as re-exported for strict type
checkers); ``tests/test_public_api.py`` checks that every name resolves and that the README,
docs and notebooks import only names listed here.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # type checkers read the block below as true; not importing typing saves ~2 ms

if TYPE_CHECKING:
    from toolkit.attempt_log import concat_logs as concat_logs
    from toolkit.catalog import load_catalog as load_catalog
    from toolkit.choice import Choice as Choice
    from toolkit.classifier import classify as classify
    from toolkit.combine import combined_table as combined_table
    from toolkit.combined_model import CombinedModel as CombinedModel
    from toolkit.combined_model import Member as Member
    from toolkit.combined_model import priority_order as priority_order
    from toolkit.endpoints import Endpoint as Endpoint
    from toolkit.engine import FailoverEngine as FailoverEngine
    from toolkit.errors import UserError as UserError
    from toolkit.export import ExportPlan as ExportPlan
    from toolkit.export import GatewayOptions as GatewayOptions
    from toolkit.export import export_opencode_config as export_opencode_config
    from toolkit.export import plan_export as plan_export
    from toolkit.fitting import fit_scenario as fit_scenario
    from toolkit.gateway import Gateway as Gateway
    from toolkit.gateway_config import read_gateway_settings as read_gateway_settings
    from toolkit.history import load_opencode_history as load_opencode_history
    from toolkit.history_overview import period_overview as period_overview
    from toolkit.history_overview import provider_overview as provider_overview
    from toolkit.history_sample import write_opencode_history as write_opencode_history
    from toolkit.live import read_log as read_log
    from toolkit.live import run_live as run_live
    from toolkit.metrics import summarize as summarize
    from toolkit.mock_providers import MockProviders as MockProviders
    from toolkit.mock_providers import Reply as Reply
    from toolkit.normalize import normalize_id as normalize_id
    from toolkit.opencode_config import read_config as read_config
    from toolkit.overlap import availability_matrix as availability_matrix
    from toolkit.overlap import overlap_matrix as overlap_matrix
    from toolkit.overlap import variant_only_matrix as variant_only_matrix
    from toolkit.plotting import OUTCOME_COLORS as OUTCOME_COLORS
    from toolkit.plotting import plot_attempts_histogram as plot_attempts_histogram
    from toolkit.plotting import plot_availability as plot_availability
    from toolkit.plotting import plot_calls_by_period as plot_calls_by_period
    from toolkit.plotting import plot_cost_per_success as plot_cost_per_success
    from toolkit.plotting import plot_error_shares as plot_error_shares
    from toolkit.plotting import plot_latency_cdf as plot_latency_cdf
    from toolkit.plotting import plot_overlap as plot_overlap
    from toolkit.plotting import plot_timeline as plot_timeline
    from toolkit.plotting import plot_tradeoff as plot_tradeoff
    from toolkit.policy import PRESETS as PRESETS
    from toolkit.policy import FailoverPolicy as FailoverPolicy
    from toolkit.policy import preset as preset
    from toolkit.report import build_report as build_report
    from toolkit.report import configurations as configurations
    from toolkit.scenario import Scenario as Scenario
    from toolkit.scenario import bundled_scenarios as bundled_scenarios
    from toolkit.simulator import simulate as simulate
    from toolkit.sweeps import Recommendation as Recommendation
    from toolkit.sweeps import pareto as pareto
    from toolkit.sweeps import recommend as recommend
    from toolkit.sweeps import sweep as sweep
    from toolkit.upstream import Timeouts as Timeouts
    from toolkit.user_setup import UserCase as UserCase
    from toolkit.user_setup import user_case as user_case
    from toolkit.vocabulary import DECISIONS as DECISIONS
    from toolkit.vocabulary import ERROR_CLASSES as ERROR_CLASSES
    from toolkit.vocabulary import INJECTABLE_CLASSES as INJECTABLE_CLASSES
    from toolkit.vocabulary import OUTCOMES as OUTCOMES
    from toolkit.vocabulary import STRATEGIES as STRATEGIES
    from toolkit.vocabulary import DecisionName as DecisionName
    from toolkit.vocabulary import ErrorClass as ErrorClass
    from toolkit.vocabulary import Outcome as Outcome
    from toolkit.vocabulary import Strategy as Strategy
    from toolkit.widgets import Explorer as Explorer

    __version__: str


def _exports() -> dict[str, tuple[str, str]]:
    """Public name -> (module, attribute), read from the ``TYPE_CHECKING`` block of this file.

    A plain line scan, not :mod:`ast`: it keeps ``import toolkit`` under a millisecond. Each line
    of the block is ``from MODULE import NAME as PUBLIC`` (the test checks the block parses).
    """
    exports = {}
    with open(__file__, encoding="utf-8") as source:
        lines = iter(source)
        for line in lines:
            if line.startswith("if TYPE_CHECKING:"):
                break
        for line in lines:
            words = line.split()
            if words and not line.startswith("    "):
                break  # the end of the block
            if words[:1] == ["from"]:
                _, module, _, attribute, _, public = words
                exports[public] = (module, attribute)
    return exports


_EXPORTS = _exports()

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> object:
    if name == "__version__":
        from importlib.metadata import version  # one source: the version in pyproject.toml

        value: object = version("combined-models")
    elif name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
