"""Catalog pipeline speed: load + normalize + combine, against plain ``json.load`` of the same file.

Runs on the bundled models.dev snapshot and on a synthetic catalog ten times its size
(every provider copied ten times with distinct provider and model ids, so no cache hides
the work). Prints medians, the ratio to ``json.load`` measured in the same run, the time
per 1,000 models, and how the time per model changes at 10x (1.0 = perfectly linear).

    python benchmarks/bench_catalog.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from toolkit.catalog import bundled_api, load_catalog
from toolkit.combine import combined_table
from toolkit.normalize import normalize_models, parse_id

COPIES = 10


def median_seconds(job: Callable[[], object], repeat: int, label: str) -> float:
    """Median wall time of ``job`` over ``repeat`` runs (the id cache is cleared before each)."""
    times = []
    for _ in tqdm(range(repeat), desc=label, leave=False):
        parse_id.cache_clear()
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic(api: dict, copies: int) -> dict:
    """``copies`` renamed copies of every provider; model ids get a per-copy suffix."""
    out = {}
    for i in range(copies):
        for provider_id, provider in api.items():
            models = {f"{mid}-k{i}": {**m, "id": f"{m.get('id', mid)}-k{i}"} for mid, m in provider["models"].items()}
            out[f"{provider_id}-c{i}"] = {**provider, "id": f"{provider_id}-c{i}", "models": models}
    return out


def measure(path: Path, repeat: int, label: str) -> dict:
    """Medians for json.load, load_catalog, normalization and the full pipeline on ``path``."""

    def json_load() -> object:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    models = load_catalog(str(path))
    return {
        "models": len(models),
        "json.load": median_seconds(json_load, repeat, f"{label} json.load"),
        "load": median_seconds(lambda: load_catalog(str(path)), repeat, f"{label} load"),
        "normalize": median_seconds(lambda: normalize_models(models), repeat, f"{label} normalize"),
        "combine": median_seconds(lambda: combined_table(models), repeat, f"{label} normalize+combine"),
        "pipeline": median_seconds(lambda: combined_table(load_catalog(str(path))), repeat, f"{label} pipeline"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (median reported)")
    args = parser.parse_args()
    api, label = bundled_api()
    bundled_total = median_seconds(lambda: combined_table(load_catalog("bundled")), args.repeat, "bundled source")
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "api.json", Path(tmp) / "api10x.json"
        small.write_text(json.dumps(api))
        large.write_text(json.dumps(synthetic(api, COPIES)))
        results = {
            "bundled": measure(small, args.repeat, "1x"),
            f"synthetic {COPIES}x": measure(large, max(3, args.repeat // 2), "10x"),
        }
    print(f"catalog: {label}; medians over {args.repeat} runs (10x: {max(3, args.repeat // 2)})")
    print(f"load_catalog('bundled') + combined_table: {bundled_total * 1000:.0f} ms (target < 500 ms)")
    header = f"{'catalog':<14}{'models':>8}{'json.load':>11}{'load':>8}{'normalize':>11}{'+combine':>10}{'pipeline':>10}{'x json':>8}{'ms/1k':>8}"
    print(header)
    for name, r in results.items():
        print(
            f"{name:<14}{r['models']:>8}{r['json.load'] * 1000:>9.0f}ms{r['load'] * 1000:>6.0f}ms"
            f"{r['normalize'] * 1000:>9.0f}ms{r['combine'] * 1000:>8.0f}ms{r['pipeline'] * 1000:>8.0f}ms"
            f"{r['pipeline'] / r['json.load']:>8.1f}{r['pipeline'] / r['models'] * 1e6:>8.1f}"
        )
    one, ten = results.values()
    per_model = (ten["pipeline"] / ten["models"]) / (one["pipeline"] / one["models"])
    print(f"time per model at {COPIES}x relative to 1x: {per_model:.2f} (1.00 = linear)")


if __name__ == "__main__":
    main()
