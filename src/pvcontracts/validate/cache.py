"""The warm-run cache of `pv validate`, which a repository can never hand us.

Keyed by content digests, never by timestamps: a contract's cached model and
per-contract diagnostics are reused only while the file's bytes are the same,
and a test file's index only while its bytes are the same, so an edited test
is always re-resolved. Stored as JSON (not pickle), because a cache file must
never be able to run code.

A cache says "this contract has no findings" without checking: whoever can
write it decides what pv validate reports. So it is never taken from the
repository being checked:

* by default it lives outside the work tree, in the user's cache directory
  (``$PV_CACHE_DIR``, else ``$XDG_CACHE_HOME/pv-contracts``, ``~/.cache``,
  ``~/Library/Caches`` or ``%LOCALAPPDATA%``), one directory per repository;
* a cache file that git tracks (committed, or added, in a pull request) is
  neither read nor written, wherever ``--cache-dir`` points;
* its key is the tool version, the contract schema and a digest of the rule
  registry (every rule's name and codes, and the source of the modules that
  load contracts and run rules), so a newly added or changed rule is never
  hidden by a warm cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pvcontracts._version import __version__
from pvcontracts.contract.schema import schema_text
from pvcontracts.diagnostic import Diagnostic, make
from pvcontracts.util.atomic import write_text_atomic

CACHE_FILE = "validate-cache.json"


def user_cache_root() -> Path:
    """The pv-contracts directory in the user's cache (``$PV_CACHE_DIR`` overrides it)."""
    if os.environ.get("PV_CACHE_DIR"):
        return Path(os.environ["PV_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "pv-contracts" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "pv-contracts"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pv-contracts"


def default_cache_dir(root: Path) -> Path:
    """This repository's cache directory: outside its work tree, named by the digest of its real path."""
    key = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return user_cache_root() / "validate" / key


@functools.lru_cache(maxsize=1)
def registry_digest() -> str:
    """Every rule (name and codes) and the source of the code that loads and checks contracts.

    A rule's behaviour lives in its module and in what it calls (the loader, the
    schema, the expression compiler, test resolution), so all of it is digested:
    a change there, or a new rule, is a new key.
    """
    from pvcontracts.validate import rules

    h = hashlib.sha256()
    for table in (rules.CONTRACT_RULES, rules.PROJECT_RULES):
        for name in sorted(table):
            h.update(f"{name}\0{','.join(table[name][1])}\0".encode())
    package = Path(__file__).resolve().parents[1]
    sources = sorted([*(package / "contract").rglob("*.py"), *(package / "validate").rglob("*.py"),
                      package / "diagnostic.py"])
    for path in sources:
        try:
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError:
            h.update(b"unreadable\0")
    return h.hexdigest()


def _cache_key() -> str:
    # A new tool version, schema or rule invalidates everything: rules and messages may have changed.
    return hashlib.sha256(f"{__version__}\0{schema_text()}\0{registry_digest()}".encode()).hexdigest()


def tracked_by_git(path: Path) -> bool:
    """Whether git tracks ``path`` (committed or staged) in the work tree that holds it."""
    directory = path.parent
    probe = directory.resolve() if directory.exists() else None
    if probe is None or not any((d / ".git").exists() for d in (probe, *probe.parents)):
        return False  # not inside a work tree: nothing to ask git
    try:
        done = subprocess.run(["git", "-C", str(directory), "ls-files", "--error-unmatch", "--", path.name],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


class ValidateCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.contracts: dict[str, dict[str, Any]] = {}
        self.test_indexes: dict[str, dict[str, Any]] = {}
        self._used_contracts: set[str] = set()
        self._dirty = False
        self.tracked = False  # git tracks the cache file: it came with the repository, so it is not ours
        if directory is not None:
            self._load()

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / CACHE_FILE

    def _load(self) -> None:
        path = self.path
        if path is None or not path.is_file():
            return
        if tracked_by_git(path):
            self.tracked = True
            return
        try:
            raw = path.read_bytes()
        except OSError:
            return
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return  # a corrupt cache is just a cold run
        if not isinstance(data, dict) or data.get("key") != _cache_key():
            return
        contracts, indexes = data.get("contracts"), data.get("test_indexes")
        if isinstance(contracts, dict) and isinstance(indexes, dict):
            self.contracts, self.test_indexes = contracts, indexes

    @staticmethod
    def contract_key(file: str, digest: str) -> str:
        return f"{file}\0{digest}"

    def get_contract(self, file: str, digest: str) -> dict[str, Any] | None:
        key = self.contract_key(file, digest)
        entry = self.contracts.get(key)
        if entry is not None:
            self._used_contracts.add(key)
        return entry

    def put_contract(self, file: str, digest: str, entry: dict[str, Any]) -> None:
        key = self.contract_key(file, digest)
        self.contracts[key] = entry
        self._used_contracts.add(key)
        self._dirty = True

    def put_tests(self, entry: dict[str, Any], tests: dict[str, Any]) -> None:
        """Keep a contract's test-reference results in its entry, with the digests of the test files they read."""
        if entry.get("tests") != tests:
            entry["tests"] = tests
            self._dirty = True

    def mark_indexes_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        if self.path is None or self.tracked:
            return  # never rewrite a file the repository tracks
        stale = set(self.contracts) - self._used_contracts
        if not self._dirty and not stale:
            return
        for key in stale:  # keep the cache the size of the tree, not of its history
            del self.contracts[key]
        payload = {"key": _cache_key(), "contracts": self.contracts, "test_indexes": self.test_indexes}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            gitignore = self.directory / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n")
            write_text_atomic(self.path, json.dumps(payload, separators=(",", ":")))
        except OSError:
            pass  # a read-only checkout still validates; it just stays cold


def cache_findings(directory: Path | None) -> list[Diagnostic]:
    """PV650 when the cache in ``directory`` is a file git tracks (and is therefore ignored)."""
    if directory is None:
        return []
    path = directory / CACHE_FILE
    if not path.is_file() or not tracked_by_git(path):
        return []
    from pvcontracts.validate.engine import display_path

    return [make("PV650", display_path(path), 0, 0, "the validate cache is tracked by git, so it came with the "
                 "repository: it is ignored, neither read nor written",
                 "remove it from the repository (git rm --cached) and leave --cache-dir unset: pv keeps its "
                 "cache in the user's cache directory")]
