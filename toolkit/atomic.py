"""Atomic file writes: the one way this package writes a file a user may care about.

Data goes to a temporary file in the same folder, which then replaces the target with
``os.replace`` once it is flushed to disk: a crash, a power cut or Ctrl-C leaves the old
file or the new one, never half of either. An existing file keeps its permissions, and its
owner and group where the process may set them (root, or the owner giving the file to one
of its own groups); when it may not, an :class:`NotKept` warning says so rather than
changing them quietly. A new file gets the usual ``0666 & ~umask`` (``mkstemp`` alone would
leave it private to the owner).
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from pathlib import Path


class NotKept(UserWarning):
    """Something of a replaced file could not be kept: its owner or group, or its other hard links."""


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _keep_owner(tmp: str, path: Path, before: os.stat_result) -> None:
    """Give ``tmp`` the owner and group ``path`` had (``before``), or warn about what differs."""
    wanted = (before.st_uid, before.st_gid)
    now = os.stat(tmp)
    if (now.st_uid, now.st_gid) == wanted:
        return
    for uid in (before.st_uid, -1):  # both, else the group alone (an owner may pick its groups)
        try:
            os.chown(tmp, uid, before.st_gid)
            break
        except PermissionError:
            continue
    now = os.stat(tmp)
    if (now.st_uid, now.st_gid) != wanted:
        warnings.warn(
            f"{path} was owned by uid {wanted[0]} gid {wanted[1]} and is now owned by uid {now.st_uid} "
            f"gid {now.st_gid} (this process may not change owners); chown it back if that matters",
            NotKept,
            stacklevel=3,
        )


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically; returns the path."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data  # fails before anything is touched
    try:
        return _write(path, payload)
    except OSError as exc:
        if exc.errno is None or exc.filename is None:
            raise
        # The error names ``path``, not the temporary file the user never named (the same errno,
        # so its subclass stays: IsADirectoryError, PermissionError, ...).
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _write(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat() if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if before is not None:
                _keep_owner(tmp, path, before)
            # after chown, which may clear the set-id bits
            os.chmod(tmp, stat.S_IMODE(before.st_mode) if before is not None else _default_mode())
            handle.write(payload)
            # on disk before the rename: after a power cut the name points at all of the new data
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
