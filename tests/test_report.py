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
from toolkit.report import build_report, busiest_providers, most_shared
from toolkit.scenario import Scenario

SMALL = dict(
    models=1, max_providers=3, scenarios=["calm-day", "provider-outage"], presets=["resilient", "seed-on-error"],
    seeds=2, requests=150, executor="serial", progress=False,
)  # fmt: skip
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
        ["choice.json", "combined.csv", "configurations.csv", "opencode.json", "report.html", "showcase.csv",
         "sweep.csv", *(f"charts/{c}.png" for c in CHARTS)]
    )  # fmt: skip
    sweep = pd.read_csv(report.out_dir / "sweep.csv")
    assert len(sweep) == 2 * 6 * 2 * 2  # presets x priority orders of 3 providers x scenarios x seeds
    assert set(sweep["combined_id"]) == set(report.models)
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
    assert config["combined_models"] == choice.options()
    assert config["plugin"] == ["opencode-combined-models"]
    assert choice.combined_id == report.models[0]


def test_page_is_self_contained_with_every_chart_inline(page, report):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)  # nothing fetched from elsewhere
    assert "<link" not in page
    images = re.findall(r'<img alt="(\w+) chart" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in images] == ["tradeoff", "cost", "timeline", "latency", "attempts", "overlap",
                                            "availability"]  # fmt: skip
    for name, data in images:
        assert base64.b64decode(data) == (report.out_dir / "charts" / f"{name}.png").read_bytes()
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert html.escape(report.recommendation.reason) in page
    assert html.escape((report.out_dir / "opencode.json").read_text()) in page  # the exported config is shown


def test_most_shared_models_are_cut_to_their_first_providers():
    table = pd.DataFrame(
        {
            "combined_id": ["a", "a", "a", "b", "b", "c", "c", "c", "c"],
            "provider": ["p", "q", "r", "p", "q", "p", "q", "r", "s"],
            "n_providers": [3, 3, 3, 2, 2, 4, 4, 4, 4],
            "rank": [0, 1, 2, 0, 1, 0, 1, 2, 3],
            "model_ref": ["p/a", "q/a", "r/a", "p/b", "q/b", "p/c", "q/c", "r/c", "s/c"],
        }
    )
    for column in ["context_limit", "output_limit", "cost_input", "cost_output", "provider_api", "provider_npm",
                   "provider_env"]:  # fmt: skip
        table[column] = None
    picked = most_shared(table, 2, 2)
    assert [(m.combined_id, m.providers) for m in picked] == [("c", ["p", "q"]), ("a", ["p", "q"])]
    assert busiest_providers(table) == ["p", "q", "r", "s"]


def test_user_config_is_copied_never_edited(tmp_path):
    user = tmp_path / "opencode.jsonc"
    original = '{\n  // my settings\n  "theme": "dark"\n}\n'
    user.write_text(original)
    out = tmp_path / "out"
    build_report(out, config=user, **SMALL)
    assert user.read_text() == original
    copy = (out / "opencode.jsonc").read_text()
    assert "// my settings" in copy and '"theme": "dark"' in copy and '"combined_models"' in copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opencode.jsonc", "out"]  # no backup beside the user's file


def test_cli_mistakes_are_one_line_errors(cli, tmp_path):
    afile = tmp_path / "taken"
    afile.write_text("x")
    result = cli("report", "--out", str(afile))
    assert result.code == 2 and result.err == f"error: {afile} is a file; --out takes a folder for the report\n"
    result = cli("report", "--out", str(tmp_path / "r"), "--max-providers", "1")
    assert result.code == 2 and "--max-providers >= 2" in result.err
    assert not (tmp_path / "r").exists()


def test_cli_runs_the_pipeline(cli, tmp_path):
    out = tmp_path / "r"
    result = cli("report", "--out", str(out), "--models", "1", "--seeds", "1", "--requests", "100", "--scenario",
                 "calm-day", "--presets", "resilient", "--executor", "serial")  # fmt: skip
    assert result.code == 0, result.err
    assert f"wrote {out / 'report.html'}" in result.out
    assert result.out.splitlines()[-2].startswith("swept ")
    assert (out / "report.html").is_file()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_real_browser_loads_every_image_and_renders_a_page(report, tmp_path):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    url = report.html.as_uri()
    dom = subprocess.run([CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True,
                         text=True, timeout=120, check=True).stdout  # fmt: skip
    assert 'data-images="7 loaded, 0 broken"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120, check=True)  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (1600, 1200)
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
