"""The bad-input corpus: every command and every file type it reads, given each kind of mistake.

Each case (tests/bad_inputs.py) must end with its exit code, exactly one line on stderr that
says what is wrong, no traceback, and every file in its folder byte for byte as before (no
file written, changed or removed). Most cases run the CLI in-process, as ``main`` is the
same code path; a sample runs as a real subprocess.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from bad_inputs import BASE_FILES, CASES, URL_BODIES, URL_BOMB, Case
from local_http import serving

from toolkit.cli import main


def _materialize(folder: Path, case: Case) -> None:
    for name, content in {**BASE_FILES, **case.files}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for name in case.folders:
        (folder / name).mkdir(parents=True)
    for name in case.fifos:
        os.mkfifo(folder / name)
    for name, target in case.links.items():
        (folder / name).symlink_to(target)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _argv(case: Case, folder: Path, url: str = "") -> list[str]:
    return [arg.replace("{d}", str(folder)).replace("{url}", url) for arg in case.argv]


@pytest.fixture(scope="module")
def url():
    """A catalog server on 127.0.0.1 answering :data:`bad_inputs.URL_BODIES` (and a gzip bomb)."""
    bodies = {
        path: (status, {}, body if isinstance(body, bytes) else body.encode())
        for path, (status, body) in URL_BODIES.items()
    }
    bodies[URL_BOMB] = (200, {"Content-Encoding": "gzip"}, gzip.compress(bytes(80 << 20), 1))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, headers, body = bodies[self.path]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as root:
        yield root


def _check(case: Case, code: int, out: str, err: str, before: dict[str, bytes], folder: Path) -> None:
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert re.search(case.err, lines[0]), lines[0]
    assert code == case.code, f"exit {code}: {lines[0]}"
    assert _snapshot(folder) == before


def test_the_corpus_is_large_and_covers_every_command():
    from toolkit.cli import _commands

    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)
    commands = {case.argv[0] for case in CASES}
    assert set(_commands()) <= commands


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case, tmp_path, capsys, request):
    _materialize(tmp_path, case)
    before = _snapshot(tmp_path)
    server = request.getfixturevalue("url") if any("{url}" in arg for arg in case.argv) else ""
    try:
        code = main(_argv(case, tmp_path, server))
    except SystemExit as exc:  # argparse usage errors exit from inside main, as on the real command line
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    _check(case, code, captured.out, captured.err, before, tmp_path)


SUBPROCESS_SAMPLE = [
    "live --time-scale nan",
    "scenario deep array",
    "catalog huge integer",
    "results fractional attempts",
    "live --log a folder",
]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_bad_input_as_a_real_command(name, tmp_path):
    case = next(case for case in CASES if case.id == name)
    _materialize(tmp_path, case)
    before = _snapshot(tmp_path)
    command = [sys.executable, "-m", "toolkit", *_argv(case, tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    _check(case, proc.returncode, proc.stdout, proc.stderr, before, tmp_path)
