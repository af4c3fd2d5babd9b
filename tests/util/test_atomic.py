"""Atomic writes: whole files or the previous ones, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pvcontracts.util import atomic


def test_written_file_gets_umask_permissions_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic.write_text_atomic(tmp_path / "evidence.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "evidence.json").stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "ledger.json"
    atomic.write_text_atomic(target, "old")
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        atomic.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]
