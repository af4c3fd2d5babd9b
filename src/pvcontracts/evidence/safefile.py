"""Reading the files an evidence document names, as an untrusted document must be read.

An evidence file is input from whoever could write it. The paths in it (the
contract files, the test files, the modules the tests import) may name only
regular files inside the repository: a path that is absolute or has ``..``
(or ``.``, or an empty segment), a symlink whose target is outside the
repository, a FIFO, a device or a directory is *refused*, with a reason; it
is never opened in a way that could block (``O_NONBLOCK``: a FIFO without a
writer returns at once and ``fstat`` then refuses it) and never read past a
size limit (``/dev/zero`` is a character device, refused before any read).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from pvcontracts.util.bounded import read_at_most

MAX_INPUT_BYTES = 32 * 1024 * 1024  # a test file or module this large is not a test file
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024


class Refused(Exception):
    """A path an evidence document may not name, or a file that may not be read; the message says why."""


class Gone(Exception):
    """The path is well-formed and inside the repository, but nothing is there (a stale input, not a refusal)."""


def check_form(path: object) -> str:
    """``path`` if it is a repository-relative posix path with plain segments, else Refused."""
    if not isinstance(path, str) or not path:
        raise Refused("not a path")
    if "\0" in path or "\\" in path:
        raise Refused(f"{path!r} is not a repository-relative posix path")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise Refused(f"{path!r} is absolute; evidence names files relative to the repository")
    if any(seg in ("", ".", "..") for seg in path.split("/")):
        raise Refused(f"{path!r} has an empty, '.' or '..' segment")
    return path


def _kind(mode: int) -> str:
    for test, word in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return word
    return "not a regular file"


def _read_fd(fd: int, shown: str, limit: int) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{shown} is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise Refused(f"{shown} is {st.st_size} bytes, over the limit of {limit}")
    raw = read_at_most(fd, limit)  # one byte past the limit tells a file that grew since fstat
    if len(raw) > limit:
        raise Refused(f"{shown} grew past the limit of {limit} bytes while it was read")
    return raw


def _open(path: str, shown: str, *, nofollow: bool = False) -> int:
    # O_NONBLOCK: opening a FIFO must not wait for a writer (fstat then refuses it); O_NOCTTY: a terminal
    # device named as evidence never becomes our controlling terminal.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        raise Gone(f"{shown} does not exist") from None
    except OSError as exc:
        raise Refused(f"cannot read {shown}: {exc.strerror or exc}") from None


def read_inside(root: Path, path: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of ``path`` under ``root``; Refused or Gone when it may not or cannot be read."""
    check_form(path)
    base = os.path.realpath(root)
    real = os.path.realpath(os.path.join(base, *path.split("/")))
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise Refused(f"{path} leads outside the repository (to {real})")
    # O_NOFOLLOW on the resolved path: a symlink swapped in after realpath cannot redirect the open.
    fd = _open(real, path, nofollow=True)
    try:
        return _read_fd(fd, path, limit)
    finally:
        os.close(fd)


def read_file(path: Path, limit: int = MAX_EVIDENCE_BYTES) -> bytes:
    """A regular file anywhere (the evidence file the user named), with the same care about what it is."""
    shown = str(path)
    fd = _open(shown, shown)
    try:
        return _read_fd(fd, shown, limit)
    finally:
        os.close(fd)


def digest_inside(root: Path, path: str, limit: int = MAX_INPUT_BYTES) -> str | None:
    """``sha256:<hex>`` of a file inside the repository; None when it is gone; Refused when it may not be read."""
    try:
        return "sha256:" + hashlib.sha256(read_inside(root, path, limit)).hexdigest()
    except Gone:
        return None
