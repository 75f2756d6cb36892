"""Atomic writes: old or new content, never half; permissions kept or the usual default."""

from __future__ import annotations

import os
import stat

import pytest

from toolkit.atomic import write_atomic


def test_new_file_gets_umask_permissions_and_text_is_utf8(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "sub" / "a.json", "héllo")
    finally:
        os.umask(old)
    assert path.read_bytes() == "héllo".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_existing_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text("old")
    path.chmod(0o600)
    write_atomic(path, b"new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "cfg.json"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.json"]
