"""The one-command report: catalog -> combined table -> sweep -> recommendation -> charts -> HTML.

:func:`build_report` runs the whole pipeline on a catalog source (the bundled snapshot by
default, so the report is reproducible offline) and writes into one folder:

``report.html``
    one self-contained page (tables inline, charts as base64 PNGs, no external resource),
    readable offline and safe to mail around;
``charts/*.png``
    the same charts as files;
``combined.csv``, ``sweep.csv``, ``configurations.csv``, ``showcase.csv``
    the combined table, every sweep run, the configurations averaged over scenarios and
    seeds (with 95 % intervals) and the metrics of the showcase runs;
``choice.json``, ``opencode.json``
    the recommended configuration, and a config with it exported. With ``config`` the
    user's file is *copied* into the folder first and the copy is edited: the real config
    is never touched by a report.

The sweep studies the user's case (:mod:`toolkit.user_setup`): the model of their OpenCode
config on their connected providers when a config is given, else Claude Sonnet 4.5 on
Anthropic, Bedrock, Vertex and OpenRouter; members in the stated try order (first-party
vendor, major clouds, the rest), at most ``max_providers`` of them; every preset, every
choice of the first two providers tried (:func:`toolkit.sweeps.leading_orders`) and every
bundled scenario.
"""

from __future__ import annotations

import base64
import html
import shlex
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit.atomic import write_atomic
from toolkit.combined_model import CombinedModel
from toolkit.errors import UserError
from toolkit.user_setup import UserCase
from toolkit.variants import DEFAULT_SETTING

if TYPE_CHECKING:
    from toolkit.sweeps import Recommendation  # sweeps is imported lazily, only to run a sweep

SHOWCASE = "provider-outage"
"""Scenario whose attempt logs feed the latency, attempts and timeline charts (an incident shows most)."""
BASELINE = "seed-on-error"
"""The preset the recommended configuration's timeline is drawn against (the seed plugin's default)."""


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote and concluded."""

    out_dir: Path
    html: Path
    files: dict[str, Path]
    recommendation: Recommendation | None
    case: UserCase
    seconds: float
    notes: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)  # commands that apply the choice to the user's config


def busiest_providers(table: pd.DataFrame) -> list[str]:
    """Provider ids ordered by how many combined models each offers (most first, then by id)."""
    counts = table.groupby("provider", observed=True)["combined_id"].nunique()
    return sorted(counts.index, key=lambda p: (-counts[p], p))


def configurations(results: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: metrics averaged over scenarios, then over seeds with 95 % intervals."""
    from toolkit.sweeps import OBJECTIVES, across_scenarios, aggregate

    return aggregate(across_scenarios(results, None), list(OBJECTIVES))


OVERLAP_PROVIDERS = 15
"""Providers on the overlap and availability charts: the swept ones, then the busiest."""
COST_BARS = 12
"""Configurations on the cost chart: the cheapest meeting the success bar, and the recommendation."""


def cost_candidates(configs: pd.DataFrame, rec) -> pd.DataFrame:
    """The cost chart's rows, cheapest first: the cheapest configurations meeting the bar, plus the recommendation.

    When nothing meets the bar, the cheapest configurations of all.

    Filled by cost, not by the latency ranking, so the recommended bar is the shortest only
    when the recommendation really is the cheapest of those shown.
    """
    keys = ["preset", "strategy", "max_attempts", "priority"]
    feasible = configs[configs["success_rate"] >= rec.constraints["min_success"]] if rec is not None else configs
    shown = (feasible if len(feasible) else configs).sort_values("cost_per_success_usd").head(COST_BARS)
    if rec is not None and rec.choice is not None:
        shown = pd.concat([shown, rec.leaders.head(1)]).drop_duplicates(keys)
    return shown.sort_values("cost_per_success_usd", kind="stable")


def overlap_providers(table: pd.DataFrame, model: CombinedModel) -> list[str]:
    """The providers on the overlap charts: the studied model's (in try order), then the busiest."""
    mine = [p for p in model.providers if p in set(table["provider"])]
    return list(dict.fromkeys([*mine, *busiest_providers(table)]))[:OVERLAP_PROVIDERS]


