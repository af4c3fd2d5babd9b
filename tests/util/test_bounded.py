"""read_at_most: never more than the limit plus one byte, whatever the file claims or becomes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pvcontracts.util.bounded import read_at_most


@pytest.mark.parametrize("size, limit, expected", [(0, 10, 0), (10, 10, 10), (11, 10, 11), (5000, 10, 11)])
def test_reads_at_most_one_byte_past_the_limit(tmp_path: Path, size: int, limit: int, expected: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * size)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert len(read_at_most(fd, limit, chunk_size=3)) == expected
    finally:
        os.close(fd)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_device_stops_at_the_limit() -> None:
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        assert read_at_most(fd, 1 << 20) == b"\0" * ((1 << 20) + 1)
    finally:
        os.close(fd)
