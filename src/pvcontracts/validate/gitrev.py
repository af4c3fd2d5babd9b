"""Read files as they were at a git revision, for `--against REV` and `pv diff REV:path ...`."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    pass


def _git(args: list[str], cwd: Path, silent_failure: str | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    if proc.returncode != 0:
        raise GitError(proc.stderr.decode("utf-8", "replace").strip()
                       or silent_failure or f"git {' '.join(args)} failed")
    return proc.stdout


def toplevel(path: Path) -> Path:
    start = path if path.is_dir() else path.parent
    return Path(_git(["rev-parse", "--show-toplevel"], start).decode().strip())


def resolve_revision(rev: str, cwd: Path) -> str:
    """The full commit id, so a moving branch name cannot change between reads."""
    if rev.startswith("-"):
        raise GitError(f"revision {rev!r} may not start with '-'")
    # --quiet prints nothing when the name resolves to no commit; say so in words.
    return _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd,
                silent_failure="no such commit, branch or tag").decode().strip()


def show(rev: str, relpath: str, cwd: Path) -> bytes | None:
    """The bytes of ``relpath`` (relative to the repository top) at ``rev``, or None when it did not exist."""
    listing = _git(["ls-tree", "-z", "--full-tree", rev, "--", relpath], cwd)
    if not listing:
        return None
    return _git(["cat-file", "blob", f"{rev}:{relpath}"], cwd)


def list_files(rev: str, reldir: str, cwd: Path) -> list[str]:
    """Paths (relative to the repository top) of the files under ``reldir`` at ``rev``."""
    out = _git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", rev, "--", reldir], cwd)
    return sorted(p for p in out.decode("utf-8", "replace").split("\0") if p)
