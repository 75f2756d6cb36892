"""The files bundled with the package: the repository's top-level ``data/`` folder.

``data/`` holds what a user reads and edits (the bundled scenarios, their JSON Schema, the
plugin options schema). It is installed as the package ``toolkit.data`` (a ``package-dir``
mapping in ``pyproject.toml``), so a wheel puts it at ``site-packages/toolkit/data`` and an
editable install points the same import name at the checkout's ``data/``. Every reader goes
through :func:`path`, so that mapping is the only place that knows where the files are.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def root() -> Path:
    """The installed ``data/`` folder."""
    spec = importlib.util.find_spec("toolkit.data")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("toolkit.data is not installed; reinstall combined-models")
    return Path(next(iter(spec.submodule_search_locations)))


def path(*parts: str) -> Path:
    """The path of a bundled file or folder, e.g. ``path("scenarios", "calm-day.json")``."""
    return root().joinpath(*parts)


def read_json(*parts: str) -> Any:
    """Parse a bundled JSON file, e.g. ``read_json("scenario.schema.json")``."""
    return json.loads(path(*parts).read_text(encoding="utf-8"))
