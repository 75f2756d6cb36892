"""The package as users install it: a built wheel and an editable install both find ``data/``.

Each case installs the checkout into a fresh virtual environment (no network: the build runs
without isolation, on the setuptools of the ``dev`` extra; the runtime dependencies come from
this environment through a ``.pth`` line) and runs a script from outside the checkout that loads
a bundled scenario, the option schema and the version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

CHECK = """
import json, toolkit
from toolkit import Scenario, data_files
from toolkit.choice import options_schema
from toolkit.scenario import bundled_scenarios
print(json.dumps({
    "toolkit": toolkit.__file__,
    "data": str(data_files.root()),
    "bundled": list(bundled_scenarios()),
    "calm_day": Scenario.load("calm-day").name,
    "options": sorted(options_schema()["properties"]),
    "version": toolkit.__version__,
}))
"""


def _venv(tmp_path: Path) -> Path:
    """A fresh environment whose only extra path is this one's site-packages (not its .pth files)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            *args,
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def _check(python: Path, tmp_path: Path) -> dict:
    out = subprocess.run([str(python), "-c", CHECK], check=True, capture_output=True, text=True, cwd=tmp_path)
    return json.loads(out.stdout)


def _expected_data() -> list[str]:
    return sorted(str(p.relative_to(ROOT / "data")) for p in (ROOT / "data").rglob("*.json"))


def test_wheel_installs_data_and_every_module(tmp_path):
    # built from a copy, so no build/ folder is left in (or reused from) the checkout
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "report", "__pycache__", ".pytest_cache", ".hypothesis"
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        check=True,
        capture_output=True,
        cwd=source,
    )
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "toolkit").rglob("*.py")}
    assert sorted(modules - names) == []
    assert sorted(
        n[len("toolkit/data/") :] for n in names if n.startswith("toolkit/data/") and n.endswith(".json")
    ) == (_expected_data())
    assert "toolkit/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    python = _venv(tmp_path)
    _pip(python, str(wheel))
    found = _check(python, tmp_path)
    site = Path(found["toolkit"]).parent.parent
    assert Path(found["data"]) == site / "toolkit" / "data"
    assert found["calm_day"] == "calm-day"
    assert found["bundled"] == [Path(p).stem for p in _expected_data() if p.startswith("scenarios/")]
    assert found["options"] == sorted(
        json.loads((ROOT / "data" / "combined_models.schema.json").read_text())["properties"]
    )
    assert found["version"] == _project_version()


def test_editable_install_reads_the_checkouts_data_folder(tmp_path):
    python = _venv(tmp_path)
    _pip(python, "-e", str(ROOT))
    found = _check(python, tmp_path)
    assert Path(found["toolkit"]) == ROOT / "toolkit" / "__init__.py"
    assert Path(found["data"]) == ROOT / "data"
    assert found["calm_day"] == "calm-day"
    assert found["version"] == _project_version()


def _project_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
