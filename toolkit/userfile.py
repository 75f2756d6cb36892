"""Reading a file the user named without hanging on it: regular files only.

A named pipe (FIFO) opened for reading blocks until a writer appears, a device may never
end, and a symlink loop has no target. Each is refused with one line before any read: the
path is checked with ``stat`` first, and opened with ``O_NONBLOCK`` so that a file swapped
for a pipe between the check and the open cannot block either.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from toolkit.errors import UserError

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def real_path(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded and symlinks followed (a loop is left for :func:`file_stat`)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _not_regular(path: Path, mode: int) -> UserError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return UserError(f"{path} is {kind}, not a regular file; point at the file itself")


def file_stat(path: Path) -> os.stat_result | None:
    """The ``stat`` of the regular file at ``path``, None if nothing is there; anything else is refused."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{path} is a symlink loop; point at the real file") from None
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)
    return info


def read_bytes(path: Path) -> bytes:
    """The bytes of the regular file at ``path`` (:class:`UserError` for anything else)."""
    if file_stat(path) is None:
        raise UserError(f"{path} does not exist")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped after the check
            raise _not_regular(path, mode)
        try:
            return handle.read()
        except OSError as exc:  # a file that opens but cannot be read (an I/O error, /proc/self/mem)
            raise UserError(f"cannot read {path}: {exc.strerror}") from None


def read_text(path: Path) -> str:
    """The UTF-8 text of the regular file at ``path`` (:class:`UserError` for anything else)."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"cannot read {path}: it is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def check_writable(path: Path) -> None:
    """Refuse, before any work, an output ``path`` whose folder takes no new file (``/proc``, a
    read-only file system, no permission): a run must not end in a write that fails. A
    temporary file is created there and removed at once, which is what the atomic write will
    do; a folder that does not exist yet (the write creates it) is not checked here."""
    folder = path.parent
    if not folder.is_dir():
        return
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".combined-models-check.", suffix=".tmp")
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: the folder takes no new file ({exc.strerror}); choose another folder"
        ) from None
    os.close(fd)
    os.unlink(name)
