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
