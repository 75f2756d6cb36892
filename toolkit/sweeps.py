"""Sweeps: simulate a grid of configurations and pick one with evidence.

:func:`sweep` runs :func:`toolkit.simulator.simulate` over presets x strategies x provider
orders x attempt budgets x scenarios x seeds on any :class:`concurrent.futures.Executor`
(processes by default, a Dask cluster on request) and returns one tidy metrics row per
configuration and seed. Rows are appended to ``out`` as chunks finish, so an interrupted
sweep keeps its work and a second call with the same ``out`` only runs what is missing.

:func:`pareto` marks the non-dominated configurations; :func:`recommend` applies
constraints, ranks by objectives with confidence intervals across seeds, and reports a
tie instead of inventing a winner when the leaders cannot be told apart.

Every configuration of one seed sees the same random draws of the scenario (common random
numbers), so differences between configurations are not sampling noise between them.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit import run_size
from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError, check_known
from toolkit.policy import ALIASES, PRESETS, preset
from toolkit.scenario import Scenario
from toolkit.userfile import file_stat
from toolkit.variants import DEFAULT_SETTING

CONFIG_COLUMNS = ["preset", "strategy", "priority", "max_attempts", "scenario"]
"""What identifies a configuration within a sweep (a result row adds ``seed``)."""

OBJECTIVES: dict[str, str] = {"success_rate": "max", "latency_p95_s": "min", "cost_per_success_usd": "min"}
"""The trade-off that :func:`pareto` looks at, with the direction that is better."""

MAX_FULL_PERMUTATIONS = 5
"""Up to this many providers every priority order is tried; beyond it orders are sampled."""


@dataclass(frozen=True)
class SweepPoint:
    """One simulation of the grid: a configuration, a scenario and a seed."""

    preset: str
    strategy: str
    priority: tuple[str, ...]
    max_attempts: int
    scenario: str
    seed: int

    @property
    def key(self) -> str:
        """A stable text id (the ``point`` column), used to resume a sweep."""
        return (
            f"{self.preset}|{self.strategy}|{'>'.join(self.priority)}|{self.max_attempts}|{self.scenario}|{self.seed}"
        )

    def policy(self):
        """The failover policy this point simulates."""
        return preset(
            self.preset, strategy=self.strategy, max_attempts=self.max_attempts, provider_priority=self.priority
        )


def priority_orders(providers: Sequence[str], limit: int = 24, seed: int = 0) -> list[tuple[str, ...]]:
    """Every order of ``providers`` when there are at most 5, else ``limit`` distinct sampled orders.

    Sampled orders always include the given order first, so the user's own priority is in the grid.
    """
    providers = tuple(providers)
    if len(providers) <= MAX_FULL_PERMUTATIONS:
        return list(itertools.permutations(providers))
    rng = random.Random(seed)
    orders = {providers: None}
    total = math.factorial(len(providers))
    while len(orders) < min(limit, total):
        order = list(providers)
        rng.shuffle(order)
        orders[tuple(order)] = None
    return list(orders)


def leading_orders(providers: Sequence[str], depth: int = 2) -> list[tuple[str, ...]]:
    """Every choice of the first ``depth`` providers, the rest kept in the given order; the given order first.

    Who is tried first and who takes over matter most; with 4 providers this is 12 orders
    instead of 24, and with ``depth >= len(providers) - 1`` it is every order.
    """
    providers = tuple(providers)
    orders: dict[tuple[str, ...], None] = {}
    for head in itertools.permutations(providers, min(depth, len(providers))):
        orders[head + tuple(p for p in providers if p not in head)] = None
    return list(orders)


def grid(
    model: CombinedModel,
    scenarios: Sequence[Scenario],
    *,
    presets: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    max_attempts: Sequence[int] | None = None,
    priorities: Sequence[Sequence[str]] | None = None,
    seeds: int = 3,
    max_orders: int = 24,
) -> list[SweepPoint]:
    """The points of a sweep, in a fixed order.

    ``strategies`` and ``max_attempts`` override each preset's own value when given (None keeps
    the preset's); ``priorities`` defaults to :func:`priority_orders` of the model's providers.
    """
    for name, names in (("presets", presets), ("strategies", strategies)):
        if isinstance(names, str):  # list("resilient") would be nine one-letter presets
            raise UserError(f"{name} must be a list of names, not the text {names!r}; write [{names!r}]")
    presets = list(presets or PRESETS)
    check_known("preset", presets, [*PRESETS, *ALIASES])
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, not {seeds}")
    if isinstance(scenarios, Scenario | str) or not scenarios or not all(isinstance(s, Scenario) for s in scenarios):
        raise UserError("scenarios must be a non-empty list of Scenario objects, e.g. [Scenario.load('calm-day')]")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise UserError(f"scenario names must be distinct; got {', '.join(names)}")
    if priorities is None:
        orders = priority_orders(model.providers, max_orders)
    else:
        orders = [tuple(p) for p in priorities]
        for order in orders:
            model.ordered(order)  # raises a clear error for a provider that does not offer the model
    points = []
    for name in presets:
        base = PRESETS[name]
        for strategy in strategies or [base.strategy]:
            for attempts in max_attempts or [base.max_attempts]:
                for order in orders:
                    for scenario in names:
                        for seed in range(seeds):
                            points.append(SweepPoint(name, strategy, tuple(order), int(attempts), scenario, seed))
    for point in points[:: max(1, len(points) // 50)] or points:
        point.policy()  # validate overrides once per combination kind, before any work starts
    return points


def run_points(
    model: CombinedModel, scenarios: Mapping[str, Scenario], points: Sequence[SweepPoint], requests: int
) -> list[dict]:
    """Simulate ``points`` and summarize each; one dict (a result row) per point.

    This is the unit of work sent to an executor: one call carries the model and the
    scenarios once for a whole chunk of points.
    """
    from toolkit.metrics import summarize
    from toolkit.simulator import simulate

    rows = []
    for point in points:
        log = simulate(  # the sweep's own bar counts the points; workers draw none
            model,
            point.policy(),
            scenarios[point.scenario],
            requests=requests,
            seed=point.seed,
            run_id=point.key,
            progress=False,
        )
        metrics = summarize(log).iloc[0].to_dict()
        metrics.pop("run_id", None)
        # one column per provider of the model, in a fixed order, whatever this run's try order
        shares = {f"share_{p}": metrics.pop(f"share_{p}", 0.0) for p in sorted(model.providers)}
        point_fields = asdict(point) | {"priority": ">".join(point.priority)}
        rows.append({"point": point.key, **point_fields, "combined_id": model.combined_id, **metrics, **shares})
    return rows


@contextmanager
def executor_for(spec: Executor | str | object | None, workers: int | None = None) -> Iterator[Executor]:
    """An executor from a spec; executors we create are shut down on exit, given ones are not.

    ``None`` or ``"processes"``: a process pool on this machine (``workers`` processes, default
    one per core). ``"serial"``: run in this process (debugging, notebooks). ``"dask://HOST:PORT"``:
    a Dask distributed scheduler. A ``distributed.Client`` or any ``Executor`` is used as given.
    """
    if isinstance(spec, Executor):
        yield spec
        return
    if spec is not None and hasattr(spec, "get_executor"):  # a dask.distributed.Client
        yield spec.get_executor()
        return
    if spec in (None, "processes"):
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
            yield pool
        return
    if spec == "serial":
        with _SerialExecutor() as pool:
            yield pool
        return
    if isinstance(spec, str) and spec.startswith("dask://"):
        try:
            from distributed import Client
        except ImportError:
            raise UserError("the Dask executor needs the dask extra: pip install 'combined-models[dask]'") from None
        address = "tcp://" + spec.removeprefix("dask://")
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an address without a port
            raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield client.get_executor()
        return
    raise UserError(f"unknown executor {spec!r}; use processes, serial, or dask://HOST:PORT")


class _SerialExecutor(Executor):
    """Runs each task at submit time, in this process (same interface as a pool)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, like a pool would
            future.set_exception(exc)
        return future