def _charts(table, configs, rec, logs, showcase, model: CombinedModel) -> dict[str, bytes]:
    """Every chart of the report as PNG bytes, by file stem (in reading order)."""
    import matplotlib.pyplot as plt

    from toolkit import plotting
    from toolkit.overlap import availability_matrix, overlap_matrix
    from toolkit.plotting import figure_png

    top = overlap_providers(table, model)
    charts = {}
    ax = plotting.plot_overlap(overlap_matrix(table[table["provider"].isin(top)], providers=top))
    charts["overlap"] = figure_png(ax.figure)
    ax = plotting.plot_availability(availability_matrix(table[table["provider"].isin(top)], top=30))
    charts["availability"] = figure_png(ax.figure)
    chosen = rec.leaders.iloc[0] if rec is not None and rec.choice is not None else None
    charts["tradeoff"] = figure_png(plotting.plot_tradeoff(configs, recommended=chosen).figure)
    shown = cost_candidates(configs, rec)
    fig, ax = plt.subplots(figsize=(plotting.CHART_SIZE[0] + 2, 1.5 + 0.3 * len(shown)), layout="constrained")
    plotting.plot_cost_per_success(shown, ax=ax, recommended=chosen)
    charts["cost"] = figure_png(fig)
    charts["latency"] = figure_png(plotting.plot_latency_cdf(logs).figure)
    charts["attempts"] = figure_png(plotting.plot_attempts_histogram(logs).figure)
    runs = [str(r) for r in pd.unique(logs["run_id"].astype(str))]
    fig, axes = plt.subplots(
        len(runs[:2]), 1, figsize=(plotting.CHART_SIZE[0] + 2, 6.5), layout="constrained", sharex=True, squeeze=False
    )
    incidents = showcase.data.get("incidents", [])
    order = list(rec.choice.provider_priority) if rec is not None and rec.choice is not None else model.providers
    for ax, run in zip(axes[:, 0], runs[:2]):
        plotting.plot_timeline(
            logs[logs["run_id"].astype(str) == run], ax=ax, incidents=incidents, providers=order, ranks=model.providers
        )
        ax.set_title(f"{run}: attempts over time by provider ({showcase.name})")
        ax.tick_params(labelbottom=True)  # shared x, but every panel keeps its time ticks
    charts["timeline"] = figure_png(fig)
    return charts


