"""The one-command report: what lands in the folder, that the page is self-contained, that a browser shows it."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from toolkit.choice import Choice
from toolkit.combined_model import CombinedModel
from toolkit.gateway_config import read_gateway_settings
from toolkit.report import build_report, busiest_providers, cost_candidates, overlap_providers
from toolkit.scenario import Scenario

SMALL = dict(
    max_providers=3,
    scenarios=["calm-day", "provider-outage"],
    presets=["resilient", "seed-on-error"],
    seeds=2,
    requests=150,
    executor="serial",
    progress=False,
)
CHARTS = ["overlap", "availability", "tradeoff", "cost", "latency", "attempts", "timeline"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return build_report(tmp_path_factory.mktemp("report") / "out", **SMALL)


@pytest.fixture(scope="module")
def page(report) -> str:
    return report.html.read_text(encoding="utf-8")


def test_folder_holds_the_page_tables_charts_and_exported_config(report):
    names = sorted(str(p.relative_to(report.out_dir)) for p in report.out_dir.rglob("*") if p.is_file())
    assert names == sorted(
        [
            "choice.json",
            "combined.csv",
            "configurations.csv",
            "opencode.json",
            "report.html",
            "showcase.csv",
            "sweep.csv",
            *(f"charts/{c}.png" for c in CHARTS),
        ]
    )
    sweep = pd.read_csv(report.out_dir / "sweep.csv")
    assert len(sweep) == 2 * 6 * 2 * 2  # presets x priority orders of 3 providers x scenarios x seeds
    assert set(sweep["combined_id"]) == {"claude-sonnet-4-5"}
    assert report.case.providers == ("anthropic", "amazon-bedrock", "google-vertex-anthropic")  # the default, cut to 3
    configs = pd.read_csv(report.out_dir / "configurations.csv")
    assert len(configs) == 2 * 6 and (configs["seeds"] == 2).all()
    showcase = pd.read_csv(report.out_dir / "showcase.csv")
    chosen = report.recommendation.choice.preset
    other = "resilient" if chosen == "seed-on-error" else "seed-on-error"  # every preset swept, recommended first
    assert sorted(showcase["run_id"]) == sorted([f"{chosen} (recommended)", other])


def test_exported_config_carries_the_recommended_choice(report):
    choice = report.recommendation.choice
    assert Choice.load(report.out_dir / "choice.json") == choice
    config = json.loads((report.out_dir / "opencode.json").read_text())
    settings = read_gateway_settings(config)  # the gateway layout: what combined-models gateway --config serves
    assert settings.policy == choice.policy() and settings.combined_ids == (choice.combined_id,)
    assert choice.combined_id == report.case.combined_id


def test_page_is_self_contained_with_every_chart_inline(page, report):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)  # nothing fetched from elsewhere
    assert "<link" not in page
    images = re.findall(r'<img alt="(\w+) chart" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in images] == [
        "tradeoff",
        "cost",
        "timeline",
        "latency",
        "attempts",
        "overlap",
        "availability",
    ]
    for name, data in images:
        assert base64.b64decode(data) == (report.out_dir / "charts" / f"{name}.png").read_bytes()
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert html.escape(report.recommendation.reason) in page
    assert html.escape((report.out_dir / "opencode.json").read_text()) in page  # the exported config is shown
    assert "<h3>Exported elsewhere</h3>" in page and "nothing: the whole policy runs" in page  # the gateway
    assert "OpenRouter's own, not configurable" in page


def test_busiest_providers_first():
    table = pd.DataFrame({"combined_id": ["a", "a", "b", "c", "c"], "provider": ["q", "p", "p", "p", "r"]})
    assert busiest_providers(table) == ["p", "q", "r"]


def test_overlap_charts_show_the_studied_providers_first(report):
    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table

    table = combined_table(load_catalog("bundled"), min_providers=2)
    model = CombinedModel.of(["anthropic", "amazon-bedrock", "google-vertex-anthropic"], "claude-sonnet-4-5")
    shown = overlap_providers(table, model)
    assert shown[:3] == ["anthropic", "amazon-bedrock", "google-vertex-anthropic"]  # they share models
    assert len(shown) == 15 and "openrouter" in shown  # then the busiest


def test_cost_chart_is_filled_by_cost_so_the_choice_is_cheapest_only_when_it_is(report):
    configs = pd.read_csv(report.out_dir / "configurations.csv")
    rec = report.recommendation
    shown = cost_candidates(configs, rec)
    feasible = configs[configs["success_rate"] >= 0.995]
    cheapest = feasible.nsmallest(len(shown) - 1, "cost_per_success_usd")["cost_per_success_usd"]
    assert shown["cost_per_success_usd"].is_monotonic_increasing
    assert set(cheapest) <= set(shown["cost_per_success_usd"])  # nothing cheaper left out
    chosen = shown["priority"].eq(rec.leaders.iloc[0]["priority"]) & shown["preset"].eq(rec.choice.preset)
    assert chosen.sum() == 1
    is_cheapest = rec.leaders.iloc[0]["cost_per_success_usd"] <= feasible["cost_per_success_usd"].min()
    assert bool(chosen.iloc[0]) == is_cheapest  # on top only when nothing meeting the bar costs less
    # and on a hand-made table where the leader by latency is not the cheapest
    from toolkit.sweeps import recommend

    rows = [("fast", "x>y", s, 1.0, 1.0, 0.30) for s in range(3)] + [
        ("cheap", "y>x", s, 1.0, 3.0, 0.10) for s in range(3)
    ]
    results = pd.DataFrame(
        [
            {
                "combined_id": "m",
                "preset": p,
                "strategy": "on_error",
                "priority": o,
                "max_attempts": 2,
                "scenario": "s",
                "seed": k,
                "success_rate": ok,
                "latency_p95_s": t,
                "cost_per_success_usd": c,
            }
            for p, o, k, ok, t, c in rows
        ]
    )
    picked = recommend(results, min_success=0.99)
    assert picked.choice.preset == "fast"
    from toolkit.report import configurations

    assert cost_candidates(configurations(results), picked)["preset"].tolist() == ["cheap", "fast"]


def test_user_config_is_copied_never_edited(tmp_path):
    user = tmp_path / "opencode.jsonc"
    original = '{\n  // my settings\n  "theme": "dark"\n}\n'
    user.write_text(original)
    out = tmp_path / "out"
    build_report(out, config=user, **SMALL)
    assert user.read_text() == original
    copy = (out / "opencode.jsonc").read_text()
    assert "// my settings" in copy and '"theme": "dark"' in copy and '"failover"' in copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opencode.jsonc", "out"]  # no backup beside the user's file


def test_cli_mistakes_are_one_line_errors(cli, tmp_path):
    afile = tmp_path / "taken"
    afile.write_text("x")
    result = cli("report", "--out", str(afile))
    assert result.code == 2 and result.err == f"error: {afile} is a file; --out takes a folder for the report\n"
    result = cli("report", "--out", str(tmp_path / "r"), "--max-providers", "1")
    assert result.code == 2 and "--max-providers >= 2" in result.err
    assert not (tmp_path / "r").exists()


def test_make_report_command_studies_the_users_model_and_providers(cli, isolated_home, tmp_path):
    config = isolated_home / ".config" / "opencode" / "opencode.json"
    config.parent.mkdir(parents=True)
    original = '{"model": "anthropic/claude-sonnet-4-5", "theme": "dark"}\n'
    config.write_text(original)
    auth = isolated_home / ".local" / "share" / "opencode" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(
        json.dumps({p: {"type": "api", "key": "sk-test"} for p in ["openrouter", "anthropic", "amazon-bedrock"]})
    )
    out = tmp_path / "report"
    result = cli("report", "--out", str(out))  # exactly what make report runs, from the user's point of view
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert (
        f"studied claude-sonnet-4-5 via anthropic > amazon-bedrock > openrouter (model anthropic/claude-sonnet-4-5 "
        f"from {config}; your connected providers (amazon-bedrock, anthropic, openrouter); order: first-party vendor, "
        "then major clouds, then the providers offering the most models)"
    ) in lines
    verdict = next(line for line in lines if line.startswith("Run "))
    assert re.match(
        r"Run [\w-]+ \(on_(error|rate_limit|overload), \d attempts per provider, [a-z> -]+\): "
        r"\d+\.\d\d% success, p95 latency \d+\.\d\d s \(± \d+\.\d\d\), \$\d\.\d{4} per successful request",
        verdict,
    )
    assert lines[lines.index(verdict) + 1 : lines.index(verdict) + 4] == [
        f"next: combined-models export --config {config} --from {out / 'choice.json'} --layout gateway --diff",
        f"next: combined-models export --config {config} --from {out / 'choice.json'} --layout gateway",
        f"next: combined-models gateway --config {config}",
    ]
    exported = json.loads((out / "opencode.json").read_text())
    policy = exported["provider"]["combined"]["options"]["failover"]
    assert set(policy["provider_priority"]) <= {"anthropic", "amazon-bedrock", "openrouter"}
    assert exported["theme"] == "dark" and config.read_text() == original  # a copy was edited, not the user's file
    page = (out / "report.html").read_text()
    assert page.index(html.escape(verdict)) < page.index("What to do next") < page.index("<img")
    assert (
        html.escape(f"combined-models export --config {config} --from {out / 'choice.json'} --layout gateway --diff")
        in page
    )


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
@pytest.mark.parametrize("window", [1400, 800])
def test_real_browser_loads_every_image_and_the_page_fits_the_window(report, tmp_path, window):
    url = report.html.as_uri()
    dom = _chromium(tmp_path, f"--window-size={window},1000", "--virtual-time-budget=5000", "--dump-dom", url).stdout
    assert 'data-images="7 loaded, 0 broken"' in dom
    page, seen = (int(v) for v in re.search(r'data-width="(\d+)/(\d+)"', dom).groups())
    assert seen == window and page <= window  # no sideways scrolling: wide tables scroll in their own box
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--window-size={window},1600", f"--screenshot={shot}", url)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (1600, window)
    not_white = (pixels < 0.9).any(axis=2).mean()
    assert 0.05 < not_white < 0.9  # text, tables and charts drawn; not an empty or all-dark page
    assert len({tuple(p) for p in pixels[::20, ::20].reshape(-1, 3).round(2)}) > 20  # more than a flat fill


def test_without_a_feasible_configuration_nothing_is_exported(tmp_path):
    out = tmp_path / "out"
    # every provider down from 120 s to 720 s: no order and no preset gets through that
    # (800 requests reach into the outage)
    data = Scenario.load("provider-outage").to_dict()
    data["incidents"] = [{**incident, "provider": "all"} for incident in data["incidents"]]
    Scenario.from_dict({**data, "name": "everyone-down"}).save(tmp_path / "everyone-down.json")
    report = build_report(out, **{**SMALL, "scenarios": [str(tmp_path / "everyone-down.json")], "requests": 800})
    assert report.recommendation.choice is None
    assert not (out / "opencode.json").exists() and not (out / "choice.json").exists()
    page = report.html.read_text()
    assert "no configuration reaches 99.50% success" in page
    assert page.count("data:image/png;base64,") == len(CHARTS)
