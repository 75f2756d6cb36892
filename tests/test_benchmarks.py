"""Benchmark scripts stay importable as the package changes (they are run by hand, not in CI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parent.parent / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks():
    assert [p.name for p in BENCHMARKS] == [
        "bench_catalog.py",
        "bench_gateway.py",
        "bench_history.py",
        "bench_live.py",
        "bench_simulator.py",
        "bench_sweep.py",
    ]


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_imports_and_has_a_main(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs the imports; main() is behind __name__ == "__main__"
    assert callable(module.main)
