"""One writer at a time per folder: exports that race on one file are serialized, not lost.

An export reads the user's file, edits it in memory and replaces it. Two exports doing that
at once would both read the same old text, and the second replace would silently drop the
first one's change. :func:`folder_lock` makes the read-edit-replace a critical section: it
holds ``fcntl.flock`` on the folder that holds the file (the folder, not the file, because
the file is replaced by a new inode on every write, and a file that does not exist yet
cannot be locked). No lock file is created, so a refused or finished export leaves the
folder exactly as it was.

The lock is advisory: it serializes this package's writers. An editor saving the file in
between is caught by the compare-before-replace check in :meth:`toolkit.export.ExportPlan.write`.
Locks nest within one thread (the CLI holds it around planning and writing, and writing takes
it again); other threads and processes wait, up to ``wait_s`` seconds, then get a clear
refusal instead of a hang.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from toolkit.errors import UserError

# Long enough for the other exports' critical sections (milliseconds each) on a busy machine.
DEFAULT_WAIT_S = 30.0
_POLL_S = 0.02

_held = threading.local()  # folder -> how many times this thread holds its lock


def _depths() -> dict[Path, int]:
    if not hasattr(_held, "depths"):
        _held.depths = {}
    depths: dict[Path, int] = _held.depths
    return depths


@contextmanager
def _lock_one(folder: Path, shown: Path, wait_s: float) -> Iterator[None]:
    depths = _depths()
    if depths.get(folder):
        depths[folder] += 1
        try:
            yield
        finally:
            depths[folder] -= 1
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield  # nothing can be written there; the caller's own checks say so
        return
    except OSError as exc:
        raise UserError(f"cannot lock {folder} for writing {shown.name}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(f"another export is writing {shown}; try again when it has finished") from None
                time.sleep(_POLL_S)
        depths[folder] = 1
        try:
            yield
        finally:
            del depths[folder]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def folder_lock(paths: Iterable[str | os.PathLike], wait_s: float | None = None) -> Iterator[None]:
    """Hold the write lock of every folder holding one of ``paths`` (symlinks followed).

    Folders are locked in sorted order, so two writers of the same pair cannot deadlock.
    Raises a one-line :class:`UserError` when another writer keeps a folder locked for
    longer than ``wait_s`` seconds (default :data:`DEFAULT_WAIT_S`).
    """
    wait_s = DEFAULT_WAIT_S if wait_s is None else wait_s
    folders: dict[Path, Path] = {}
    for path in paths:
        real = Path(os.path.realpath(Path(path).expanduser()))
        folders.setdefault(real.parent, real)
    with ExitStack() as stack:
        for folder in sorted(folders):
            stack.enter_context(_lock_one(folder, folders[folder], wait_s))
        yield
