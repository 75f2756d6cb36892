"""The real OpenCode CLI (npm ``opencode-ai``) for tests: installed once per machine, run offline.

Each pinned version is installed with npm into ``~/.cache/combined-models/opencode-ai/<version>``
(or ``$COMBINED_MODELS_OPENCODE_DIR/<version>``) and reused by every later run, so a CI run
downloads each version at most once. The folder is resolved at import time, before the
suite's autouse fixture points ``HOME`` at a temporary directory. When npm is missing or
cannot install, the test is skipped with npm's own error as the reason (never passed).

OpenCode runs with ``HOME`` and the XDG folders in a temporary directory and
``OPENCODE_DISABLE_MODELS_FETCH=1``: it touches nothing global and needs no network.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CURRENT = "1.18.33"  # the release the notes were checked against
STRICT = "1.18.15"  # the last release that rejects unknown top-level keys

_REAL_HOME = str(Path.home())
CACHE_DIR = Path(
    os.environ.get("COMBINED_MODELS_OPENCODE_DIR") or Path(_REAL_HOME) / ".cache" / "combined-models" / "opencode-ai"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NPM_TIMEOUT_S = 600


def _native_package() -> str:
    """The npm package holding this machine's binary, e.g. ``opencode-linux-x64``."""
    system = platform.system().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(platform.machine().lower(), platform.machine())
    return f"opencode-{system}-{arch}"


def _npm_error(stderr: str) -> list[str]:
    """The lines of npm's output that say what went wrong (code, request, reason), not the advice."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() not in ("", "npm error")]
    telling = [line for line in lines if re.match(r"npm (error|ERR!) (code|errno|request|network|notarget|404)", line)]
    return (telling or lines)[:3]


def opencode_binary(version: str) -> Path:
    """Path of the ``opencode`` binary of ``version``, installing it with npm on first use."""
    folder = CACHE_DIR / version
    binary = folder / "node_modules" / _native_package() / "bin" / "opencode"
    if binary.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so opencode-ai@{version} cannot be installed")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # a lock per version: parallel test runs on one machine install it once
    with open(CACHE_DIR / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        staging = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=f".{version}-"))
        try:
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(staging), f"opencode-ai@{version}"],
                env={**os.environ, "HOME": _REAL_HOME},  # the user's npm settings (registry, proxy) apply
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(f"npm install opencode-ai@{version} did not finish in {_NPM_TIMEOUT_S} s")
        staged = staging / binary.relative_to(folder)
        if proc.returncode != 0 or not staged.is_file():
            shutil.rmtree(staging, ignore_errors=True)
            reason = " | ".join(_npm_error(proc.stderr)) or f"no {binary.relative_to(folder)} in the package"
            pytest.skip(f"npm install opencode-ai@{version} failed: {reason}")
        os.replace(staging, folder)  # only a complete install ever appears under its version
    return binary


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str  # ANSI colours removed


def _env(home: Path) -> dict[str, str]:
    """An offline environment whose HOME and XDG folders are inside ``home``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
    }


def debug_config(binary: Path, project: Path, home: Path) -> Result:
    """``opencode debug config`` run in ``project`` (where it finds opencode.json[c]), offline."""
    proc = subprocess.run(
        [str(binary), "debug", "config"], cwd=project, env=_env(home), capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, _ANSI.sub("", proc.stderr))


def run_prompt(binary: Path, project: Path, home: Path, prompt: str, model: str, timeout_s: float = 300) -> Result:
    """``opencode run PROMPT -m MODEL`` in ``project``, offline; its history lands in ``home/.local/share/opencode``."""
    proc = subprocess.run(
        [str(binary), "run", prompt, "-m", model],
        cwd=project,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return Result(proc.returncode, proc.stdout, _ANSI.sub("", proc.stderr))
