"""Planning and writing an edit of a user's config file, safely: the machinery every export shares.

:meth:`ConfigFile.read` reads an ``opencode.json[c]`` (or starts a new one) and refuses what
cannot be replaced safely (a directory, a read-only file, a missing folder, a non-object);
:meth:`ConfigFile.plan` splices keys in by offset (:func:`toolkit.jsonc.edit`), keeping every
other key, comment and blank as written, and returns an :class:`ExportPlan`. Nothing is written
until :meth:`ExportPlan.write`: through a temporary file and ``os.replace``, after copying the
previous file to a timestamped backup, and only when the text changes.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from toolkit import jsonc
from toolkit.atomic import write_atomic
from toolkit.errors import UserError

SCHEMA_URL = "https://opencode.ai/config.json"

# a literal secret in a config line: "apiKey": "sk-..." (not an {env:...} / {file:...} reference)
_SECRET_LINE = re.compile(r'("[^"]*(?:key|token|secret|password)[^"]*"\s*:\s*")(?!\{(?:env|file):)[^"]+(")', re.I)


@dataclass(frozen=True)
class ExportPlan:
    """An export worked out in memory: what the file holds now, what it would hold, and why.

    ``warnings`` are what the user should know before it is written (the Python API issues them
    as warnings); ``notes`` are information, such as what a target cannot express.
    """

    path: Path
    old_text: str | None  # None: the file does not exist yet
    new_text: str
    warnings: tuple[str, ...]
    lost_comments: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether writing would change the file (a second identical export does not)."""
        return self.new_text != self.old_text

    def diff(self) -> str:
        """Unified diff of the change, with literal secrets in context lines masked."""
        lines = difflib.unified_diff(
            (self.old_text or "").splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            fromfile=str(self.path) if self.old_text is not None else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(_SECRET_LINE.sub(r"\1***\2", line) for line in lines)

    def write(self, drop_comments: bool = False) -> Path | None:
        """Write the new text atomically after backing up the old file; returns the backup path.

        Nothing is written when nothing changes. Refuses (before writing) if comments would
        be lost and ``drop_comments`` is false.
        """
        if self.lost_comments and not drop_comments:
            shown = "; ".join(c.strip().replace("\n", " ")[:60] for c in self.lost_comments)
            raise UserError(
                f"{self.path}: exporting would drop comments inside values it replaces ({shown}); "
                "move them outside those values, or pass --force (drop_comments=True)"
            )
        if not self.changed:
            return None
        if (read_existing(self.path) if self.path.exists() else None) != self.old_text:
            raise UserError(f"{self.path} changed since this export was planned; run the export again")
        backup = None
        if self.old_text is not None:
            backup = _backup_path(self.path)
            shutil.copy2(self.path, backup)
        write_atomic(self.path, self.new_text)
        return backup


def _backup_path(path: Path) -> Path:
    """A new ``<name>.<UTC time to the microsecond>.bak`` next to ``path``; names sort by age."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        candidate = path.with_name(f"{path.name}.{stamp}.bak")
        if not candidate.exists():
            return candidate


def read_existing(path: Path) -> str | None:
    """The current text of ``path`` (None if missing), refusing what cannot be safely replaced."""
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the opencode.json or opencode.jsonc file inside it")
    if not path.exists():
        if not path.parent.is_dir():
            raise UserError(f"{path.parent} does not exist; create the folder or choose another --config")
        return None
    # root may write anything, so the permission bits (not os.access) say what the user intends
    if not stat.S_IMODE(path.stat().st_mode) & 0o222 or not os.access(path, os.W_OK):
        raise UserError(f"{path} is read-only; make it writable (chmod u+w) or choose another --config")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


@dataclass(frozen=True)
class ConfigFile:
    """An ``opencode.json[c]`` read for an edit: its real path, its text now and its parsed value."""

    path: Path  # symlinks resolved: the edit writes through a link, never replaces the link itself
    source: str  # the path as the user gave it, for messages
    old_text: str | None  # None: the file does not exist yet
    text: str  # the text edited: ``old_text``, or a new file holding only ``$schema``
    config: dict

    @classmethod
    def read(cls, path: str | Path) -> ConfigFile:
        """Read ``path`` (see :func:`read_existing`); it must hold a JSON object, if anything."""
        given = Path(path).expanduser()
        target = given.resolve()
        old_text = read_existing(target)
        text = old_text if old_text is not None else f'{{\n  "$schema": "{SCHEMA_URL}"\n}}\n'
        config = jsonc.loads(text, str(given))
        if not isinstance(config, dict):
            raise UserError(f"{given}: an OpenCode config must be a JSON object at the top level")
        return cls(target, str(given), old_text, text, config)

    def plan(
        self,
        updates: Mapping[tuple[str, ...], object],
        remove: Sequence[tuple[str, ...]] = (),
        warnings: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> ExportPlan:
        """The plan setting ``updates`` (key path -> value) and removing ``remove``; all else kept as written."""
        edit = jsonc.edit(self.text, updates, remove=remove, source=self.source)
        return ExportPlan(self.path, self.old_text, edit.text, warnings, edit.lost_comments, notes)
