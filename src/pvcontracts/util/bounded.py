"""Read at most a limit from a file descriptor: the one way hostile paths are read.

fstat's size is only a promise; a file can grow between fstat and read, and a
device has no size at all. Reading one byte past the limit tells the caller
that the file is over it without ever holding more than ``limit + 1`` bytes.
"""

from __future__ import annotations

import os


def read_at_most(fd: int, limit: int, *, chunk_size: int = 1 << 20) -> bytes:
    """Up to ``limit + 1`` bytes from ``fd``: a result longer than ``limit`` means the file is over it."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, chunk_size))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