def _read_done(out: Path | None) -> pd.DataFrame:
    """The rows of an earlier run of the sweep in ``out`` (empty if none); anything else there is refused."""
    if out is not None and out.exists():
        try:
            file_stat(out)  # a folder or a FIFO (which would block the append) is refused
        except UserError as exc:
            raise UserError(f"--out {exc}") from None
    if out is not None and not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    if out is None or not out.exists() or out.stat().st_size == 0:
        return pd.DataFrame()
    try:
        done = pd.read_csv(out)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise UserError(f"{out} is not a sweep results file ({reason}); choose another --out") from None
    if "point" not in done.columns:
        raise UserError(f"{out} is not a sweep results file (no 'point' column); choose another --out")
    return done


def check_sweep(
    model: CombinedModel,
    scenarios: Sequence[Scenario],
    *,
    seeds: int = 3,
    requests: int = 2000,
    executor: Executor | str | object | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    **shape: Any,
) -> pd.DataFrame:
    """Refuse a sweep that cannot run, before any work: bad sizes, a grid too large for the machine
    (see :mod:`toolkit.run_size`), an ``out`` that is not a results file. Returns the rows already
    in ``out``. ``shape`` holds :func:`grid`'s other arguments."""
    if requests < 1:
        raise UserError(f"--requests must be at least 1, not {requests}")
    configs = len(grid(model, scenarios, **shape, seeds=1))  # before a grid of every seed is built
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, not {seeds}")
    parallel = 1 if executor == "serial" else workers or os.cpu_count() or 1
    run_size.check(configs * seeds, requests, parallel=parallel, lower="--seeds, --requests or the grid")
    return _read_done(Path(out) if out is not None else None)


