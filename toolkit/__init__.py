"""combined-models: group the same LLM across providers, benchmark failover, export opencode.json.

The public API is re-exported here lazily (importing ``toolkit`` stays fast; pandas and
matplotlib load only when a function that needs them is used).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "UserError": "errors",
    "load_catalog": "catalog",
    "normalize_id": "normalize",
    "combined_table": "combine",
    "CombinedModel": "combined_model",
    "overlap_matrix": "overlap",
    "availability_matrix": "overlap",
    "classify": "classifier",
    "FailoverPolicy": "policy",
    "PRESETS": "policy",
    "preset": "policy",
    "Scenario": "scenario",
    "simulate": "simulator",
    "summarize": "metrics",
    "run_live": "live",
    "MockProviders": "mock_providers",
    "export_opencode_config": "export",
    "Choice": "choice",
    "sweep": "sweeps",
    "pareto": "sweeps",
    "recommend": "sweeps",
    "build_report": "report",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    return getattr(importlib.import_module(f"toolkit.{module}"), name)