def build_report(
    out_dir: str | Path,
    *,
    source: str = "bundled",
    config: str | Path | None = None,
    combined: str | None = None,
    providers: Sequence[str] | None = None,
    priority: Sequence[str] = (),
    max_providers: int = 4,
    scenarios: Sequence[str] | None = None,
    presets: Sequence[str] | None = None,
    seeds: int = 5,
    requests: int = 2000,
    min_success: float = 0.995,
    layout: str = "gateway",
    variants: str = DEFAULT_SETTING,
    executor: object | None = None,
    progress: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Run the pipeline and write the report folder (see the module docs); returns what was written.

    ``config`` is the user's OpenCode config (its model and connected providers are studied;
    :func:`toolkit.user_setup.user_case` explains the defaults, ``environ`` is where it looks
    for provider keys); ``combined``, ``providers`` and ``priority`` override it.
    ``scenarios`` are bundled names or files (default: every bundled scenario); ``executor``
    is passed to :func:`toolkit.sweeps.sweep` (processes on this machine by default).
    """
    from tqdm.auto import tqdm

    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table
    from toolkit.scenario import Scenario, bundled_scenarios
    from toolkit.sweeps import check_sweep, leading_orders, recommend, sweep
    from toolkit.user_setup import user_case

    started = time.perf_counter()
    if max_providers < 2:
        raise UserError("a report needs --max-providers >= 2 (failover needs two providers)")
    worlds = [Scenario.load(s) for s in (scenarios or bundled_scenarios())]  # the cheap mistakes first
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; --out takes a folder for the report")
    catalog = load_catalog(source, config=config)
    case = user_case(
        catalog,
        config=config,
        search=False,
        combined_id=combined,
        providers=providers,
        priority=priority,
        max_providers=max_providers,
        environ=environ,
        variants=variants,
    )
    mine = combined_table(catalog, providers=case.providers, priority=case.providers, min_providers=1)
    model = CombinedModel.from_table(mine, case.combined_id, variants)
    # Every mistake is found before a file is written: scenario ranks (only: a scenario fitted to
    # the history names every provider it used), and a sweep too large to finish.
    for world in worlds:
        world.check_members(model.providers, known=None)
    shape: dict[str, Any] = {"presets": presets, "seeds": seeds, "requests": requests, "executor": executor}
    check_sweep(model, worlds, **shape, priorities=leading_orders(model.providers))
    try:
        (out / "charts").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the report folder {out}: {exc.strerror}; choose another --out") from None
    steps = tqdm(total=5, desc="report", unit="step", disable=not progress)  # after the checks: no bar for a mistake
    steps.set_postfix_str("catalog")
    files: dict[str, Path] = {}
    notes: list[str] = [f"catalog: {w}" for w in catalog.attrs.get("warnings", [])]
    everything = combined_table(catalog, min_providers=1)
    table = combined_table(catalog, priority=case.providers, min_providers=2)
    files["combined"] = write_atomic(out / "combined.csv", table.to_csv(index=False))
    steps.update()

    steps.set_postfix_str("sweep")
    results = sweep(model, worlds, **shape, progress=progress, priorities=leading_orders(model.providers))
    files["sweep"] = write_atomic(out / "sweep.csv", results.to_csv(index=False))
    steps.update()

    steps.set_postfix_str("recommend")
    rec = recommend(results, min_success=min_success, preferred=case.providers, variants=variants)
    configs = configurations(results)
    files["configurations"] = write_atomic(out / "configurations.csv", configs.to_csv(index=False))
    exported = None
    if rec.choice is not None:
        files["choice"] = rec.choice.save(out / "choice.json")
        exported = _export(out, rec.choice, config, layout, everything, notes)
        files["opencode"] = exported
    steps.update()

    steps.set_postfix_str("showcase runs")
    showcase, logs, metrics = _showcase(model, rec, worlds, presets, requests)
    files["showcase"] = write_atomic(out / "showcase.csv", metrics.to_csv(index=False))
    steps.update()

    steps.set_postfix_str("charts")
    charts = _charts(table, configs, rec, logs, showcase, model)
    for name, png in charts.items():
        files[f"chart:{name}"] = write_atomic(out / "charts" / f"{name}.png", png)
    seconds = time.perf_counter() - started
    todo = next_steps(out, rec, config, layout)
    page = render_html(
        table=table,
        case=case,
        rec=rec,
        configs=configs,
        metrics=metrics,
        charts=charts,
        exported=exported,
        next_steps=todo,
        notes=notes,
        settings={
            "source": catalog.attrs.get("source", source),
            "model and providers": case.describe(),
            "variants": variants,
            "scenarios": ", ".join(s.name for s in worlds),
            "presets": ", ".join(presets or []) or "all",
            "seeds": seeds,
            "requests per run": requests,
            "runs": len(results),
            "seconds": round(seconds, 1),
        },
    )
    files["html"] = write_atomic(out / "report.html", page)
    steps.update()
    steps.close()
    return Report(out, files["html"], files, rec, case, seconds, notes, todo)


def next_steps(out: Path, rec, config: str | Path | None, layout: str) -> list[str]:
    """The commands that apply the recommendation to the user's own config (look first, then write;
    with the gateway layout, then serve it)."""
    if rec is None or rec.choice is None:
        return []
    target = shlex.quote(str(config)) if config is not None else "~/.config/opencode/opencode.json"
    base = f"combined-models export --config {target} --from {shlex.quote(str(out / 'choice.json'))}"
    if layout != "combined_models":
        base += f" --layout {layout}"
    serve = [f"combined-models gateway --config {target}"] if layout == "gateway" else []
    return [f"{base} --diff", base, *serve]


def _export(out: Path, choice, config, layout: str, combined: pd.DataFrame, notes: list[str]) -> Path:
    """Export ``choice`` into a copy of the user's config (or a new file) inside ``out``."""
    from toolkit.export import export_opencode_config

    target = out / "opencode.json"
    if config is not None:
        source = Path(config).expanduser()
        target = out / ("opencode.jsonc" if source.suffix == ".jsonc" else "opencode.json")
        if source.is_file():
            shutil.copyfile(source, target)  # the report edits its own copy, never the user's file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_opencode_config(target, choice, layout=layout, combined=combined)
    notes += [f"export: {w.message}" for w in caught]
    return target


