"""The command-line frame: every command has --help, and user errors are one line with exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from toolkit.cli import _commands


def test_top_level_help_lists_every_command(cli):
    result = cli("--help")
    assert result.code == 0
    for name in _commands():
        assert name in result.out


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help(cli, name):
    result = cli(name, "--help")
    assert result.code == 0
    assert result.out.startswith("usage: combined-models " + name)


def test_unknown_command_is_a_usage_error(cli):
    result = cli("no-such-command")
    assert result.code == 2
    assert "invalid choice" in result.err


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "toolkit", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: combined-models")


def test_version_and_bundled_names_in_help(cli):
    from toolkit import __version__
    from toolkit.policy import PRESETS
    from toolkit.scenario import bundled

    result = cli("--version")
    assert result.code == 0 and result.out == f"combined-models {__version__}\n"
    text = " ".join(cli("simulate", "--help").out.split())  # argparse wraps the help: compare unwrapped
    assert f"a bundled name ({', '.join(bundled())})" in text
    assert all(name in text.replace("- ", "-") for name in PRESETS)


def test_combine_without_out_prints_the_summary_and_how_to_keep_the_table(cli):
    from toolkit.catalog import load_catalog
    from toolkit.combine import combined_table

    rows = len(combined_table(load_catalog("bundled"), min_providers=2))
    result = cli("combine", "--source", "bundled")
    assert result.code == 0
    assert f"combined models, {rows} members, from" in result.out
    assert (
        result.out.splitlines()[-1] == f"not written: add --out FILE (.csv, .json or .parquet) to keep the {rows} rows"
    )
