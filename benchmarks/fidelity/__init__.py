"""Fidelity harness: do the presets named after real systems predict those systems?

Installs the pinned real systems into cached environments (OpenCode CLI from npm as the
export tests do, LiteLLM from PyPI into its own virtual environment, never the project's),
drives each against the toolkit's mock providers on 127.0.0.1 under the same faults, and
compares what they did with what the simulator predicts for the matching preset.

    python -m benchmarks.fidelity [--systems opencode,litellm] [--markdown docs/fidelity.md]

Not part of ``make test``: it takes minutes (OpenCode's retries are real waits).
"""
