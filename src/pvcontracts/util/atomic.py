"""Atomic file writes: temp file in the same directory, fsync, rename.

A crash at any point leaves either the previous complete file or the new
complete file, never a torn one; that is the promise for caches, evidence,
ledgers and checkpoints alike.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temp file in the target's directory (so the rename is atomic), with the usual permissions.

    mkstemp creates files 0600; a report or evidence file others must read gets 0666 minus the umask,
    like any file the user creates.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)
    return fd, tmp


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_writer(path) as fh:
        fh.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file object whose content appears at ``path`` only when the block ends cleanly.

    The streaming form of :func:`write_bytes_atomic`, for writers that produce their bytes
    incrementally (``torch.save``): same temp file, fsync, rename and directory fsync; an
    exception (or a kill) inside the block leaves ``path`` as it was and no temp file behind
    (a kill leaves the temp file, named ``.NAME.*.tmp``, which the next writer may remove).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())  # data on disk before the rename makes it visible
        os.replace(tmp, path)  # atomic on POSIX: readers see old or new, never half
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)  # persist the rename itself
    finally:
        os.close(dir_fd)
