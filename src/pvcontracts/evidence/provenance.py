"""Where evidence came from: the tool, the git commit and whether the tree was dirty, the environment.

Versions of torch, pytest and Hypothesis are read from installed package
metadata (``importlib.metadata``), never by importing them: importing torch
costs seconds and the evidence only needs its version string.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from pvcontracts._version import __version__

TOOL = {"name": "pv-contracts", "version": __version__}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch": package_version("torch"),
        "pytest": package_version("pytest"),
        "hypothesis": package_version("hypothesis"),
        "pytest_xdist": package_version("pytest-xdist"),
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` for the repository holding ``root``, None outside git.

    Dirty counts untracked files too (not ignored ones): an untracked test file can be evidence.
    """
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None:
        if _git(root, "rev-parse", "--git-dir") is None:
            return None
        return {"commit": None, "dirty": True}  # a repository without commits
    status = _git(root, "status", "--porcelain")
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}