def _append(out: Path, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    header = not out.exists() or out.stat().st_size == 0
    with out.open("a", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, header=header, index=False)
        fh.flush()
        os.fsync(fh.fileno())


def sweep(
    model: CombinedModel,
    scenarios: Sequence[Scenario],
    *,
    presets: Sequence[str] | None = None,
    strategies: Sequence[str] | None = None,
    max_attempts: Sequence[int] | None = None,
    priorities: Sequence[Sequence[str]] | None = None,
    seeds: int = 3,
    max_orders: int = 24,
    requests: int = 2000,
    executor: Executor | str | object | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the grid and return one metrics row per point, in grid order.

    ``presets`` ... ``max_orders`` define the grid (see :func:`grid`); ``requests`` per run;
    ``executor`` and ``workers`` where the runs go (see :func:`executor_for`).

    With ``out`` (CSV), finished chunks are appended as they complete and points already in
    the file are skipped, so re-running an interrupted sweep finishes it.
    """
    from tqdm.auto import tqdm

    shape: dict[str, Any] = {
        "presets": presets,
        "strategies": strategies,
        "max_attempts": max_attempts,
        "priorities": priorities,
        "max_orders": max_orders,
    }
    done = check_sweep(
        model, scenarios, seeds=seeds, requests=requests, executor=executor, workers=workers, out=out, **shape
    )
    points = grid(model, scenarios, **shape, seeds=seeds)
    out = Path(out) if out is not None else None
    finished = set(done["point"]) if "point" in done else set()
    todo = [p for p in points if p.key not in finished]
    by_name = {s.name: s for s in scenarios}
    rows: list[dict] = []
    if todo:
        size = chunk_size or max(1, min(64, len(todo) // (4 * (workers or os.cpu_count() or 1)) or 1))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        with (
            executor_for(executor, workers) as pool,
            tqdm(total=len(todo), desc=f"sweep {model.combined_id}", unit="config", disable=not progress) as bar,
        ):
            pending = {pool.submit(run_points, model, by_name, chunk, requests) for chunk in chunks}
            while pending:
                finished_now, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished_now:
                    chunk_rows = future.result()
                    if out is not None:
                        _append(out, chunk_rows)
                    rows.extend(chunk_rows)
                    bar.update(len(chunk_rows))
    results = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if len(done) else pd.DataFrame(rows)
    order = {p.key: i for i, p in enumerate(points)}
    results = results[results["point"].isin(order)]
    results = results.sort_values("point", key=lambda s: s.map(order)).reset_index(drop=True)
    results["priority"] = results["priority"].astype(str)
    return results


# --- choosing -------------------------------------------------------------------------------

# Two-sided 95 % Student t quantiles for 1..30 degrees of freedom; beyond 30 the normal 1.96.
_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def t_quantile(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (95 % two-sided)."""
    return _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96


def _config_columns(results: pd.DataFrame) -> list[str]:
    return [c for c in ["combined_id", *CONFIG_COLUMNS] if c in results.columns]


def aggregate(results: pd.DataFrame, metrics: Iterable[str] = OBJECTIVES) -> pd.DataFrame:
    """Mean and 95 % confidence half-width across seeds, one row per configuration.

    Columns: the configuration columns, ``seeds``, and for every metric ``M``: ``M`` (mean),
    ``M_ci`` (half-width of the t interval; 0 with one seed).
    """
    keys = _config_columns(results)
    grouped = results.groupby(keys, sort=False, observed=True)
    out = grouped.size().rename("seeds").to_frame()
    for metric in metrics:
        stats = grouped[metric].agg(["mean", "std", "count"])
        half = stats["std"].fillna(0.0) / np.sqrt(stats["count"]) * stats["count"].map(lambda n: t_quantile(n - 1))
        out[metric] = stats["mean"]
        out[f"{metric}_ci"] = half.where(stats["count"] > 1, 0.0)
    return out.reset_index()


def pareto(results: pd.DataFrame, objectives: Mapping[str, str] = OBJECTIVES) -> pd.DataFrame:
    """Configurations (averaged over seeds when there are several) with a ``pareto`` column.

    A configuration is on the Pareto front when no other is at least as good on every
    objective and strictly better on one. ``objectives`` maps a metric to ``"max"`` or ``"min"``.
    """
    table = aggregate(results, objectives) if "seed" in results.columns else results.copy()
    signs = np.array([1.0 if way == "max" else -1.0 for way in objectives.values()])
    values = table[list(objectives)].to_numpy(dtype=float) * signs  # larger is better on every axis
    values = np.nan_to_num(values, nan=-np.inf)
    at_least = (values[None, :, :] >= values[:, None, :]).all(axis=2)  # [i, j]: j is at least as good as i
    better = (values[None, :, :] > values[:, None, :]).any(axis=2)
    table["pareto"] = ~(at_least & better).any(axis=1)
    return table


TIE_BREAK = (
    "fewer providers, then a smaller attempt budget, then lower cost (to 2 significant digits), "
    "then the first-party provider first"
)
"""How :func:`recommend` decides among configurations the statistics cannot separate, in words."""


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend` concluded.

    ``choice`` is the configuration to run (the exporter's input). ``tie`` says whether the
    statistics alone left several configurations (their 95 % intervals overlap on every
    objective); ``leaders`` then lists all of them, ordered by :data:`TIE_BREAK`, and the
    first is the choice. ``reason`` says in plain words what to run, why this one, and what
    the runners-up trade.
    """

    choice: Choice | None
    tie: bool
    leaders: pd.DataFrame
    ranked: pd.DataFrame
    reason: str
    constraints: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for people: the pick and why."""
        return self.reason


def across_scenarios(results: pd.DataFrame, weights: Mapping[str, float] | None) -> pd.DataFrame:
    """Per configuration and seed, the weighted mean of every metric over scenarios."""
    keys = [c for c in _config_columns(results) if c != "scenario"]
    frame = results.copy()
    weight = frame["scenario"].map(lambda s: (weights or {}).get(s, 1.0)) if "scenario" in frame else 1.0
    frame["_w"] = weight
    numeric = [c for c in OBJECTIVES if c in frame]

    def weighted(group: pd.DataFrame) -> pd.Series:
        w = group["_w"].to_numpy()
        return pd.Series({c: np.average(group[c].to_numpy(dtype=float), weights=w) for c in numeric})

    by = keys + (["seed"] if "seed" in frame else [])
    return frame.groupby(by, sort=False, observed=True)[numeric + ["_w"]].apply(weighted).reset_index()


def _checked_results(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """``results`` with its metric columns as numbers, or a UserError naming the first bad cell.

    A hand-edited or damaged results file must not turn into a wrong recommendation: every
    row needs a success rate from 0 to 1 and a whole ``max_attempts`` from 1 to 100 (what a
    sweep and a saved choice take); other metrics (latencies, costs) must be numbers of at
    least 0, blank (NaN) only where a configuration had no success.
    """
    if results.empty:
        raise UserError("the results file has no rows; run combined-models sweep (to the end) first")
    out = results.copy()

    def bad(column: str, row: object, value: object, want: str) -> UserError:
        line = int(row) + 2 if isinstance(row, (int, np.integer)) else row  # + the header line, 1-based
        shown = value.item() if isinstance(value, np.generic) else value  # 2.5, not np.float64(2.5)
        return UserError(f"results line {line}: {column} is {shown!r}, expected {want}; is the file damaged?")

    for column in metrics:
        values = pd.to_numeric(out[column], errors="coerce")
        text = values.isna() & out[column].notna()
        if text.any():
            row = text.idxmax()
            raise bad(column, row, out[column][row], "a number")
        out[column] = values.astype(float)
    rate = out["success_rate"]
    wrong = ~rate.between(0.0, 1.0)  # NaN is not between
    if wrong.any():
        row = wrong.idxmax()
        raise bad("success_rate", row, rate[row], "a number from 0 to 1")
    if "max_attempts" in out:
        attempts = pd.to_numeric(out["max_attempts"], errors="coerce")
        wrong = ~attempts.between(1, 100) | (attempts % 1 != 0)  # NaN is not between
        if wrong.any():
            row = wrong.idxmax()
            raise bad("max_attempts", row, out["max_attempts"][row], "a whole number from 1 to 100")
        out["max_attempts"] = attempts.astype(int)
    for column in metrics[1:]:  # blank only without a success: nothing to measure then
        wrong = out[column].isna() & (rate > 0) | np.isinf(out[column]) | (out[column] < 0)
        if wrong.any():
            row = wrong.idxmax()
            raise bad(column, row, out[column][row], "a finite number of at least 0 where success_rate is above 0")
    return out


def recommend(
    results: pd.DataFrame,
    *,
    min_success: float = 0.995,
    objectives: Sequence[str] = ("latency_p95_s", "cost_per_success_usd"),
    weights: Mapping[str, float] | None = None,
    min_providers: int = 2,
    variants: str = DEFAULT_SETTING,
    preferred: Sequence[str] = (),
) -> Recommendation:
    """Pick a configuration: success rate at least ``min_success``, then best on ``objectives`` in order.

    Metrics are averaged over scenarios (``weights`` per scenario name, default equal), then
    over seeds with 95 % confidence intervals. Among the feasible configurations the leader
    on the first objective is compared with the rest: those whose intervals overlap it stay
    in contention and the next objective decides among them. When every objective leaves
    more than one, the statistics cannot separate them (``tie``) and :data:`TIE_BREAK`
    decides; ``preferred`` is the provider order that counts as "first-party first"
    (default: the first priority order of the results, the model's own order).
    """
    if not 0.0 <= min_success <= 1.0:
        raise UserError(f"--min-success must be between 0 and 1, not {min_success}")
    unknown = [o for o in objectives if o not in OBJECTIVES or OBJECTIVES[o] != "min"]
    if unknown:
        raise UserError(f"unknown objective {unknown[0]!r}; choose from latency_p95_s, cost_per_success_usd")
    missing = [c for c in ["success_rate", "cost_per_success_usd", *objectives] if c not in results.columns]
    if missing:
        raise UserError(f"the results have no column {missing[0]!r}; is this a file written by combined-models sweep?")
    results = _checked_results(results, ["success_rate", *dict.fromkeys([*objectives, "cost_per_success_usd"])])
    shown = ["success_rate", *dict.fromkeys([*objectives, "latency_p95_s", "cost_per_success_usd"])]
    table = aggregate(across_scenarios(results, weights), [m for m in shown if m in results.columns])
    constraints = {"min_success": min_success, "objectives": list(objectives)}
    feasible = table[table["success_rate"] >= min_success]
    if feasible.empty:
        best = table.sort_values("success_rate", ascending=False).head(1)
        rate = float(best["success_rate"].iloc[0]) if len(best) else float("nan")
        return Recommendation(
            None,
            False,
            best,
            table,
            f"no configuration reaches {min_success:.2%} success (best: {rate:.2%}); lower --min-success "
            "or add providers/attempts to the sweep",
            constraints,
        )
    contenders = feasible
    for objective in objectives:
        lead = contenders.loc[contenders[objective].idxmin()]
        upper = lead[objective] + lead[f"{objective}_ci"]
        contenders = contenders[contenders[objective] - contenders[f"{objective}_ci"] <= upper]
        if len(contenders) == 1:
            break
    ranked = feasible.sort_values(list(objectives)).reset_index(drop=True)
    leaders = break_ties(contenders, preferred or _first_order(results))
    top = leaders.iloc[0]
    choice = Choice(
        provider_priority=tuple(str(top["priority"]).split(">")),
        strategy=str(top["strategy"]),
        max_attempts=int(top["max_attempts"]),
        min_providers=min_providers,
        variants=variants,
        combined_id=str(top["combined_id"]) if "combined_id" in top else None,
        preset=str(top["preset"]),
    )
    reason = _explain(leaders, len(feasible), min_success, objectives)
    return Recommendation(choice, len(leaders) > 1, leaders, ranked, reason, constraints)


def _first_order(results: pd.DataFrame) -> list[str]:
    """The first priority order of a sweep: the model's own order (first-party vendor first)."""
    return str(results["priority"].iloc[0]).split(">") if len(results) else []


def break_ties(leaders: pd.DataFrame, preferred: Sequence[str]) -> pd.DataFrame:
    """``leaders`` ordered by :data:`TIE_BREAK`; ``preferred`` is the provider order that counts as first-party first."""
    rank = {p: i for i, p in enumerate(preferred)}
    frame = leaders.copy()
    frame["_providers"] = frame["priority"].astype(str).str.count(">") + 1
    frame["_order"] = frame["priority"].astype(str).map(lambda o: tuple(rank.get(p, len(rank)) for p in o.split(">")))
    frame["_cost"] = frame["cost_per_success_usd"].map(_cost_step)
    keys = ["_providers", "max_attempts", "_cost", "_order"]
    ordered = frame.sort_values(keys, kind="stable")
    return ordered.drop(columns=["_providers", "_order", "_cost"]).reset_index(drop=True)


def _cost_step(cost: float) -> float:
    """Cost to 2 significant digits: differences smaller than that are noise between tied configurations."""
    return float(f"{cost:.2g}") if math.isfinite(cost) else math.inf


def describe_configuration(row: Mapping) -> str:
    """``preset (strategy, N attempts per provider, a > b > c)``: a configuration in words."""
    order = " > ".join(str(row["priority"]).split(">"))
    return f"{row['preset']} ({row['strategy']}, {int(row['max_attempts'])} attempts per provider, {order})"


def _deciding(top: pd.Series, other: pd.Series) -> str:
    """The first rule of :data:`TIE_BREAK` on which ``top`` beats ``other``, in words."""
    if str(top["priority"]).count(">") != str(other["priority"]).count(">"):
        return "it uses fewer providers"
    if int(top["max_attempts"]) != int(other["max_attempts"]):
        return "it has a smaller attempt budget"
    if _cost_step(top["cost_per_success_usd"]) != _cost_step(other["cost_per_success_usd"]):
        return "it costs less"
    if top["priority"] == other["priority"]:
        return "it comes first"
    if str(top["priority"]).split(">")[0] != str(other["priority"]).split(">")[0]:
        return "it tries the first-party provider first"
    return "its order follows the stated one (first-party vendor, then the clouds) more closely"


def _trade(top: pd.Series, other: pd.Series) -> str:
    """What choosing ``other`` instead of ``top`` changes, in words."""
    changes = [
        f"success {other['success_rate'] - top['success_rate']:+.2%}",
        f"p95 {other['latency_p95_s'] - top['latency_p95_s']:+.2f} s" if "latency_p95_s" in other else "",
        f"cost {(other['cost_per_success_usd'] / top['cost_per_success_usd'] - 1):+.0%}"
        if top["cost_per_success_usd"]
        else "",
    ]
    return f"{describe_configuration(other)}: " + ", ".join(c for c in changes if c)


def _explain(leaders: pd.DataFrame, feasible: int, min_success: float, objectives: Sequence[str]) -> str:
    """The verdict in plain words: what to run, its numbers, why this one, what the runners-up trade."""
    top = leaders.iloc[0]
    numbers = [f"{top['success_rate']:.2%} success"]
    if "latency_p95_s" in top:
        numbers.append(f"p95 latency {top['latency_p95_s']:.2f} s (± {top['latency_p95_s_ci']:.2f})")
    numbers.append(f"${top['cost_per_success_usd']:.4f} per successful request")
    text = (
        f"Run {describe_configuration(top)}: {', '.join(numbers)}, averaged over the scenarios "
        f"({feasible} configurations reach {min_success:.2%})."
    )
    words = " and ".join(o.replace("_", " ").removesuffix(" s").replace("usd", "") for o in objectives)
    if len(leaders) == 1:
        return text + f" It beats every other one on {words.strip()} beyond the 95 % intervals."
    runners = "; ".join(_trade(top, leaders.iloc[i]) for i in range(1, min(3, len(leaders))))
    return (
        text + f" {len(leaders) - 1} other configuration(s) are as good within the 95 % intervals on {words.strip()}; "
        f"ties are broken by {TIE_BREAK}, and this one wins because {_deciding(top, leaders.iloc[1])}. "
        f"Runners-up: {runners}."
    )