def _showcase(model: CombinedModel, rec, worlds, presets, requests: int):
    """Attempt logs of every preset on the showcase scenario, at the recommended priority order.

    The recommended preset (or the baseline when there is none) comes first, the seed's
    default second, so the timeline chart compares the two.
    """
    from toolkit.attempt_log import concat_logs
    from toolkit.metrics import summarize
    from toolkit.policy import PRESETS, preset
    from toolkit.simulator import simulate

    scenario = next((s for s in worlds if s.name == SHOWCASE), worlds[0])
    choice = rec.choice
    order = tuple(choice.provider_priority) if choice is not None else tuple(model.providers)
    names = list(presets or PRESETS)
    first = choice.preset if choice is not None and choice.preset else BASELINE
    names = list(dict.fromkeys([first, BASELINE, *names]))
    logs = []
    for name in names:
        overrides = {"provider_priority": order}
        if choice is not None and name == first:
            overrides |= {"strategy": choice.strategy, "max_attempts": choice.max_attempts}
        label = f"{name} (recommended)" if choice is not None and name == first else name
        logs.append(simulate(model, preset(name, **overrides), scenario, requests=requests, seed=0, run_id=label))
    log = concat_logs(logs)
    return scenario, log, summarize(log)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
.wide { max-width: 100%; overflow-x: auto; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
img.broken { outline: 3px solid red; min-height: 2em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.verdict { font-size: 1.15em; line-height: 1.45; background: #eef6ee; border-left: 4px solid #4daf4a; padding: 0.6em 1em; }
.note { color: #8a5a00; }
"""

# Marks images that failed to load (red outline) and records the count on <html data-images>,
# so a reader sees a broken chart at once and a headless browser can check the page; records
# the page's width against the window's on <html data-width> ("page/window" in CSS pixels).
_CHECK_IMAGES = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  broken.forEach(function (img) { img.classList.add("broken"); });
  var summary = (images.length - broken.length) + " loaded, " + broken.length + " broken";
  document.documentElement.setAttribute("data-images", summary);
  var width = document.documentElement.scrollWidth + "/" + window.innerWidth;
  document.documentElement.setAttribute("data-width", width);
});
"""

_CAPTIONS = {
    "tradeoff": "Every configuration of the sweep, averaged over scenarios and seeds, with 95 % intervals as "
    "whiskers: up and left is better; the success axis counts nines (90 %, 99 %, 99.9 % ... equally spaced). The "
    "dashed line joins the configurations nothing beats on both axes. The star is the recommendation: when its "
    "intervals overlap the line's, the statistics cannot separate them and the stated tie-break decided.",
    "cost": "What a successful request costs (billed failed attempts included): the cheapest configurations "
    "meeting the success bar, cheapest on top, and the recommendation highlighted wherever it ranks; "
    "95 % intervals as whiskers.",
    "latency": "Share of successful requests answered within a given time, one line per preset, during the "
    "showcase scenario. Lines further left are faster; a long tail to the right is waiting and retrying. "
    "Presets with exactly the same latencies share one line, labelled with both names.",
    "attempts": "How many calls each request needed. Everything beyond one is failover or retry work.",
    "timeline": "Each dot is one attempt, one row per provider, coloured by its outcome; the grey band is the "
    "incident. A policy that routes around it moves its dots to the next row.",
    "overlap": "How many combined models each pair of providers shares (diagonal: models each offers): the "
    "providers studied first, then the busiest.",
    "availability": "The most-shared combined models and which providers offer them (the providers studied first, "
    "then the busiest).",
}


def _configurations_html(frame: pd.DataFrame) -> str:
    """Configurations with each objective as ``mean ± 95 % half-width`` (what a reader compares)."""
    shown = frame[["preset", "strategy", "max_attempts", "priority", "seeds"]].copy()
    for metric, fmt in [("success_rate", "{:.2%}"), ("latency_p95_s", "{:.2f}"), ("cost_per_success_usd", "{:.5f}")]:
        shown[metric] = [f"{fmt.format(m)} ± {fmt.format(c)}" for m, c in zip(frame[metric], frame[f"{metric}_ci"])]
    return _table_html(shown)


def _table_html(frame: pd.DataFrame) -> str:
    """A table in its own horizontally scrolling box, so a wide one never widens the page."""
    table = frame.to_html(index=False, escape=True, border=0, na_rep="", float_format=lambda v: f"{v:.4g}")
    return f"<div class='wide'>{table}</div>"


def _figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = html.escape(_CAPTIONS.get(name, ""))
    image = f'<img alt="{name} chart" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def render_html(*, table, case, rec, configs, metrics, charts, exported, next_steps, notes, settings) -> str:
    """The report page: the verdict in words, what to do next, then the evidence and the tables behind it."""
    esc = html.escape
    verdict = esc(rec.reason) if rec is not None else "no recommendation"
    groups = table.drop_duplicates("combined_id").sort_values(["n_providers", "combined_id"], ascending=[False, True])
    shared = groups[
        ["combined_id", "n_providers", "combined_context_limit", "combined_output_limit", "price_spread", "flags"]
    ].head(15)
    metric_cols = [c for c in metrics.columns if not c.startswith("share_")]
    best = (rec.leaders if rec is not None and rec.choice is not None else configs).head(10)
    if next_steps:
        todo = (
            "<h2>What to do next</h2><p>Look at the change to your OpenCode config, then write it "
            "(atomic, with a backup of the previous file):</p>"
            f"<pre>{esc(chr(10).join(next_steps))}</pre>"
        )
    else:
        todo = "<h2>What to do next</h2><p>Nothing to export yet: see the verdict above.</p>"
    if rec is not None and rec.choice is not None:  # what each export target keeps of the recommended policy
        from toolkit.router_targets import losses

        kept = [
            {"export target": target, "cannot express": "; ".join(lost) or "nothing: the whole policy runs"}
            for target, lost in losses(rec.choice.policy()).items()
        ]
        todo += "<h3>Exported elsewhere</h3>" + _table_html(pd.DataFrame(kept))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>combined-models report</title><style>{_STYLE}</style><script>{_CHECK_IMAGES}</script></head><body>",
        f"<h1>Failover for {esc(case.combined_id)}</h1>",
        f"<p class='verdict'>{verdict}</p>",
        f"<p class='case'>Studied: {esc(case.describe())}.</p>",
        todo,
        *(f"<p class='note'>{esc(n)}</p>" for n in notes),
        "<h2>Which configuration to run</h2>",
        _figure("tradeoff", charts["tradeoff"]),
        "<h3>Leading configurations</h3>" + _configurations_html(best),
        _figure("cost", charts["cost"]),
        f"<h2>What happens during an incident ({esc(str(metrics['run_id'].iloc[0]))} and others)</h2>",
        _figure("timeline", charts["timeline"]),
        _figure("latency", charts["latency"]),
        _figure("attempts", charts["attempts"]),
        "<h3>Metrics of these runs</h3>" + _table_html(metrics[metric_cols]),
        "<h2>Provider overlap</h2>",
        "<h3>Most-shared combined models</h3>" + _table_html(shared),
        _figure("overlap", charts["overlap"]),
        _figure("availability", charts["availability"]),
    ]
    if exported is not None:
        parts.append(f"<h2>Exported config ({esc(exported.name)}, inside the report folder)</h2>")
        parts.append(f"<pre>{esc(exported.read_text(encoding='utf-8'))}</pre>")
    rows = [{"setting": key, "value": str(value)} for key, value in settings.items()]
    parts.append("<h2>Settings</h2>" + _table_html(pd.DataFrame(rows)))
    parts.append(
        "<p>Files next to this page: combined.csv, sweep.csv, configurations.csv, showcase.csv, "
        "choice.json, charts/*.png.</p></body></html>"
    )
    return "\n".join(parts)
