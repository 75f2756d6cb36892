"""Planning and writing an edit of a user's config file, safely: the machinery every export shares.

:meth:`ConfigFile.read` reads an ``opencode.json[c]`` (or starts a new one) and refuses what
cannot be replaced safely (a directory, a read-only file, a missing folder, a non-object);
:meth:`ConfigFile.plan` splices keys in by offset (:func:`toolkit.jsonc.edit`), keeping every
other key, comment and blank as written, and returns an :class:`ExportPlan`. Nothing is written
until :meth:`ExportPlan.write`: through a temporary file and ``os.replace`` (mode, owner and
group kept where the process may: :mod:`toolkit.atomic`), after keeping the previous file as a
timestamped backup, under the folder's lock (:mod:`toolkit.filelock`), and only when the text
changes. Lines the edit adds end in the file's own line ending (:func:`toolkit.jsonc.newline_of`).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import stat
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from toolkit import jsonc
from toolkit.atomic import NotKept, write_atomic
from toolkit.errors import UserError
from toolkit.filelock import folder_lock
from toolkit.redaction import mask_config_line
from toolkit.userfile import check_writable, file_stat, read_text, real_path

SCHEMA_URL = "https://opencode.ai/config.json"


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
        """Unified diff of the change, with literal secrets masked (:func:`toolkit.redaction.mask_config_line`).

        Lines are split at ``\\n`` only and keep their endings, so a CRLF file shows CRLF
        lines (the diff applies with ``patch``) and a change of line ending would show as a
        change; a last line without a newline is marked as ``diff`` marks it.
        """
        lines = difflib.unified_diff(
            _lines(self.old_text or ""),
            _lines(self.new_text),
            fromfile=str(self.path) if self.old_text is not None else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(mask_config_line(_ended(line)) for line in lines)

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
        data = _encode(self.path, self.new_text)
        with folder_lock([self.path]):  # no other export of this package replaces it meanwhile
            if read_existing(self.path) != self.old_text:
                raise UserError(f"{self.path} changed since this export was planned; run the export again")
            info = file_stat(self.path)
            other_links = info.st_nlink - 1 if info is not None else 0  # counted before the backup adds one
            backup = None
            try:
                if self.old_text is not None:
                    backup = _backup(self.path)
                write_atomic(self.path, data)
            except BaseException as exc:
                if backup is not None:
                    backup.unlink(missing_ok=True)  # the file was not replaced: no backup of it either
                if isinstance(exc, OSError):
                    raise UserError(f"cannot write {self.path}: {exc.strerror}; nothing was changed") from None
                raise
        if other_links:
            warnings.warn(
                f"{self.path} had {other_links} other hard link(s); they keep the old text, "
                "the new text is only under this name",
                NotKept,
                stacklevel=2,
            )
        return backup


def _lines(text: str) -> list[str]:
    """``text`` split after each ``\\n`` (not at ``\\r``, U+2028 or the other breaks ``splitlines`` knows)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _ended(line: str) -> str:
    """A diff line that lacks a newline (the file's last), ended and marked as ``diff`` does."""
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def _encode(path: Path, text: str) -> bytes:
    """``text`` as UTF-8; text that cannot be encoded (a lone surrogate) is refused before anything is written."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ascii(text[exc.start : exc.end])
        raise UserError(
            f"{path}: the new text would hold {bad}, which is not valid UTF-8; fix the value that holds it"
        ) from None


def _backup(path: Path) -> Path:
    """Keep the current file as a new ``<name>.<UTC time to the microsecond>.bak`` next to it.

    The backup is a hard link to the file about to be replaced, so it is the old file itself,
    owner, mode and times included; where the file system has no hard links it is a copy.
    Names sort by age, and an existing name is never reused.
    """
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        candidate = path.with_name(f"{path.name}.{stamp}.bak")
        try:
            os.link(path, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:  # no hard links here: copy, keeping the owner where this process may
            if candidate.exists():
                continue
            try:
                shutil.copy2(path, candidate)
            except BaseException:
                candidate.unlink(missing_ok=True)  # never a half copy left behind
                raise
            info = path.stat()
            with contextlib.suppress(PermissionError):
                os.chown(candidate, info.st_uid, info.st_gid)
            return candidate


def read_existing(path: Path) -> str | None:
    """The current text of ``path`` (None if missing), refusing what cannot be safely replaced.

    Only a regular file is read (a FIFO or a device would block or never end; a symlink loop
    has no target): each is one-line :class:`UserError` before any read.
    """
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the opencode.json or opencode.jsonc file inside it")
    info = file_stat(path)
    if info is None:
        if not path.parent.is_dir():
            raise UserError(f"{path.parent} does not exist; create the folder or choose another --config")
        check_writable(path)  # a new file in /proc or on a read-only file system: refused before the plan's warnings
        return None
    # root may write anything, so the permission bits (not os.access) say what the user intends
    if not stat.S_IMODE(info.st_mode) & 0o222 or not os.access(path, os.W_OK):
        raise UserError(f"{path} is read-only; make it writable (chmod u+w) or choose another --config")
    return read_text(path)


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
        target = real_path(given)
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
